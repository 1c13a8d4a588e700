package io.arrakis.stack.interop;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.PortUnreachableException;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

/**
 * The Linux end of the interop tests: a plain-JDK program (kernel UDP sockets only, nothing of
 * ours) that {@link PeerProcess} runs inside the test's network namespace. It reports on
 * stdout, one line per event, and exits when its stdin closes, so it never outlives the test
 * JVM. Modes:
 * <ul>
 * <li>{@code echo <bindAddress> <port>}: sends every datagram back to its sender.
 * <li>{@code digest <bindAddress> <port>}: answers every datagram with
 *     {@code "<length> <sha-256 hex>"} of what the kernel delivered, so the sender can check
 *     the kernel's reassembly independently of its own.
 * <li>{@code client <bindAddress> <destination> <port> <timeoutMs> <length>...}: sends
 *     {@code pattern(length, CLIENT_SEED)} for each length in turn and waits for it to come
 *     back; prints {@code echo <length> ok|mismatch <n>|timeout|from <address>}, then
 *     {@code done}. Unconnected: the JDK sends nothing for an empty datagram on a connected
 *     channel.
 * <li>{@code refused <bindAddress> <destination> <port> <timeoutMs> [<length>]}: from a
 *     connected socket, sends one datagram (13 bytes, or {@code pattern(length, CLIENT_SEED)};
 *     not empty) and waits; prints {@code refused} on ECONNREFUSED (PortUnreachableException),
 *     {@code timeout} or {@code received <length>} otherwise.
 * </ul>
 * The first line it prints, once its socket is bound, is {@code ready <local address>}.
 */
public final class LinuxUdpPeer {
    /** The seed of every datagram {@code client} mode sends: its bytes are {@code pattern(length, CLIENT_SEED)}. */
    public static final long CLIENT_SEED = 7;

    private LinuxUdpPeer() {}

    /** The bytes of a test datagram: deterministic in {@code length} and {@code seed}, so both ends can build it. */
    public static byte[] pattern(int length, long seed) {
        byte[] data = new byte[length];
        new Random(seed * 1_000_003L + length).nextBytes(data);
        return data;
    }

    public static String digest(byte[] data, int length) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(data, 0, length);
            return length + " " + HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    public static void main(String[] args) throws Exception {
        exitWhenStdinCloses();
        try {
            switch (args[0]) {
                case "echo" -> serve(args, false);
                case "digest" -> serve(args, true);
                case "client" -> client(args);
                case "refused" -> refused(args);
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (Throwable t) {
            say("error " + t);
            System.exit(2);
        }
        System.exit(0);
    }

    private static void serve(String[] args, boolean digest) throws IOException {
        try (DatagramChannel channel = DatagramChannel.open(StandardProtocolFamily.INET)) {
            channel.bind(new InetSocketAddress(args[1], Integer.parseInt(args[2])));
            say("ready " + channel.getLocalAddress());
            ByteBuffer buffer = ByteBuffer.allocate(65_536);
            while (true) {
                buffer.clear();
                InetSocketAddress from = (InetSocketAddress) channel.receive(buffer);
                buffer.flip();
                say("got " + buffer.remaining() + " from " + from);
                if (digest) {
                    byte[] bytes = new byte[buffer.remaining()];
                    buffer.get(bytes);
                    channel.send(ByteBuffer.wrap(digest(bytes, bytes.length).getBytes()), from);
                } else {
                    channel.send(buffer, from);
                }
            }
        }
    }

    private static void client(String[] args) throws IOException {
        int timeout = Integer.parseInt(args[4]);
        InetSocketAddress target = new InetSocketAddress(args[2], Integer.parseInt(args[3]));
        // Not connected: the JDK sends nothing for an empty buffer on a connected channel (it
        // write()s, and IOUtil skips zero-length writes); send() to an address does send it.
        try (DatagramChannel channel = DatagramChannel.open(StandardProtocolFamily.INET)) {
            channel.bind(new InetSocketAddress(args[1], 0));
            channel.socket().setSoTimeout(timeout);
            say("ready " + channel.getLocalAddress());
            byte[] buffer = new byte[65_536];
            for (int i = 5; i < args.length; i++) {
                int length = Integer.parseInt(args[i]);
                byte[] sent = pattern(length, CLIENT_SEED);
                channel.send(ByteBuffer.wrap(sent), target);
                String outcome;
                try {
                    var packet = new java.net.DatagramPacket(buffer, buffer.length);
                    channel.socket().receive(packet);
                    byte[] got = Arrays.copyOf(packet.getData(), packet.getLength());
                    if (!packet.getSocketAddress().equals(target)) {
                        outcome = "from " + packet.getSocketAddress();
                    } else {
                        outcome = Arrays.equals(sent, got) ? "ok" : "mismatch " + got.length;
                    }
                } catch (SocketTimeoutException e) {
                    outcome = "timeout";
                }
                say("echo " + length + " " + outcome);
            }
            say("done");
        }
    }

    private static void refused(String[] args) throws IOException {
        try (DatagramChannel channel = connected(args[1], args[2], args[3])) {
            channel.socket().setSoTimeout(Integer.parseInt(args[4]));
            say("ready " + channel.getLocalAddress());
            byte[] data = args.length > 5 ? pattern(Integer.parseInt(args[5]), CLIENT_SEED) : "anyone there?".getBytes();
            channel.write(ByteBuffer.wrap(data));
            var packet = new java.net.DatagramPacket(new byte[2048], 2048);
            try {
                channel.socket().receive(packet);
                say("received " + packet.getLength());
            } catch (PortUnreachableException e) {
                say("refused");
            } catch (SocketTimeoutException e) {
                say("timeout");
            }
        }
    }

    private static DatagramChannel connected(String bindAddress, String destination, String port)
            throws IOException {
        DatagramChannel channel = DatagramChannel.open(StandardProtocolFamily.INET);
        channel.bind(new InetSocketAddress(bindAddress, 0));
        channel.connect(new InetSocketAddress(destination, Integer.parseInt(port)));
        return channel;
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static void exitWhenStdinCloses() {
        Thread watcher = new Thread(() -> {
            try (InputStream in = System.in) {
                while (in.read() >= 0) {
                    // Nothing is ever sent: we only wait for the end.
                }
            } catch (IOException ignored) {
                // Same as the end.
            }
            System.exit(3);
        }, "stdin-watcher");
        watcher.setDaemon(true);
        watcher.start();
    }
}

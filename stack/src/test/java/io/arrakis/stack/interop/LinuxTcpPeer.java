package io.arrakis.stack.interop;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * The Linux end of the TCP interop tests: a plain-JDK program (kernel TCP sockets only, nothing
 * of ours) that {@link PeerProcess} runs inside the test's network namespace, reporting one line
 * per event on stdout and exiting when its stdin closes. One connection per run:
 * <ul>
 * <li>{@code listen <bindAddress> <port> <sendBytes> <seed> [flags]}: accepts one connection;
 * <li>{@code connect <bindAddress> <destination> <port> <sendBytes> <seed> [flags]}: opens one.
 * </ul>
 * Then, by default, it sends {@code sendBytes} of {@code new PatternStream(seed)} and shuts its
 * output down while it reads to end of stream, then closes. Flags change that:
 * {@code after-eof} sends only once the other side's stream ended (half-close test);
 * {@code abort} sets SO_LINGER 0 and closes at once after connecting (a RST);
 * {@code abort-after-eof} does the same once the other side's stream ended.
 * Lines: {@code ready <local>} (bound), {@code connected <local> <remote>},
 * {@code sent <n> <sha-256> <seconds>}, {@code received <n> <sha-256> <seconds>} (at end of
 * stream; seconds since connected), {@code error <send|receive|connect> <exception>: <message>},
 * {@code refused} (connect: ConnectException), {@code aborted}, {@code closed}.
 */
public final class LinuxTcpPeer {
    private LinuxTcpPeer() {}

    public static void main(String[] args) throws Exception {
        exitWhenStdinCloses();
        try {
            switch (args[0]) {
                case "listen" -> run(accept(args[1], Integer.parseInt(args[2])), args, 3);
                case "connect" -> {
                    Socket socket = connect(args[1], args[2], Integer.parseInt(args[3]));
                    if (socket != null) {
                        run(socket, args, 4);
                    }
                }
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (Throwable t) {
            say("error " + t);
            System.exit(2);
        }
        System.exit(0);
    }

    private static Socket accept(String bindAddress, int port) throws IOException {
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(bindAddress, port), 1);
            say("ready " + server.getLocalSocketAddress());
            return server.accept();
        }
    }

    private static Socket connect(String bindAddress, String destination, int port) throws IOException {
        Socket socket = new Socket();
        socket.bind(new InetSocketAddress(bindAddress, 0));
        say("ready " + socket.getLocalSocketAddress());
        try {
            socket.connect(new InetSocketAddress(destination, port), 10_000);
        } catch (ConnectException e) {
            say(e.getMessage() != null && e.getMessage().contains("refused") ? "refused" : "error connect " + e);
            socket.close();
            return null;
        }
        return socket;
    }

    private static void run(Socket socket, String[] args, int at) throws Exception {
        long sendBytes = Long.parseLong(args[at]);
        long seed = Long.parseLong(args[at + 1]);
        Set<String> flags = Set.of(java.util.Arrays.copyOfRange(args, at + 2, args.length));
        long start = System.nanoTime();
        say("connected " + socket.getLocalSocketAddress() + " " + socket.getRemoteSocketAddress());
        if (flags.contains("abort")) {
            abort(socket);
            return;
        }
        CountDownLatch eof = new CountDownLatch(1);
        boolean afterEof = flags.contains("after-eof");
        Thread sender = Thread.ofPlatform().name("sender").start(() -> {
            try {
                if (afterEof) {
                    eof.await();
                }
                send(socket, sendBytes, seed, start);
            } catch (IOException e) {
                say("error send " + e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            receive(socket, start);
        } catch (IOException e) {
            say("error receive " + e);
        }
        eof.countDown();
        if (flags.contains("abort-after-eof")) {
            abort(socket);
            return;
        }
        sender.join();
        socket.close();
        say("closed");
    }

    private static void send(Socket socket, long bytes, long seed, long start) throws IOException {
        MessageDigest digest = sha256();
        PatternStream stream = new PatternStream(seed);
        OutputStream out = socket.getOutputStream();
        long sent = 0;
        while (sent < bytes) {
            byte[] block = stream.block();
            int n = (int) Math.min(stream.remaining(), bytes - sent);
            out.write(block, stream.position(), n);
            digest.update(block, stream.position(), n);
            stream.advance(n);
            sent += n;
        }
        out.flush();
        socket.shutdownOutput();
        say("sent " + sent + " " + HexFormat.of().formatHex(digest.digest()) + " " + seconds(start));
    }

    private static void receive(Socket socket, long start) throws IOException {
        MessageDigest digest = sha256();
        InputStream in = socket.getInputStream();
        byte[] buffer = new byte[256 * 1024];
        long received = 0;
        for (int n; (n = in.read(buffer)) >= 0; ) {
            digest.update(buffer, 0, n);
            received += n;
        }
        say("received " + received + " " + HexFormat.of().formatHex(digest.digest()) + " " + seconds(start));
    }

    private static void abort(Socket socket) throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
        say("aborted");
    }

    private static String seconds(long start) {
        return String.format("%.3f", (System.nanoTime() - start) / 1e9);
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
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

package io.arrakis.control;

import io.arrakis.device.Ipv4Text;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.udp.UdpSocket;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Applications for {@link StackRunner}s, run on the polling thread after every poll: a UDP echo
 * server, a UDP pinger that checks every echo byte for byte, a TCP echo server, and a TCP
 * client that streams seeded bytes through an echo and compares digests. Their fields are read
 * by tests through {@link StackRunner#call} or {@link StackRunner#await} only (the polling thread).
 */
final class Workloads {
    static final int UDP_ECHO_PORT = 7;
    static final int TCP_ECHO_PORT = 9;

    private Workloads() {}

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** Echoes every datagram on {@code port} to its sender. */
    static final class UdpEcho implements StackRunner.Hook {
        private final int port;
        private final byte[] buffer = new byte[65_536];
        private final MemorySegment segment = MemorySegment.ofArray(buffer);
        private UdpSocket socket;
        long echoed;

        UdpEcho(int port) {
            this.port = port;
        }

        @Override
        public void afterPoll(NetworkStack stack, TcpLayer tcp) throws IOException {
            if (socket == null) {
                socket = stack.openUdp(port, 1 << 20);
            }
            while (socket.isReadable()) {
                int length = socket.receive(segment, 0, buffer.length);
                if (length < 0) {
                    socket.takeError();
                    continue;
                }
                if (stack.sendUdp(socket, socket.lastSourceAddress(), socket.lastSourcePort(), segment, 0, length)) {
                    echoed++;
                }
            }
        }
    }

    /**
     * Sends {@code count} datagrams of seeded sizes (4 bytes to {@code maxSize}, fragmented above
     * the MTU) and contents, one at a time, each after the echo of the one before was checked
     * byte for byte. Each datagram starts with its sequence number (big endian), and the pinger
     * keeps a hash of every one it sent: an echo of an earlier datagram (a late or second echo,
     * after a resend) is recognised by its number and counted as a duplicate if its bytes hash as
     * sent, while any other difference (bytes, length, an impossible number) is a mismatch.
     * Resends after a second without an echo (counted: a loss is a bug here).
     */
    static final class UdpPinger implements StackRunner.Hook {
        private static final int SEQUENCE_BYTES = 4;
        private final int destination;
        private final int port;
        private final int localPort;
        private final int count;
        private final int maxSize;
        private final SplittableRandom random;
        private final byte[] receiveBuffer = new byte[65_536];
        private final MemorySegment receiveSegment = MemorySegment.ofArray(receiveBuffer);
        /** Length and content hash of every datagram sent so far, by sequence number. */
        private final int[] sentLengths;
        private final long[] sentHashes;
        private UdpSocket socket;
        private byte[] current;
        private int sequence = -1;
        private long sentAt;
        int duplicates;
        int verified;
        int mismatches;
        int resends;
        String firstMismatch;

        UdpPinger(int destination, int port, int localPort, int count, int maxSize, long seed) {
            if (maxSize < SEQUENCE_BYTES) {
                throw new IllegalArgumentException("datagrams carry a " + SEQUENCE_BYTES + "-byte sequence number;"
                        + " maxSize " + maxSize + " is too small");
            }
            this.destination = destination;
            this.port = port;
            this.localPort = localPort;
            this.count = count;
            this.maxSize = maxSize;
            this.random = new SplittableRandom(seed);
            this.sentLengths = new int[count];
            this.sentHashes = new long[count];
        }

        @Override
        public void afterPoll(NetworkStack stack, TcpLayer tcp) throws IOException {
            long now = System.nanoTime();
            if (socket == null) {
                socket = stack.openUdp(localPort, 1 << 20);
            }
            while (socket.isReadable()) {
                int length = socket.receive(receiveSegment, 0, receiveBuffer.length);
                if (length < 0) {
                    socket.takeError();
                    continue;
                }
                if (socket.lastSourceAddress() != destination || socket.lastSourcePort() != port) {
                    mismatch("a datagram of " + length + " bytes from " + Ipv4Text.format(socket.lastSourceAddress())
                            + ":" + socket.lastSourcePort() + ", not from the echo");
                    continue;
                }
                int echoed = length >= SEQUENCE_BYTES ? sequenceOf(receiveBuffer) : -1;
                if (current != null && echoed == sequence) {
                    if (length == current.length && Arrays.equals(receiveBuffer, 0, length, current, 0, length)) {
                        verified++;
                        current = null;
                    } else {
                        mismatch("echo of datagram " + echoed + ": expected " + current.length + " bytes as sent, got "
                                + length + (length == current.length ? " with different content" : ""));
                    }
                } else if (echoed >= 0 && echoed <= sequence && length == sentLengths[echoed]
                        && hash(receiveBuffer, length) == sentHashes[echoed]) {
                    // A late or second echo of an earlier datagram (we resent it after a second):
                    // a duplicate, not corruption, whenever it arrives.
                    duplicates++;
                } else {
                    mismatch("an echo of " + length + " bytes numbered " + echoed + " matching no datagram sent (the"
                            + " last was " + sequence + ")");
                }
            }
            if (current == null && verified < count) {
                int size = SEQUENCE_BYTES + random.nextInt(maxSize - SEQUENCE_BYTES + 1);
                current = new byte[size];
                random.nextBytes(current);
                sequence++;
                current[0] = (byte) (sequence >>> 24);
                current[1] = (byte) (sequence >>> 16);
                current[2] = (byte) (sequence >>> 8);
                current[3] = (byte) sequence;
                sentLengths[sequence] = size;
                sentHashes[sequence] = hash(current, size);
                send(stack, now);
            } else if (current != null && now - sentAt > 1_000_000_000L) {
                resends++;
                send(stack, now);
            }
        }

        private void mismatch(String what) {
            mismatches++;
            if (firstMismatch == null) {
                firstMismatch = what;
            }
        }

        private static int sequenceOf(byte[] datagram) {
            return ((datagram[0] & 0xFF) << 24) | ((datagram[1] & 0xFF) << 16) | ((datagram[2] & 0xFF) << 8)
                    | (datagram[3] & 0xFF);
        }

        /** FNV-1a over 64 bits: any change of a byte changes it, except with negligible probability. */
        private static long hash(byte[] bytes, int length) {
            long h = 0xcbf29ce484222325L;
            for (int i = 0; i < length; i++) {
                h = (h ^ (bytes[i] & 0xFF)) * 0x100000001b3L;
            }
            return h;
        }

        private void send(NetworkStack stack, long now) throws IOException {
            sentAt = now;
            stack.sendUdp(socket, destination, port, MemorySegment.ofArray(current), 0, current.length);
        }

        boolean done() {
            return verified == count;
        }

        String describe() {
            return "UDP pinger to " + Ipv4Text.format(destination) + ":" + port + ": verified " + verified + "/" + count
                    + ", mismatches " + mismatches + (firstMismatch != null ? " (" + firstMismatch + ")" : "")
                    + ", resends " + resends + ", duplicates " + duplicates;
        }
    }

    /** Accepts connections on {@code port} and echoes every byte back, closing after the peer's FIN. */
    static final class TcpEchoServer implements StackRunner.Hook {
        private final int port;
        private final List<Connection> connections = new ArrayList<>();
        private TcpListener listener;
        long accepted;
        long bytes;

        /** The state of every connection being echoed, for failure messages. */
        String describe() {
            StringBuilder text = new StringBuilder("TCP echo server on port " + port + ":");
            for (Connection c : connections) {
                text.append(" [").append(c.tcp.info()).append(']');
            }
            return text.toString();
        }

        private static final class Connection {
            final TcpConnection tcp;
            final byte[] buffer = new byte[64 * 1024];
            final MemorySegment segment = MemorySegment.ofArray(buffer);
            int start;
            int end;
            boolean eof;

            Connection(TcpConnection tcp) {
                this.tcp = tcp;
            }
        }

        TcpEchoServer(int port) {
            this.port = port;
        }

        @Override
        public void afterPoll(NetworkStack stack, TcpLayer tcp) throws IOException {
            long now = System.nanoTime();
            if (listener == null) {
                listener = tcp.listen(port, 64, 256 * 1024, 256 * 1024);
            }
            TcpConnection fresh;
            while ((fresh = tcp.accept(listener)) != null) {
                connections.add(new Connection(fresh));
                accepted++;
            }
            for (Iterator<Connection> it = connections.iterator(); it.hasNext(); ) {
                Connection c = it.next();
                if (c.tcp.failure() != null) {
                    tcp.abort(c.tcp, now);
                    it.remove();
                    continue;
                }
                boolean progress = true;
                while (progress) {
                    progress = false;
                    if (c.end < c.buffer.length && !c.eof) {
                        int n = tcp.read(c.tcp, c.segment, c.end, c.buffer.length - c.end, now);
                        if (n > 0) {
                            c.end += n;
                            bytes += n;
                            progress = true;
                        } else if (n < 0) {
                            c.eof = true;
                        }
                    }
                    if (c.start < c.end) {
                        int n = tcp.write(c.tcp, c.segment, c.start, c.end - c.start, now);
                        if (n > 0) {
                            c.start += n;
                            progress = true;
                        }
                        if (c.start == c.end) {
                            c.start = 0;
                            c.end = 0;
                        }
                    }
                }
                if (c.eof && c.start == c.end) {
                    tcp.close(c.tcp, now);
                    it.remove();
                }
            }
        }
    }

    /**
     * Connects to a TCP echo server, sends {@code toSend} seeded bytes, shuts its output down,
     * reads the echo to end of stream, and compares the SHA-256 of each direction.
     */
    static final class TcpEchoCheck implements StackRunner.Hook {
        private final int destination;
        private final int port;
        private final int localPort;
        private final long toSend;
        private final SplittableRandom random;
        private final byte[] block = new byte[16 * 1024];
        private final MemorySegment blockSegment = MemorySegment.ofArray(block);
        private final byte[] readBuffer = new byte[64 * 1024];
        private final MemorySegment readSegment = MemorySegment.ofArray(readBuffer);
        private final MessageDigest sentDigest = sha256();
        private final MessageDigest receivedDigest = sha256();
        private int blockPosition = block.length;
        TcpConnection connection;
        long sent;
        long received;
        boolean shut;
        boolean eof;
        String sentHash;
        String receivedHash;
        long startNanos;
        long endNanos;

        TcpEchoCheck(int destination, int port, long toSend, long seed) {
            this(destination, port, 0, toSend, seed);
        }

        /** From local port {@code localPort} (0: an ephemeral one). */
        TcpEchoCheck(int destination, int port, int localPort, long toSend, long seed) {
            this.destination = destination;
            this.port = port;
            this.localPort = localPort;
            this.toSend = toSend;
            this.random = new SplittableRandom(seed);
        }

        @Override
        public void afterPoll(NetworkStack stack, TcpLayer tcp) throws IOException {
            long now = System.nanoTime();
            if (connection == null) {
                connection = tcp.connect(destination, port, localPort, 256 * 1024, 256 * 1024, now);
                startNanos = now;
            }
            if (eof) {
                return;
            }
            int n;
            while ((n = tcp.read(connection, readSegment, 0, readBuffer.length, now)) > 0) {
                receivedDigest.update(readBuffer, 0, n);
                received += n;
            }
            if (n < 0) {
                eof = true;
                endNanos = now;
                receivedHash = HexFormat.of().formatHex(receivedDigest.digest());
                if (connection.failure() == null) {
                    tcp.close(connection, now);
                }
                return;
            }
            if (!connection.isConnected() || shut) {
                return;
            }
            while (sent < toSend) {
                if (blockPosition == block.length) {
                    random.nextBytes(block);
                    blockPosition = 0;
                }
                int chunk = (int) Math.min(block.length - blockPosition, toSend - sent);
                int written = tcp.write(connection, blockSegment, blockPosition, chunk, now);
                if (written <= 0) {
                    break;
                }
                sentDigest.update(block, blockPosition, written);
                blockPosition += written;
                sent += written;
            }
            if (sent == toSend) {
                tcp.shutdownOutput(connection, now);
                shut = true;
                sentHash = HexFormat.of().formatHex(sentDigest.digest());
            }
        }

        boolean done() {
            return eof;
        }

        boolean exact() {
            return eof && received == toSend && sentHash != null && sentHash.equals(receivedHash);
        }

        double megabytesPerSecond() {
            return endNanos == startNanos ? 0 : (sent + received) / 1e6 / ((endNanos - startNanos) / 1e9);
        }

        String describe() {
            return "TCP echo check to " + Ipv4Text.format(destination) + ":" + port + ": sent " + sent + "/" + toSend
                    + (shut ? " and shut down" : "") + ", received " + received + (eof ? " to end of stream" : "")
                    + (connection == null ? "" : "; " + connection.info());
        }
    }
}

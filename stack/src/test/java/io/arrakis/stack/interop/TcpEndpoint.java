package io.arrakis.stack.interop;

import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.tcp.TcpState;
import java.lang.foreign.MemorySegment;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * One TCP connection of our stack driven on the polling thread after every poll, the way an
 * application on a provider would: it sends {@code toSend} bytes of a {@link PatternStream}
 * (at once, or only after the peer's stream ended) and then shuts its output down, reads to end
 * of stream, and keeps a SHA-256 of each direction, never holding the data. A server endpoint
 * takes the first connection its listener accepts. Read its fields only on the polling thread
 * ({@link StackDriver#call}, {@link StackDriver#await}).
 */
final class TcpEndpoint implements StackDriver.PollHook {
    private static final int CHUNK = 64 * 1024;

    final TcpLayer tcp;
    private final TcpListener listener;
    private final long toSend;
    private final PatternStream stream;
    private final boolean sendAfterEof;
    private final boolean closeWhenDone;
    private final MessageDigest sentDigest = LinuxTcpPeer.sha256();
    private final MessageDigest receivedDigest = LinuxTcpPeer.sha256();
    private final byte[] scratch = new byte[CHUNK];
    private final MemorySegment scratchSegment = MemorySegment.ofArray(scratch);

    TcpConnection connection;
    long sent;
    long received;
    /** Read returned -1: the peer's FIN, or a failure (see {@code connection.failure()}). */
    boolean eof;
    boolean shut;
    boolean closed;
    long startNanos;
    long sentNanos;
    long eofNanos;
    String sentHash;
    String receivedHash;
    /** The connection's state when the first byte was read, and when the end of stream was. */
    TcpState stateAtFirstByte;
    TcpState stateAtEof;
    /** The connection's state when our first byte was written. */
    TcpState stateAtFirstWrite;

    private TcpEndpoint(TcpLayer tcp, TcpListener listener, TcpConnection connection, long toSend, long seed,
            boolean sendAfterEof, boolean closeWhenDone) {
        this.tcp = tcp;
        this.listener = listener;
        this.connection = connection;
        this.toSend = toSend;
        this.stream = new PatternStream(seed);
        this.sendAfterEof = sendAfterEof;
        this.closeWhenDone = closeWhenDone;
        this.startNanos = System.nanoTime();
    }

    /** Takes the first connection {@code listener} accepts. */
    static TcpEndpoint server(TcpLayer tcp, TcpListener listener, long toSend, long seed, boolean sendAfterEof,
            boolean closeWhenDone) {
        return new TcpEndpoint(tcp, listener, null, toSend, seed, sendAfterEof, closeWhenDone);
    }

    /** Drives {@code connection} (just opened with {@code tcp.connect}). */
    static TcpEndpoint client(TcpLayer tcp, TcpConnection connection, long toSend, long seed, boolean sendAfterEof,
            boolean closeWhenDone) {
        return new TcpEndpoint(tcp, null, connection, toSend, seed, sendAfterEof, closeWhenDone);
    }

    @Override
    public void afterPoll(NetworkStack stack) {
        long now = System.nanoTime();
        if (connection == null) {
            connection = tcp.accept(listener);
            if (connection == null) {
                return;
            }
            startNanos = now;
        }
        if (closed) {
            return;
        }
        int n;
        while ((n = tcp.read(connection, scratchSegment, 0, CHUNK, now)) > 0) {
            if (received == 0) {
                stateAtFirstByte = connection.state();
            }
            receivedDigest.update(scratch, 0, n);
            received += n;
        }
        if (n < 0 && !eof) {
            eof = true;
            eofNanos = now;
            stateAtEof = connection.state();
            receivedHash = HexFormat.of().formatHex(receivedDigest.digest());
        }
        if (connection.failure() == null && (!sendAfterEof || eof) && !shut) {
            while (sent < toSend) {
                byte[] block = stream.block();
                int chunk = (int) Math.min(stream.remaining(), toSend - sent);
                int written = tcp.write(connection, MemorySegment.ofArray(block), stream.position(), chunk, now);
                if (written <= 0) {
                    break;
                }
                if (sent == 0) {
                    stateAtFirstWrite = connection.state();
                }
                sentDigest.update(block, stream.position(), written);
                stream.advance(written);
                sent += written;
            }
            if (sent == toSend && connection.wasEstablished()) {
                tcp.shutdownOutput(connection, now);
                shut = true;
                sentNanos = now;
                sentHash = HexFormat.of().formatHex(sentDigest.digest());
            }
        }
        if (closeWhenDone && eof && shut && !closed) {
            tcp.close(connection, now);
            closed = true;
        }
    }

    /** Sent everything and shut down, and read to end of stream. */
    boolean done() {
        return eof && shut;
    }

    /** Received bytes per second, from accept (server) or connect (client) to end of stream, in MB/s. */
    double receiveMegabytesPerSecond() {
        return eofNanos == startNanos ? 0 : received / 1e6 / ((eofNanos - startNanos) / 1e9);
    }

    String describe() {
        return "our endpoint: sent " + sent + "/" + toSend + (shut ? " and shut down" : "") + ", received " + received
                + (eof ? " to end of stream" : "") + "; " + (connection == null ? "not accepted yet"
                        : connection.info() + " counters " + connection.counters());
    }
}

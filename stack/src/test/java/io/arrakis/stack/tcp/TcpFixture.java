package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;

/** A client on A connected to a listener on B, and helpers to move bytes in tests. */
final class TcpFixture {
    static final int CLIENT_PORT = 40000;
    static final int SERVER_PORT = 80;
    static final int MSS = 1460;

    final TcpTestNetwork net;
    final TcpListener listener;
    final TcpConnection client;
    TcpConnection server;

    static TcpConfig.Builder testConfig() {
        return TcpConfig.builder().mslNanos(100 * MS);
    }

    TcpFixture(long seed, TcpConfig clientConfig, TcpConfig serverConfig, int clientBuffers, int serverBuffers) {
        net = new TcpTestNetwork(seed);
        listener = net.b.listen(serverConfig, SERVER_PORT, MSS, 16, serverBuffers, serverBuffers);
        client = net.a.connect(clientConfig, CLIENT_PORT, B, SERVER_PORT, 1_000_000, MSS, clientBuffers, clientBuffers);
    }

    TcpFixture(long seed, TcpConfig config, int buffers) {
        this(seed, config, config, buffers, buffers);
    }

    /** Runs the handshake and accepts; returns this. */
    TcpFixture established() {
        net.runUntil(() -> client.isConnected() && listener.acceptQueueLength() > 0, 60_000 * MS, 100_000);
        server = listener.accept();
        return this;
    }

    static TcpFixture connected(TcpConfig config, int buffers) {
        return new TcpFixture(1, config, buffers).established();
    }

    /** Writes all of {@code data} from {@code c}, stepping the network whenever the buffer is full. */
    void writeAll(TcpConnection c, byte[] data) {
        MemorySegment src = MemorySegment.ofArray(data);
        int off = 0;
        long guard = net.steps + 1_000_000;
        while (off < data.length) {
            int n = c.write(src, off, data.length - off, net.now);
            if (n < 0) {
                throw new AssertionError("write returned -1 in " + c.state());
            }
            off += n;
            if (off < data.length && !net.step()) {
                throw new AssertionError("stuck writing at " + off + " of " + data.length);
            }
            if (net.steps > guard) {
                throw new AssertionError("step limit writing");
            }
        }
    }

    /** Reads everything available now from {@code c} into {@code out}; returns -1 at EOF, else bytes read. */
    static int drain(TcpConnection c, ByteArrayOutputStream out, long now) {
        byte[] buf = new byte[65536];
        MemorySegment dst = MemorySegment.ofArray(buf);
        int total = 0;
        while (true) {
            int n = c.read(dst, 0, buf.length, now);
            if (n < 0) {
                return total == 0 ? -1 : total;
            }
            if (n == 0) {
                return total;
            }
            out.write(buf, 0, n);
            total += n;
        }
    }

    /** Reads from {@code c} until {@code expected} bytes arrived, stepping the network. */
    byte[] readExactly(TcpConnection c, int expected) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        net.runUntil(() -> {
            drain(c, out, net.now);
            return out.size() >= expected;
        }, 3_600_000 * MS, 2_000_000);
        return out.toByteArray();
    }

    /** Reads from {@code c} until EOF. */
    byte[] readToEof(TcpConnection c) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean[] eof = new boolean[1];
        net.runUntil(() -> {
            if (drain(c, out, net.now) < 0) {
                eof[0] = true;
            }
            return eof[0];
        }, 3_600_000 * MS, 2_000_000);
        return out.toByteArray();
    }
}

package io.arrakis.bench.shm;

import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.udp.UdpSocket;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * UDP ping-pong or TCP request/response through our stack over the shm switch: the benchmark
 * thread owns a {@link NetworkStack} on its own VNIC and polls it (spinning) until the echo is
 * back; the peer runs the same stack with a UDP and a TCP echo. Setting up resolves ARP and, for
 * TCP, connects (Nagle off on both ends), so a measured round trip is the data path only.
 */
final class StackPath implements RoundTripPath {
    private static final int LOCAL_UDP_PORT = 40_001;

    private final ShmFixture fixture;
    private final boolean tcpMode;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment request = arena.allocate(PAYLOAD, 64);
    private final MemorySegment reply = arena.allocate(2048, 64);
    private final NetworkStack stack;
    private final TcpLayer tcp;
    private UdpSocket udp;
    private TcpConnection connection;

    private StackPath(ShmFixture fixture, boolean tcpMode) {
        this.fixture = fixture;
        this.tcpMode = tcpMode;
        this.stack = new NetworkStack(fixture.vnic, 0, RoundTripPath.stackConfig(fixture.vnic));
        this.tcp = new TcpLayer(stack, TcpConfig.DEFAULT, 0x5eed);
    }

    static StackPath open(boolean tcp) throws IOException {
        ShmFixture fixture = ShmFixture.open("shm-stack", tcp ? "pinger-tcp" : "pinger-udp");
        StackPath path = null;
        try {
            path = new StackPath(fixture, tcp);
            path.start();
            return path;
        } catch (IOException | RuntimeException e) {
            if (path != null) {
                path.closeQuietly(e);
            } else {
                fixture.close();
            }
            throw e;
        }
    }

    private void start() throws IOException {
        stack.start(System.nanoTime());
        udp = stack.openUdp(LOCAL_UDP_PORT, 1 << 16);
        // The first datagram waits for ARP; resend until one echo is back (the peer answers every one).
        int attempts = 0;
        while (true) {
            try {
                udpRoundTrip(-1);
                break;
            } catch (IOException e) {
                if (++attempts == 3) {
                    throw e;
                }
            }
        }
        if (tcpMode) {
            connection = tcp.connect(fixture.peerAddress, TCP_ECHO_PORT, 0, 64 * 1024, 64 * 1024, System.nanoTime());
            connection.setNoDelay(true);
            long deadline = System.nanoTime() + ECHO_PATIENCE_NANOS;
            while (!connection.isConnected()) {
                long now = System.nanoTime();
                stack.poll(now);
                if (connection.failure() != null || now - deadline > 0) {
                    throw new IOException("TCP connect to the echo peer failed: " + connection.state() + " "
                            + connection.failure());
                }
            }
        }
    }

    @Override
    public void roundTrip(int sequence) throws IOException {
        if (tcpMode) {
            tcpRoundTrip(sequence);
        } else {
            udpRoundTrip(sequence);
        }
    }

    private void udpRoundTrip(int sequence) throws IOException {
        request.set(ValueLayout.JAVA_INT_UNALIGNED, 0, sequence);
        long start = System.nanoTime();
        stack.sendUdp(udp, fixture.peerAddress, UDP_ECHO_PORT, request, 0, PAYLOAD);
        stack.flush();
        while (true) {
            long now = System.nanoTime();
            stack.poll(now);
            while (udp.isReadable()) {
                int length = udp.receive(reply, 0, (int) reply.byteSize());
                if (length == PAYLOAD && reply.get(ValueLayout.JAVA_INT_UNALIGNED, 0) == sequence) {
                    return;
                }
            }
            if (now - start > ECHO_PATIENCE_NANOS) {
                fixture.peer.checkAlive();
                throw new IOException("no UDP echo of message " + sequence + " within " + ECHO_PATIENCE_NANOS / 1_000_000
                        + " ms; stack counters " + stack.counters().snapshot());
            }
        }
    }

    private void tcpRoundTrip(int sequence) throws IOException {
        request.set(ValueLayout.JAVA_INT_UNALIGNED, 0, sequence);
        long start = System.nanoTime();
        if (tcp.write(connection, request, 0, PAYLOAD, start) != PAYLOAD) {
            throw new IOException("the TCP send buffer did not take message " + sequence + ": " + connection.state());
        }
        stack.flush();
        int got = 0;
        while (got < PAYLOAD) {
            long now = System.nanoTime();
            stack.poll(now);
            int n = tcp.read(connection, reply, got, PAYLOAD - got, now);
            if (n > 0) {
                got += n;
            } else if (n < 0 || now - start > ECHO_PATIENCE_NANOS) {
                fixture.peer.checkAlive();
                throw new IOException("TCP echo of message " + sequence + " failed after " + got + " bytes: "
                        + connection.state() + " " + connection.failure());
            }
        }
        int echoed = reply.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
        if (echoed != sequence) {
            throw new IOException("sent TCP message " + sequence + ", the echo carried " + echoed);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            if (connection != null) {
                tcp.close(connection, System.nanoTime());
                stack.poll(System.nanoTime());
            }
            stack.close();
        } finally {
            try {
                fixture.close();
            } finally {
                arena.close();
            }
        }
    }

    private void closeQuietly(Exception primary) {
        try {
            close();
        } catch (IOException | RuntimeException e) {
            primary.addSuppressed(e);
        }
    }
}

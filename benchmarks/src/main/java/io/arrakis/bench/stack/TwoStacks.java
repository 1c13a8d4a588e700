package io.arrakis.bench.stack;

import io.arrakis.device.Ipv4Text;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.StackConfig;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.link.LinkCounter;
import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.link.SimulatedLink;
import io.arrakis.stack.link.VirtualClock;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.udp.UdpSocket;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The fixture of the stack benchmarks (not a benchmark): two {@link NetworkStack}s, "a"
 * (198.18.0.1) and "b" (198.18.0.2), over a fault-free, zero-latency {@link SimulatedLink} on a
 * {@link VirtualClock}, all driven by the benchmark thread. Optionally a TCP connection from a
 * (client) to b (server) and a pair of UDP sockets, set up and checked before measuring.
 *
 * <p>Deterministic: virtual time moves only when the benchmark says so, the ISN seeds are fixed,
 * and the link draws no random numbers. ARP entries never go stale (the default 30 s would
 * expire after about 30 million 1 µs ticks and stall one operation on an ARP exchange, a cost
 * that is not per segment). Bounded: every loop that waits for the simulation gives up with an
 * exception after a fixed number of steps. {@link #close()} frees the link's packet memory and
 * the stacks' arenas; the connections' rings are {@code Arena.ofAuto} and go with the garbage.
 *
 * <p>Nothing on the paths the benchmarks time allocates here: {@link #settle()} and
 * {@link #tick()} only poll, read and move the clock.
 */
final class TwoStacks implements AutoCloseable {
    static final int ADDRESS_A = Ipv4Text.parse("198.18.0.1");
    static final int ADDRESS_B = Ipv4Text.parse("198.18.0.2");
    static final int TCP_PORT = 7;
    static final int UDP_PORT_A = 40_007;
    static final int UDP_PORT_B = 7;
    /** Virtual time per operation of the latency benchmarks: the clock moves as it would in a real loop. */
    static final long TICK_NANOS = 1_000;
    /** ARP entries stay reachable for ~11 days of virtual time. */
    private static final long ARP_NEVER_STALE = 1_000_000_000_000_000L;
    private static final int MAX_STEPS = 1_000_000;

    final VirtualClock clock = new VirtualClock();
    final SimulatedLink link;
    final NetworkStack a;
    final NetworkStack b;
    private final Arena arena = Arena.ofConfined();
    /** Where {@link #settle()} reads stray bytes to. */
    private final MemorySegment scratch = arena.allocate(256 * 1024, 64);

    TcpLayer tcpA;
    TcpLayer tcpB;
    TcpConnection client;
    TcpConnection server;
    UdpSocket udpA;
    UdpSocket udpB;

    /** A link with {@code aToB} one way (zero latency, no faults) and a perfect link back. */
    TwoStacks(LinkFaults aToB) {
        link = new SimulatedLink(clock, aToB, LinkFaults.NONE, SimulatedLink.DEFAULT_BUFFERS,
                SimulatedLink.DEFAULT_BUFFER_SIZE);
        a = new NetworkStack(link.a(), 0, config("198.18.0.1"));
        b = new NetworkStack(link.b(), 0, config("198.18.0.2"));
    }

    private static StackConfig config(String address) {
        StackConfig d = StackConfig.of(address, 24, null);
        return new StackConfig(d.address(), d.prefixLength(), d.gateway(), d.mtu(), ARP_NEVER_STALE,
                d.arpRetryNanos(), d.arpMaxRequests(), d.reassemblyTimeoutNanos(), d.defaultTtl());
    }

    /** Off-heap memory owned by the fixture (freed by {@link #close()}), filled with a byte pattern. */
    MemorySegment buffer(int bytes) {
        MemorySegment segment = arena.allocate(bytes, 64);
        for (int i = 0; i < bytes; i++) {
            segment.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
        }
        return segment;
    }

    /** Advances virtual time by {@link #TICK_NANOS} and returns the new time. */
    long tick() {
        clock.advanceBy(TICK_NANOS);
        return clock.now();
    }

    /**
     * Opens a TCP connection a → b:7 with Nagle off on both ends (the request/response case), runs
     * the handshake (ARP included) and waits until the simulation is quiet.
     */
    void connectTcp(int sendBufferBytes, int receiveBufferBytes, boolean noDelay) {
        tcpA = new TcpLayer(a, TcpConfig.DEFAULT, 0x5eed_0001L);
        tcpB = new TcpLayer(b, TcpConfig.DEFAULT, 0x5eed_0002L);
        TcpListener listener = tcpB.listen(TCP_PORT, 4, sendBufferBytes, receiveBufferBytes);
        client = tcpA.connect(ADDRESS_B, TCP_PORT, 0, sendBufferBytes, receiveBufferBytes, clock.now());
        for (int step = 0; step < MAX_STEPS && (server == null || !client.isConnected()); step++) {
            pollBoth();
            if (server == null) {
                server = tcpB.accept(listener);
            }
            jumpToNextEvent();
        }
        if (server == null || !client.isConnected()) {
            throw new IllegalStateException("TCP handshake did not complete: client " + client.info());
        }
        tcpB.closeListener(listener, clock.now());
        client.setNoDelay(noDelay);
        server.setNoDelay(noDelay);
        settle();
    }

    /** Binds UDP a:40007 and b:7 and resolves ARP both ways with one datagram each, then settles. */
    void openUdp(int receiveBufferBytes) {
        udpA = a.openUdp(UDP_PORT_A, receiveBufferBytes);
        udpB = b.openUdp(UDP_PORT_B, receiveBufferBytes);
        MemorySegment one = scratch.asSlice(0, 1);
        try {
            a.sendUdp(udpA, ADDRESS_B, UDP_PORT_B, one, 0, 1);
            b.sendUdp(udpB, ADDRESS_A, UDP_PORT_A, one, 0, 1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        settle();
    }

    /**
     * Polls both stacks, reads and discards whatever arrived, and jumps virtual time to the next
     * frame or timer, until nothing is on the wire, no frame waits in a queue, and every TCP byte
     * is acknowledged (which may fire a delayed ACK, 40 ms of virtual time later). Allocation-free.
     */
    void settle() {
        for (int step = 0; step < MAX_STEPS; step++) {
            int received = pollBoth();
            drainReads();
            if (received == 0 && quiet()) {
                return;
            }
            if (received == 0) {
                jumpToNextEvent();
            }
        }
        throw new IllegalStateException("the simulation did not settle in " + MAX_STEPS + " steps: "
                + (client == null ? "" : "client " + client.info() + ", server " + server.info()));
    }

    private int pollBoth() {
        long now = clock.now();
        try {
            return a.poll(now) + b.poll(now);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void drainReads() {
        long now = clock.now();
        if (client != null) {
            while (tcpA.read(client, scratch, 0, (int) scratch.byteSize(), now) > 0) {
                // discard
            }
            while (tcpB.read(server, scratch, 0, (int) scratch.byteSize(), now) > 0) {
                // discard
            }
        }
        if (udpA != null) {
            while (udpA.receive(scratch, 0, (int) scratch.byteSize()) >= 0) {
                // discard
            }
            while (udpB.receive(scratch, 0, (int) scratch.byteSize()) >= 0) {
                // discard
            }
        }
    }

    private boolean quiet() {
        if (link.inFlight(SimulatedLink.Direction.A_TO_B) != 0 || link.inFlight(SimulatedLink.Direction.B_TO_A) != 0) {
            return false;
        }
        return client == null || (client.bytesInFlight() == 0 && client.sendQueueBytes() == 0
                && server.bytesInFlight() == 0 && server.sendQueueBytes() == 0);
    }

    private void jumpToNextEvent() {
        long next = Math.min(link.nextEventTime(), Math.min(a.nextDeadline(), b.nextDeadline()));
        if (next == Long.MAX_VALUE) {
            return;
        }
        clock.advanceTo(Math.max(next, clock.now()));
    }

    /** Frames dropped anywhere on the link (both directions): must stay 0 on a perfect link. */
    long linkDrops() {
        long drops = 0;
        for (SimulatedLink.Direction d : SimulatedLink.Direction.values()) {
            drops += link.counters(d).get(LinkCounter.DROPPED_NO_BUFFER) + link.counters(d).get(LinkCounter.DROPPED_QUEUE_FULL);
        }
        return drops;
    }

    /** Retransmitted segments on both ends: must stay 0 on a perfect link. */
    long retransmissions() {
        return client == null ? 0 : client.retransmittedSegments() + server.retransmittedSegments();
    }

    /** Checks the run was clean (no drops, no retransmissions), closes TCP gracefully and frees everything. */
    @Override
    public void close() {
        try {
            long drops = linkDrops();
            long retransmitted = retransmissions();
            if (client != null) {
                settle();
                tcpA.close(client, clock.now());
                tcpB.close(server, clock.now());
                settle();
            }
            if (drops != 0 || retransmitted != 0) {
                throw new IllegalStateException("the perfect link dropped " + drops + " frames and TCP retransmitted "
                        + retransmitted + " segments: the measurement is not of the segment path alone");
            }
        } finally {
            a.close();
            b.close();
            link.close();
            arena.close();
        }
    }
}

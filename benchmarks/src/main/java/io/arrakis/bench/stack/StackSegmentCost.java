package io.arrakis.bench.stack;

import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.link.SimulatedLink;
import io.arrakis.stack.link.VirtualClock;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What one small segment costs in our stack: two {@link io.arrakis.stack.NetworkStack}s over a
 * zero-latency, fault-free {@link SimulatedLink} in one thread ({@link TwoStacks}), an
 * established TCP connection with Nagle off (64 KiB buffers, default {@code TcpConfig}: CUBIC,
 * timestamps, SACK, window scaling), 64-byte payloads. Arrakis/P's network stack spent 0.61 µs
 * per echo, packet in plus packet out (Peter et al., OSDI 2014); our goal is under 0.3 µs.
 *
 * <ul>
 *   <li>{@code tcpTransmit}: {@code TcpLayer.write} of 64 bytes, then {@code poll} (flushes the
 *       frame to the link). Measured over batches of 64 segments; between batches, outside the
 *       timing, b reads them and a takes the ACKs.
 *   <li>{@code tcpReceive}: b's {@code poll} takes one arriving segment (checks, demultiplexes,
 *       copies it into the receive ring, sends an ACK or window update when one is due) and
 *       {@code TcpLayer.read} copies the 64 bytes out. The segments are sent before the batch,
 *       outside the timing; the a→b link serializes at 100 Gbit/s only so that they arrive
 *       11 ns of virtual time apart and each poll sees exactly one (latency stays 0).
 *   <li>{@code segmentsPerPoll} 32: the same, with 32 segments per {@code poll} (batching).
 *   <li>{@code tcpOneWay}: transmit and receive of one segment in steady state (a writes and
 *       polls, b polls and reads; b's delayed ACKs flow back): no batch, no helper per call,
 *       a cross-check of transmit + receive.
 *   <li>{@code tcpEcho}: a full 64-byte request/response: a writes, polls; b polls, reads,
 *       writes, polls; a polls, reads. Both directions, ACKs piggybacked. This is two
 *       "in + out" of Arrakis's figure (one in and one out per stack): <b>quote
 *       {@code tcpEcho / 2} against 0.61 µs</b>.
 *   <li>{@code udpOneWay}, {@code udpEcho}: the same with 64-byte UDP datagrams.
 *   <li>{@code idlePoll}: one {@code poll} of a stack with an established connection and
 *       nothing to receive or send (an empty receive, the timers): the floor of every poll. The
 *       echo polls four times, two of which receive nothing and only flush a frame.
 *   <li>{@code wireOnly}: the simulated NIC and wire alone (allocate, transmit, copy to the
 *       other end, receive, release one 130-byte frame): not stack cost, and part of every
 *       figure above once per frame; subtract it to get the stack's own share. The link copies
 *       a frame into the receiver's buffer when either end next polls, so {@code tcpTransmit}
 *       (a's poll delivers the frame before) and {@code tcpReceive} (b's poll delivers the
 *       arriving one) each hold that copy: their sum counts it twice, the steady-state
 *       benchmarks once per frame.
 * </ul>
 *
 * <p>Virtual time advances 1 µs per operation, so timers are re-armed as in a real loop. The
 * fixture fails the trial if the link dropped a frame or TCP retransmitted a segment.
 *
 * <p>{@code ./dev bench StackSegmentCost -prof gc}: quote ns/op of each (median of runs, with
 * JMH's error), and {@code gc.alloc.rate.norm} (B/op; the goal is 0).
 */
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class StackSegmentCost {
    static final int PAYLOAD = 64;
    /** Segments per invocation of the batched benchmarks (a multiple of every segmentsPerPoll). */
    static final int BATCH = 64;
    /** Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12 + payload. */
    static final int TCP_FRAME = 14 + 20 + 20 + 12 + PAYLOAD;
    /** The a→b rate of the receive benchmark: only spaces arrivals in virtual time. */
    static final LinkFaults SPACED = LinkFaults.NONE.withRate(100_000_000_000L);
    static final long SPACING_NANOS = SPACED.serializationNanos(TCP_FRAME);
    static final int BUFFER = 64 * 1024;

    /** A connection for the latency benchmarks: tcpEcho, tcpOneWay. */
    @State(Scope.Thread)
    public static class Tcp {
        TwoStacks s;
        MemorySegment request;
        MemorySegment response;
        MemorySegment in;

        @Setup(Level.Trial)
        public void open() {
            s = new TwoStacks(LinkFaults.NONE);
            s.connectTcp(BUFFER, BUFFER, true);
            request = s.buffer(PAYLOAD);
            response = s.buffer(PAYLOAD);
            in = s.buffer(PAYLOAD);
        }

        @TearDown(Level.Trial)
        public void close() {
            s.close();
        }
    }

    /** Batches of segments a sends; b takes them between batches. */
    @State(Scope.Thread)
    public static class TcpTx {
        @Param({"1", "32"})
        public int segmentsPerPoll;
        TwoStacks s;
        MemorySegment payload;

        @Setup(Level.Trial)
        public void open() {
            s = new TwoStacks(LinkFaults.NONE);
            s.connectTcp(BUFFER, BUFFER, true);
            payload = s.buffer(PAYLOAD);
        }

        @TearDown(Level.Invocation)
        public void drain() {
            s.settle();
        }

        @TearDown(Level.Trial)
        public void close() {
            s.close();
        }
    }

    /** Batches of segments sent before the batch; b receives them one per poll. */
    @State(Scope.Thread)
    public static class TcpRx {
        @Param({"1", "32"})
        public int segmentsPerPoll;
        TwoStacks s;
        MemorySegment payload;
        MemorySegment in;

        @Setup(Level.Trial)
        public void open() {
            s = new TwoStacks(SPACED);
            s.connectTcp(BUFFER, BUFFER, true);
            payload = s.buffer(PAYLOAD);
            in = s.buffer(PAYLOAD);
        }

        @Setup(Level.Invocation)
        public void send() throws IOException {
            long now = s.clock.now();
            for (int i = 0; i < BATCH; i++) {
                if (s.tcpA.write(s.client, payload, 0, PAYLOAD, now) != PAYLOAD) {
                    throw new IllegalStateException("a's send buffer is full: " + s.client.info());
                }
                s.a.flush(); // onto the wire now; arrives i + 1 spacings later
            }
        }

        @TearDown(Level.Invocation)
        public void drain() {
            s.settle();
        }

        @TearDown(Level.Trial)
        public void close() {
            s.close();
        }
    }

    @State(Scope.Thread)
    public static class Udp {
        TwoStacks s;
        MemorySegment request;
        MemorySegment response;
        MemorySegment in;

        @Setup(Level.Trial)
        public void open() {
            s = new TwoStacks(LinkFaults.NONE);
            s.openUdp(64 * 1024);
            request = s.buffer(PAYLOAD);
            response = s.buffer(PAYLOAD);
            in = s.buffer(PAYLOAD);
        }

        @TearDown(Level.Trial)
        public void close() {
            s.close();
        }
    }

    /** The simulated NIC and wire without stacks. */
    @State(Scope.Thread)
    public static class Wire {
        SimulatedLink link;
        VnicQueue from;
        VnicQueue to;
        final PacketBatch transmit = new PacketBatch(1);
        final PacketBatch receive = new PacketBatch(64);

        @Setup(Level.Trial)
        public void open() {
            link = new SimulatedLink(new VirtualClock(), LinkFaults.NONE);
            from = link.a().queue(0);
            to = link.b().queue(0);
        }

        @TearDown(Level.Trial)
        public void close() {
            link.close();
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void tcpTransmit(TcpTx t) throws IOException {
        TwoStacks s = t.s;
        int perPoll = t.segmentsPerPoll;
        for (int i = 0; i < BATCH; i++) {
            long now = s.tick();
            if (s.tcpA.write(s.client, t.payload, 0, PAYLOAD, now) != PAYLOAD) {
                throw new IllegalStateException("short write: " + s.client.info());
            }
            if ((i + 1) % perPoll == 0) {
                s.a.poll(now);
            }
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void tcpReceive(TcpRx r) throws IOException {
        TwoStacks s = r.s;
        int perPoll = r.segmentsPerPoll;
        for (int i = 0; i < BATCH; i += perPoll) {
            s.clock.advanceBy(perPoll * SPACING_NANOS);
            long now = s.clock.now();
            s.b.poll(now);
            for (int k = 0; k < perPoll; k++) {
                if (s.tcpB.read(s.server, r.in, 0, PAYLOAD, now) != PAYLOAD) {
                    throw new IllegalStateException("segment " + (i + k) + " did not arrive: " + s.server.info());
                }
            }
        }
    }

    @Benchmark
    public void tcpOneWay(Tcp t) throws IOException {
        TwoStacks s = t.s;
        long now = s.tick();
        s.tcpA.write(s.client, t.request, 0, PAYLOAD, now);
        s.a.poll(now);
        s.b.poll(now);
        if (s.tcpB.read(s.server, t.in, 0, PAYLOAD, now) != PAYLOAD) {
            throw new IllegalStateException("the segment did not arrive: " + s.server.info());
        }
    }

    @Benchmark
    public void tcpEcho(Tcp t) throws IOException {
        TwoStacks s = t.s;
        long now = s.tick();
        s.tcpA.write(s.client, t.request, 0, PAYLOAD, now);
        s.a.poll(now);
        s.b.poll(now);
        if (s.tcpB.read(s.server, t.in, 0, PAYLOAD, now) != PAYLOAD) {
            throw new IllegalStateException("the request did not arrive: " + s.server.info());
        }
        s.tcpB.write(s.server, t.response, 0, PAYLOAD, now);
        s.b.poll(now);
        s.a.poll(now);
        if (s.tcpA.read(s.client, t.in, 0, PAYLOAD, now) != PAYLOAD) {
            throw new IllegalStateException("the response did not arrive: " + s.client.info());
        }
    }

    @Benchmark
    public void udpOneWay(Udp u) throws IOException {
        TwoStacks s = u.s;
        long now = s.tick();
        s.a.sendUdp(s.udpA, TwoStacks.ADDRESS_B, TwoStacks.UDP_PORT_B, u.request, 0, PAYLOAD);
        s.a.poll(now);
        s.b.poll(now);
        if (s.udpB.receive(u.in, 0, PAYLOAD) != PAYLOAD) {
            throw new IllegalStateException("the datagram did not arrive");
        }
    }

    @Benchmark
    public void udpEcho(Udp u) throws IOException {
        TwoStacks s = u.s;
        long now = s.tick();
        s.a.sendUdp(s.udpA, TwoStacks.ADDRESS_B, TwoStacks.UDP_PORT_B, u.request, 0, PAYLOAD);
        s.a.poll(now);
        s.b.poll(now);
        if (s.udpB.receive(u.in, 0, PAYLOAD) != PAYLOAD) {
            throw new IllegalStateException("the request did not arrive");
        }
        s.b.sendUdp(s.udpB, s.udpB.lastSourceAddress(), s.udpB.lastSourcePort(), u.response, 0, PAYLOAD);
        s.b.poll(now);
        s.a.poll(now);
        if (s.udpA.receive(u.in, 0, PAYLOAD) != PAYLOAD) {
            throw new IllegalStateException("the response did not arrive");
        }
    }

    @Benchmark
    public int idlePoll(Tcp t) throws IOException {
        TwoStacks s = t.s;
        return s.a.poll(s.tick());
    }

    @Benchmark
    public void wireOnly(Wire w) throws IOException {
        if (w.from.allocate(w.transmit, 1) != 1) {
            throw new IllegalStateException("no free buffer at the sending end");
        }
        w.transmit.setLength(0, TCP_FRAME);
        w.from.transmit(w.transmit);
        if (w.to.receive(w.receive) != 1) {
            throw new IllegalStateException("the frame did not arrive");
        }
        w.to.release(w.receive);
    }
}

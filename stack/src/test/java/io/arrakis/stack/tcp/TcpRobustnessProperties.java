package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;
import static io.arrakis.stack.tcp.TcpTestNetwork.US;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.stack.wire.NetworkOrder;
import io.arrakis.stack.wire.Tcp;
import io.arrakis.stack.wire.TcpOptions;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tag;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * {@link TcpConnection#segmentArrived} and {@link TcpListener#segmentArrived} never throw, whatever
 * the bytes: arbitrary and mutated segments (flags nonsense, sequence and acknowledgment numbers at
 * and around the window edges, timestamps around TS.Recent, malformed options, data offsets
 * beyond the segment, lengths beyond the buffer, raw garbage) fed to a connection in every state.
 * Timers, flush and the application calls keep working afterwards, and what the engine sends
 * stays well-formed (the test network's sink checks every segment).
 */
class TcpRobustnessProperties {
    enum Target { SYN_SENT, SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT,
        CLOSED, LISTEN }

    /** One segment to build relative to the victim's current sequence space. */
    record Mutation(int flags, int seqMode, int seqDelta, int ackMode, int ackDelta, int window, int dataOffsetWords,
            int optionKind, byte[] optionBytes, int tsDelta, int payloadLength, int shape) {}

    static final AtomicLong SEGMENTS = new AtomicLong();

    @Property(tries = 25_000)
    void segmentArrivedNeverThrowsInAnyState(@ForAll Target target, @ForAll @IntRange(max = 7) int options,
            @ForAll @Size(min = 1, max = 12) List<@net.jqwik.api.From("mutations") Mutation> mutations) {
        run(target, options, mutations);
    }

    @Property(tries = 220_000)
    @Tag("long")
    void segmentArrivedNeverThrowsInAnyStateAMillionTimes(@ForAll Target target,
            @ForAll @IntRange(max = 7) int options,
            @ForAll @Size(min = 1, max = 12) List<@net.jqwik.api.From("mutations") Mutation> mutations) {
        run(target, options, mutations);
    }

    @AfterContainer
    static void report() {
        System.out.println("TCP robustness: " + SEGMENTS.get() + " segments fed");
    }

    @Provide
    Arbitrary<Mutation> mutations() {
        Arbitrary<Integer> flags = Arbitraries.oneOf(
                Arbitraries.of(Tcp.ACK, Tcp.ACK | Tcp.PSH, Tcp.SYN, Tcp.SYN | Tcp.ACK, Tcp.RST, Tcp.RST | Tcp.ACK,
                        Tcp.FIN | Tcp.ACK, Tcp.FIN, Tcp.SYN | Tcp.FIN, Tcp.SYN | Tcp.RST | Tcp.ACK | Tcp.FIN, 0),
                Arbitraries.integers().between(0, 255));
        Arbitrary<Integer> delta = Arbitraries.oneOf(Arbitraries.integers().between(-3, 3),
                Arbitraries.integers().between(-70_000, 70_000), Arbitraries.integers());
        Arbitrary<Integer> mode = Arbitraries.integers().between(0, 4);
        Arbitrary<Integer> window = Arbitraries.oneOf(Arbitraries.of(0, 1, 65535), Arbitraries.integers().between(0, 65535));
        Arbitrary<Integer> dataOffset = Arbitraries.oneOf(Arbitraries.just(-1), Arbitraries.integers().between(0, 15));
        Arbitrary<Integer> optionKind = Arbitraries.integers().between(0, 5);
        Arbitrary<byte[]> optionBytes = Arbitraries.bytes().array(byte[].class).ofMaxSize(40);
        Arbitrary<Integer> payload = Arbitraries.oneOf(Arbitraries.integers().between(0, 4),
                Arbitraries.integers().between(0, 3000));
        Arbitrary<Integer> shape = Arbitraries.integers().between(0, 99);
        return Combinators.combine(Combinators.combine(flags, mode, delta, mode, delta, window, dataOffset).as(Tuple::of),
                Combinators.combine(optionKind, optionBytes, delta, payload, shape).as(Tuple::of))
                .as((h, t) -> new Mutation(h.get1(), h.get2(), h.get3(), h.get4(), h.get5(), h.get6(), h.get7(),
                        t.get1(), t.get2(), t.get3(), t.get4(), t.get5()));
    }

    /** The connection under test and its world. */
    private record Victim(TcpTestNetwork net, TcpConnection connection, TcpListener listener, int localPort,
            int remotePort, int localAddress, int remoteAddress) {}

    private static void run(Target target, int optionBits, List<Mutation> mutations) {
        TcpConfig config = TcpFixture.testConfig().timestamps((optionBits & 1) != 0).sack((optionBits & 2) != 0)
                .windowScaling((optionBits & 4) != 0).build();
        Victim v = victim(target, config);
        long now = v.net.now;
        for (Mutation m : mutations) {
            SEGMENTS.incrementAndGet();
            feed(v, m, now);
            now += 100 * US;
            if (v.connection != null) {
                v.connection.nextDeadline();
            }
        }
        v.net.now = now;
        TcpConnection c = v.connection;
        if (c != null) {
            c.flush(now);
            c.onTimer(c.nextDeadline() == TcpConnection.NEVER ? now : Math.max(now, c.nextDeadline()));
            c.read(MemorySegment.ofArray(new byte[100]), 0, 100, now);
            c.write(MemorySegment.ofArray(new byte[100]), 0, 100, now);
            assertTrue(c.receiveQueueBytes() >= 0 && c.receiveQueueBytes() <= c.receiveBufferSize() + (1 << 14),
                    "receive queue " + c.receiveQueueBytes());
            assertTrue(c.sendQueueBytes() >= 0 && c.sendQueueBytes() <= c.sendBufferSize());
            assertTrue(c.bytesInFlight() >= 0, "in flight " + c.bytesInFlight());
            c.info();
        } else {
            v.listener.onTimer(now + 10_000 * MS);
            v.listener.accept();
        }
        // What the engine sent in answer must survive the network and the peer too.
        v.net.lossRate = 0;
        for (int i = 0; i < 200 && v.net.step(); i++) {
            // bounded: a few hundred events at most
        }
    }

    private static void feed(Victim v, Mutation m, long now) {
        TcpConnection c = v.connection;
        int rcvNxt = c != null ? c.receiveNext() : 12345;
        int sndUna = c != null ? c.sendUnacknowledged() : 0;
        int sndMax = c != null ? c.sendMax() : 0;
        int tsRecent = c != null ? c.timestampRecent() : 0;
        byte[] bytes;
        int shape = m.shape();
        if (shape < 5) {
            bytes = new byte[m.payloadLength() % 120];
            new java.util.SplittableRandom(m.seqDelta() * 31L + m.ackDelta()).nextBytes(bytes);
        } else {
            byte[] options = switch (m.optionKind()) {
                case 0, 1 -> new byte[0];
                case 2 -> TcpTestNetwork.timestampOption(tsRecent + m.tsDelta(), m.tsDelta());
                case 3 -> concat(TcpTestNetwork.timestampOption(tsRecent + m.tsDelta() % 3, 0), m.optionBytes());
                default -> m.optionBytes();
            };
            if (options.length > 40) {
                options = java.util.Arrays.copyOf(options, 40);
            }
            int seq = relative(m.seqMode(), m.seqDelta(), rcvNxt, rcvNxt + (c != null ? c.receiveWindow() : 0));
            int ack = relative(m.ackMode(), m.ackDelta(), sndUna, sndMax);
            int sourcePort = shape < 10 ? m.seqDelta() & 0xFFFF : v.remotePort;
            int destinationPort = shape < 8 ? m.ackDelta() & 0xFFFF : v.localPort;
            bytes = TcpTestNetwork.segment(sourcePort, destinationPort, seq, ack, m.flags(), m.window(),
                    new byte[m.payloadLength()], options);
            if (m.dataOffsetWords() >= 0) {
                NetworkOrder.setU8(MemorySegment.ofArray(bytes), 12, m.dataOffsetWords() << 4);
            }
        }
        MemorySegment p = MemorySegment.ofArray(bytes);
        long offset = 0;
        int length = bytes.length;
        if (shape >= 10 && shape < 15) {
            length = Math.max(0, length - 1 - (m.payloadLength() % 40)); // shorter than the header says
        } else if (shape >= 15 && shape < 18) {
            length = bytes.length + 1 + (m.payloadLength() % 100); // beyond the buffer
        } else if (shape == 18) {
            offset = -1;
        } else if (shape == 19) {
            offset = bytes.length;
        }
        if (c != null) {
            c.segmentArrived(p, offset, length, now);
        } else {
            TcpConnection created = v.listener.segmentArrived(p, offset, length, v.localAddress, v.remoteAddress, now);
            if (created != null) {
                v.net.b.register(created);
            }
        }
    }

    private static int relative(int mode, int delta, int left, int right) {
        return switch (mode) {
            case 0 -> left + delta;
            case 1 -> right + delta;
            case 2 -> left - 1;
            case 3 -> right;
            default -> delta * 65_537;
        };
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Builds a connection (A's side of A:40000 ↔ B:80, or a simultaneous open) in the target state. */
    private static Victim victim(Target target, TcpConfig config) {
        if (target == Target.LISTEN) {
            TcpTestNetwork net = new TcpTestNetwork(target.ordinal());
            TcpListener l = net.b.listen(config, 80, 1460, 2, 4096, 4096);
            return new Victim(net, null, l, 80, TcpFixture.CLIENT_PORT, B, A);
        }
        if (target == Target.SYN_RECEIVED) {
            TcpTestNetwork net = new TcpTestNetwork(target.ordinal());
            TcpConnection a = net.a.connect(config, 5000, B, 6000, 100, 1460, 8192, 8192);
            net.b.connect(config, 6000, A, 5000, 900_000, 1460, 8192, 8192);
            net.runFor(1 * MS + 10 * US);
            return new Victim(net, a, null, 5000, 6000, A, B);
        }
        TcpFixture f = new TcpFixture(target.ordinal(), config, 8192);
        if (target != Target.SYN_SENT) {
            f.established();
            f.server.write(MemorySegment.ofArray(new byte[3000]), 0, 3000, f.net.now);
            f.client.write(MemorySegment.ofArray(new byte[2000]), 0, 2000, f.net.now);
            f.net.runFor(5 * MS);
        }
        TcpTestNetwork net = f.net;
        switch (target) {
            case FIN_WAIT_1 -> {
                f.client.write(MemorySegment.ofArray(new byte[100]), 0, 100, net.now);
                f.client.shutdownOutput(net.now);
            }
            case FIN_WAIT_2 -> {
                f.client.shutdownOutput(net.now);
                net.runFor(10 * MS);
            }
            case CLOSE_WAIT -> {
                f.server.shutdownOutput(net.now);
                net.runFor(10 * MS);
            }
            case CLOSING -> {
                f.client.shutdownOutput(net.now);
                f.server.shutdownOutput(net.now);
                net.runFor(1 * MS + 10 * US);
            }
            case LAST_ACK -> {
                f.server.shutdownOutput(net.now);
                net.runFor(10 * MS);
                f.client.shutdownOutput(net.now);
            }
            case TIME_WAIT -> {
                f.client.shutdownOutput(net.now);
                net.runFor(10 * MS);
                f.server.shutdownOutput(net.now);
                net.runFor(10 * MS);
            }
            case CLOSED -> f.client.abort(net.now);
            default -> { }
        }
        return new Victim(net, f.client, null, TcpFixture.CLIENT_PORT, TcpFixture.SERVER_PORT, A, B);
    }

    @Property(tries = 200)
    void everyTargetStateIsReached(@ForAll Target target, @ForAll @IntRange(max = 7) int options) {
        TcpConfig config = TcpFixture.testConfig().timestamps((options & 1) != 0).sack((options & 2) != 0)
                .windowScaling((options & 4) != 0).build();
        Victim v = victim(target, config);
        String expected = target.name();
        String actual = v.connection != null ? v.connection.state().name() : v.listener.state().name();
        assertTrue(expected.equals(actual), target + " built as " + actual);
    }

    static {
        // Referenced so the option kinds used above stay in sync with the wire format.
        assert TcpOptions.KIND_TIMESTAMPS == 8;
    }
}

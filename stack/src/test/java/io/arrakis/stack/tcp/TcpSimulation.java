package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * One seeded end-to-end run: two engines exchange random payloads both ways over a
 * {@link TcpTestNetwork} with random faults, random write and read sizes, pauses (zero windows),
 * half-closes, and sometimes an abort; then both close. Everything (network, configuration,
 * application behaviour) derives from the seed, so {@link #run} is a pure function of it.
 */
final class TcpSimulation {
    /** How big a run is. */
    record Size(int maxPayload, long maxVirtualNanos, long maxSteps) {}

    static final Size DEFAULT = new Size(64 * 1024, 12 * 3_600_000 * MS, 3_000_000);
    static final Size LONG = new Size(512 * 1024, 24 * 3_600_000 * MS, 20_000_000);

    /** What happened; {@code problem} is null when the run met every expectation. */
    record Result(long seed, String problem, String description, long virtualNanos, long steps, long segments,
            long retransmits) {}

    private final class Side {
        final String name;
        final byte[] toSend;
        final ByteArrayOutputStream received = new ByteArrayOutputStream();
        TcpConnection connection;
        int sent;
        boolean shutdown;
        boolean eof;
        boolean appClosed;
        boolean aborted;
        boolean abortWasNoOp;
        long abortAt = Long.MAX_VALUE;
        long nextAction;
        int maxWrite;
        int maxRead;
        long maxPause;
        long pollInterval;
        double stallRate;
        boolean wokenByEvent;

        Side(String name, byte[] toSend) {
            this.name = name;
            this.toSend = toSend;
        }

        boolean done() {
            if (connection == null) {
                // An abort before the handshake reached this side: it never gets a connection.
                Side other = this == sa ? sb : sa;
                return other.aborted && other.done();
            }
            return (appClosed || aborted) && connection.state() == TcpState.CLOSED;
        }
    }

    private final long seed;
    private final boolean trace;
    private final Size size;
    private final SplittableRandom r;
    private final TcpTestNetwork net;
    private final Side sa;
    private final Side sb;
    private final byte[] buffer = new byte[1 << 17];
    private final MemorySegment bufferSegment = MemorySegment.ofArray(buffer);
    private final StringBuilder description = new StringBuilder();
    private TcpListener listener;
    private boolean simultaneous;
    private long bConnectAt;
    private TcpConfig configB;
    private int mssB;
    private int buffersB;
    private String problem;

    private TcpSimulation(long seed, boolean trace, Size size) {
        this.seed = seed;
        this.trace = trace;
        this.size = size;
        this.r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + 12345);
        this.net = new TcpTestNetwork(seed);
        this.net.keepLog = trace;
        this.sa = new Side("A", TcpTestNetwork.bytes(payloadSize(), r.nextLong()));
        this.sb = new Side("B", TcpTestNetwork.bytes(payloadSize(), r.nextLong()));
    }

    static Result run(long seed, boolean trace, Size size) {
        TcpSimulation s = new TcpSimulation(seed, trace, size);
        try {
            s.setUp();
            s.drive();
            s.check();
        } catch (AssertionError | RuntimeException e) {
            s.problem = (s.problem == null ? "" : s.problem + "; ") + e;
            if (trace) {
                e.printStackTrace(System.out);
            }
        }
        return new Result(seed, s.problem, s.description.toString(), s.net.now, s.net.steps, s.net.sent,
                s.net.a.aggregate.get(TcpCounter.RETRANSMITTED_SEGMENTS)
                        + s.net.b.aggregate.get(TcpCounter.RETRANSMITTED_SEGMENTS));
    }

    /** The network's segment log (only with trace on). */
    static String traceOf(long seed, Size size, int lastSegments) {
        TcpSimulation s = new TcpSimulation(seed, true, size);
        try {
            s.setUp();
            s.drive();
            s.check();
        } catch (AssertionError | RuntimeException e) {
            s.problem = e.toString();
        }
        return s.description + "\n" + s.net.trace(lastSegments) + "problem: " + s.problem + "\nA: "
                + (s.sa.connection == null ? "-" : s.sa.connection.info() + " " + s.sa.connection.counters())
                + "\nB: " + (s.sb.connection == null ? "-" : s.sb.connection.info() + " " + s.sb.connection.counters())
                + (s.sa.connection == null ? "" : "\nA " + s.sa.connection.timers())
                + (s.sb.connection == null ? "" : "\nB " + s.sb.connection.timers());
    }

    private int payloadSize() {
        // Log-uniform, with some empty directions.
        if (r.nextInt(10) == 0) {
            return 0;
        }
        double max = Math.log(size.maxPayload());
        return (int) Math.exp(r.nextDouble() * max);
    }

    private TcpConfig randomConfig() {
        TcpConfig.Builder b = TcpConfig.builder()
                .congestionControl(r.nextBoolean() ? TcpConfig.CongestionControl.CUBIC
                        : TcpConfig.CongestionControl.NEW_RENO)
                .windowScaling(r.nextInt(4) != 0)
                .timestamps(r.nextInt(4) != 0)
                .sack(r.nextInt(4) != 0)
                .delayedAckNanos(r.nextInt(5) == 0 ? 0 : (1 + r.nextInt(40)) * MS)
                .initialWindowSegments(1 + r.nextInt(10))
                .mslNanos((10 + r.nextInt(1000)) * MS)
                .maxSynRetransmissions(15)
                .maxRetransmissions(15)
                .keepAliveProbes(20)
                .maxOutOfOrderIntervals(1 + r.nextInt(32))
                .maxSackScoreboard(1 + r.nextInt(32));
        if (r.nextBoolean()) {
            b.minRtoNanos((5 + r.nextInt(200)) * MS).initialRtoNanos(1000 * MS);
        }
        return b.build();
    }

    private int randomBuffer() {
        return (int) Math.exp(Math.log(256) + r.nextDouble() * (Math.log(512 * 1024) - Math.log(256)));
    }

    private void setUp() {
        net.lossRate = r.nextInt(8) == 0 ? 0 : r.nextDouble() * 0.2;
        net.duplicateRate = r.nextDouble() * 0.05;
        net.reorderRate = r.nextDouble() * 0.3;
        net.corruptRate = r.nextDouble() * 0.03;
        net.noBufferRate = r.nextInt(3) == 0 ? r.nextDouble() * 0.05 : 0;
        net.delayNanos = (long) (Math.exp(Math.log(50_000) + r.nextDouble() * (Math.log(20 * MS) - Math.log(50_000))));
        net.jitterNanos = r.nextBoolean() ? (long) (r.nextDouble() * net.delayNanos) : 0;
        net.reorderExtraNanos = 1 + (long) (r.nextDouble() * 4 * net.delayNanos);
        if (r.nextBoolean()) {
            net.bandwidth = (long) Math.exp(Math.log(1e6) + r.nextDouble() * (Math.log(1e9) - Math.log(1e6)));
            net.queueLimitBytes = 4096 + r.nextInt(256 * 1024);
        }
        TcpConfig configA = randomConfig();
        configB = randomConfig();
        int mssA = 200 + r.nextInt(1300);
        mssB = 200 + r.nextInt(1300);
        int buffersA = randomBuffer();
        buffersB = randomBuffer();
        simultaneous = r.nextInt(10) == 0;
        for (Side s : new Side[] {sa, sb}) {
            s.maxWrite = 1 + r.nextInt(r.nextBoolean() ? 200 : 70_000);
            s.maxRead = 1 + r.nextInt(r.nextBoolean() ? 300 : 70_000);
            s.maxPause = r.nextInt(4) == 0 ? 0 : (long) (r.nextDouble() * 20 * MS);
            s.pollInterval = (1 + r.nextInt(20)) * MS; // between events, the app looks every so often
            s.stallRate = r.nextInt(4) == 0 ? r.nextDouble() * 0.02 : 0;
        }
        if (r.nextInt(20) == 0) {
            Side victim = r.nextBoolean() ? sa : sb;
            victim.abortAt = (long) (r.nextDouble() * 2000 * MS);
        }
        boolean keepAlive = r.nextBoolean();
        long keepIdle = (1000 + r.nextInt(10_000)) * MS;
        description.append(String.format(
                "seed %d: loss %.3f dup %.3f reorder %.3f corrupt %.3f nobuf %.3f delay %.2fms bw %s | A %s mss %d buf %d"
                        + " send %d | B %s mss %d buf %d send %d | %s%s%s",
                seed, net.lossRate, net.duplicateRate, net.reorderRate, net.corruptRate, net.noBufferRate,
                net.delayNanos / 1e6, net.bandwidth == 0 ? "inf" : net.bandwidth / 1000 + "kB/s", configA, mssA,
                buffersA, sa.toSend.length, configB, mssB, buffersB, sb.toSend.length,
                simultaneous ? "simultaneous open" : "listener",
                sa.abortAt != Long.MAX_VALUE ? " A aborts at " + sa.abortAt / MS + "ms" : "",
                sb.abortAt != Long.MAX_VALUE ? " B aborts at " + sb.abortAt / MS + "ms" : ""));

        int portA = 10_000 + r.nextInt(50_000);
        int portB = simultaneous ? 1 + r.nextInt(9999) : 80;
        if (simultaneous) {
            bConnectAt = (long) (r.nextDouble() * net.delayNanos / 2);
        } else {
            listener = net.b.listen(configB, portB, mssB, 4, buffersB, buffersB);
            net.onAccept = c -> {
                if (sb.connection == null) {
                    sb.connection = listener.accept();
                    wire(sb);
                }
            };
        }
        sa.connection = net.a.connect(configA, portA, B, portB, r.nextInt(), mssA, buffersA, buffersA);
        wire(sa);
        if (simultaneous) {
            pendingB = () -> {
                sb.connection = net.b.connect(configB, portB, A, portA, r.nextInt(), mssB, buffersB, buffersB);
                wire(sb);
            };
        }
        for (Side s : new Side[] {sa, sb}) {
            s.nextAction = 0;
        }
        if (keepAlive) {
            for (Side s : new Side[] {sa, sb}) {
                if (s.connection != null) {
                    s.connection.setKeepAlive(true);
                    s.connection.setKeepAliveParameters(keepIdle, keepIdle / 4, 20);
                }
            }
            keepAliveIdle = keepIdle;
        }
    }

    private Runnable pendingB;
    private long keepAliveIdle;

    private void wire(Side s) {
        TcpConnection c = s.connection;
        c.setNoDelay(r.nextBoolean());
        if (keepAliveIdle > 0) {
            c.setKeepAlive(true);
            c.setKeepAliveParameters(keepAliveIdle, keepAliveIdle / 4, 20);
        } else if (r.nextInt(3) == 0) {
            // Without keep-alive an abort can leave the other side waiting forever in FIN_WAIT_2.
            c.setKeepAlive(true);
            c.setKeepAliveParameters((1000 + r.nextInt(10_000)) * MS, 1000 * MS, 20);
        }
        if (s.abortAt != Long.MAX_VALUE || (s == sa ? sb : sa).abortAt != Long.MAX_VALUE) {
            c.setKeepAlive(true);
            c.setKeepAliveParameters(5000 * MS, 1000 * MS, 20);
        }
        c.setEvents(new TcpEvents() {
            @Override
            public void readable(TcpConnection connection) {
                wake(s);
            }

            @Override
            public void writable(TcpConnection connection) {
                wake(s);
            }

            @Override
            public void connected(TcpConnection connection) {
                wake(s);
            }
        });
    }

    private void wake(Side s) {
        if (!s.wokenByEvent) {
            s.wokenByEvent = true;
            s.nextAction = Math.min(s.nextAction, net.now);
        }
    }

    private void drive() {
        long deadline = size.maxVirtualNanos();
        while (!(sa.done() && sb.done())) {
            if (net.steps > size.maxSteps()) {
                throw new AssertionError("no progress: step limit " + size.maxSteps() + " reached");
            }
            long t = net.nextEventTime();
            if (pendingB != null) {
                t = Math.min(t, bConnectAt);
            }
            for (Side s : new Side[] {sa, sb}) {
                if (s.connection != null && !s.appClosed && !s.aborted) {
                    t = Math.min(t, Math.max(s.nextAction, net.now));
                    t = Math.min(t, Math.max(s.abortAt, net.now));
                }
            }
            if (t == TcpConnection.NEVER) {
                throw new AssertionError("hang: nothing scheduled, A " + state(sa) + ", B " + state(sb));
            }
            if (t > deadline) {
                if (trace) {
                    System.out.println(net.pending());
                }
                throw new AssertionError("no progress: virtual time limit, A " + state(sa) + ", B " + state(sb));
            }
            if (trace && net.steps > size.maxSteps() - 5) {
                System.out.println("step " + net.steps + " now " + net.now + " t " + t + " A next " + sa.nextAction
                        + " B next " + sb.nextAction + "\n  A " + (sa.connection == null ? "" : sa.connection.timers())
                        + "\n  B " + (sb.connection == null ? "" : sb.connection.timers()) + "\n" + net.pending());
            }
            net.advanceTo(t);
            if (pendingB != null && net.now >= bConnectAt) {
                Runnable p = pendingB;
                pendingB = null;
                p.run();
            }
            for (Side s : new Side[] {sa, sb}) {
                if (s.connection != null && !s.appClosed && !s.aborted
                        && (s.nextAction <= net.now || s.abortAt <= net.now)) {
                    act(s);
                }
            }
        }
    }

    private String state(Side s) {
        return s.connection == null ? "none" : s.connection.info() + " sent " + s.sent + "/" + s.toSend.length
                + " got " + s.received.size() + (s.eof ? " eof" : "") + (s.shutdown ? " shut" : "")
                + (s.appClosed ? " closed" : "");
    }

    private void act(Side s) {
        s.wokenByEvent = false;
        TcpConnection c = s.connection;
        long now = net.now;
        if (now >= s.abortAt) {
            s.aborted = true;
            s.abortWasNoOp = c.state() == TcpState.CLOSED; // it had already finished
            c.abort(now);
            return;
        }
        if (c.state() == TcpState.CLOSED && c.failure() != null) {
            s.appClosed = true;
            c.close(now);
            return;
        }
        // Write a random chunk.
        if (s.sent < s.toSend.length && c.state() != TcpState.SYN_SENT) {
            int chunk = Math.min(s.toSend.length - s.sent, 1 + r.nextInt(s.maxWrite));
            int n = c.write(MemorySegment.ofArray(s.toSend), s.sent, chunk, now);
            if (n < 0) {
                if (c.failure() == null) {
                    throw new AssertionError(s.name + ": write returned -1 in " + c.state() + " without a failure");
                }
            } else {
                s.sent += n;
            }
        }
        if (s.sent == s.toSend.length && !s.shutdown && c.isConnected()) {
            s.shutdown = true;
            c.shutdownOutput(now);
        }
        // Read a few random chunks.
        int reads = 1 + r.nextInt(4);
        for (int i = 0; i < reads && !s.eof; i++) {
            int want = 1 + r.nextInt(Math.min(s.maxRead, buffer.length));
            int n = c.read(bufferSegment, 0, want, now);
            if (n < 0) {
                if (c.failure() == null) {
                    s.eof = true;
                }
                break;
            }
            if (n == 0) {
                break;
            }
            s.received.write(buffer, 0, n);
        }
        if (s.eof && s.shutdown && !s.appClosed) {
            s.appClosed = true;
            c.close(now);
        }
        long pause = s.maxPause == 0 ? 0 : (long) (r.nextDouble() * s.maxPause);
        if (s.stallRate > 0 && r.nextDouble() < s.stallRate) {
            pause += (long) (r.nextDouble() * 3000 * MS); // a stalled reader: the window closes
        }
        s.nextAction = now + Math.max(pause, s.pollInterval);
    }

    private void check() {
        for (TcpTestNetwork.Host h : new TcpTestNetwork.Host[] {net.a, net.b}) {
            if (h.aggregate.get(TcpCounter.DROP_MALFORMED_HEADER) != 0
                    || h.aggregate.get(TcpCounter.DROP_MALFORMED_OPTIONS) != 0) {
                throw new AssertionError("an engine sent a malformed segment: " + h.aggregate);
            }
        }
        boolean aborts = sa.abortAt != Long.MAX_VALUE || sb.abortAt != Long.MAX_VALUE;
        for (Side s : new Side[] {sa, sb}) {
            Side other = s == sa ? sb : sa;
            byte[] got = s.received.toByteArray();
            if (!isPrefix(got, other.toSend)) {
                throw new AssertionError(s.name + " received " + got.length + " bytes that are not a prefix of the "
                        + other.toSend.length + " " + other.name + " sent (first difference at "
                        + Arrays.mismatch(got, other.toSend) + ")");
            }
            if (s.eof && got.length != other.toSend.length) {
                throw new AssertionError(s.name + " saw end of stream after " + got.length + " of "
                        + other.toSend.length + " bytes");
            }
            if (s.connection == null) {
                continue;
            }
            TcpFailure f = s.connection.failure();
            if (!aborts) {
                if (f != null) {
                    throw new AssertionError(s.name + " failed with " + f + " though nobody aborted");
                }
                if (!s.eof) {
                    throw new AssertionError(s.name + " never saw end of stream");
                }
            } else if (s.aborted) {
                if (f != TcpFailure.ABORTED && !(s.abortWasNoOp && f == null)) {
                    throw new AssertionError(s.name + " aborted but reports " + f);
                }
            } else if (f != null && f != TcpFailure.RESET && f != TcpFailure.TIMED_OUT
                    && !(f == TcpFailure.REFUSED && simultaneous)) {
                // (a RST in SYN-RECEIVED, possible only in a simultaneous open, is "refused")
                throw new AssertionError(s.name + " failed with " + f + " after the peer aborted");
            }
        }
    }

    private static boolean isPrefix(byte[] prefix, byte[] of) {
        return prefix.length <= of.length && Arrays.equals(prefix, 0, prefix.length, of, 0, prefix.length);
    }
}

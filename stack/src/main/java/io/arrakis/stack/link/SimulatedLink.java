package io.arrakis.stack.link;

import io.arrakis.device.Counters;
import io.arrakis.device.MacAddress;
import io.arrakis.device.VnicCounter;
import io.arrakis.memory.BufferPool;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * A point-to-point Ethernet link between two endpoints, {@link #a()} and {@link #b()}, each a
 * {@link io.arrakis.device.Vnic} with one queue and its own packet memory, so two stacks can talk
 * over it in one thread on {@link VirtualClock virtual time}: the test bench of the stack, in the
 * style of smoltcp's {@code phy} fault injector.
 *
 * <p>A frame one end transmits is scheduled according to that direction's {@link LinkFaults}
 * (queue, serialization, latency, loss, duplication, reordering, corruption) and, once virtual
 * time reaches its arrival, copied into a free buffer of the other end's pool and queued for
 * receipt there. That copy is the wire; no other copy is made. If the receiver has no free
 * buffer the frame is dropped and counted. The transmit buffer stays lent to the link until the
 * frame's last copy arrives or is dropped, so an endpoint's pool must cover what it has in
 * flight (the bandwidth-delay product) besides what it receives.
 *
 * <p><b>A simulation never blocks; it advances time.</b> Nothing here waits: frames move only
 * when the driver calls {@link #deliverDue()} or {@link #advanceTo}, or when an endpoint's queue
 * is polled ({@code receive} and {@code awaitReceive} first deliver what is due). A queue's
 * {@code awaitReceive} returns at once, {@code true} if frames are waiting. The driver's loop:
 * jump the clock to the earliest of {@link #nextEventTime()} and the stacks' timers, deliver,
 * let both stacks poll, repeat.
 *
 * <p>Randomness: the direction A→B draws from {@code new SplittableRandom(aToB.seed())}, the
 * direction B→A from {@code new SplittableRandom(bToA.seed()).split()}, so a symmetric link
 * with one seed still has independent faults in each direction, and traffic in one direction
 * never shifts the faults of the other. Both are deterministic: the same seeds and the same
 * calls replay the same run, event for event.
 *
 * <p>Identity is deterministic too: the links made on one clock are numbered from 0 in the order
 * they are made, and link {@code n}'s endpoints are named {@code sim<n>a} and {@code sim<n>b},
 * with MACs {@code 02:53:00:NN:NN:0a} and {@code …:0b} ({@code NN:NN} = {@code n}).
 *
 * <p>Not thread-safe: the link, both endpoints and the clock belong to the simulation thread
 * (only {@code wakeup()} and {@code counters()} of a queue may be called from others).
 */
public final class SimulatedLink implements AutoCloseable {
    /** The backend name endpoints report. */
    public static final String BACKEND = "simulated";
    public static final int DEFAULT_BUFFERS = 1024;
    public static final int DEFAULT_BUFFER_SIZE = 2048;

    /** Which way a frame travels. */
    public enum Direction {
        A_TO_B,
        B_TO_A
    }

    private final VirtualClock clock;
    private final Arena arena = Arena.ofShared();
    private final SimulatedVnic a;
    private final SimulatedVnic b;
    private final Wire aToB;
    private final Wire bToA;
    private PcapWriter capture;
    private LinkTrace trace;
    private boolean closed;

    /** A link with the same faults both ways and {@link #DEFAULT_BUFFERS} of {@link #DEFAULT_BUFFER_SIZE} bytes per end. */
    public SimulatedLink(VirtualClock clock, LinkFaults faults) {
        this(clock, faults, faults, DEFAULT_BUFFERS, DEFAULT_BUFFER_SIZE);
    }

    /**
     * A link with its own faults each way and {@code buffersPerEndpoint} buffers of
     * {@code bufferSize} bytes (a power of two, at least 64) in each endpoint's pool.
     */
    public SimulatedLink(VirtualClock clock, LinkFaults aToB, LinkFaults bToA, int buffersPerEndpoint,
            int bufferSize) {
        if (clock == null || aToB == null || bToA == null) {
            throw new NullPointerException("a simulated link needs a clock and faults for both directions");
        }
        if (buffersPerEndpoint <= 0) {
            throw new IllegalArgumentException("an endpoint needs at least one buffer: " + buffersPerEndpoint);
        }
        if (bufferSize < 64 || Integer.bitCount(bufferSize) != 1) {
            throw new IllegalArgumentException("buffer size must be a power of two of at least 64 bytes (a minimum"
                    + " Ethernet frame): " + bufferSize);
        }
        this.clock = clock;
        int link = clock.nextLinkNumber();
        String name = "sim" + link;
        MemorySegment memory = arena.allocate(2L * buffersPerEndpoint * bufferSize, 4096);
        long half = (long) buffersPerEndpoint * bufferSize;
        this.a = new SimulatedVnic(this, Direction.A_TO_B, name + "a",
                MacAddress.locallyAdministered(0x53_0000_0000L | ((long) (link & 0xFFFF) << 8) | 0x0A),
                new BufferPool(memory.asSlice(0, half), bufferSize));
        this.b = new SimulatedVnic(this, Direction.B_TO_A, name + "b",
                MacAddress.locallyAdministered(0x53_0000_0000L | ((long) (link & 0xFFFF) << 8) | 0x0B),
                new BufferPool(memory.asSlice(half, half), bufferSize));
        this.aToB = new Wire(Direction.A_TO_B, aToB, new SplittableRandom(aToB.seed()), a, b);
        this.bToA = new Wire(Direction.B_TO_A, bToA, new SplittableRandom(bToA.seed()).split(), b, a);
    }

    /** Endpoint A: what it transmits goes {@link Direction#A_TO_B}. */
    public SimulatedVnic a() {
        return a;
    }

    /** Endpoint B: what it transmits goes {@link Direction#B_TO_A}. */
    public SimulatedVnic b() {
        return b;
    }

    public VirtualClock clock() {
        return clock;
    }

    public LinkFaults faults(Direction direction) {
        return wire(direction).faults;
    }

    /** The counters of one direction. */
    public Counters<LinkCounter> counters(Direction direction) {
        return wire(direction).counters;
    }

    /** Copies scheduled to arrive and not yet delivered or dropped, in one direction. */
    public int inFlight(Direction direction) {
        return wire(direction).inFlight.size();
    }

    /**
     * The virtual time at which the next frame arrives (maybe already past, if not yet
     * delivered), or {@link Long#MAX_VALUE} when nothing is in flight: where a driver jumps the
     * clock when nothing else is due earlier.
     */
    public long nextEventTime() {
        return Math.min(aToB.nextArrival(), bToA.nextArrival());
    }

    /**
     * Delivers, in arrival order across both directions (A→B first on a tie), every frame whose
     * arrival time has come ({@code <= clock.now()}); returns how many copies it delivered into
     * receive buffers.
     *
     * @throws IOException if the {@link #capture} writer fails (the frame is delivered anyway)
     */
    public int deliverDue() throws IOException {
        checkOpen();
        long now = clock.now();
        int delivered = 0;
        while (true) {
            long nextAToB = aToB.nextArrival();
            long nextBToA = bToA.nextArrival();
            if (nextAToB <= nextBToA && nextAToB <= now) {
                delivered += aToB.deliverNext();
            } else if (nextBToA < nextAToB && nextBToA <= now) {
                delivered += bToA.deliverNext();
            } else {
                return delivered;
            }
        }
    }

    /** Moves the clock to {@code nanos} and delivers what is due by then; returns how many copies it delivered. */
    public int advanceTo(long nanos) throws IOException {
        clock.advanceTo(nanos);
        return deliverDue();
    }

    /**
     * Records every frame as it is delivered into a receive buffer, both directions in one file,
     * stamped with its virtual arrival time: the view of a tap on the wire at the receiving end,
     * so it shows duplicates, reordering and corrupted bits but not frames lost on the way.
     * {@code null} stops recording. The caller keeps and closes the writer.
     */
    public void capture(PcapWriter writer) {
        this.capture = writer;
    }

    /** Reports every event to {@code trace} ({@code null}: none). */
    public void trace(LinkTrace trace) {
        this.trace = trace;
    }

    /** Frees both endpoints' packet memory; idempotent. Any later use of the link or its endpoints fails. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    boolean isClosed() {
        return closed;
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException("simulated link " + a.name() + "/" + b.name() + " is closed");
        }
    }

    /** Called by endpoint {@code from}'s queue for each frame it accepted for transmission. */
    void send(SimulatedVnic from, int buffer, int offset, int length) {
        (from == a ? aToB : bToA).send(clock.now(), buffer, offset, length);
    }

    /** Whether {@code buffer} of endpoint {@code from}'s pool is still on the wire. */
    boolean inFlight(SimulatedVnic from, int buffer) {
        return (from == a ? aToB : bToA).references[buffer] > 0;
    }

    /** Called when the last endpoint closes. */
    void endpointClosed() {
        if (a.isClosed() && b.isClosed()) {
            close();
        }
    }

    private Wire wire(Direction direction) {
        return direction == Direction.A_TO_B ? aToB : bToA;
    }

    /**
     * One direction of the link: its transmit queue and the copies in flight.
     */
    private final class Wire {
        private static final int ETHERNET_HEADER = 14;

        final Direction direction;
        final LinkFaults faults;
        final SplittableRandom random;
        final SimulatedVnic from;
        final SimulatedVnic to;
        final Counters<LinkCounter> counters = Counters.onHeap(LinkCounter.class);
        /** Per buffer of the sender's pool: copies in flight that still need it. */
        final int[] references;

        /** When the transmitter finishes the frames it has accepted so far. */
        private long busyUntil = Long.MIN_VALUE;
        /** Departure times of the frames in the transmit queue, oldest first (only with a queue limit). */
        private final long[] departures;
        private int departuresHead;
        private int departuresCount;
        private long nextFrame;
        /** The copies in flight, earliest arrival first. */
        final FrameSchedule inFlight = new FrameSchedule();

        Wire(Direction direction, LinkFaults faults, SplittableRandom random, SimulatedVnic from, SimulatedVnic to) {
            this.direction = direction;
            this.faults = faults;
            this.random = random;
            this.from = from;
            this.to = to;
            this.references = new int[from.pool().capacity()];
            this.departures = new long[faults.queueLimit()];
        }

        long nextArrival() {
            return inFlight.nextArrival();
        }

        void send(long now, int buf, int off, int len) {
            long frameNumber = nextFrame++;
            counters.increment(LinkCounter.SENT);
            counters.add(LinkCounter.SENT_BYTES, len);
            event(now, LinkCounter.SENT, frameNumber, len);
            if (departures.length > 0) {
                while (departuresCount > 0 && departures[departuresHead] <= now) {
                    departuresHead = (departuresHead + 1) % departures.length;
                    departuresCount--;
                }
                if (departuresCount == departures.length) {
                    counters.increment(LinkCounter.DROPPED_QUEUE_FULL);
                    event(now, LinkCounter.DROPPED_QUEUE_FULL, frameNumber, len);
                    releaseSent(buf);
                    return;
                }
            }
            long departure = Math.max(now, busyUntil) + faults.serializationNanos(len);
            busyUntil = departure;
            if (departures.length > 0) {
                departures[(departuresHead + departuresCount) % departures.length] = departure;
                departuresCount++;
            }
            if (faults.lossProbability() > 0 && random.nextDouble() < faults.lossProbability()) {
                counters.increment(LinkCounter.DROPPED_LOSS);
                event(now, LinkCounter.DROPPED_LOSS, frameNumber, len);
                releaseSent(buf);
                return;
            }
            int copies = 1;
            if (faults.duplicationProbability() > 0 && random.nextDouble() < faults.duplicationProbability()) {
                copies = 2;
                counters.increment(LinkCounter.DUPLICATED);
                event(now, LinkCounter.DUPLICATED, frameNumber, len);
            }
            for (int copy = 0; copy < copies; copy++) {
                long arrivesAt = departure + faults.latencyNanos();
                if (faults.reorderProbability() > 0 && random.nextDouble() < faults.reorderProbability()) {
                    long spread = faults.reorderDelayMaxNanos() - faults.reorderDelayMinNanos();
                    arrivesAt += faults.reorderDelayMinNanos() + (spread == 0 ? 0 : random.nextLong(spread + 1));
                    counters.increment(LinkCounter.REORDERED);
                    event(now, LinkCounter.REORDERED, frameNumber, len);
                }
                int flip = -1;
                if (faults.corruptionProbability() > 0 && random.nextDouble() < faults.corruptionProbability()) {
                    int first = len > ETHERNET_HEADER ? ETHERNET_HEADER * 8 : 0;
                    flip = first + random.nextInt(len * 8 - first);
                    counters.increment(LinkCounter.CORRUPTED);
                    event(now, LinkCounter.CORRUPTED, frameNumber, len);
                }
                references[buf]++;
                inFlight.add(arrivesAt, buf, off, len, frameNumber, flip);
            }
        }

        /** Delivers the earliest copy; returns 1 if it reached a receive buffer, else 0. */
        int deliverNext() throws IOException {
            int slot = inFlight.pop();
            long at = inFlight.arrival(slot);
            int buf = inFlight.buffer(slot);
            int len = inFlight.length(slot);
            long frameNumber = inFlight.frameNumber(slot);
            int flip = inFlight.flipBit(slot);
            int off = inFlight.offset(slot);
            try {
                if (to.isClosed()) {
                    counters.increment(LinkCounter.DROPPED_RECEIVER_CLOSED);
                    event(at, LinkCounter.DROPPED_RECEIVER_CLOSED, frameNumber, len);
                    return 0;
                }
                BufferPool pool = to.pool();
                int received = pool.allocate();
                if (received < 0) {
                    counters.increment(LinkCounter.DROPPED_NO_BUFFER);
                    to.queue().counters().increment(VnicCounter.RX_DROPPED_NO_BUFFER);
                    event(at, LinkCounter.DROPPED_NO_BUFFER, frameNumber, len);
                    return 0;
                }
                long target = pool.offset(received) + to.queue().headroom();
                MemorySegment.copy(from.pool().segment(), from.pool().offset(buf) + off, pool.segment(), target,
                        len);
                if (flip >= 0) {
                    long at8 = target + (flip >>> 3);
                    byte old = pool.segment().get(ValueLayout.JAVA_BYTE, at8);
                    pool.segment().set(ValueLayout.JAVA_BYTE, at8, (byte) (old ^ (0x80 >>> (flip & 7))));
                }
                to.queue().arrived(received, to.queue().headroom(), len);
                counters.increment(LinkCounter.DELIVERED);
                counters.add(LinkCounter.DELIVERED_BYTES, len);
                event(at, LinkCounter.DELIVERED, frameNumber, len);
                PcapWriter writer = capture;
                if (writer != null) {
                    writer.write(at, pool.segment(), target, len);
                }
                return 1;
            } finally {
                if (--references[buf] == 0) {
                    from.pool().free(buf);
                }
            }
        }

        private void releaseSent(int buf) {
            if (references[buf] == 0) {
                from.pool().free(buf);
            }
        }

        private void event(long nanos, LinkCounter event, long frameNumber, int len) {
            LinkTrace t = trace;
            if (t != null) {
                t.event(nanos, direction, event, frameNumber, len);
            }
        }
    }
}

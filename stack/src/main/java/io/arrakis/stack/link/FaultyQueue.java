package io.arrakis.stack.link;

import io.arrakis.device.Counters;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * A queue of a {@link FaultyVnic}: decides the fate of every frame crossing the wrapped queue
 * and holds the delayed ones, one {@link Wire} per direction. Owned by the wrapped queue's
 * thread (only {@link #wakeup()} and the counters may be used from others). Allocation-free
 * once its tables have grown to the most frames held at once.
 */
final class FaultyQueue implements VnicQueue {
    private static final int BATCH = 64;
    private static final int ETHERNET_HEADER = 14;
    /** How soon to offer again frames the wrapped queue refused, when waiting for frames. */
    private static final long RETRY_NANOS = 50_000;
    private static final long QUEUE_SEED_MIX = 0x9E37_79B9_7F4A_7C15L;

    private final VnicQueue inner;
    private final Clock clock;
    private final Wire receiving;
    private final Wire transmitting;
    /** Frames just received from the wrapped queue, before their fate is decided. */
    private final PacketBatch pulled = new PacketBatch(BATCH);
    /** Transmitted frames whose time has come, in order, not yet accepted by the wrapped queue. */
    private final PacketBatch outgoing = new PacketBatch(BATCH);
    private final int[] outgoingLengths = new int[BATCH];
    /** One buffer at a time to release or allocate. */
    private final PacketBatch one = new PacketBatch(1);
    private final boolean passThroughReadiness;

    FaultyQueue(VnicQueue inner, LinkFaults receiveFaults, LinkFaults transmitFaults, Clock clock) {
        this.inner = inner;
        this.clock = clock;
        long mix = inner.index() * QUEUE_SEED_MIX;
        this.receiving = new Wire(receiveFaults, new SplittableRandom(receiveFaults.seed() ^ mix));
        this.transmitting = new Wire(transmitFaults, new SplittableRandom(transmitFaults.seed() ^ mix).split());
        this.passThroughReadiness = !holdsFrames(receiveFaults) && !holdsFrames(transmitFaults);
    }

    /** Whether {@code faults} may keep a frame for later (latency, reordering or a rate). */
    private static boolean holdsFrames(LinkFaults faults) {
        return faults.latencyNanos() > 0 || faults.reorderProbability() > 0 || faults.bitsPerSecond() > 0;
    }

    Counters<LinkCounter> counters(FaultyVnic.Direction direction) {
        return wire(direction).counters;
    }

    int held(FaultyVnic.Direction direction) {
        return direction == FaultyVnic.Direction.RECEIVE ? receiving.held.size() : transmitting.held.size() + outgoing.size();
    }

    private Wire wire(FaultyVnic.Direction direction) {
        return direction == FaultyVnic.Direction.RECEIVE ? receiving : transmitting;
    }

    @Override
    public int index() {
        return inner.index();
    }

    @Override
    public MemorySegment memory() {
        return inner.memory();
    }

    @Override
    public int bufferSize() {
        return inner.bufferSize();
    }

    @Override
    public int headroom() {
        return inner.headroom();
    }

    /**
     * Offers due transmissions, takes what the wrapped queue received and decides each frame's
     * fate, then appends the received frames whose time has come, in order of arrival time.
     */
    @Override
    public int receive(PacketBatch batch) throws IOException {
        long now = clock.nanos();
        pumpTransmit(now);
        if (batch.isFull()) {
            return 0;
        }
        pulled.clear();
        int n = inner.receive(pulled);
        for (int i = 0; i < n; i++) {
            admit(receiving, pulled.buffer(i), pulled.offset(i), pulled.length(i), now);
        }
        pulled.clear();
        int appended = 0;
        while (!batch.isFull() && receiving.isDue(now)) {
            int slot = receiving.held.pop();
            batch.add(receiving.held.buffer(slot), receiving.held.offset(slot), receiving.held.length(slot));
            receiving.delivered(receiving.held.length(slot));
            appended++;
        }
        return appended;
    }

    /**
     * Takes every frame of {@code batch} (it is emptied, and all are reported accepted), decides
     * each one's fate, and hands the wrapped queue those whose time has come.
     */
    @Override
    public int transmit(PacketBatch batch) throws IOException {
        long now = clock.nanos();
        int size = batch.size();
        for (int i = 0; i < size; i++) {
            admit(transmitting, batch.buffer(i), batch.offset(i), batch.length(i), now);
        }
        batch.clear();
        pumpTransmit(now);
        return size;
    }

    @Override
    public int allocate(PacketBatch batch, int n) {
        return inner.allocate(batch, n);
    }

    @Override
    public void release(PacketBatch batch) {
        inner.release(batch);
    }

    /**
     * Waits as the wrapped queue does, but no longer than until the next held frame is due (or,
     * while the wrapped queue refuses transmissions, {@value #RETRY_NANOS} ns); returns true if
     * the wrapped queue had frames or a held received frame is now due.
     */
    @Override
    public boolean awaitReceive(long timeoutNanos) throws IOException {
        long now = clock.nanos();
        pumpTransmit(now);
        if (receiving.isDue(now)) {
            return true;
        }
        long next = receiving.nextArrival();
        long nextTransmit = transmitting.nextArrival();
        if (!outgoing.isEmpty() || nextTransmit <= now) {
            nextTransmit = now + RETRY_NANOS;
        }
        next = Math.min(next, nextTransmit);
        long wait = timeoutNanos;
        if (next != Long.MAX_VALUE) {
            long untilNext = Math.max(1, next - now); // never 0 or less: that would mean "no limit"
            wait = timeoutNanos > 0 ? Math.min(timeoutNanos, untilNext) : untilNext;
        }
        boolean woken = inner.awaitReceive(wait);
        now = clock.nanos();
        pumpTransmit(now);
        return woken || receiving.isDue(now);
    }

    @Override
    public void wakeup() throws IOException {
        inner.wakeup();
    }

    @Override
    public int readinessFd() {
        return passThroughReadiness ? inner.readinessFd() : -1;
    }

    @Override
    public boolean armReadiness() throws IOException {
        return !passThroughReadiness || inner.armReadiness();
    }

    /** The wrapped queue's device counters (frames as the device saw them, before receive faults). */
    @Override
    public Counters<VnicCounter> counters() {
        return inner.counters();
    }

    // ------------------------------------------------------------------------------------------

    /** Decides the fate of one frame entering {@code wire} and schedules its copies (SimulatedLink's order). */
    private void admit(Wire wire, int buffer, int offset, int length, long now) {
        LinkFaults faults = wire.faults;
        Counters<LinkCounter> counters = wire.counters;
        counters.increment(LinkCounter.SENT);
        counters.add(LinkCounter.SENT_BYTES, length);
        if (!wire.enqueue(now)) {
            counters.increment(LinkCounter.DROPPED_QUEUE_FULL);
            discard(buffer);
            return;
        }
        long departure = wire.depart(now, length);
        SplittableRandom random = wire.random;
        if (faults.lossProbability() > 0 && random.nextDouble() < faults.lossProbability()) {
            counters.increment(LinkCounter.DROPPED_LOSS);
            discard(buffer);
            return;
        }
        int duplicate = -2; // no duplicate; -1: wanted but no spare buffer
        if (faults.duplicationProbability() > 0 && random.nextDouble() < faults.duplicationProbability()) {
            counters.increment(LinkCounter.DUPLICATED);
            // Copy before any bit of the original is flipped: each copy is corrupted on its own.
            duplicate = spare(buffer, offset, length);
        }
        for (int copy = 0; copy < (duplicate == -2 ? 1 : 2); copy++) {
            long arrivesAt = departure + faults.latencyNanos();
            if (faults.reorderProbability() > 0 && random.nextDouble() < faults.reorderProbability()) {
                long spread = faults.reorderDelayMaxNanos() - faults.reorderDelayMinNanos();
                arrivesAt += faults.reorderDelayMinNanos() + (spread == 0 ? 0 : random.nextLong(spread + 1));
                counters.increment(LinkCounter.REORDERED);
            }
            int flip = -1;
            if (faults.corruptionProbability() > 0 && random.nextDouble() < faults.corruptionProbability()) {
                int first = length > ETHERNET_HEADER ? ETHERNET_HEADER * 8 : 0;
                flip = first + random.nextInt(length * 8 - first);
                counters.increment(LinkCounter.CORRUPTED);
            }
            int copyBuffer = copy == 0 ? buffer : duplicate;
            if (copyBuffer < 0) {
                counters.increment(LinkCounter.DROPPED_NO_BUFFER); // the draws above keep the stream aligned
                continue;
            }
            if (flip >= 0) {
                flipBit(copyBuffer, offset, flip);
            }
            wire.schedule(arrivesAt, copyBuffer, offset, length);
        }
    }

    /** A copy of the frame in a buffer lent by the wrapped queue, or -1 if none is free. */
    private int spare(int buffer, int offset, int length) {
        one.clear();
        if (inner.allocate(one, 1) == 0) {
            return -1;
        }
        int copy = one.buffer(0);
        one.clear();
        long size = inner.bufferSize();
        MemorySegment memory = inner.memory();
        MemorySegment.copy(memory, buffer * size + offset, memory, copy * size + offset, length);
        return copy;
    }

    private void flipBit(int buffer, int offset, int bit) {
        MemorySegment memory = inner.memory();
        long at = (long) buffer * inner.bufferSize() + offset + (bit >>> 3);
        byte old = memory.get(ValueLayout.JAVA_BYTE, at);
        memory.set(ValueLayout.JAVA_BYTE, at, (byte) (old ^ (0x80 >>> (bit & 7))));
    }

    private void discard(int buffer) {
        one.clear();
        one.add(buffer, 0, 0);
        inner.release(one);
    }

    /** Offers the wrapped queue every transmitted frame whose time has come, in order, until it refuses one. */
    private void pumpTransmit(long now) throws IOException {
        while (true) {
            while (!outgoing.isFull() && transmitting.isDue(now)) {
                int slot = transmitting.held.pop();
                outgoing.add(transmitting.held.buffer(slot), transmitting.held.offset(slot),
                        transmitting.held.length(slot));
            }
            int size = outgoing.size();
            if (size == 0) {
                return;
            }
            for (int i = 0; i < size; i++) {
                outgoingLengths[i] = outgoing.length(i);
            }
            int accepted = inner.transmit(outgoing);
            for (int i = 0; i < accepted; i++) {
                transmitting.delivered(outgoingLengths[i]);
            }
            if (accepted < size) {
                return; // the device is busy: what it refused waits for the next call
            }
        }
    }

    /**
     * One direction: its faults, its generator, its counters, its transmit queue (for the rate
     * and queue limit) and the copies it holds.
     */
    static final class Wire {
        final LinkFaults faults;
        final SplittableRandom random;
        final Counters<LinkCounter> counters = Counters.onHeap(LinkCounter.class);
        private final long[] departures;
        private int departuresHead;
        private int departuresCount;
        private long busyUntil = Long.MIN_VALUE;
        /** The copies held back, earliest release first. */
        final FrameSchedule held = new FrameSchedule();

        Wire(LinkFaults faults, SplittableRandom random) {
            this.faults = faults;
            this.random = random;
            this.departures = new long[faults.queueLimit()];
        }

        /** Whether the transmit queue has room for one more frame at {@code now} (always, without a limit). */
        boolean enqueue(long now) {
            if (departures.length == 0) {
                return true;
            }
            while (departuresCount > 0 && departures[departuresHead] <= now) {
                departuresHead = (departuresHead + 1) % departures.length;
                departuresCount--;
            }
            return departuresCount < departures.length;
        }

        /** When a frame of {@code length} bytes entering at {@code now} has been serialized. */
        long depart(long now, int length) {
            long departure = Math.max(now, busyUntil) + faults.serializationNanos(length);
            busyUntil = departure;
            if (departures.length > 0) {
                departures[(departuresHead + departuresCount) % departures.length] = departure;
                departuresCount++;
            }
            return departure;
        }

        void delivered(int bytes) {
            counters.increment(LinkCounter.DELIVERED);
            counters.add(LinkCounter.DELIVERED_BYTES, bytes);
        }

        long nextArrival() {
            return held.nextArrival();
        }

        boolean isDue(long now) {
            return held.isDue(now);
        }

        void schedule(long at, int buf, int off, int len) {
            held.add(at, buf, off, len, 0, -1);
        }
    }
}

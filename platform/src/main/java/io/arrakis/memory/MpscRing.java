package io.arrakis.memory;

import static io.arrakis.memory.RingLayout.CONSUMER_DOORBELL;
import static io.arrakis.memory.RingLayout.CONSUMER_POSITION;
import static io.arrakis.memory.RingLayout.HEADER_BYTES;
import static io.arrakis.memory.RingLayout.PRODUCER_DOORBELL;
import static io.arrakis.memory.RingLayout.PRODUCER_POSITION;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * A multi-producer, single-consumer ring of fixed-size slots in memory that may be shared
 * between processes. Concurrency: the producer methods are safe from any number of threads and
 * processes at once (they keep no state in the instance); the consumer methods belong to one
 * thread.
 *
 * <p>A bounded queue (capacity at least 2) in the style of Dmitry Vyukov's: every slot starts
 * with a sequence word that says whose turn it is. For position {@code p}, in slot
 * {@code p & (capacity-1)}:
 * <ul>
 *   <li>sequence {@code == p}: free for the producer of position {@code p}, or claimed by it
 *       and being written;</li>
 *   <li>sequence {@code == p + 1}: published, the consumer may read it;</li>
 *   <li>the consumer releases it by storing {@code p + capacity}: free for the next lap.</li>
 * </ul>
 * Producers claim a position with a compare-and-set on the shared producer position (a
 * {@code lock cmpxchg}, atomic across processes on the same physical memory), write the payload
 * and publish with a release store of the sequence. No producer ever waits for another to
 * claim; the consumer waits for the slot at its position to be published.
 *
 * <p>Layout (offsets from the start of the segment; see {@link #bytesFor}):
 * <pre>
 *      0  int  magic 0x4d505343 ("MPSC"), written last by format
 *      4  int  version ({@value #VERSION})
 *      8  int  capacity (slots, power of two)
 *     12  int  slot size (payload bytes, multiple of 8)
 *     16  int  header check: a hash of the words above, checked on attach
 *    128  long producer position: slots ever claimed    (CAS by producers)
 *    256  long consumer position: slots ever released   (written by the consumer; checked by producers)
 *    384  8 B  consumer doorbell: rung by commit() when the consumer sleeps
 *    512  8 B  producer doorbell: rung by release() when a producer sleeps (ring was full)
 *    640       slot i at 640 + i * (8 + slotSize): long sequence, then the payload
 * </pre>
 *
 * <p><b>A producer that dies between claim and publish</b> leaves its slot at sequence {@code p}
 * forever, and the consumer, which must take slots in order, stalls at it while later slots fill
 * up (and then the producers see a full ring). That state is observable: {@link #stalledSlot}
 * reports a position that stays claimed-but-unpublished for longer than a patience the consumer
 * chooses. The control plane, which knows whether the claiming process is still alive, then
 * calls {@link #reclaim} to skip the slot (its payload is lost). Reclaiming a slot whose producer
 * is merely slow would corrupt the ring when that producer later publishes; that is why it is an
 * explicit decision and never automatic.
 *
 * <p>Shared memory is not trusted: sequence words and the producer position are checked against
 * the only values a well-behaved peer could have left, and offsets are masked by the capacity
 * copied at attach, so garbage yields a {@link RingCorruptedException}, never an out-of-bounds
 * access or a hang.
 */
public final class MpscRing {
    static final int MAGIC = 0x4D50_5343;
    /** Layout version this code reads and writes. */
    public static final int VERSION = 1;
    /** Offset of slot 0 (its sequence word) in the segment. */
    public static final long SLOTS_OFFSET = HEADER_BYTES;
    /** Bytes before each payload: the slot's sequence word. */
    public static final int SLOT_OVERHEAD = 8;

    private static final VarHandle LONG = RingLayout.LONG;

    private final MemorySegment segment;
    private final String name;
    private final int capacity;
    private final long mask;
    private final int slotSize;
    private final long stride;
    private final long lastSequenceOffset;
    private final Doorbell consumerDoorbell;
    private final Doorbell producerDoorbell;

    // Consumer's private cursors (only the consumer thread touches them).
    /** Slots handed out by poll (or skipped by reclaim) so far: the next poll looks at this position. */
    private long polled;
    /** The consumer position as last published (always <= polled). */
    private long released;
    /** For stalledSlot: the position we first saw stalled, and when. */
    private long stallPosition = -1;
    private long stallSinceNanos;

    private MpscRing(MemorySegment segment, String name, int capacity, int slotSize, long consumerPosition) {
        this.segment = segment;
        this.name = name;
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.slotSize = slotSize;
        this.stride = SLOT_OVERHEAD + slotSize;
        this.lastSequenceOffset = SLOTS_OFFSET + (capacity - 1L) * stride;
        this.consumerDoorbell = new Doorbell(segment, CONSUMER_DOORBELL);
        this.producerDoorbell = new Doorbell(segment, PRODUCER_DOORBELL);
        this.polled = consumerPosition;
        this.released = consumerPosition;
    }

    /** Bytes a ring of {@code capacity} slots of {@code slotSize} payload bytes needs (a multiple of 64). */
    public static long bytesFor(int capacity, int slotSize) {
        RingLayout.checkGeometry("MpscRing", capacity, slotSize);
        return RingLayout.roundUp(HEADER_BYTES + (long) capacity * (SLOT_OVERHEAD + slotSize));
    }

    /** Creates an empty ring at the start of {@code segment}; see {@link #format(MemorySegment, int, int, String)}. */
    public static MpscRing format(MemorySegment segment, int capacity, int slotSize) {
        return format(segment, capacity, slotSize, RingLayout.defaultName("mpsc", segment));
    }

    /**
     * Creates an empty ring at the start of {@code segment} (native, 64-byte aligned, at least
     * {@link #bytesFor} bytes) and returns an instance for the creator. Only the creator formats,
     * before anyone attaches; {@code name} appears in error messages.
     */
    public static MpscRing format(MemorySegment segment, int capacity, int slotSize, String name) {
        MemorySegment ring = RingLayout.ringSlice("MpscRing", segment, bytesFor(capacity, slotSize));
        RingLayout.formatHeader(ring, MAGIC, VERSION, capacity, slotSize);
        long stride = SLOT_OVERHEAD + slotSize;
        for (long i = 0; i < capacity; i++) {
            ring.set(ValueLayout.JAVA_LONG, SLOTS_OFFSET + i * stride, i);
        }
        RingLayout.publishMagic(ring, MAGIC);
        return new MpscRing(ring, name, capacity, slotSize, 0);
    }

    /** Attaches to a ring another party formatted; see {@link #attach(MemorySegment, String)}. */
    public static MpscRing attach(MemorySegment segment) {
        return attach(segment, RingLayout.defaultName("mpsc", segment));
    }

    /**
     * Attaches to a ring formatted by {@link #format} (usually in another process), checking the
     * header and the positions. Producers may attach at any time; a consumer resumes from the
     * consumer position in shared memory.
     *
     * @throws RingCorruptedException if the memory does not hold a valid ring of this version
     */
    public static MpscRing attach(MemorySegment segment, String name) {
        int[] geometry = RingLayout.readHeader("MpscRing", name, segment, MAGIC, VERSION, SLOT_OVERHEAD);
        int capacity = geometry[0];
        int slotSize = geometry[1];
        MemorySegment ring = segment.asSlice(0, bytesFor(capacity, slotSize));
        long[] positions = RingLayout.readPositions(ring, name, capacity);
        // The slot at the consumer position is checked by the first poll, not here: producers
        // attach while the consumer runs, and a slot it is releasing may be in between states.
        return new MpscRing(ring, name, capacity, slotSize, positions[1]);
    }

    // ---------------------------------------------------------------- producers (thread- and process-safe)

    /**
     * Claims a free slot and returns the byte offset of its payload in {@link #segment()}, or -1
     * if the ring is full. Write the payload, then {@link #commit(long)} that offset. Lock-free:
     * a failed compare-and-set means another producer made progress.
     */
    public long tryClaim() {
        long position = (long) LONG.getAcquire(segment, PRODUCER_POSITION);
        while (true) {
            long sequenceOffset = sequenceOffset(position);
            long sequence = (long) LONG.getAcquire(segment, sequenceOffset);
            long lag = sequence - position;
            if (lag == 0) {
                long witness = (long) LONG.compareAndExchange(segment, PRODUCER_POSITION, position, position + 1);
                if (witness == position) {
                    return sequenceOffset + SLOT_OVERHEAD;
                }
                if (witness < position) {
                    throw RingCorruptedException.garbage(name, "producer position went backwards from " + position
                            + " to " + witness + ", capacity " + capacity);
                }
                position = witness;
            } else if (lag < 0) {
                // The slot still holds the previous lap (position - capacity): claimed but not yet
                // published (lag == -capacity) or published but not yet released (1 - capacity).
                // Nothing older is possible, since that lap's producer needed the slot free.
                if (lag == -capacity || lag == 1 - capacity) {
                    // Full, unless the producer position itself is garbage that ran ahead: the slow
                    // path can afford one more read to tell (see release for why this holds).
                    long consumer = (long) LONG.getAcquire(segment, CONSUMER_POSITION);
                    if (position - consumer > capacity) {
                        throw RingCorruptedException.garbage(name, "producer position " + position
                                + " is more than the capacity " + capacity + " ahead of the consumer position "
                                + consumer);
                    }
                    return -1;
                }
                throw badSequence(position, sequence, "the producer position");
            } else {
                // Someone claimed this position after we read the producer position: re-read it.
                // If it has not moved, the sequence is ahead of any position ever claimed.
                long current = (long) LONG.getAcquire(segment, PRODUCER_POSITION);
                if (current <= position) {
                    throw current < position
                            ? RingCorruptedException.garbage(name, "producer position went backwards from "
                                    + position + " to " + current + ", capacity " + capacity)
                            : badSequence(position, sequence, "the producer position");
                }
                position = current;
            }
        }
    }

    /**
     * Publishes the slot whose payload is at {@code offset} (from {@link #tryClaim()} on this
     * ring) and wakes the consumer if it sleeps. To publish a batch with one wake-up check, use
     * {@link #publish} for each slot and then {@link #wakeConsumer()}.
     */
    public void commit(long offset) {
        publish(offset);
        consumerDoorbell.ring();
    }

    /**
     * Publishes the slot whose payload is at {@code offset} without checking the consumer's
     * doorbell: follow a batch of these with {@link #wakeConsumer()}, and always before the
     * producer idles, or the consumer may sleep until its timeout. Publish each claimed offset
     * exactly once: a second publish is caught while the slot is unread, but not after the
     * consumer released it (it would then re-deliver stale data on the next lap).
     */
    public void publish(long offset) {
        long sequenceOffset = offset - SLOT_OVERHEAD;
        if (sequenceOffset < SLOTS_OFFSET || sequenceOffset > lastSequenceOffset || (sequenceOffset & 7) != 0) {
            throw notASlot(offset);
        }
        // We own the claimed slot, so its sequence word still holds our position (tryClaim read
        // it). Checking that the position maps back to this slot costs a multiply; the division
        // that would tell a bad offset from a bad sequence is left to the failure path.
        long position = (long) LONG.get(segment, sequenceOffset);
        if (sequenceOffset(position) != sequenceOffset) {
            throw notClaimed(offset, position);
        }
        LONG.setRelease(segment, sequenceOffset, position + 1);
    }

    private IllegalArgumentException notASlot(long offset) {
        return new IllegalArgumentException(offset + " is not the payload offset of a slot of ring '" + name
                + "' (slot 0 payload at " + (SLOTS_OFFSET + SLOT_OVERHEAD) + ", stride " + stride + ", " + capacity
                + " slots); pass what tryClaim() returned");
    }

    private RuntimeException notClaimed(long offset, long sequence) {
        long relative = offset - SLOT_OVERHEAD - SLOTS_OFFSET;
        if (relative % stride != 0) {
            return notASlot(offset);
        }
        long slot = relative / stride;
        if (sequenceOffset(sequence - 1) == offset - SLOT_OVERHEAD) {
            return new IllegalStateException("slot " + slot + " of ring '" + name + "' is already published (sequence "
                    + sequence + "): commit or publish each claimed offset exactly once");
        }
        return RingCorruptedException.garbage(name, "the sequence word of claimed slot " + slot + " changed to "
                + sequence + " while its producer was writing the slot, capacity " + capacity);
    }

    /** Wakes the consumer if it sleeps; call after a batch of {@link #publish} calls. */
    public void wakeConsumer() {
        consumerDoorbell.ring();
    }

    /** True if a claim would find a free slot now (a producer's readiness check for {@link SpinThenBlock}). */
    public boolean hasSpace() {
        long position = (long) LONG.getAcquire(segment, PRODUCER_POSITION);
        long lag = (long) LONG.getAcquire(segment, sequenceOffset(position)) - position;
        // lag > 0: another producer just claimed it; the next one may be free, so report space and let tryClaim decide.
        return lag >= 0;
    }

    // ---------------------------------------------------------------- consumer (one thread)

    /**
     * Returns the byte offset of the next published payload in {@link #segment()}, or -1 if the
     * slot at the consumer's position is not published yet (empty, or a producer is still
     * writing it). The slot stays valid until {@link #release()}.
     */
    public long poll() {
        long position = polled;
        if (position - released >= capacity) {
            return -1; // every slot is polled and not yet released: the next one is still ours
        }
        long sequenceOffset = sequenceOffset(position);
        long sequence = (long) LONG.getAcquire(segment, sequenceOffset);
        if (sequence == position + 1) {
            polled = position + 1;
            return sequenceOffset + SLOT_OVERHEAD;
        }
        if (sequence == position) {
            return -1;
        }
        throw badSequence(position, sequence, "the consumer position");
    }

    /**
     * Frees every polled slot for the producers' next lap, publishes the consumer position and
     * wakes producers sleeping on a full ring.
     */
    public void release() {
        long end = polled;
        long position = released;
        if (position == end) {
            return;
        }
        // The consumer position first: a producer that sees a freed slot then also sees a consumer
        // position that accounts for it, so "producer position - consumer position <= capacity"
        // holds for every observer, and tryClaim can use it to catch a garbage producer position.
        LONG.setRelease(segment, CONSUMER_POSITION, end);
        for (; position < end; position++) {
            LONG.setRelease(segment, sequenceOffset(position), position + capacity);
        }
        released = end;
        producerDoorbell.ring();
    }

    /**
     * Polls up to {@code limit} slots, hands each payload to {@code handler}, then releases them
     * all. Returns how many were handled.
     */
    public int drain(SlotHandler handler, int limit) {
        int count = 0;
        long offset;
        while (count < limit && (offset = poll()) >= 0) {
            handler.onSlot(segment, offset);
            count++;
        }
        if (count > 0) {
            release();
        }
        return count;
    }

    /** True if {@link #poll()} would return a slot now (the consumer's readiness check for {@link SpinThenBlock}). */
    public boolean hasWork() {
        long position = polled;
        if (position - released >= capacity) {
            return false;
        }
        long sequence = (long) LONG.getAcquire(segment, sequenceOffset(position));
        if (sequence == position + 1) {
            return true;
        }
        if (sequence == position) {
            return false;
        }
        throw badSequence(position, sequence, "the consumer position");
    }

    /**
     * Reports a producer that claimed the slot at the consumer's position and has not published it
     * for at least {@code patienceNanos}: returns that position, or -1. The clock starts at the
     * first call that sees the stall, so call it from the consumer's idle path (e.g. after every
     * timed-out doorbell wait); when it returns a position, the control plane decides whether to
     * {@link #reclaim} it.
     */
    public long stalledSlot(long patienceNanos) {
        long position = polled;
        if (position - released >= capacity
                || (long) LONG.getAcquire(segment, sequenceOffset(position)) != position
                || (long) LONG.getAcquire(segment, PRODUCER_POSITION) <= position) {
            stallPosition = -1; // published, or nobody claimed it: not a stall
            return -1;
        }
        long now = System.nanoTime();
        if (stallPosition != position) {
            stallPosition = position;
            stallSinceNanos = now;
        }
        return now - stallSinceNanos >= patienceNanos ? position : -1;
    }

    /**
     * Skips the claimed-but-unpublished slot at {@code position} (from {@link #stalledSlot}) so the
     * consumer can go on; its payload is lost, and the slot is freed with the next
     * {@link #release()}. Only for a producer known to be dead: one that is merely slow and
     * publishes after that release corrupts the ring. Returns false (and changes nothing) if the
     * slot was published meanwhile (poll it normally) or is not the one at the consumer position.
     */
    public boolean reclaim(long position) {
        if (position != polled || position - released >= capacity) {
            return false;
        }
        // Mark it published, as if by its producer, in one atomic step that fails if the producer
        // published just now; then treat it as polled, so release() frees it in order. A late
        // publish from the producer before that release stores the same value and is harmless.
        if ((long) LONG.compareAndExchange(segment, sequenceOffset(position), position, position + 1) != position) {
            return false;
        }
        polled = position + 1;
        stallPosition = -1;
        return true;
    }

    // ---------------------------------------------------------------- shared

    private long sequenceOffset(long position) {
        return SLOTS_OFFSET + (position & mask) * stride;
    }

    private RingCorruptedException badSequence(long position, long sequence, String at) {
        return RingCorruptedException.garbage(name, "slot " + (position & mask) + " at " + at + " " + position
                + " has sequence " + sequence + ", which no peer following the protocol could have written (expected "
                + (at.startsWith("the consumer") ? position + " or " + (position + 1)
                        : position + ", " + (position - capacity) + " or " + (position + 1 - capacity))
                + "), capacity " + capacity);
    }

    /** The ring's memory (header and slots): payload offsets are relative to it. */
    public MemorySegment segment() {
        return segment;
    }

    public String name() {
        return name;
    }

    public int capacity() {
        return capacity;
    }

    /** Payload bytes per slot. */
    public int slotSize() {
        return slotSize;
    }

    /** Rung by commit (or wakeConsumer); the consumer sleeps on it (see {@link SpinThenBlock}). */
    public Doorbell consumerDoorbell() {
        return consumerDoorbell;
    }

    /** Rung by the consumer's release; producers facing a full ring sleep on it. */
    public Doorbell producerDoorbell() {
        return producerDoorbell;
    }

    /** The producer position in shared memory: slots ever claimed (for monitoring; unchecked). */
    public long producerPosition() {
        return (long) LONG.getAcquire(segment, PRODUCER_POSITION);
    }

    /** The consumer position in shared memory: slots ever released (for monitoring; unchecked). */
    public long consumerPosition() {
        return (long) LONG.getAcquire(segment, CONSUMER_POSITION);
    }

    @Override
    public String toString() {
        return "MpscRing[" + name + ", capacity " + capacity + " x " + slotSize + " B]";
    }
}

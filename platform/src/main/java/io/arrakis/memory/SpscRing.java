package io.arrakis.memory;

import static io.arrakis.memory.RingLayout.CONSUMER_DOORBELL;
import static io.arrakis.memory.RingLayout.CONSUMER_POSITION;
import static io.arrakis.memory.RingLayout.HEADER_BYTES;
import static io.arrakis.memory.RingLayout.PRODUCER_DOORBELL;
import static io.arrakis.memory.RingLayout.PRODUCER_POSITION;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * A single-producer, single-consumer ring of fixed-size slots in memory that may be shared
 * between processes. Concurrency: one thread (in any process) may use the producer methods and
 * one thread the consumer methods at the same time; each side should use its own instance
 * ({@link #attach} again for the peer) so their private cursors do not share a cache line.
 *
 * <p>Layout (offsets from the start of the segment; see {@link #bytesFor}):
 * <pre>
 *      0  int  magic 0x53505343 ("SPSC"), written last by format
 *      4  int  version ({@value #VERSION})
 *      8  int  capacity (slots, power of two)
 *     12  int  slot size (bytes, multiple of 8)
 *     16  int  header check: a hash of the words above, checked on attach
 *    128  long producer position: slots ever committed   (written by the producer only)
 *    256  long consumer position: slots ever released    (written by the consumer only)
 *    384  8 B  consumer doorbell: rung by commit() when the consumer sleeps
 *    512  8 B  producer doorbell: rung by release() when the producer sleeps (ring was full)
 *    640       slot i at 640 + i * slotSize
 * </pre>
 * Positions are 64-bit counters that never wrap in practice; a position's slot is
 * {@code position & (capacity - 1)}.
 *
 * <p>Memory ordering: the producer writes slots with plain stores, then publishes its position
 * with a release store; the consumer reads that position with an acquire load before it reads
 * the slots. Symmetrically for the consumer position, which tells the producer a slot may be
 * reused. Each side caches the other's position and reads the shared one only when the cache
 * says "full" (producer) or "empty" (consumer), so in a steady stream the lines bounce once per
 * batch, not once per slot.
 *
 * <p>Producer: {@link #tryClaim()} (repeat for a batch), write each slot, {@link #commit()}.
 * Consumer: {@link #poll()} (repeat), read each slot, {@link #release()}; or {@link #drain}.
 * Nothing on these paths allocates or locks; the only syscall is the futex wake-up when the
 * peer sleeps.
 *
 * <p>Shared memory is not trusted: every position read from it is checked (monotonic, never
 * more than a capacity ahead), and offsets are computed from our own cursors masked by the
 * capacity we copied at attach, so garbage yields a {@link RingCorruptedException}, never an
 * out-of-bounds access or a hang.
 */
public final class SpscRing {
    static final int MAGIC = 0x5350_5343;
    /** Layout version this code reads and writes. */
    public static final int VERSION = 1;
    /** Offset of slot 0 in the segment. */
    public static final long SLOTS_OFFSET = HEADER_BYTES;

    private static final VarHandle LONG = RingLayout.LONG;

    private final MemorySegment segment;
    private final String name;
    private final int capacity;
    private final long mask;
    private final int slotSize;
    private final Doorbell consumerDoorbell;
    private final Doorbell producerDoorbell;

    // Producer's private cursors (only the producer thread touches them).
    /** Slots claimed so far: the next claim gets this position. */
    private long claimed;
    /** The producer position as last published (always <= claimed). */
    private long committed;
    /** The consumer position as last read from shared memory. */
    private long consumerCache;

    // Consumer's private cursors (only the consumer thread touches them).
    /** Slots handed out by poll so far: the next poll gets this position. */
    private long polled;
    /** The consumer position as last published (always <= polled). */
    private long released;
    /** The producer position as last read from shared memory. */
    private long producerCache;

    private SpscRing(MemorySegment segment, String name, int capacity, int slotSize, long producerPosition,
            long consumerPosition) {
        this.segment = segment;
        this.name = name;
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.slotSize = slotSize;
        this.consumerDoorbell = new Doorbell(segment, CONSUMER_DOORBELL);
        this.producerDoorbell = new Doorbell(segment, PRODUCER_DOORBELL);
        this.claimed = producerPosition;
        this.committed = producerPosition;
        this.consumerCache = consumerPosition;
        this.polled = consumerPosition;
        this.released = consumerPosition;
        // Never behind our own cursor, so poll re-reads the shared position before handing out
        // anything (matters only for an attach racing two live sides).
        this.producerCache = Math.max(producerPosition, consumerPosition);
    }

    /** Bytes a ring of {@code capacity} slots of {@code slotSize} bytes needs (a multiple of 64). */
    public static long bytesFor(int capacity, int slotSize) {
        RingLayout.checkGeometry("SpscRing", capacity, slotSize);
        return RingLayout.roundUp(HEADER_BYTES + (long) capacity * slotSize);
    }

    /** Creates an empty ring at the start of {@code segment}; see {@link #format(MemorySegment, int, int, String)}. */
    public static SpscRing format(MemorySegment segment, int capacity, int slotSize) {
        return format(segment, capacity, slotSize, RingLayout.defaultName("spsc", segment));
    }

    /**
     * Creates an empty ring at the start of {@code segment} (native, 64-byte aligned, at least
     * {@link #bytesFor} bytes) and returns an instance for the creator's side. Only the creator
     * formats, before any peer attaches; {@code name} appears in error messages.
     */
    public static SpscRing format(MemorySegment segment, int capacity, int slotSize, String name) {
        MemorySegment ring = RingLayout.ringSlice("SpscRing", segment, bytesFor(capacity, slotSize));
        RingLayout.formatHeader(ring, MAGIC, VERSION, capacity, slotSize);
        RingLayout.publishMagic(ring, MAGIC);
        return new SpscRing(ring, name, capacity, slotSize, 0, 0);
    }

    /** Attaches to a ring another party formatted; see {@link #attach(MemorySegment, String)}. */
    public static SpscRing attach(MemorySegment segment) {
        return attach(segment, RingLayout.defaultName("spsc", segment));
    }

    /**
     * Attaches to a ring formatted by {@link #format} (usually in another process), checking the
     * header and the positions. The instance resumes from the positions in shared memory, so a
     * restarted producer or consumer carries on where its predecessor stopped.
     *
     * @throws RingCorruptedException if the memory does not hold a valid ring of this version
     */
    public static SpscRing attach(MemorySegment segment, String name) {
        int[] geometry = RingLayout.readHeader("SpscRing", name, segment, MAGIC, VERSION, 0);
        int capacity = geometry[0];
        int slotSize = geometry[1];
        MemorySegment ring = segment.asSlice(0, bytesFor(capacity, slotSize));
        long[] positions = RingLayout.readPositions(ring, name, capacity);
        return new SpscRing(ring, name, capacity, slotSize, positions[0], positions[1]);
    }

    // ---------------------------------------------------------------- producer

    /**
     * Claims the next free slot and returns its byte offset in {@link #segment()}, or -1 if the
     * ring is full. Write the slot, then {@link #commit()}: the consumer sees nothing before that.
     * Claim several slots before one commit to batch.
     */
    public long tryClaim() {
        long position = claimed;
        if (position - consumerCache >= capacity && position - refreshConsumer() >= capacity) {
            return -1;
        }
        claimed = position + 1;
        return SLOTS_OFFSET + (position & mask) * slotSize;
    }

    /**
     * Publishes every slot claimed since the last commit with one release store, and wakes the
     * consumer if it sleeps (one fence and one read when it does not; see {@link Doorbell#ring}).
     */
    public void commit() {
        long position = claimed;
        if (position != committed) {
            LONG.setRelease(segment, PRODUCER_POSITION, position);
            committed = position;
            consumerDoorbell.ring();
        }
    }

    /** True if {@link #tryClaim()} would succeed now (the producer's readiness check for {@link SpinThenBlock}). */
    public boolean hasSpace() {
        return claimed - consumerCache < capacity || claimed - refreshConsumer() < capacity;
    }

    private long refreshConsumer() {
        long consumer = (long) LONG.getAcquire(segment, CONSUMER_POSITION);
        if (consumer < consumerCache || consumer > committed) {
            throw RingCorruptedException.garbage(name, "consumer position " + consumer
                    + (consumer < consumerCache ? " went backwards from " + consumerCache
                            : " is ahead of everything the producer committed (" + committed + ")")
                    + ", capacity " + capacity);
        }
        consumerCache = consumer;
        return consumer;
    }

    // ---------------------------------------------------------------- consumer

    /**
     * Returns the byte offset in {@link #segment()} of the next committed slot, or -1 if there is
     * none. The slot stays valid (the producer will not reuse it) until {@link #release()}.
     */
    public long poll() {
        long position = polled;
        if (position == producerCache && position == refreshProducer()) {
            return -1;
        }
        polled = position + 1;
        return SLOTS_OFFSET + (position & mask) * slotSize;
    }

    /**
     * Gives every polled slot back to the producer with one release store, and wakes the producer
     * if it sleeps on a full ring.
     */
    public void release() {
        long position = polled;
        if (position != released) {
            LONG.setRelease(segment, CONSUMER_POSITION, position);
            released = position;
            producerDoorbell.ring();
        }
    }

    /**
     * Polls up to {@code limit} slots, hands each to {@code handler}, then releases them all.
     * Returns how many were handled.
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
        return polled != producerCache || polled != refreshProducer();
    }

    /** How many committed slots the consumer has not polled yet. */
    public int available() {
        return (int) (refreshProducer() - polled);
    }

    private long refreshProducer() {
        long producer = (long) LONG.getAcquire(segment, PRODUCER_POSITION);
        if (producer < producerCache || producer - released > capacity) {
            throw RingCorruptedException.garbage(name, "producer position " + producer
                    + (producer < producerCache ? " went backwards from " + producerCache
                            + (producer < polled ? ", behind the consumer's " + polled : "")
                            : " is more than the capacity ahead of the consumer position " + released)
                    + ", capacity " + capacity);
        }
        producerCache = producer;
        return producer;
    }

    // ---------------------------------------------------------------- shared

    /** The ring's memory (header and slots): slot offsets are relative to it. */
    public MemorySegment segment() {
        return segment;
    }

    public String name() {
        return name;
    }

    public int capacity() {
        return capacity;
    }

    public int slotSize() {
        return slotSize;
    }

    /** Rung by the producer's commit; consumers sleep on it (see {@link SpinThenBlock}). */
    public Doorbell consumerDoorbell() {
        return consumerDoorbell;
    }

    /** Rung by the consumer's release; producers facing a full ring sleep on it. */
    public Doorbell producerDoorbell() {
        return producerDoorbell;
    }

    /** The producer position in shared memory (for monitoring; unchecked). */
    public long producerPosition() {
        return (long) LONG.getAcquire(segment, PRODUCER_POSITION);
    }

    /** The consumer position in shared memory (for monitoring; unchecked). */
    public long consumerPosition() {
        return (long) LONG.getAcquire(segment, CONSUMER_POSITION);
    }

    @Override
    public String toString() {
        return "SpscRing[" + name + ", capacity " + capacity + " x " + slotSize + " B]";
    }
}

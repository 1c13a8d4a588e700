package io.arrakis.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * The header shared by {@link SpscRing} and {@link MpscRing}, and the checks both make on it.
 * Stateless.
 *
 * <pre>
 *   offset  size  field
 *        0     4  magic        (written last by format, with release: seeing it means the rest is there)
 *        4     4  version
 *        8     4  capacity     (slots, a power of two)
 *       12     4  slot size    (bytes, a multiple of 8)
 *       16     4  header check (a hash of the four words above: garbage in any one of them is always caught)
 *      128     8  producer position   -- its own line
 *      256     8  consumer position   -- its own line
 *      384     8  consumer doorbell   (futex sequence word, waiter count) -- "something to read"
 *      512     8  producer doorbell   (futex sequence word, waiter count) -- "space to write"
 *      640        slots
 * </pre>
 *
 * Hot words are 128 bytes apart, not 64: Intel's spatial prefetcher fetches cache lines in
 * 128-byte pairs, so words 64 bytes apart can still false-share.
 */
final class RingLayout {
    static final int LINE = 128;
    static final long MAGIC = 0;
    static final long VERSION = 4;
    static final long CAPACITY = 8;
    static final long SLOT_SIZE = 12;
    static final long HEADER_CHECK = 16;
    static final long PRODUCER_POSITION = LINE;
    static final long CONSUMER_POSITION = 2 * LINE;
    static final long CONSUMER_DOORBELL = 3 * LINE;
    static final long PRODUCER_DOORBELL = 4 * LINE;
    static final long HEADER_BYTES = 5 * LINE;

    /** Rings must start on a cache line; {@code bytesFor} rounds up to it so rings can be packed. */
    static final int ALIGNMENT = 64;
    static final int MAX_CAPACITY = 1 << 30;
    static final int MAX_SLOT_SIZE = 1 << 20;

    /** Exact-behaviour handles: a call site with the wrong static types fails at once instead of adapting slowly. */
    static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle().withInvokeExactBehavior();
    static final VarHandle INT = ValueLayout.JAVA_INT.varHandle().withInvokeExactBehavior();

    private RingLayout() {}

    /** The smallest capacity a ring of {@code kind} supports. */
    static int minCapacity(String kind) {
        // With one slot, an MPSC producer could not tell "free for me" (sequence == position)
        // from "published by the previous lap, not yet released" (sequence == position - capacity + 1).
        return kind.startsWith("Mpsc") ? 2 : 1;
    }

    static void checkGeometry(String kind, int capacity, int slotSize) {
        int min = minCapacity(kind);
        if (capacity < min || capacity > MAX_CAPACITY || Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException(kind + " capacity must be a power of two between " + min + " and "
                    + MAX_CAPACITY + ", not " + capacity);
        }
        if (slotSize < 8 || slotSize > MAX_SLOT_SIZE || (slotSize & 7) != 0) {
            throw new IllegalArgumentException(kind + " slot size must be a multiple of 8 between 8 and "
                    + MAX_SLOT_SIZE + " bytes (so every slot stays 8-byte aligned), not " + slotSize);
        }
    }

    static long roundUp(long bytes) {
        return (bytes + ALIGNMENT - 1) & -ALIGNMENT;
    }

    /** The slice a ring of {@code bytes} lives in; refuses heap, misaligned and short segments. */
    static MemorySegment ringSlice(String kind, MemorySegment segment, long bytes) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException(kind + " needs native (off-heap, ideally shared) memory: its futex"
                    + " doorbells and cross-process atomics do not work on a heap segment");
        }
        if ((segment.address() & (ALIGNMENT - 1)) != 0) {
            throw new IllegalArgumentException(kind + " must start on a " + ALIGNMENT + "-byte cache line; address 0x"
                    + Long.toHexString(segment.address())
                    + " is not (rings sized by bytesFor() can be packed back to back)");
        }
        if (segment.byteSize() < bytes) {
            throw new IllegalArgumentException(kind + " needs " + bytes + " bytes but the segment has only "
                    + segment.byteSize());
        }
        return segment.asSlice(0, bytes);
    }

    static String defaultName(String kind, MemorySegment segment) {
        return kind + "@0x" + Long.toHexString(segment.address());
    }

    /** Writes everything except the magic; zeroes positions and doorbells. */
    static void formatHeader(MemorySegment ring, int magic, int version, int capacity, int slotSize) {
        ring.asSlice(0, HEADER_BYTES).fill((byte) 0);
        ring.set(ValueLayout.JAVA_INT, VERSION, version);
        ring.set(ValueLayout.JAVA_INT, CAPACITY, capacity);
        ring.set(ValueLayout.JAVA_INT, SLOT_SIZE, slotSize);
        ring.set(ValueLayout.JAVA_INT, HEADER_CHECK, headerCheck(magic, version, capacity, slotSize));
    }

    /**
     * Each step is a bijection of the running value (xor, then multiply by an odd constant), so
     * changing any single field always changes the result; several changed at random go
     * unnoticed with probability 2^-32.
     */
    static int headerCheck(int magic, int version, int capacity, int slotSize) {
        int h = magic * 0x9E37_79B1;
        h = (h ^ version) * 0x9E37_79B1;
        h = (h ^ capacity) * 0x9E37_79B1;
        h = (h ^ slotSize) * 0x9E37_79B1;
        return h ^ (h >>> 16);
    }

    /** Publishes a formatted ring: an attacher that sees the magic sees everything written before it. */
    static void publishMagic(MemorySegment ring, int magic) {
        INT.setRelease(ring, MAGIC, magic);
    }

    /**
     * Reads and checks the header of a ring in {@code segment}; returns {@code {capacity, slotSize}}.
     * Only header values are trusted after this, and they are copied: a peer changing them later
     * cannot move our offsets.
     */
    static int[] readHeader(String kind, String name, MemorySegment segment, int expectedMagic, int version,
            long slotOverhead) {
        if (!segment.isNative() || (segment.address() & (ALIGNMENT - 1)) != 0 || segment.byteSize() < HEADER_BYTES) {
            // Same wording as format's checks, but before reading anything.
            ringSlice(kind, segment, HEADER_BYTES);
        }
        int magic = (int) INT.getAcquire(segment, MAGIC);
        if (magic != expectedMagic) {
            String hint = magic == 0 ? "the magic word is 0: the creator has not formatted it yet (or it was torn down)"
                    : magic == SpscRing.MAGIC || magic == MpscRing.MAGIC
                            ? "it holds a different kind of ring (magic 0x" + Integer.toHexString(magic) + ")"
                            : "magic is 0x" + Integer.toHexString(magic) + ", not 0x"
                                    + Integer.toHexString(expectedMagic) + " (this is not a " + kind + ")";
            throw RingCorruptedException.notARing(name, hint);
        }
        int actualVersion = segment.get(ValueLayout.JAVA_INT, VERSION);
        if (actualVersion != version) {
            throw RingCorruptedException.notARing(name, "layout version " + actualVersion + " but this code speaks "
                    + kind + " version " + version + "; upgrade the older side");
        }
        int capacity = segment.get(ValueLayout.JAVA_INT, CAPACITY);
        int slotSize = segment.get(ValueLayout.JAVA_INT, SLOT_SIZE);
        int check = segment.get(ValueLayout.JAVA_INT, HEADER_CHECK);
        if (check != headerCheck(magic, actualVersion, capacity, slotSize)) {
            throw RingCorruptedException.notARing(name, "the header check word 0x" + Integer.toHexString(check)
                    + " does not match capacity " + capacity + " and slot size " + slotSize
                    + ": the header was overwritten (garbage from a peer?), so its geometry cannot be trusted");
        }
        try {
            checkGeometry(kind, capacity, slotSize);
        } catch (IllegalArgumentException e) {
            throw RingCorruptedException.notARing(name,
                    "the header holds an impossible geometry (" + e.getMessage() + ")");
        }
        long needed = roundUp(HEADER_BYTES + (long) capacity * (slotSize + slotOverhead));
        if (segment.byteSize() < needed) {
            throw RingCorruptedException.notARing(name, "the header says capacity " + capacity + " x slot size "
                    + slotSize + " = " + needed + " bytes, but the segment has only " + segment.byteSize());
        }
        return new int[] {capacity, slotSize};
    }

    /**
     * Reads the two positions of a ring whose other parties may be running, and checks that they
     * are consistent; returns {@code {producer, consumer}}. Consumer, producer, consumer again:
     * since at every instant consumer <= producer <= consumer + capacity and both only grow, the
     * first read is <= the producer's and the producer's is <= the second read + capacity, with
     * no false alarm however the peers move in between.
     */
    static long[] readPositions(MemorySegment ring, String name, int capacity) {
        long consumerBefore = (long) LONG.getAcquire(ring, CONSUMER_POSITION);
        long producer = (long) LONG.getAcquire(ring, PRODUCER_POSITION);
        long consumer = (long) LONG.getAcquire(ring, CONSUMER_POSITION);
        if (consumerBefore < 0 || consumer < consumerBefore || producer < consumerBefore
                || producer - consumer > capacity) {
            throw RingCorruptedException.garbage(name, "producer position " + producer + " and consumer position "
                    + consumer + (consumer != consumerBefore ? " (" + consumerBefore + " just before)" : "")
                    + " are inconsistent (need 0 <= consumer <= producer <= consumer + capacity " + capacity + ")");
        }
        return new long[] {producer, consumer};
    }
}

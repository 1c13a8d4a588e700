package io.arrakis.vfio.virtio;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The driver's side of one split virtqueue (virtio 1.x, section 2.7) over memory the device
 * reaches by DMA: the descriptor table, the available ring the driver writes and the used ring
 * the device writes, with the index arithmetic (free-running 16-bit indices, ring slot = index
 * mod size), event suppression ({@code VIRTIO_F_EVENT_IDX} or the flags) and the memory ordering
 * the device relies on. It does not know what the buffers hold; {@link VirtioNetQueue} does.
 *
 * <p>Layout in its segment (all little-endian): the descriptor table at 0 (16 bytes each: le64
 * addr, le32 len, le16 flags, le16 next), the available ring at {@link #availOffset} (le16 flags,
 * le16 idx, le16 ring[size], le16 used_event) and the used ring at {@link #usedOffset} (le16
 * flags, le16 idx, {le32 id, le32 len} ring[size], le16 avail_event), each on its own cache line.
 *
 * <p>Not thread-safe: one thread (the queue's owner) drives it; the device is the other party,
 * synchronised through the ring indices (release on publish, acquire on consume, a full fence
 * before a notification or interrupt decision).
 */
final class SplitVirtqueue {
    static final int DESCRIPTOR_BYTES = 16;
    static final int FLAG_NEXT = 1;
    static final int FLAG_WRITE = 2;
    static final int AVAIL_F_NO_INTERRUPT = 1;
    static final int USED_F_NO_NOTIFY = 1;
    static final int MAX_SIZE = 32_768;
    private static final int ALIGN = 64;

    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INDEX = LE16.varHandle();

    private final MemorySegment ring;
    private final long iova;
    private final int size;
    private final int mask;
    private final boolean eventIndex;
    private final long availOffset;
    private final long usedOffset;
    private final DescriptorFreeList freeList;
    /** The available index as the driver has it (published or not). */
    private int availIndex;
    /** The available index the device last saw published. */
    private int publishedIndex;
    /** The next used entry to consume. */
    private int lastUsed;
    /** The device's used index as last read (acquire): entries up to it may be read plainly. */
    private int knownUsed;

    /**
     * @param ring at least {@link #bytes(int)} bytes, 64-byte aligned, zeroed, DMA-reachable
     * @param iova the device's address of {@code ring}'s first byte
     * @param size a power of two, 1..32768
     * @param eventIndex whether {@code VIRTIO_F_EVENT_IDX} was negotiated
     */
    SplitVirtqueue(MemorySegment ring, long iova, int size, boolean eventIndex) {
        if (size <= 0 || size > MAX_SIZE || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("a split virtqueue's size is a power of two up to " + MAX_SIZE
                    + ", not " + size);
        }
        if (ring.byteSize() < bytes(size)) {
            throw new IllegalArgumentException("a virtqueue of " + size + " needs " + bytes(size) + " bytes, not "
                    + ring.byteSize());
        }
        if ((ring.address() % ALIGN) != 0 || (iova % ALIGN) != 0) {
            throw new IllegalArgumentException("virtqueue memory must be " + ALIGN + "-byte aligned (address 0x"
                    + Long.toHexString(ring.address()) + ", iova 0x" + Long.toHexString(iova) + ")");
        }
        this.ring = ring;
        this.iova = iova;
        this.size = size;
        this.mask = size - 1;
        this.eventIndex = eventIndex;
        this.availOffset = availOffset(size);
        this.usedOffset = usedOffset(size);
        this.freeList = new DescriptorFreeList(size);
    }

    static long availOffset(int size) {
        return align((long) DESCRIPTOR_BYTES * size);
    }

    static long usedOffset(int size) {
        return align(availOffset(size) + 6 + 2L * size);
    }

    /** Bytes of ring memory a queue of {@code size} needs. */
    static long bytes(int size) {
        return align(usedOffset(size) + 6 + 8L * size);
    }

    private static long align(long n) {
        return (n + ALIGN - 1) & -ALIGN;
    }

    int size() {
        return size;
    }

    /** The device's addresses of the three parts, as the common configuration is told them. */
    long descriptorTableIova() {
        return iova;
    }

    long availIova() {
        return iova + availOffset;
    }

    long usedIova() {
        return iova + usedOffset;
    }

    int freeDescriptors() {
        return freeList.available();
    }

    /** Descriptors the device holds: offered and not yet consumed from the used ring. */
    int inFlight() {
        return (availIndex - lastUsed) & 0xFFFF;
    }

    /** A free descriptor, or -1 when the device holds all of them. */
    int allocateDescriptor() {
        return freeList.allocate();
    }

    void freeDescriptor(int id) {
        freeList.free(id);
    }

    boolean descriptorInUse(int id) {
        return freeList.isInUse(id);
    }

    /** Writes descriptor {@code id}: {@code length} bytes at device address {@code address}. */
    void writeDescriptor(int id, long address, int length, int flags, int next) {
        long at = (long) id * DESCRIPTOR_BYTES;
        ring.set(LE64, at, address);
        ring.set(LE32, at + 8, length);
        ring.set(LE16, at + 12, (short) flags);
        ring.set(LE16, at + 14, (short) next);
    }

    int descriptorFlags(int id) {
        return ring.get(LE16, (long) id * DESCRIPTOR_BYTES + 12) & 0xFFFF;
    }

    int descriptorNext(int id) {
        return ring.get(LE16, (long) id * DESCRIPTOR_BYTES + 14) & 0xFFFF;
    }

    /** Puts the chain starting at descriptor {@code head} in the next available slot (unpublished). */
    void offer(int head) {
        ring.set(LE16, availOffset + 4 + 2L * (availIndex & mask), (short) head);
        availIndex = (availIndex + 1) & 0xFFFF;
    }

    /** Whether {@link #offer} has added chains the device has not been shown yet. */
    boolean hasUnpublished() {
        return availIndex != publishedIndex;
    }

    /**
     * Shows the device every chain offered so far (the descriptors and slots written before, by
     * a release store of the index), then decides with a full fence whether the device asked to
     * be notified of them: {@code VIRTIO_F_EVENT_IDX}'s avail_event crossed, or no
     * {@code NO_NOTIFY} flag. Returns whether the caller should ring the doorbell.
     */
    boolean publish() {
        int old = publishedIndex;
        int now = availIndex;
        if (old == now) {
            return false;
        }
        INDEX.setRelease(ring, availOffset + 2, (short) now);
        publishedIndex = now;
        // The device reads our index and then its suppression field; we write the index and read
        // that field: without a store-load fence both could miss the other (a lost notification).
        VarHandle.fullFence();
        if (eventIndex) {
            int event = (short) INDEX.getVolatile(ring, usedOffset + 4 + 8L * size) & 0xFFFF;
            return needEvent(event, now, old);
        }
        return ((short) INDEX.getVolatile(ring, usedOffset) & USED_F_NO_NOTIFY) == 0;
    }

    /**
     * The specification's {@code vring_need_event}: whether moving an index from {@code old} to
     * {@code now} (16-bit, free-running) passed {@code event}, i.e. event is in [old, now).
     */
    static boolean needEvent(int event, int now, int old) {
        return ((now - event - 1) & 0xFFFF) < ((now - old) & 0xFFFF);
    }

    /** Whether the device has put entries in the used ring that were not consumed yet. */
    boolean hasUsed() {
        if (lastUsed != knownUsed) {
            return true;
        }
        knownUsed = (short) INDEX.getAcquire(ring, usedOffset + 2) & 0xFFFF;
        return lastUsed != knownUsed;
    }

    /** The head descriptor of the next used entry; only after {@link #hasUsed()} said so. */
    int usedId() {
        return ring.get(LE32, usedOffset + 4 + 8L * (lastUsed & mask));
    }

    /** Bytes the device wrote into the next used entry's buffers. */
    int usedLength() {
        return ring.get(LE32, usedOffset + 8 + 8L * (lastUsed & mask));
    }

    /** Consumes the next used entry (its descriptors are the caller's to free). */
    void advanceUsed() {
        lastUsed = (lastUsed + 1) & 0xFFFF;
    }

    /**
     * Asks the device to interrupt at the next used entry, then checks (after a full fence) that
     * none arrived meanwhile: returns {@code false} when entries already wait, in which case the
     * caller should consume them rather than sleep.
     */
    boolean enableInterrupts() {
        if (eventIndex) {
            INDEX.setRelease(ring, availOffset + 4 + 2L * size, (short) lastUsed);
        } else {
            INDEX.setRelease(ring, availOffset, (short) 0);
        }
        VarHandle.fullFence();
        knownUsed = (short) INDEX.getVolatile(ring, usedOffset + 2) & 0xFFFF;
        return knownUsed == lastUsed;
    }

    /**
     * Asks the device not to interrupt: the flag without {@code EVENT_IDX}; with it, nothing is
     * needed, since the used_event written last has been passed and the device interrupts only
     * when its index crosses it again.
     */
    void disableInterrupts() {
        if (!eventIndex) {
            INDEX.setRelease(ring, availOffset, (short) AVAIL_F_NO_INTERRUPT);
        }
    }
}

package io.arrakis.device.xdp;

import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Mman;
import io.arrakis.linux.Xsk;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * One of an AF_XDP socket's four rings, mapped from the kernel: a power-of-two array of entries
 * with a producer and a consumer index (free-running u32) and a flags word. We produce into the
 * fill and TX rings and consume from the RX and completion rings; the kernel does the opposite.
 * Each index has one writer, so the protocol is a release store of our index after the entries,
 * and an acquire load of the kernel's before reading or reusing entries (the kernel's
 * {@code xsk_queue.h} pairs them with its own barriers).
 *
 * <p>Not thread-safe: owned by the queue's polling thread.
 */
final class XskRing {
    private static final VarHandle U32 = ValueLayout.JAVA_INT.varHandle();

    final Xsk.Ring kind;
    private final MemorySegment mapping;
    private final long producerAt;
    private final long consumerAt;
    private final long flagsAt;
    private final long entriesAt;
    private final int size;
    private final int mask;
    /** Our index: the producer for fill/TX, the consumer for RX/completion. */
    private int local;
    /** The kernel's index as last read. */
    private int cached;

    XskRing(Xsk.Ring kind, MemorySegment mapping, Xsk.RingOffsets offsets, int size) {
        this.kind = kind;
        this.mapping = mapping;
        this.producerAt = offsets.producer();
        this.consumerAt = offsets.consumer();
        this.flagsAt = offsets.flags();
        this.entriesAt = offsets.descriptors();
        this.size = size;
        this.mask = size - 1;
        boolean weProduce = kind == Xsk.Ring.FILL || kind == Xsk.Ring.TX;
        this.local = (int) U32.getAcquire(mapping, weProduce ? producerAt : consumerAt);
        this.cached = (int) U32.getAcquire(mapping, weProduce ? consumerAt : producerAt);
    }

    static XskRing map(int fd, Xsk.Ring kind, int size) throws LinuxException {
        Xsk.RingOffsets offsets = Xsk.ringOffsets(fd, kind);
        return new XskRing(kind, Xsk.mapRing(fd, kind, offsets, size), offsets, size);
    }

    int size() {
        return size;
    }

    // Producer side (fill, TX) -------------------------------------------------------------

    /** Entries we may produce now. */
    int free() {
        cached = (int) U32.getAcquire(mapping, consumerAt);
        return size - (local - cached);
    }

    /** Entries produced and not yet consumed by the kernel (as of the last look). */
    int outstanding() {
        cached = (int) U32.getAcquire(mapping, consumerAt);
        return local - cached;
    }

    /** Writes a fill-ring entry {@code i} places after our producer index. */
    void putAddress(int i, long address) {
        mapping.set(ValueLayout.JAVA_LONG, entry(local + i), address);
    }

    /** Writes a TX descriptor {@code i} places after our producer index. */
    void putDescriptor(int i, long address, int length) {
        long at = entry(local + i);
        mapping.set(ValueLayout.JAVA_LONG, at, address);
        mapping.set(ValueLayout.JAVA_INT, at + 8, length);
        mapping.set(ValueLayout.JAVA_INT, at + 12, 0);
    }

    /** Publishes {@code n} produced entries to the kernel. */
    void submit(int n) {
        local += n;
        U32.setRelease(mapping, producerAt, local);
    }

    // Consumer side (RX, completion) --------------------------------------------------------

    /** Entries the kernel has produced that we have not consumed, at most {@code max}. */
    int available(int max) {
        int available = cached - local;
        if (available == 0) {
            cached = (int) U32.getAcquire(mapping, producerAt);
            available = cached - local;
        }
        return Math.min(available, max);
    }

    long address(int i) {
        return mapping.get(ValueLayout.JAVA_LONG, entry(local + i));
    }

    int length(int i) {
        return mapping.get(ValueLayout.JAVA_INT, entry(local + i) + 8);
    }

    /** Gives {@code n} consumed entries back to the kernel. */
    void release(int n) {
        local += n;
        U32.setRelease(mapping, consumerAt, local);
    }

    /** Whether the kernel set {@code XDP_RING_NEED_WAKEUP}: it needs a syscall to make progress. */
    boolean needsWakeup() {
        return ((int) U32.getVolatile(mapping, flagsAt) & Xsk.XDP_RING_NEED_WAKEUP) != 0;
    }

    /** Where entry {@code index} (a free-running ring index) lives in the mapping. */
    private long entry(int index) {
        return entriesAt + (long) (index & mask) * kind.entrySize;
    }

    void unmap() throws LinuxException {
        Mman.munmap(mapping);
    }
}

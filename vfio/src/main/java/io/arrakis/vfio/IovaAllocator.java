package io.arrakis.vfio;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Hands out I/O virtual addresses for DMA mappings: first fit over the free parts of the ranges
 * the IOMMU accepts, aligned as asked, coalescing on release. Pure bookkeeping (no system calls),
 * so it is tested without a device. Thread-safe: every method is synchronized (mapping is the
 * control path, a few calls per queue).
 *
 * <p>Addresses below {@link #FLOOR} are never handed out, so an IOVA of 0 (a driver's forgotten
 * field) can never name a real buffer: the device faults instead of writing somewhere plausible.
 */
final class IovaAllocator {
    /** The lowest address handed out (1 MiB). */
    static final long FLOOR = 1L << 20;

    /** One usable range, {@code start} inclusive, {@code end} exclusive. */
    record Range(long start, long end) {
        Range {
            if (Long.compareUnsigned(start, end) >= 0) {
                throw new IllegalArgumentException("empty IOVA range [0x" + Long.toHexString(start) + ", 0x"
                        + Long.toHexString(end) + ")");
            }
        }
    }

    private final long pageSize;
    /** Free extents: start to exclusive end, never adjacent (adjacent ones are merged). */
    private final TreeMap<Long, Long> free = new TreeMap<>();
    /** Allocated extents: start to size, so a release must name exactly what was allocated. */
    private final Map<Long, Long> allocated = new HashMap<>();

    /**
     * @param usable the ranges the IOMMU accepts (end exclusive), in any order, not overlapping
     * @param pageSize the IOMMU's smallest page (a power of two); sizes and alignments are multiples of it
     */
    IovaAllocator(List<Range> usable, long pageSize) {
        if (pageSize <= 0 || Long.bitCount(pageSize) != 1) {
            throw new IllegalArgumentException("IOMMU page size " + pageSize + " is not a power of two");
        }
        this.pageSize = pageSize;
        for (Range range : usable) {
            // Only whole pages at or above the floor; addresses are kept below 2^63 so that plain
            // signed arithmetic is exact (no IOMMU has 63 bits of address).
            long start = alignUp(Math.max(range.start(), FLOOR), pageSize);
            long end = range.end() < 0 ? Long.MAX_VALUE & -pageSize : range.end() & -pageSize;
            if (start < end) {
                Map.Entry<Long, Long> overlap = free.floorEntry(end - 1);
                if (overlap != null && overlap.getValue() > start) {
                    throw new IllegalArgumentException("IOVA ranges overlap at 0x" + Long.toHexString(start));
                }
                free.put(start, end);
            }
        }
        mergeAll();
        if (free.isEmpty()) {
            throw new IllegalArgumentException("no usable IOVA space at or above 0x" + Long.toHexString(FLOOR)
                    + " in " + usable);
        }
    }

    long pageSize() {
        return pageSize;
    }

    /**
     * Reserves {@code size} bytes (a multiple of the page size) starting at a multiple of
     * {@code alignment} (a power of two, at least a page); returns the start.
     *
     * @throws IllegalStateException when no free extent is large enough
     */
    synchronized long allocate(long size, long alignment) {
        if (size <= 0 || size % pageSize != 0) {
            throw new IllegalArgumentException("IOVA size " + size + " is not a positive multiple of the IOMMU page ("
                    + pageSize + " bytes)");
        }
        if (alignment < pageSize || Long.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("IOVA alignment " + alignment + " is not a power of two of at least "
                    + pageSize);
        }
        for (Map.Entry<Long, Long> extent : free.entrySet()) {
            // Copied out first: a TreeMap entry may take its successor's contents once removed.
            long extentStart = extent.getKey();
            long end = extent.getValue();
            long start = alignUp(extentStart, alignment);
            if (start >= extentStart && start <= end - size) {
                free.remove(extentStart);
                if (extentStart < start) {
                    free.put(extentStart, start);
                }
                if (start + size < end) {
                    free.put(start + size, end);
                }
                allocated.put(start, size);
                return start;
            }
        }
        throw new IllegalStateException("no free IOVA extent of " + size + " bytes aligned to " + alignment + " ("
                + freeBytes() + " bytes free in " + free.size() + " extents)");
    }

    /** Returns what {@link #allocate} gave; {@code size} must be what was asked for. */
    synchronized void release(long iova, long size) {
        Long allocatedSize = allocated.get(iova);
        if (allocatedSize == null || allocatedSize != size) {
            throw new IllegalArgumentException("IOVA 0x" + Long.toHexString(iova) + " (+" + size
                    + " bytes) was not allocated " + (allocatedSize == null ? "" : "with that size (it has "
                    + allocatedSize + " bytes) ") + "by this allocator");
        }
        allocated.remove(iova);
        long start = iova;
        long end = iova + size;
        Map.Entry<Long, Long> before = free.floorEntry(start);
        if (before != null && before.getValue() == start) {
            start = before.getKey();
            free.remove(before.getKey());
        }
        Long afterEnd = free.get(end);
        if (afterEnd != null) {
            free.remove(end);
            end = afterEnd;
        }
        free.put(start, end);
    }

    synchronized long freeBytes() {
        long total = 0;
        for (Map.Entry<Long, Long> extent : free.entrySet()) {
            total += extent.getValue() - extent.getKey();
        }
        return total;
    }

    synchronized int allocationCount() {
        return allocated.size();
    }

    private void mergeAll() {
        Map.Entry<Long, Long> previous = null;
        for (Map.Entry<Long, Long> extent : new TreeMap<>(free).entrySet()) {
            if (previous != null && previous.getValue().equals(extent.getKey())) {
                free.remove(extent.getKey());
                free.put(previous.getKey(), extent.getValue());
                previous = Map.entry(previous.getKey(), extent.getValue());
            } else {
                previous = extent;
            }
        }
    }

    private static long alignUp(long value, long alignment) {
        long aligned = (value + alignment - 1) & -alignment;
        return aligned < value ? Long.MAX_VALUE & -alignment : aligned;
    }
}

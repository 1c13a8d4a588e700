package io.arrakis.nvme;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Builds the physical region page entries of one transfer (NVMe base specification 2.0, 4.1.1):
 * PRP1 is the first byte's address (any dword-aligned offset within its page); every further
 * entry is a whole page. One page more goes in PRP2 itself; more than that, PRP2 points to a PRP
 * list, whose last entry chains to the next list page when a list page fills. The transfer's
 * memory is contiguous in I/O virtual addresses. Stateless; the caller owns the list memory.
 */
public final class PrpList {
    private static final ValueLayout.OfLong ENTRY = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(
            java.nio.ByteOrder.LITTLE_ENDIAN);

    private PrpList() {}

    /** How many list pages a transfer of {@code bytes} starting at page offset {@code offsetInPage} needs. */
    public static int listPagesNeeded(long offsetInPage, long bytes, int pageSize) {
        long afterFirst = bytes - Math.min(bytes, pageSize - offsetInPage);
        long entries = (afterFirst + pageSize - 1) / pageSize;
        if (entries <= 1) {
            return 0;
        }
        int perPage = pageSize / 8;
        // Each full page but the last gives one slot to the chain pointer.
        return (int) Math.max(1, (entries - 1 + perPage - 2) / (perPage - 1));
    }

    /**
     * Fills the list (when one is needed) and returns PRP2; PRP1 is {@code address} itself.
     *
     * @param address   the I/O virtual address of the first byte (dword-aligned)
     * @param bytes     the transfer's length (at least 1)
     * @param pageSize  the controller's memory page size (CC.MPS)
     * @param list       memory holding the list pages
     * @param listOffset where in {@code list} the pages start (page-aligned; {@link #listPagesNeeded} pages or more)
     * @param listIova   the I/O virtual address of byte {@code listOffset} of {@code list}
     */
    public static long build(long address, long bytes, int pageSize, MemorySegment list, long listOffset,
            long listIova) {
        if ((address & 3) != 0) {
            throw new IllegalArgumentException("PRP1 must be dword-aligned, not 0x" + Long.toHexString(address));
        }
        if (bytes < 1) {
            throw new IllegalArgumentException("a transfer moves at least one byte, not " + bytes);
        }
        long offsetInPage = address & (pageSize - 1);
        long firstChunk = pageSize - offsetInPage;
        if (bytes <= firstChunk) {
            return 0;
        }
        long nextPage = address + firstChunk;
        long remaining = bytes - firstChunk;
        if (remaining <= pageSize) {
            return nextPage;
        }
        int pages = listPagesNeeded(offsetInPage, bytes, pageSize);
        if (list.byteSize() - listOffset < (long) pages * pageSize) {
            throw new IllegalArgumentException("a transfer of " + bytes + " bytes needs " + pages
                    + " PRP list pages; " + (list.byteSize() - listOffset) + " bytes were given");
        }
        long entries = (remaining + pageSize - 1) / pageSize;
        int perPage = pageSize / 8;
        long listPage = 0;
        int slot = 0;
        for (long i = 0; i < entries; i++) {
            if (slot == perPage - 1 && i < entries - 1) {
                // The last slot of a full page chains to the next list page.
                list.set(ENTRY, listOffset + listPage * pageSize + slot * 8L, listIova + (listPage + 1) * pageSize);
                listPage++;
                slot = 0;
            }
            list.set(ENTRY, listOffset + listPage * pageSize + slot * 8L, nextPage + i * pageSize);
            slot++;
        }
        return listIova;
    }
}

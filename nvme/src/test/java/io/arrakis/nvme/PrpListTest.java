package io.arrakis.nvme;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

/**
 * PRP entries checked by walking them as a controller does (NVMe 2.0, 4.1.1): PRP1 covers the
 * rest of its page, PRP2 is the second page when two suffice, else a list whose last entry of a
 * full page points to the next list page. The walk must give back exactly the transfer's pages.
 */
class PrpListTest {
    private static final int PAGE = 4096;
    private static final long LIST_IOVA = 0x7000_0000L;
    private static final ValueLayout.OfLong ENTRY = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Property(tries = 300)
    void theEntriesCoverExactlyTheTransfer(@ForAll @IntRange(min = 0, max = PAGE / 4 - 1) int dwordInPage,
            @ForAll @LongRange(min = 1, max = 5L << 20) long bytes, @ForAll @IntRange(min = 0, max = 1000) int page) {
        long address = 0x1_0000_0000L + (long) page * PAGE + dwordInPage * 4L;
        int listPages = PrpList.listPagesNeeded(address % PAGE, bytes, PAGE);
        try (Arena arena = Arena.ofConfined()) {
            // One spare page before the list: the list must start where it is told to.
            MemorySegment list = arena.allocate((listPages + 1L) * PAGE, PAGE);
            long prp2 = PrpList.build(address, bytes, PAGE, list, PAGE, LIST_IOVA);
            List<long[]> chunks = walk(address, prp2, bytes, list);
            long expectedStart = address;
            long covered = 0;
            for (long[] chunk : chunks) {
                assertEquals(expectedStart, chunk[0], "chunks follow each other with no gap");
                expectedStart += chunk[1];
                covered += chunk[1];
            }
            assertEquals(bytes, covered);
            if (listPages > 0) {
                assertEquals(LIST_IOVA, prp2, "PRP2 points to the first list page");
            }
        }
    }

    @Test
    void oneOrTwoPagesNeedNoList() {
        MemorySegment none = MemorySegment.ofArray(new byte[0]);
        assertEquals(0, PrpList.build(0x10000, PAGE, PAGE, none, 0, LIST_IOVA), "one whole page: PRP2 unused");
        assertEquals(0x11000, PrpList.build(0x10000, 2 * PAGE, PAGE, none, 0, LIST_IOVA), "two pages: PRP2 is the 2nd");
        assertEquals(0x11000, PrpList.build(0x10800, PAGE, PAGE, none, 0, LIST_IOVA), "offset: spills into the next");
        assertEquals(0, PrpList.listPagesNeeded(0, 2 * PAGE, PAGE));
        assertEquals(1, PrpList.listPagesNeeded(0, 3 * PAGE, PAGE));
        // 512 entries after the first page fit one list page; 513 need a chained second.
        assertEquals(1, PrpList.listPagesNeeded(0, 513L * PAGE, PAGE));
        assertEquals(2, PrpList.listPagesNeeded(0, 514L * PAGE, PAGE));
    }

    @Test
    void refusesMisalignedAddressesAndShortListMemory() {
        MemorySegment none = MemorySegment.ofArray(new byte[0]);
        assertThrows(IllegalArgumentException.class, () -> PrpList.build(0x10002, 512, PAGE, none, 0, LIST_IOVA));
        assertThrows(IllegalArgumentException.class, () -> PrpList.build(0x10000, 3 * PAGE, PAGE, none, 0, LIST_IOVA));
    }

    /** The controller's reading of PRP1/PRP2, written from the specification's rules. */
    private static List<long[]> walk(long prp1, long prp2, long bytes, MemorySegment list) {
        List<long[]> chunks = new ArrayList<>();
        long first = Math.min(bytes, PAGE - (prp1 % PAGE));
        chunks.add(new long[] {prp1, first});
        long left = bytes - first;
        if (left == 0) {
            assertEquals(0, prp2, "PRP2 is zero when unused");
            return chunks;
        }
        if (left <= PAGE) {
            assertEquals(0, prp2 % PAGE, "PRP2 as a data pointer is page-aligned");
            chunks.add(new long[] {prp2, left});
            return chunks;
        }
        long listAddress = prp2;
        int slot = 0;
        while (left > 0) {
            long entryAddress = listAddress + slot * 8L;
            long entry = list.get(ENTRY, PAGE + (entryAddress - LIST_IOVA));
            if (slot == PAGE / 8 - 1 && left > PAGE) {
                // The last entry of a list page, with more than one page to go: a chain pointer.
                listAddress = entry;
                assertEquals(0, listAddress % PAGE, "a chained list page is page-aligned");
                slot = 0;
                continue;
            }
            assertEquals(0, entry % PAGE, "every entry after PRP1 is page-aligned");
            long length = Math.min(PAGE, left);
            chunks.add(new long[] {entry, length});
            left -= length;
            slot++;
        }
        return chunks;
    }
}

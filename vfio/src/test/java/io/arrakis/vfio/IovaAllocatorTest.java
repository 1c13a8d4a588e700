package io.arrakis.vfio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class IovaAllocatorTest {
    private static final long PAGE = 4096;
    /** What the emulated intel-iommu reports: 39 bits minus the MSI window. */
    private static final List<IovaAllocator.Range> Q35 = List.of(new IovaAllocator.Range(0, 0xfee00000L),
            new IovaAllocator.Range(0xfef00000L, 1L << 39));

    @Test
    void neverHandsOutAddressesBelowTheFloorOrInsideTheMsiWindow() {
        IovaAllocator iovas = new IovaAllocator(Q35, PAGE);
        long first = iovas.allocate(PAGE, PAGE);
        assertEquals(IovaAllocator.FLOOR, first);
        // Fill up to the MSI window, then one more must skip it.
        long belowWindow = 0xfee00000L - (first + PAGE);
        long big = iovas.allocate(belowWindow, PAGE);
        assertEquals(first + PAGE, big);
        assertEquals(0xfef00000L, iovas.allocate(PAGE, PAGE));
    }

    @Test
    void alignsAsAskedAndReusesFreedSpaceAfterCoalescing() {
        IovaAllocator iovas = new IovaAllocator(Q35, PAGE);
        long a = iovas.allocate(PAGE, PAGE);
        long b = iovas.allocate(2 << 20, 2 << 20);
        assertEquals(0, b % (2 << 20));
        long c = iovas.allocate(PAGE, PAGE);
        assertEquals(a + PAGE, c, "the gap before the aligned block is used first");
        long free = iovas.freeBytes();
        iovas.release(b, 2 << 20);
        iovas.release(a, PAGE);
        iovas.release(c, PAGE);
        assertEquals(free + (2 << 20) + 2 * PAGE, iovas.freeBytes());
        assertEquals(0, iovas.allocationCount());
        assertEquals(2 << 20, iovas.allocate(4 << 20, 2 << 20), "the whole space is one extent again");
        assertEquals(IovaAllocator.FLOOR, iovas.allocate(PAGE, PAGE));
    }

    @Test
    void refusesReleasesOfWhatItDidNotAllocate() {
        IovaAllocator iovas = new IovaAllocator(Q35, PAGE);
        long a = iovas.allocate(2 * PAGE, PAGE);
        assertThrows(IllegalArgumentException.class, () -> iovas.release(a, PAGE));
        assertThrows(IllegalArgumentException.class, () -> iovas.release(a + PAGE, PAGE));
        iovas.release(a, 2 * PAGE);
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class, () -> iovas.release(a, 2 * PAGE));
        assertTrue(twice.getMessage().contains("was not allocated"), twice.getMessage());
    }

    @Test
    void refusesSizesThatAreNotWholePagesAndSaysWhenSpaceRunsOut() {
        IovaAllocator iovas = new IovaAllocator(List.of(new IovaAllocator.Range(0, IovaAllocator.FLOOR + 4 * PAGE)),
                PAGE);
        assertThrows(IllegalArgumentException.class, () -> iovas.allocate(100, PAGE));
        assertThrows(IllegalArgumentException.class, () -> iovas.allocate(PAGE, 3 * PAGE));
        iovas.allocate(4 * PAGE, PAGE);
        IllegalStateException full = assertThrows(IllegalStateException.class, () -> iovas.allocate(PAGE, PAGE));
        assertTrue(full.getMessage().contains("no free IOVA extent of 4096 bytes"), full.getMessage());
    }

    @Test
    void rangesEntirelyBelowTheFloorAreRefusedWithTheirValues() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new IovaAllocator(List.of(new IovaAllocator.Range(0, 0x1000)), PAGE));
        assertTrue(e.getMessage().contains("no usable IOVA space"), e.getMessage());
    }

    @Property(tries = 200)
    void allocationsNeverOverlapStayInRangeAndAllComeBack(@ForAll long seed,
            @ForAll @IntRange(min = 1, max = 200) int operations) {
        Random random = new Random(seed);
        List<IovaAllocator.Range> ranges = List.of(new IovaAllocator.Range(0, 0x200000L),
                new IovaAllocator.Range(0x300000L, 0x800000L));
        IovaAllocator iovas = new IovaAllocator(ranges, PAGE);
        long total = iovas.freeBytes();
        List<long[]> live = new ArrayList<>();
        for (int i = 0; i < operations; i++) {
            if (!live.isEmpty() && random.nextInt(3) == 0) {
                long[] victim = live.remove(random.nextInt(live.size()));
                iovas.release(victim[0], victim[1]);
                continue;
            }
            long size = PAGE * (1 + random.nextInt(64));
            long alignment = PAGE << random.nextInt(6);
            long iova;
            try {
                iova = iovas.allocate(size, alignment);
            } catch (IllegalStateException full) {
                continue;
            }
            assertEquals(0, iova % alignment);
            assertTrue(ranges.stream().anyMatch(r -> iova >= Math.max(r.start(), IovaAllocator.FLOOR)
                    && iova + size <= r.end()), "in a usable range: 0x" + Long.toHexString(iova));
            for (long[] other : live) {
                assertTrue(iova + size <= other[0] || other[0] + other[1] <= iova, "no overlap");
            }
            live.add(new long[] {iova, size});
        }
        for (long[] region : live) {
            iovas.release(region[0], region[1]);
        }
        assertEquals(total, iovas.freeBytes());
    }
}

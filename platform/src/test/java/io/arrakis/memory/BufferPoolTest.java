package io.arrakis.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class BufferPoolTest {

    @Test
    void buffersAreNumberedFromZeroAndLieAtIndexTimesSize() {
        try (Arena arena = Arena.ofConfined()) {
            BufferPool pool = new BufferPool(arena.allocate(16 * 2048, 4096), 2048);
            assertEquals(16, pool.capacity());
            assertEquals(0, pool.allocate());
            assertEquals(1, pool.allocate());
            assertEquals(2048, pool.offset(1));
            MemorySegment buffer = pool.buffer(1);
            assertEquals(2048, buffer.byteSize());
            assertEquals(pool.segment().address() + 2048, buffer.address());
        }
    }

    @Test
    void allocateReturnsMinusOneWhenExhaustedAndTheLastFreedBufferFirst() {
        try (Arena arena = Arena.ofConfined()) {
            BufferPool pool = new BufferPool(arena.allocate(4 * 64), 64);
            for (int i = 0; i < 4; i++) {
                assertEquals(i, pool.allocate());
            }
            assertEquals(-1, pool.allocate());
            assertEquals(0, pool.available());
            pool.free(2);
            assertEquals(2, pool.allocate(), "the warmest buffer (freed last) comes back first");
        }
    }

    @Test
    void doubleFreeIsAnIllegalStateNamingTheBuffer() {
        try (Arena arena = Arena.ofConfined()) {
            BufferPool pool = new BufferPool(arena.allocate(8 * 256), 256);
            int index = pool.allocate();
            pool.free(index);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.free(index));
            assertTrue(e.getMessage().contains("double free: buffer " + index), e.getMessage());
            assertEquals(8, pool.available(), "the failed free changed nothing");
        }
    }

    @Test
    void freeingABufferThatWasNeverAllocatedIsADoubleFreeToo() {
        try (Arena arena = Arena.ofConfined()) {
            BufferPool pool = new BufferPool(arena.allocate(8 * 256), 256);
            assertThrows(IllegalStateException.class, () -> pool.free(5));
        }
    }

    @Test
    void foreignIndicesAreRejectedEverywhereWithTheValidRange() {
        try (Arena arena = Arena.ofConfined()) {
            BufferPool pool = new BufferPool(arena.allocate(8 * 256), 256);
            for (int bad : new int[] {-1, 8, Integer.MAX_VALUE, Integer.MIN_VALUE}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pool.free(bad));
                assertTrue(e.getMessage().contains("buffer index " + bad + " does not belong to this pool"),
                        e.getMessage());
                assertTrue(e.getMessage().contains("0..7"), e.getMessage());
                assertThrows(IllegalArgumentException.class, () -> pool.offset(bad));
                assertThrows(IllegalArgumentException.class, () -> pool.buffer(bad));
            }
        }
    }

    @Test
    void bufferSizeMustBeAPowerOfTwoAndTheRegionHoldAtLeastOne() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment region = arena.allocate(4096);
            assertThrows(IllegalArgumentException.class, () -> new BufferPool(region, 1500));
            assertThrows(IllegalArgumentException.class, () -> new BufferPool(region, 8192));
            assertEquals(1, new BufferPool(region.asSlice(0, 3000), 2048).capacity(), "a partial buffer is left out");
        }
    }

    @Test
    void indicesMeanTheSameBufferInAnotherMappingOfTheSameMemory() throws Exception {
        try (SharedMemory mine = SharedMemory.create("pool-test", 64 * 2048);
                SharedMemory theirs = SharedMemory.map(java.nio.file.Path.of("/proc/self/fd/" + mine.fd()))) {
            BufferPool pool = new BufferPool(mine.segment(), 2048);
            int index = pool.allocate();
            index = pool.allocate();
            mine.segment().set(ValueLayout.JAVA_LONG, pool.offset(index) + 8, 0xB0FFE7L);
            // The peer has no pool state, only the index and the buffer size.
            assertEquals(0xB0FFE7L, theirs.segment().get(ValueLayout.JAVA_LONG, (long) index * 2048 + 8));
        }
    }

    // ------------------------------------------------------------------ properties

    sealed interface PoolOp permits Allocate, AllocateBulk, FreeOldest, FreeNewest {}

    record Allocate() implements PoolOp {}

    record AllocateBulk(int n) implements PoolOp {}

    record FreeOldest() implements PoolOp {}

    record FreeNewest() implements PoolOp {}

    @Provide
    Arbitrary<List<PoolOp>> poolOps() {
        Arbitrary<PoolOp> op = Arbitraries.oneOf(
                Arbitraries.just(new Allocate()),
                Arbitraries.integers().between(0, 12).map(AllocateBulk::new),
                Arbitraries.just(new FreeOldest()),
                Arbitraries.just(new FreeNewest()));
        return op.list().ofMaxSize(300);
    }

    @Property(tries = 300)
    void allocatedBuffersAreDistinctInRangeAndAccountedFor(
            @ForAll @IntRange(min = 1, max = 40) int capacity, @ForAll("poolOps") List<PoolOp> ops) {
        try (Arena arena = Arena.ofConfined()) {
            BufferPool pool = new BufferPool(arena.allocate((long) capacity * 128), 128);
            List<Integer> held = new ArrayList<>();
            BitSet heldSet = new BitSet();
            int[] bulk = new int[12];
            for (PoolOp op : ops) {
                switch (op) {
                    case Allocate() -> {
                        int index = pool.allocate();
                        if (held.size() == capacity) {
                            assertEquals(-1, index, "exhausted pool must say so");
                        } else {
                            take(index, capacity, held, heldSet);
                        }
                    }
                    case AllocateBulk(int n) -> {
                        int got = pool.allocate(bulk, n);
                        assertEquals(Math.min(n, capacity - held.size()), got);
                        for (int i = 0; i < got; i++) {
                            take(bulk[i], capacity, held, heldSet);
                        }
                    }
                    case FreeOldest() -> {
                        if (!held.isEmpty()) {
                            int index = held.removeFirst();
                            heldSet.clear(index);
                            pool.free(index);
                        }
                    }
                    case FreeNewest() -> {
                        if (!held.isEmpty()) {
                            int index = held.removeLast();
                            heldSet.clear(index);
                            pool.free(index);
                            assertThrows(IllegalStateException.class, () -> pool.free(index));
                        }
                    }
                }
                assertEquals(capacity - held.size(), pool.available());
                for (int i = 0; i < capacity; i++) {
                    assertEquals(heldSet.get(i), pool.isAllocated(i));
                }
            }
        }
    }

    private static void take(int index, int capacity, List<Integer> held, BitSet heldSet) {
        assertTrue(index >= 0 && index < capacity, "index " + index + " out of range");
        assertFalse(heldSet.get(index), "buffer " + index + " handed out twice");
        held.add(index);
        heldSet.set(index);
    }

    @Property(tries = 100)
    void freeingEverythingMakesEveryBufferAvailableAgain(
            @ForAll @Size(max = 64) List<@IntRange(max = 63) Integer> order) {
        try (Arena arena = Arena.ofConfined()) {
            BufferPool pool = new BufferPool(arena.allocate(64 * 64), 64);
            int[] all = new int[64];
            assertEquals(64, pool.allocate(all, 64));
            BitSet freed = new BitSet();
            for (int index : order) {
                if (freed.get(index)) {
                    assertThrows(IllegalStateException.class, () -> pool.free(index));
                } else {
                    pool.free(index);
                    freed.set(index);
                }
            }
            for (int i = 0; i < 64; i++) {
                if (!freed.get(i)) {
                    pool.free(i);
                }
            }
            assertEquals(64, pool.available());
            assertEquals(64, pool.allocate(all, 64));
            assertEquals(64, java.util.Arrays.stream(all).distinct().count());
        }
    }
}

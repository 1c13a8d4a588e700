package io.arrakis.nvme;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * The rings against the controller's side as the specification describes it: the controller
 * posts completions at its tail with a phase tag that starts at 1 and inverts each time its tail
 * wraps, and never posts into a slot the host has not released through the head doorbell.
 */
class CompletionRingTest {
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Property(tries = 200)
    void theHostTakesEveryCompletionOnceInOrderAcrossWraps(@ForAll @IntRange(min = 2, max = 17) int size,
            @ForAll long seed) {
        Random random = new Random(seed);
        MemorySegment memory = Arena.ofAuto().allocate(size * 16, 64);
        CompletionRing ring = new CompletionRing(memory, size);
        int deviceTail = 0;
        int devicePhase = 1;
        int hostHeadSeenByDevice = 0;
        int nextId = 0;
        ArrayDeque<Integer> posted = new ArrayDeque<>();
        for (int round = 0; round < 200; round++) {
            // The controller posts while the queue is not full (tail + 1 == head means full).
            int room = Math.floorMod(hostHeadSeenByDevice - deviceTail - 1, size);
            int post = random.nextInt(room + 1);
            for (int i = 0; i < post; i++) {
                int id = nextId++ & 0xffff;
                long base = deviceTail * 16L;
                memory.set(INT, base, id * 3);
                memory.set(INT, base + 8, (5 << 16) | (deviceTail & 0xffff));
                memory.set(INT, base + 12, id | (devicePhase << 16) | ((id % 7 == 0 ? 0x80 : 0) << 17));
                posted.add(id);
                deviceTail++;
                if (deviceTail == size) {
                    deviceTail = 0;
                    devicePhase ^= 1;
                }
            }
            int take = random.nextInt(posted.size() + 2);
            for (int i = 0; i < take; i++) {
                boolean got = ring.next();
                assertEquals(!posted.isEmpty(), got, "an entry is new exactly when one was posted and not taken");
                if (!got) {
                    break;
                }
                int id = posted.poll();
                assertEquals(id, ring.commandId());
                assertEquals(id * 3, ring.result());
                assertEquals(5, ring.submissionQueueId());
                assertEquals(id % 7 == 0 ? 0x80 : 0, ring.status());
            }
            assertEquals(!posted.isEmpty(), ring.ready());
            hostHeadSeenByDevice = ring.head();
        }
    }

    @Test
    void thePhaseFlipsWhenTheHeadWraps() {
        MemorySegment memory = Arena.ofAuto().allocate(2 * 16, 64);
        CompletionRing ring = new CompletionRing(memory, 2);
        assertTrue(ring.expectedPhase(), "the first pass expects phase 1");
        assertFalse(ring.ready(), "zeroed memory holds no completion");
        memory.set(INT, 12, 1 << 16);
        memory.set(INT, 28, 1 << 16);
        assertTrue(ring.next());
        assertTrue(ring.next());
        assertEquals(0, ring.head());
        assertFalse(ring.expectedPhase());
        assertFalse(ring.ready(), "last pass's entries (phase 1) are old now");
    }

    @Test
    void theSubmissionRingKeepsOneSlotEmpty() {
        SubmissionRing ring = new SubmissionRing(Arena.ofAuto().allocate(4 * 64, 64), 4);
        assertEquals(3, ring.free());
        assertEquals(0, ring.tailOffset());
        assertEquals(1, ring.advance());
        assertEquals(64, ring.tailOffset());
        ring.advance();
        assertEquals(3, ring.advance());
        assertEquals(0, ring.free());
        assertThrows(IllegalStateException.class, ring::tailOffset, "full: tail + 1 == head");
        ring.consumedUpTo(2);
        assertEquals(2, ring.free());
        assertEquals(3 * 64, ring.tailOffset());
        assertEquals(0, ring.advance(), "the tail wraps to 0");
        assertEquals(1, ring.free());
        assertThrows(IllegalArgumentException.class, () -> ring.consumedUpTo(4));
    }
}

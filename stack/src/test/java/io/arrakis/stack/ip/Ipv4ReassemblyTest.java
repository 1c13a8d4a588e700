package io.arrakis.stack.ip;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class Ipv4ReassemblyTest {
    private static final long TIMEOUT = 30_000_000_000L;
    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    private static byte[] datagram(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    /** Splits into fragments of {@code size} bytes (a multiple of 8) and offers them in {@code order}. */
    private static Ipv4Reassembly.Outcome offer(Ipv4Reassembly r, byte[] data, int size, List<Integer> order, int id,
            long now) {
        MemorySegment packet = MemorySegment.ofArray(data);
        Ipv4Reassembly.Outcome last = null;
        for (int index : order) {
            int offset = index * size;
            int length = Math.min(size, data.length - offset);
            boolean more = offset + length < data.length;
            last = r.accept(1, 2, 17, id, offset, more, packet, offset, length, now, TIMEOUT);
        }
        return last;
    }

    @Property(tries = 200)
    void fragmentsInAnyOrderReassembleToTheOriginalBytes(@ForAll @IntRange(min = 9, max = 65_000) int length,
            @ForAll @IntRange(min = 1, max = 200) int blocksPerFragment, @ForAll long seed) {
        try (Arena local = Arena.ofConfined()) {
            Ipv4Reassembly r = new Ipv4Reassembly(2, local);
            byte[] data = datagram(length, seed);
            int size = blocksPerFragment * 8;
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i * size < length; i++) {
                order.add(i);
            }
            Collections.shuffle(order, new Random(seed));
            // Every fragment but the one completing it must be held.
            assertEquals(Ipv4Reassembly.Outcome.COMPLETE, offer(r, data, size, order, 7, 0));
            assertEquals(length, r.datagramLength());
            byte[] out = r.datagram().asSlice(r.datagramOffset(), length).toArray(ValueLayout.JAVA_BYTE);
            org.junit.jupiter.api.Assertions.assertArrayEquals(data, out);
            assertEquals(0, r.inProgress());
        }
    }

    @Test
    void anIncompleteDatagramExpiresAtItsDeadlineAndFreesItsSlot() {
        Ipv4Reassembly r = new Ipv4Reassembly(1, arena);
        byte[] data = datagram(3000, 1);
        assertEquals(Ipv4Reassembly.Outcome.HELD, offer(r, data, 1480, List.of(0), 1, 0));
        assertEquals(TIMEOUT, r.nextDeadline());
        assertEquals(0, r.expire(TIMEOUT - 1));
        assertEquals(1, r.expire(TIMEOUT));
        assertEquals(Long.MAX_VALUE, r.nextDeadline());
        // The rest alone cannot complete it: the first part was dropped with the slot.
        assertEquals(Ipv4Reassembly.Outcome.HELD, offer(r, data, 1480, List.of(1, 2), 1, TIMEOUT));
    }

    @Test
    void aFloodOfNewDatagramsEvictsTheOldestIncompleteOneInsteadOfGrowing() {
        Ipv4Reassembly r = new Ipv4Reassembly(2, arena);
        byte[] data = datagram(3000, 2);
        offer(r, data, 1480, List.of(0), 1, 0);
        offer(r, data, 1480, List.of(0), 2, 10);
        offer(r, data, 1480, List.of(0), 3, 20);
        assertEquals(2, r.inProgress());
        // Datagram 1 was evicted; 2 still completes.
        assertEquals(Ipv4Reassembly.Outcome.COMPLETE, offer(r, data, 1480, List.of(1, 2), 2, 30));
    }

    @Test
    void fragmentsThatDisagreeAboutTheEndOrExceedTheLimitAreRefused() {
        Ipv4Reassembly r = new Ipv4Reassembly(2, arena);
        MemorySegment bytes = MemorySegment.ofArray(new byte[2000]);
        assertEquals(Ipv4Reassembly.Outcome.HELD, r.accept(1, 2, 17, 9, 1000, false, bytes, 0, 8, 0, TIMEOUT));
        assertEquals(Ipv4Reassembly.Outcome.INCONSISTENT, r.accept(1, 2, 17, 9, 2000, false, bytes, 0, 8, 0, TIMEOUT));
        assertEquals(Ipv4Reassembly.Outcome.INVALID, r.accept(1, 2, 17, 10, 0, true, bytes, 0, 13, 0, TIMEOUT),
                "a non-final fragment must be a multiple of 8 bytes");
        assertEquals(Ipv4Reassembly.Outcome.INVALID, r.accept(1, 2, 17, 11, 65_512, false, bytes, 0, 8, 0, TIMEOUT),
                "beyond the largest datagram");
    }
}

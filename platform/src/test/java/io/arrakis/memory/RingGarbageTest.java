package io.arrakis.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * Garbage written into a ring by a peer must end in a {@link RingCorruptedException}, or be
 * harmless: never an access outside the ring (an IndexOutOfBoundsException from a wild offset),
 * never a hang, never another exception.
 */
class RingGarbageTest {
    private static final Duration NO_HANG = Duration.ofSeconds(5);

    @Provide
    Arbitrary<Long> positions() {
        // Mostly near the real positions (where off-by-one mistakes live), sometimes anything.
        return Arbitraries.oneOf(Arbitraries.longs().between(-20, 40), Arbitraries.longs());
    }

    @Provide
    Arbitrary<Integer> headerOffsets() {
        return Arbitraries.integers().between(0, (int) RingLayout.HEADER_BYTES - 1);
    }

    // ------------------------------------------------------------------ SPSC

    @Property(tries = 300)
    void spscProducerPositionOutsideTheConsumersWindowIsCorruption(@ForAll("positions") long garbage) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(8, 8));
            SpscRing producer = SpscRing.format(memory, 8, 8, "rx");
            SpscRing consumer = SpscRing.attach(memory, "rx");
            for (int i = 0; i < 5; i++) {
                producer.tryClaim();
            }
            producer.commit();
            for (int i = 0; i < 5; i++) {
                consumer.poll();
                if (i == 2) {
                    consumer.release(); // released 3, polled 5: the consumer has seen producer position 5
                }
            }
            memory.set(ValueLayout.JAVA_LONG, RingLayout.PRODUCER_POSITION, garbage);
            boolean valid = garbage >= 5 && garbage - 3 <= 8;
            if (valid) {
                long slot = consumer.poll();
                assertEquals(garbage == 5 ? -1 : SpscRing.SLOTS_OFFSET + 5 * 8, slot);
            } else {
                RingCorruptedException e = assertThrows(RingCorruptedException.class, consumer::poll);
                assertTrue(e.getMessage().contains("ring 'rx' is corrupted: producer position " + garbage),
                        e.getMessage());
                assertTrue(e.getMessage().contains("capacity 8"), e.getMessage());
                assertTrue(e.getMessage().contains("peer process wrote garbage"), e.getMessage());
            }
        }
    }

    @Property(tries = 300)
    void spscConsumerPositionBehindOrAheadOfTheProducerIsCorruption(@ForAll("positions") long garbage) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(4, 8));
            SpscRing producer = SpscRing.format(memory, 4, 8, "tx");
            SpscRing consumer = SpscRing.attach(memory, "tx");
            for (int i = 0; i < 4; i++) {
                producer.tryClaim();
            }
            producer.commit();
            consumer.poll();
            consumer.poll();
            consumer.release();
            assertTrue(producer.tryClaim() >= 0); // the producer has seen consumer position 2
            producer.commit();
            memory.set(ValueLayout.JAVA_LONG, RingLayout.CONSUMER_POSITION, garbage);
            producer.tryClaim(); // position 5; 5 - 2 < 4 needs no fresh read
            boolean valid = garbage >= 2 && garbage <= 5;
            if (valid) {
                assertEquals(garbage > 2 ? SpscRing.SLOTS_OFFSET + 2 * 8 : -1, producer.tryClaim());
            } else {
                RingCorruptedException e = assertThrows(RingCorruptedException.class, producer::tryClaim);
                assertTrue(e.getMessage().contains("consumer position " + garbage), e.getMessage());
            }
        }
    }

    @Property(tries = 300)
    void spscAttachRefusesAnyChangeToTheHeaderWords(@ForAll @IntRange(min = 0, max = 19) int offset,
            @ForAll @Size(min = 1, max = 8) byte[] garbage) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(16, 32));
            SpscRing.format(memory, 16, 32, "hdr");
            if (scribble(memory, offset, garbage, 20)) {
                assertThrows(RingCorruptedException.class, () -> SpscRing.attach(memory, "hdr"));
            } else {
                SpscRing.attach(memory, "hdr");
            }
        }
    }

    /** Random bytes anywhere in the header, then both sides keep working: corruption or nothing. */
    @Property(tries = 500)
    void spscGarbageAnywhereInTheHeaderIsCaughtOrHarmless(@ForAll("capacities") int capacity,
            @ForAll @IntRange(min = 0, max = 20) int prefill, @ForAll("headerOffsets") int offset,
            @ForAll @Size(min = 1, max = 16) byte[] garbage) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(capacity, 16));
            SpscRing producer = SpscRing.format(memory, capacity, 16, "g");
            SpscRing consumer = SpscRing.attach(memory, "g");
            exerciseSpsc(memory, producer, consumer, Math.min(prefill, capacity));
            scribble(memory, offset, garbage, RingLayout.HEADER_BYTES);
            expectCorruptionOrNothing(() -> {
                SpscRing.attach(memory, "g");
                SpscRing.attach(memory, "g");
            });
            expectCorruptionOrNothing(() -> exerciseSpsc(memory, producer, consumer, 3 * capacity));
        }
    }

    private static void exerciseSpsc(MemorySegment memory, SpscRing producer, SpscRing consumer, int rounds) {
        for (int i = 0; i < rounds; i++) {
            long slot = producer.tryClaim();
            if (slot >= 0) {
                checkSlot(memory, slot, 16);
                memory.set(ValueLayout.JAVA_LONG, slot, i);
                producer.commit();
            }
            if ((i & 1) == 0) {
                long read = consumer.poll();
                if (read >= 0) {
                    checkSlot(memory, read, 16);
                    memory.get(ValueLayout.JAVA_LONG, read + 8);
                    consumer.release();
                }
                consumer.hasWork();
            }
        }
    }

    // ------------------------------------------------------------------ MPSC

    @Property(tries = 300)
    void mpscSequenceWordAtTheConsumerThatIsNeitherFreeNorPublishedIsCorruption(@ForAll("positions") long garbage) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 8));
            MpscRing consumer = MpscRing.format(memory, 4, 8, "m");
            MpscRing producer = MpscRing.attach(memory, "m");
            producer.commit(producer.tryClaim());
            producer.commit(producer.tryClaim());
            consumer.poll(); // the consumer now waits for position 1 (slot 1)
            memory.set(ValueLayout.JAVA_LONG, MpscRing.SLOTS_OFFSET + 16, garbage);
            if (garbage == 1 || garbage == 2) {
                assertEquals(garbage == 2 ? MpscRing.SLOTS_OFFSET + 16 + 8 : -1, consumer.poll());
            } else {
                RingCorruptedException e = assertThrows(RingCorruptedException.class, consumer::poll);
                assertTrue(e.getMessage().contains("slot 1 at the consumer position 1 has sequence " + garbage),
                        e.getMessage());
            }
        }
    }

    @Property(tries = 300)
    void mpscProducerPositionBehindOrTooFarAheadIsCorruptionAndNeverAHang(@ForAll("positions") long garbage) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 8));
            MpscRing consumer = MpscRing.format(memory, 4, 8, "m");
            MpscRing producer = MpscRing.attach(memory, "m");
            producer.commit(producer.tryClaim());
            producer.commit(producer.tryClaim());
            consumer.poll();
            consumer.release(); // consumer position 1, producer position 2
            memory.set(ValueLayout.JAVA_LONG, RingLayout.PRODUCER_POSITION, garbage);
            long bytes = memory.byteSize();
            boolean detectable = garbage < 2 || garbage - 1 > 4;
            assertTimeoutPreemptively(NO_HANG, () -> {
                try {
                    long slot = producer.tryClaim();
                    if (detectable) {
                        fail("producer position " + garbage + " went unnoticed (claimed " + slot + ")");
                    }
                    assertTrue(slot == -1 || slot >= MpscRing.SLOTS_OFFSET && slot + 8 <= bytes, "wild offset " + slot);
                } catch (RingCorruptedException expected) {
                    assertTrue(expected.getMessage().contains("ring 'm' is corrupted"), expected.getMessage());
                }
            });
        }
    }

    /**
     * Random bytes in the header or in any slot's sequence word, then producers and the consumer
     * keep working (the producers looping on CAS must terminate too): corruption or nothing.
     */
    @Property(tries = 500)
    void mpscGarbageInTheHeaderOrSequenceWordsIsCaughtOrHarmless(@ForAll("mpscCapacities") int capacity,
            @ForAll @IntRange(min = 0, max = 20) int prefill, @ForAll boolean inSlots,
            @ForAll @IntRange(min = 0, max = 1 << 20) int where, @ForAll @Size(min = 1, max = 16) byte[] garbage) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(capacity, 8));
            MpscRing consumer = MpscRing.format(memory, capacity, 8, "g");
            MpscRing producer = MpscRing.attach(memory, "g");
            assertTimeoutPreemptively(NO_HANG,
                    () -> exerciseMpsc(memory, producer, consumer, Math.min(prefill, capacity)));
            long offset = inSlots
                    ? MpscRing.SLOTS_OFFSET + (where % capacity) * 16L + (where >>> 16) % 8
                    : where % RingLayout.HEADER_BYTES;
            scribble(memory, offset, garbage, memory.byteSize());
            assertTimeoutPreemptively(NO_HANG, () -> {
                expectCorruptionOrNothing(() -> MpscRing.attach(memory, "g"));
                expectCorruptionOrNothing(() -> exerciseMpsc(memory, producer, consumer, 3 * capacity));
            });
        }
    }

    private static void exerciseMpsc(MemorySegment memory, MpscRing producer, MpscRing consumer, int rounds) {
        for (int i = 0; i < rounds; i++) {
            long slot = producer.tryClaim();
            if (slot >= 0) {
                checkSlot(memory, slot, 8);
                memory.set(ValueLayout.JAVA_LONG, slot, i);
                producer.commit(slot);
            }
            producer.hasSpace();
            if ((i & 1) == 0) {
                long read = consumer.poll();
                if (read >= 0) {
                    checkSlot(memory, read, 8);
                    consumer.release();
                }
                consumer.hasWork();
                consumer.stalledSlot(0);
            }
        }
    }

    @Provide
    Arbitrary<Integer> capacities() {
        return RingTesting.powersOfTwo(0, 5);
    }

    @Provide
    Arbitrary<Integer> mpscCapacities() {
        return RingTesting.powersOfTwo(1, 5);
    }

    // ------------------------------------------------------------------ helpers

    /** Writes {@code garbage} at {@code offset}, clipped to {@code limit}; returns whether any byte changed. */
    private static boolean scribble(MemorySegment memory, long offset, byte[] garbage, long limit) {
        boolean changed = false;
        for (int i = 0; i < garbage.length && offset + i < limit; i++) {
            changed |= memory.get(ValueLayout.JAVA_BYTE, offset + i) != garbage[i];
            memory.set(ValueLayout.JAVA_BYTE, offset + i, garbage[i]);
        }
        return changed;
    }

    private static void checkSlot(MemorySegment memory, long offset, int slotSize) {
        assertTrue(offset >= RingLayout.HEADER_BYTES && offset + slotSize <= memory.byteSize(),
                "a slot offset outside the ring: " + offset);
    }

    private static void expectCorruptionOrNothing(Runnable action) {
        try {
            action.run();
        } catch (RingCorruptedException expected) {
            assertTrue(expected.getMessage().startsWith("ring 'g' is corrupted")
                    || expected.getMessage().startsWith("cannot attach to ring 'g'"), expected.getMessage());
        }
    }
}

package io.arrakis.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class SpscRingTest {
    /** Long enough that a timed-out wait means a lost wake-up, not a slow peer. */
    private static final long BLOCK_TIMEOUT_NANOS = 1_000_000_000L;

    // ------------------------------------------------------------------ examples

    @Test
    void aCommittedSlotTravelsFromProducerToConsumer() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(8, 16));
            SpscRing producer = SpscRing.format(memory, 8, 16, "example");
            SpscRing consumer = SpscRing.attach(memory, "example");
            assertEquals(8, consumer.capacity());
            assertEquals(16, consumer.slotSize());

            long slot = producer.tryClaim();
            assertEquals(SpscRing.SLOTS_OFFSET, slot);
            producer.segment().set(ValueLayout.JAVA_LONG, slot, 42L);
            assertEquals(-1, consumer.poll(), "nothing is visible before commit");
            producer.commit();

            long read = consumer.poll();
            assertEquals(slot, read);
            assertEquals(42L, consumer.segment().get(ValueLayout.JAVA_LONG, read));
            assertEquals(-1, consumer.poll());
            consumer.release();
            assertEquals(1, consumer.consumerPosition());
        }
    }

    @Test
    void aFullRingRefusesClaimsUntilTheConsumerReleases() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(4, 8));
            SpscRing producer = SpscRing.format(memory, 4, 8);
            SpscRing consumer = SpscRing.attach(memory);
            for (int i = 0; i < 4; i++) {
                assertTrue(producer.tryClaim() >= 0);
            }
            assertEquals(-1, producer.tryClaim());
            assertFalse(producer.hasSpace());
            producer.commit();
            assertEquals(4, consumer.available());
            consumer.poll();
            assertEquals(-1, producer.tryClaim(), "polled is not released");
            consumer.release();
            assertTrue(producer.hasSpace());
            assertEquals(SpscRing.SLOTS_OFFSET, producer.tryClaim(), "wrapped around to slot 0");
        }
    }

    @Test
    void commitRingsTheConsumerDoorbellOnlyWhenTheConsumerWaits() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(4, 8));
            SpscRing ring = SpscRing.format(memory, 4, 8);
            Doorbell doorbell = ring.consumerDoorbell();
            ring.tryClaim();
            ring.commit();
            assertEquals(0, doorbell.sequence(), "no waiter: no wake-up, no syscall");
            int ticket = doorbell.prepareToWait();
            ring.tryClaim();
            ring.commit();
            assertEquals(1, doorbell.sequence());
            assertTrue(doorbell.await(ticket, 1_000_000_000L), "the ring came after the ticket: no sleep");
            assertEquals(0, doorbell.waiters());
            ring.commit();
            assertEquals(1, doorbell.sequence(), "an empty commit publishes nothing and rings nothing");
        }
    }

    @Test
    void aReattachedSideResumesFromTheSharedPositions() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(8, 8));
            SpscRing producer = SpscRing.format(memory, 8, 8);
            for (long i = 0; i < 5; i++) {
                producer.segment().set(ValueLayout.JAVA_LONG, producer.tryClaim(), i);
            }
            producer.commit();
            producer.tryClaim(); // claimed but never committed: lost with the producer
            SpscRing consumer = SpscRing.attach(memory);
            consumer.poll();
            consumer.poll();
            consumer.release();
            consumer.poll(); // polled but not released: redelivered to the next consumer

            SpscRing restartedConsumer = SpscRing.attach(memory);
            assertEquals(2L, memory.get(ValueLayout.JAVA_LONG, restartedConsumer.poll()));
            SpscRing restartedProducer = SpscRing.attach(memory);
            assertEquals(SpscRing.SLOTS_OFFSET + 5 * 8, restartedProducer.tryClaim());
        }
    }

    @Test
    void drainHandsEachSlotToTheHandlerAndReleasesThem() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(16, 8));
            SpscRing ring = SpscRing.format(memory, 16, 8);
            for (long i = 0; i < 10; i++) {
                ring.segment().set(ValueLayout.JAVA_LONG, ring.tryClaim(), i);
            }
            ring.commit();
            long[] sum = {0};
            SlotHandler handler = (segment, offset) -> sum[0] += segment.get(ValueLayout.JAVA_LONG, offset);
            assertEquals(4, ring.drain(handler, 4));
            assertEquals(0 + 1 + 2 + 3, sum[0]);
            assertEquals(4, ring.consumerPosition());
            assertEquals(6, ring.drain(handler, 100));
            assertEquals(0, ring.drain(handler, 100));
            assertEquals(45, sum[0]);
        }
    }

    @Test
    void claimCommitPollAndReleaseAllocateNothing() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(64, 16));
            SpscRing producer = SpscRing.format(memory, 64, 16);
            SpscRing consumer = SpscRing.attach(memory);
            Runnable round = () -> {
                for (int i = 0; i < 32; i++) {
                    memory.set(ValueLayout.JAVA_LONG, producer.tryClaim(), i);
                }
                producer.commit();
                long slot;
                while ((slot = consumer.poll()) >= 0) {
                    memory.get(ValueLayout.JAVA_LONG, slot);
                }
                consumer.release();
            };
            assertEquals(0, AllocationMeter.bytesAllocatedBy(round, 20_000, 100_000) / 100_000,
                    "bytes allocated per batch of 32 messages");
        }
    }

    @Test
    void formatRefusesImpossibleGeometryHeapMemoryAndMisalignment() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(64, 64));
            assertThrows(IllegalArgumentException.class, () -> SpscRing.format(memory, 3, 8), "capacity 3");
            assertThrows(IllegalArgumentException.class, () -> SpscRing.format(memory, 4, 12), "slot size 12");
            assertThrows(IllegalArgumentException.class, () -> SpscRing.format(memory, 4, 0), "slot size 0");
            assertThrows(IllegalArgumentException.class, () -> SpscRing.format(memory, 128, 64), "too small");
            assertThrows(IllegalArgumentException.class, () -> SpscRing.format(memory.asSlice(8), 4, 8));
            assertThrows(IllegalArgumentException.class,
                    () -> SpscRing.format(MemorySegment.ofArray(new long[1024]), 4, 8));
        }
    }

    @Test
    void attachExplainsMemoryThatHoldsNoRingOrAnotherKindOfRing() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(8, 8));
            RingCorruptedException unformatted = assertThrows(RingCorruptedException.class,
                    () -> SpscRing.attach(memory, "rx0"));
            assertTrue(unformatted.getMessage().contains("not formatted"), unformatted.getMessage());
            assertEquals("rx0", unformatted.ring());

            MpscRing.format(memory, 8, 8);
            RingCorruptedException wrongKind =
                    assertThrows(RingCorruptedException.class, () -> SpscRing.attach(memory));
            assertTrue(wrongKind.getMessage().contains("different kind of ring"), wrongKind.getMessage());
        }
    }

    @Test
    void attachRefusesAHeaderWhoseGeometryWouldReachPastTheSegment() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(8, 8));
            SpscRing.format(memory, 8, 8);
            // Consistent with its check word, but claiming more slots than the memory holds:
            // what a peer that formatted a larger ring over a smaller mapping would leave.
            memory.set(ValueLayout.JAVA_INT, RingLayout.CAPACITY, 1 << 20);
            memory.set(ValueLayout.JAVA_INT, RingLayout.HEADER_CHECK,
                    RingLayout.headerCheck(SpscRing.MAGIC, SpscRing.VERSION, 1 << 20, 8));
            RingCorruptedException e = assertThrows(RingCorruptedException.class, () -> SpscRing.attach(memory));
            assertTrue(e.getMessage().contains("the segment has only " + memory.byteSize()), e.getMessage());
        }
    }

    @Test
    void attachRefusesANewerLayoutVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(8, 8));
            SpscRing.format(memory, 8, 8);
            memory.set(ValueLayout.JAVA_INT, RingLayout.VERSION, SpscRing.VERSION + 1);
            RingCorruptedException e = assertThrows(RingCorruptedException.class, () -> SpscRing.attach(memory));
            assertTrue(e.getMessage().contains("layout version " + (SpscRing.VERSION + 1)), e.getMessage());
        }
    }

    // ------------------------------------------------------------------ model-based property

    enum Op { CLAIM, CLAIM_MANY, COMMIT, POLL, POLL_MANY, RELEASE, RESTART_CONSUMER, RESTART_PRODUCER }

    @Provide
    Arbitrary<List<Op>> ops() {
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.just(Op.CLAIM)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Op.CLAIM_MANY)),
                net.jqwik.api.Tuple.of(4, Arbitraries.just(Op.COMMIT)),
                net.jqwik.api.Tuple.of(6, Arbitraries.just(Op.POLL)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Op.POLL_MANY)),
                net.jqwik.api.Tuple.of(4, Arbitraries.just(Op.RELEASE)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(Op.RESTART_CONSUMER)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(Op.RESTART_PRODUCER)))
                .list().ofMaxSize(400);
    }

    @Provide
    Arbitrary<Integer> capacities() {
        return RingTesting.powersOfTwo(0, 4);
    }

    /**
     * Any interleaving of the two sides' operations behaves like a FIFO queue bounded by the
     * capacity: claims fail exactly when capacity slots are claimed but not released, polls fail
     * exactly when everything committed was polled, and values come out in the order they went in.
     * Restarting a side (attaching a new instance) loses its uncommitted claims or redelivers its
     * unreleased polls, as documented.
     */
    @Property(tries = 400)
    void behavesLikeABoundedFifoUnderAnyInterleaving(@ForAll("capacities") int capacity,
            @ForAll @IntRange(min = 1, max = 4) int slotWords, @ForAll("ops") List<Op> ops) {
        int slotSize = slotWords * 8;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(capacity, slotSize));
            SpscRing producer = SpscRing.format(memory, capacity, slotSize, "model");
            SpscRing consumer = SpscRing.attach(memory, "model");
            long claimed = 0;
            long committed = 0;
            long polled = 0;
            long released = 0;
            ArrayDeque<Long> inFlight = new ArrayDeque<>(); // committed, not yet polled
            for (Op op : ops) {
                switch (op) {
                    case CLAIM, CLAIM_MANY -> {
                        for (int i = 0; i < (op == Op.CLAIM ? 1 : capacity + 1); i++) {
                            long slot = producer.tryClaim();
                            if (claimed - released == capacity) {
                                assertEquals(-1, slot, "claim on a full ring");
                            } else {
                                assertEquals(SpscRing.SLOTS_OFFSET + (claimed % capacity) * slotSize, slot);
                                // Fill the whole slot: a neighbour overwritten would show up on poll.
                                for (int w = 0; w < slotWords; w++) {
                                    memory.set(ValueLayout.JAVA_LONG, slot + 8L * w, claimed * 31 + w);
                                }
                                claimed++;
                            }
                        }
                    }
                    case COMMIT -> {
                        producer.commit();
                        for (long p = committed; p < claimed; p++) {
                            inFlight.add(p);
                        }
                        committed = claimed;
                    }
                    case POLL, POLL_MANY -> {
                        for (int i = 0; i < (op == Op.POLL ? 1 : capacity + 1); i++) {
                            assertEquals(committed - polled, consumer.available());
                            long slot = consumer.poll();
                            if (inFlight.isEmpty()) {
                                assertEquals(-1, slot, "poll on an empty ring");
                                assertFalse(consumer.hasWork());
                            } else {
                                long expected = inFlight.removeFirst();
                                for (int w = 0; w < slotWords; w++) {
                                    assertEquals(expected * 31 + w, memory.get(ValueLayout.JAVA_LONG, slot + 8L * w));
                                }
                                polled++;
                            }
                        }
                    }
                    case RELEASE -> {
                        consumer.release();
                        released = polled;
                    }
                    case RESTART_CONSUMER -> {
                        consumer = SpscRing.attach(memory, "model");
                        for (long p = polled - 1; p >= released; p--) {
                            inFlight.addFirst(p);
                        }
                        polled = released;
                    }
                    case RESTART_PRODUCER -> {
                        producer = SpscRing.attach(memory, "model");
                        claimed = committed;
                    }
                }
                assertTrue(claimed - released <= capacity, "never more than capacity in flight");
                assertEquals(claimed - released < capacity, producer.hasSpace());
                assertEquals(committed, producer.producerPosition());
                assertEquals(released, consumer.consumerPosition());
            }
        }
    }

    // ------------------------------------------------------------------ concurrent property

    /**
     * A producer and a consumer thread, each idling on the other's doorbell, move every message
     * once and in order, for any capacity and batch sizes.
     */
    @Property(tries = 12)
    void concurrentProducerAndConsumerDeliverEverythingInOrder(@ForAll("concurrentCapacities") int capacity,
            @ForAll @IntRange(min = 1, max = 64) int producerBatch,
            @ForAll @IntRange(min = 1, max = 64) int consumerBatch,
            @ForAll @IntRange(min = 1_000, max = 100_000) int messages) throws Throwable {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment memory = RingTesting.allocateRing(arena, SpscRing.bytesFor(capacity, 16));
            SpscRing.format(memory, capacity, 16, "concurrent");
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong timeouts = new AtomicLong();
            long[] received = {0};
            RingTesting.runConcurrently(Duration.ofSeconds(20), stop, () -> {
                SpscRing producer = SpscRing.attach(memory, "concurrent");
                SpinThenBlock idle = new SpinThenBlock(producer.producerDoorbell(), producer::hasSpace, 100,
                        BLOCK_TIMEOUT_NANOS);
                long next = 0;
                while (next < messages && !stop.get()) {
                    int batch = 0;
                    long slot;
                    while (batch < producerBatch && next < messages && (slot = producer.tryClaim()) >= 0) {
                        memory.set(ValueLayout.JAVA_LONG, slot, next);
                        memory.set(ValueLayout.JAVA_LONG, slot + 8, ~next);
                        next++;
                        batch++;
                    }
                    producer.commit();
                    idle.idle(batch);
                }
                timeouts.addAndGet(idle.timeouts());
            }, () -> {
                SpscRing consumer = SpscRing.attach(memory, "concurrent");
                SpinThenBlock idle = new SpinThenBlock(consumer.consumerDoorbell(), consumer::hasWork, 100,
                        BLOCK_TIMEOUT_NANOS);
                long expected = 0;
                while (expected < messages && !stop.get()) {
                    int batch = 0;
                    long slot;
                    while (batch < consumerBatch && (slot = consumer.poll()) >= 0) {
                        long value = memory.get(ValueLayout.JAVA_LONG, slot);
                        if (value != expected || memory.get(ValueLayout.JAVA_LONG, slot + 8) != ~expected) {
                            throw new AssertionError("expected message " + expected + " but got " + value);
                        }
                        expected++;
                        batch++;
                    }
                    consumer.release();
                    idle.idle(batch);
                }
                received[0] = expected;
                timeouts.addAndGet(idle.timeouts());
            });
            assertEquals(messages, received[0]);
            assertEquals(0, timeouts.get(), "a doorbell wait timed out although its peer was alive: a lost wake-up");
        }
    }

    @Provide
    Arbitrary<Integer> concurrentCapacities() {
        return RingTesting.powersOfTwo(0, 10);
    }
}

package io.arrakis.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class MpscRingTest {
    /** Long enough that a timed-out wait means a lost wake-up, not a slow peer. */
    private static final long BLOCK_TIMEOUT_NANOS = 1_000_000_000L;

    // ------------------------------------------------------------------ examples

    @Test
    void aCommittedSlotTravelsFromAProducerToTheConsumer() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 8));
            MpscRing consumer = MpscRing.format(memory, 4, 8, "example");
            MpscRing producer = MpscRing.attach(memory, "example");
            long slot = producer.tryClaim();
            assertEquals(MpscRing.SLOTS_OFFSET + MpscRing.SLOT_OVERHEAD, slot);
            memory.set(ValueLayout.JAVA_LONG, slot, 99L);
            assertEquals(-1, consumer.poll(), "claimed is not published");
            producer.commit(slot);
            long read = consumer.poll();
            assertEquals(slot, read);
            assertEquals(99L, memory.get(ValueLayout.JAVA_LONG, read));
            consumer.release();
            assertEquals(1, consumer.consumerPosition());
            assertEquals(1, consumer.producerPosition());
        }
    }

    @Test
    void aLaterPublicationWaitsBehindAnEarlierClaim() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 8));
            MpscRing ring = MpscRing.format(memory, 4, 8);
            long first = ring.tryClaim();
            long second = ring.tryClaim();
            ring.commit(second);
            assertEquals(-1, ring.poll(), "FIFO: the consumer takes slots in claim order");
            assertFalse(ring.hasWork());
            ring.commit(first);
            assertEquals(first, ring.poll());
            assertEquals(second, ring.poll());
        }
    }

    @Test
    void aFullRingRefusesClaimsUntilTheConsumerReleases() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(2, 8));
            MpscRing ring = MpscRing.format(memory, 2, 8);
            long a = ring.tryClaim();
            long b = ring.tryClaim();
            assertEquals(-1, ring.tryClaim(), "full while the previous lap is still being written");
            assertFalse(ring.hasSpace());
            ring.commit(a);
            ring.commit(b);
            assertEquals(-1, ring.tryClaim(), "full while the previous lap is published but unread");
            ring.poll();
            assertEquals(-1, ring.tryClaim(), "polled is not released");
            ring.release();
            assertEquals(a, ring.tryClaim());
        }
    }

    @Test
    void claimCommitPollAndReleaseAllocateNothing() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(64, 16));
            MpscRing ring = MpscRing.format(memory, 64, 16);
            Runnable round = () -> {
                for (int i = 0; i < 32; i++) {
                    long slot = ring.tryClaim();
                    memory.set(ValueLayout.JAVA_LONG, slot, i);
                    ring.commit(slot);
                }
                long slot;
                while ((slot = ring.poll()) >= 0) {
                    memory.get(ValueLayout.JAVA_LONG, slot);
                }
                ring.release();
            };
            assertEquals(0, AllocationMeter.bytesAllocatedBy(round, 20_000, 100_000) / 100_000,
                    "bytes allocated per batch of 32 messages");
        }
    }

    @Test
    void publishRefusesAnOffsetThatIsNoSlotPayload() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 16));
            MpscRing ring = MpscRing.format(memory, 4, 16, "tx");
            long slot = ring.tryClaim();
            for (long bad : new long[] {slot + 8, slot - 8, 0, -1, MpscRing.SLOTS_OFFSET + 8 + 4 * 24}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ring.commit(bad));
                assertTrue(e.getMessage().contains("is not the payload offset of a slot of ring 'tx'"), e.getMessage());
            }
        }
    }

    @Test
    void committingTheSameSlotTwiceIsAnIllegalState() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 16));
            MpscRing ring = MpscRing.format(memory, 4, 16, "tx");
            long slot = ring.tryClaim();
            ring.commit(slot);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> ring.commit(slot));
            assertTrue(e.getMessage().contains("already published"), e.getMessage());
            assertEquals(slot, ring.poll(), "delivered once");
            assertEquals(-1, ring.poll());
        }
    }

    @Test
    void aSequenceWordOverwrittenWhileItsProducerWritesIsCorruption() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 16));
            MpscRing ring = MpscRing.format(memory, 4, 16, "tx");
            long slot = ring.tryClaim();
            // Neither our position (0 mod 4) nor its published successor (1 mod 4): not a double commit.
            memory.set(ValueLayout.JAVA_LONG, slot - MpscRing.SLOT_OVERHEAD, 12346L);
            assertThrows(RingCorruptedException.class, () -> ring.commit(slot));
        }
    }

    @Test
    void capacityOneIsRefusedBecauseFreeAndPublishedWouldLookAlike() {
        assertThrows(IllegalArgumentException.class, () -> MpscRing.bytesFor(1, 8));
    }

    @Test
    void aProducerThatDiesBetweenClaimAndPublishIsReportedAfterThePatienceAndCanBeReclaimed() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 8));
            MpscRing consumer = MpscRing.format(memory, 4, 8, "stall");
            MpscRing producer = MpscRing.attach(memory, "stall");
            long ok = producer.tryClaim();
            producer.commit(ok);
            producer.tryClaim(); // the "dead" producer: claimed position 1, never publishes
            long later = producer.tryClaim();
            memory.set(ValueLayout.JAVA_LONG, later, 7L);
            producer.commit(later);

            assertEquals(ok, consumer.poll());
            assertEquals(-1, consumer.poll(), "stuck behind the dead producer's slot");
            assertEquals(-1, consumer.stalledSlot(50_000_000L), "the patience starts now");
            Thread.sleep(60);
            assertEquals(1, consumer.stalledSlot(50_000_000L));
            assertTrue(consumer.reclaim(1));
            assertEquals(later, consumer.poll(), "the consumer goes on after the reclaimed slot");
            assertEquals(7L, memory.get(ValueLayout.JAVA_LONG, later));
            consumer.release();
            assertEquals(3, consumer.consumerPosition());
            assertEquals(-1, consumer.stalledSlot(0), "an empty ring is not a stall");
            // The reclaimed slot is free again for the next lap.
            for (int i = 0; i < 4; i++) {
                producer.commit(producer.tryClaim());
            }
            for (int i = 0; i < 4; i++) {
                assertTrue(consumer.poll() >= 0);
            }
        }
    }

    @Test
    void reclaimRefusesASlotThatWasPublishedMeanwhile() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(4, 8));
            MpscRing ring = MpscRing.format(memory, 4, 8);
            long slot = ring.tryClaim();
            assertEquals(0, ring.stalledSlot(0));
            ring.commit(slot); // the producer was slow, not dead
            assertFalse(ring.reclaim(0));
            assertEquals(slot, ring.poll(), "its message is delivered, not lost");
            assertFalse(ring.reclaim(5), "not the consumer's position");
        }
    }

    @Test
    void publishAndWakeConsumerBatchTheDoorbell() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(8, 8));
            MpscRing ring = MpscRing.format(memory, 8, 8);
            int ticket = ring.consumerDoorbell().prepareToWait();
            ring.publish(ring.tryClaim());
            ring.publish(ring.tryClaim());
            assertEquals(0, ring.consumerDoorbell().sequence(), "publish alone does not ring");
            ring.wakeConsumer();
            assertEquals(1, ring.consumerDoorbell().sequence());
            assertTrue(ring.consumerDoorbell().await(ticket, 1_000_000_000L));
        }
    }

    // ------------------------------------------------------------------ model-based property

    sealed interface Op permits Claim, Publish, Poll, Release, StallCheck, RestartConsumer {}

    record Claim() implements Op {}

    /** Publishes the {@code which % outstanding}-th outstanding claim: producers finish in any order. */
    record Publish(int which) implements Op {}

    record Poll() implements Op {}

    record Release() implements Op {}

    record StallCheck() implements Op {}

    record RestartConsumer() implements Op {}

    @Provide
    Arbitrary<List<Op>> ops() {
        return Arbitraries.frequencyOf(
                Tuple.of(6, Arbitraries.just((Op) new Claim())),
                Tuple.of(6, Arbitraries.integers().between(0, 1000).map(w -> (Op) new Publish(w))),
                Tuple.of(6, Arbitraries.just((Op) new Poll())),
                Tuple.of(3, Arbitraries.just((Op) new Release())),
                Tuple.of(1, Arbitraries.just((Op) new StallCheck())),
                Tuple.of(1, Arbitraries.just((Op) new RestartConsumer())))
                .list().ofMaxSize(400);
    }

    @Provide
    Arbitrary<Integer> capacities() {
        return RingTesting.powersOfTwo(1, 4);
    }

    /**
     * Any interleaving of claims, publications in any order (several producers), polls and
     * releases behaves like the model: claims fail exactly when the slot's previous lap is not
     * released; the consumer takes positions in claim order and only once published; a claimed
     * but unpublished slot at the consumer's position is reported as stalled.
     */
    @Property(tries = 400)
    void behavesLikeTheModelUnderAnyInterleavingOfProducers(@ForAll("capacities") int capacity,
            @ForAll("ops") List<Op> ops) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(capacity, 8));
            MpscRing.format(memory, capacity, 8, "model");
            MpscRing consumer = MpscRing.attach(memory, "model");
            MpscRing[] producers = {MpscRing.attach(memory, "model"), MpscRing.attach(memory, "model")};
            long claimed = 0;
            long polled = 0;
            long released = 0;
            TreeMap<Long, Long> outstanding = new TreeMap<>(); // position -> payload offset, claimed not published
            int turn = 0;
            for (Op op : ops) {
                switch (op) {
                    case Claim() -> {
                        MpscRing producer = producers[turn++ & 1];
                        long slot = producer.tryClaim();
                        if (claimed - released == capacity) {
                            assertEquals(-1, slot, "claim on a full ring");
                        } else {
                            assertEquals(MpscRing.SLOTS_OFFSET + (claimed % capacity) * 16 + 8, slot);
                            memory.set(ValueLayout.JAVA_LONG, slot, claimed * 7919);
                            outstanding.put(claimed, slot);
                            claimed++;
                        }
                        assertEquals(claimed, producer.producerPosition());
                    }
                    case Publish(int which) -> {
                        if (!outstanding.isEmpty()) {
                            List<Long> positions = new ArrayList<>(outstanding.keySet());
                            long position = positions.get(which % positions.size());
                            producers[which & 1].commit(outstanding.remove(position));
                        }
                    }
                    case Poll() -> {
                        long slot = consumer.poll();
                        boolean ready = polled < claimed && polled - released < capacity
                                && !outstanding.containsKey(polled);
                        if (ready) {
                            assertEquals(polled * 7919, memory.get(ValueLayout.JAVA_LONG, slot));
                            polled++;
                        } else {
                            assertEquals(-1, slot);
                        }
                    }
                    case Release() -> {
                        consumer.release();
                        released = polled;
                        assertEquals(released, consumer.consumerPosition());
                    }
                    case StallCheck() -> {
                        boolean stalled = polled - released < capacity && outstanding.containsKey(polled);
                        assertEquals(stalled ? polled : -1, consumer.stalledSlot(0));
                    }
                    case RestartConsumer() -> {
                        consumer = MpscRing.attach(memory, "model");
                        polled = released;
                    }
                }
                boolean ready = polled < claimed && polled - released < capacity && !outstanding.containsKey(polled);
                assertEquals(ready, consumer.hasWork());
                assertEquals(claimed - released < capacity, producers[0].hasSpace());
            }
        }
    }

    // ------------------------------------------------------------------ concurrent property

    /**
     * Several producer threads and one consumer thread, all idling on doorbells: every message
     * arrives exactly once, and each producer's messages arrive in the order it sent them.
     */
    @Property(tries = 10)
    void concurrentProducersLoseNothingDuplicateNothingAndKeepTheirOwnOrder(
            @ForAll("concurrentCapacities") int capacity, @ForAll @IntRange(min = 2, max = 4) int producerCount,
            @ForAll @IntRange(min = 1_000, max = 30_000) int perProducer, @ForAll boolean batchPublish)
            throws Throwable {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment memory = RingTesting.allocateRing(arena, MpscRing.bytesFor(capacity, 16));
            MpscRing.format(memory, capacity, 16, "concurrent");
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong timeouts = new AtomicLong();
            long[] next = new long[producerCount];
            RingTesting.ThrowingRunnable[] bodies = new RingTesting.ThrowingRunnable[producerCount + 1];
            for (int p = 0; p < producerCount; p++) {
                long id = p;
                bodies[p] = () -> {
                    MpscRing producer = MpscRing.attach(memory, "concurrent");
                    SpinThenBlock idle = new SpinThenBlock(producer.producerDoorbell(), producer::hasSpace, 50,
                            BLOCK_TIMEOUT_NANOS);
                    long seq = 0;
                    while (seq < perProducer && !stop.get()) {
                        long slot = producer.tryClaim();
                        if (slot < 0) {
                            if (batchPublish) {
                                producer.wakeConsumer(); // the contract: wake before idling
                            }
                            idle.idle(0);
                            continue;
                        }
                        memory.set(ValueLayout.JAVA_LONG, slot, id);
                        memory.set(ValueLayout.JAVA_LONG, slot + 8, seq++);
                        if (batchPublish) {
                            producer.publish(slot);
                            if ((seq & 7) == 0 || seq == perProducer) {
                                producer.wakeConsumer();
                            }
                        } else {
                            producer.commit(slot);
                        }
                        idle.idle(1);
                    }
                    timeouts.addAndGet(idle.timeouts());
                };
            }
            bodies[producerCount] = () -> {
                MpscRing consumer = MpscRing.attach(memory, "concurrent");
                SpinThenBlock idle = new SpinThenBlock(consumer.consumerDoorbell(), consumer::hasWork, 50,
                        BLOCK_TIMEOUT_NANOS);
                long total = (long) producerCount * perProducer;
                long received = 0;
                while (received < total && !stop.get()) {
                    int batch = 0;
                    long slot;
                    while (batch < 32 && (slot = consumer.poll()) >= 0) {
                        int id = (int) memory.get(ValueLayout.JAVA_LONG, slot);
                        long seq = memory.get(ValueLayout.JAVA_LONG, slot + 8);
                        if (id < 0 || id >= producerCount || seq != next[id]) {
                            throw new AssertionError("producer " + id + ": expected message " + (id >= 0
                                    && id < producerCount ? next[id] : -1) + " but got " + seq);
                        }
                        next[id]++;
                        batch++;
                        received++;
                    }
                    consumer.release();
                    idle.idle(batch);
                }
                timeouts.addAndGet(idle.timeouts());
            };
            RingTesting.runConcurrently(Duration.ofSeconds(20), stop, bodies);
            for (int p = 0; p < producerCount; p++) {
                assertEquals(perProducer, next[p], "messages from producer " + p);
            }
            assertEquals(0, timeouts.get(), "a doorbell wait timed out although its peer was alive: a lost wake-up");
        }
    }

    @Provide
    Arbitrary<Integer> concurrentCapacities() {
        return RingTesting.powersOfTwo(1, 10);
    }
}

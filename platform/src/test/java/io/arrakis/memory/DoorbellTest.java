package io.arrakis.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class DoorbellTest {
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    @Test
    void ringingWithNobodyWaitingChangesNothing() {
        try (Arena arena = Arena.ofConfined()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            doorbell.ring();
            doorbell.ring();
            assertEquals(0, doorbell.sequence(), "no waiter: no sequence bump, no futex syscall");
        }
    }

    @Test
    void aRingBetweenPrepareAndAwaitMakesAwaitReturnAtOnce() {
        try (Arena arena = Arena.ofConfined()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            int ticket = doorbell.prepareToWait();
            assertEquals(1, doorbell.waiters());
            doorbell.ring();
            long start = System.nanoTime();
            assertTrue(doorbell.await(ticket, 10_000_000_000L));
            assertTrue(System.nanoTime() - start < 5_000_000_000L, "must not sleep for a ring it already got");
            assertEquals(0, doorbell.waiters());
        }
    }

    @Test
    void awaitWithoutARingTimesOutAndWithdrawsTheWaiter() {
        try (Arena arena = Arena.ofConfined()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            assertFalse(doorbell.await(doorbell.prepareToWait(), 10_000_000L));
            assertEquals(0, doorbell.waiters());
            doorbell.prepareToWait();
            doorbell.cancelWait();
            assertEquals(0, doorbell.waiters());
        }
    }

    @Test
    void awaitRefusesToWaitForeverAndWithdrawsTheWaiter() {
        try (Arena arena = Arena.ofConfined()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            int ticket = doorbell.prepareToWait();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> doorbell.await(ticket, 0));
            assertTrue(e.getMessage().contains("positive timeout"), e.getMessage());
            assertEquals(0, doorbell.waiters());
        }
    }

    @Test
    void aDoorbellMustBeNativeAlignedAndInside() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = arena.allocate(64, 8);
            assertThrows(IllegalArgumentException.class, () -> new Doorbell(memory, 2), "misaligned");
            assertThrows(IllegalArgumentException.class, () -> new Doorbell(memory, 60), "past the end");
            assertThrows(IllegalArgumentException.class, () -> new Doorbell(MemorySegment.ofArray(new int[16]), 0));
        }
    }

    @Test
    void aSleepingWaiterIsWokenByARingFromAnotherThread() throws Throwable {
        try (Arena arena = Arena.ofShared()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            AtomicBoolean woken = new AtomicBoolean();
            AtomicBoolean stop = new AtomicBoolean();
            RingTesting.runConcurrently(Duration.ofSeconds(10), stop,
                    () -> woken.set(doorbell.await(doorbell.prepareToWait(), 5_000_000_000L)),
                    () -> {
                        while (doorbell.waiters() == 0 && !stop.get()) {
                            Thread.onSpinWait();
                        }
                        Thread.sleep(20); // let it reach the kernel
                        doorbell.ring();
                    });
            assertTrue(woken.get(), "woken by the ring, not by the 5 s timeout");
        }
    }

    /**
     * Two threads bounce a counter 100,000 times, each publishing its value and ringing the other's
     * doorbell, each idling with a tiny spin budget so most waits go to the futex. A lost wake-up
     * would leave one side asleep until its 2 s timeout: the test counts timeouts and must see none
     * (and the whole run is bounded).
     */
    @Test
    void noWakeUpIsLostOver100kPingPongsWithAShortSpinBudget() throws Throwable {
        int rounds = 100_000;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment memory = arena.allocate(512, 128);
            // ping word at 0, pong word at 128, doorbells at 256 (pinger's) and 384 (ponger's).
            Doorbell pingerBell = new Doorbell(memory, 256);
            Doorbell pongerBell = new Doorbell(memory, 384);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong timeouts = new AtomicLong();
            AtomicLong blocks = new AtomicLong();
            long start = System.nanoTime();
            RingTesting.runConcurrently(Duration.ofSeconds(60), stop, () -> {
                long[] expected = {0};
                SpinThenBlock idle = new SpinThenBlock(pingerBell,
                        () -> (long) LONG.getAcquire(memory, 128L) >= expected[0], 20, 2_000_000_000L);
                for (long i = 1; i <= rounds && !stop.get(); i++) {
                    LONG.setRelease(memory, 0L, i);
                    pongerBell.ring();
                    expected[0] = i;
                    while ((long) LONG.getAcquire(memory, 128L) < i && !stop.get()) {
                        idle.idle(0);
                    }
                    idle.reset();
                }
                timeouts.addAndGet(idle.timeouts());
                blocks.addAndGet(idle.blocks());
            }, () -> {
                long[] expected = {0};
                SpinThenBlock idle = new SpinThenBlock(pongerBell,
                        () -> (long) LONG.getAcquire(memory, 0L) >= expected[0], 20, 2_000_000_000L);
                for (long i = 1; i <= rounds && !stop.get(); i++) {
                    expected[0] = i;
                    while ((long) LONG.getAcquire(memory, 0L) < i && !stop.get()) {
                        idle.idle(0);
                    }
                    idle.reset();
                    LONG.setRelease(memory, 128L, i);
                    pingerBell.ring();
                }
                timeouts.addAndGet(idle.timeouts());
                blocks.addAndGet(idle.blocks());
            });
            long elapsed = System.nanoTime() - start;
            System.out.printf("doorbell ping-pong: %,d round trips in %,d ms (%,d ns each), %,d futex sleeps%n",
                    rounds, elapsed / 1_000_000, elapsed / rounds, blocks.get());
            assertEquals(rounds, (long) LONG.getAcquire(memory, 128L));
            assertEquals(0, timeouts.get(), "a wait timed out although the peer was alive: a lost wake-up");
            assertTrue(blocks.get() > 0, "the test must exercise the sleeping path, not only spinning");
        }
    }
}

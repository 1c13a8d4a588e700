package io.arrakis.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class SpinThenBlockTest {

    @Test
    void spinsForTheBudgetThenBlocksUntilTheTimeout() {
        try (Arena arena = Arena.ofConfined()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            SpinThenBlock idle = new SpinThenBlock(doorbell, () -> false, 3, 5_000_000L);
            for (int i = 0; i < 3; i++) {
                idle.idle(0);
            }
            assertEquals(0, idle.blocks(), "still within the spin budget");
            idle.idle(0);
            assertEquals(1, idle.blocks());
            assertEquals(1, idle.timeouts(), "nobody rang: the dead-peer timeout ended the sleep");
            assertEquals(0, doorbell.waiters());
        }
    }

    @Test
    void workResetsTheSpinBudget() {
        try (Arena arena = Arena.ofConfined()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            SpinThenBlock idle = new SpinThenBlock(doorbell, () -> false, 2, 5_000_000L);
            idle.idle(0);
            idle.idle(0);
            idle.idle(1);
            idle.idle(0);
            idle.idle(0);
            assertEquals(0, idle.blocks());
        }
    }

    @Test
    void workFoundOnTheRecheckCancelsTheSleep() {
        try (Arena arena = Arena.ofConfined()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            SpinThenBlock idle = new SpinThenBlock(doorbell, () -> true, 0, 10_000_000_000L);
            idle.idle(0); // would sleep 10 s if the recheck were ignored
            assertEquals(0, idle.blocks());
            assertEquals(0, doorbell.waiters());
        }
    }

    @Test
    void aWaitWithoutTimeoutOrANegativeBudgetIsRefused() {
        try (Arena arena = Arena.ofConfined()) {
            Doorbell doorbell = new Doorbell(arena.allocate(Doorbell.BYTES, 8), 0);
            assertThrows(IllegalArgumentException.class, () -> new SpinThenBlock(doorbell, () -> false, 10, 0));
            assertThrows(IllegalArgumentException.class, () -> new SpinThenBlock(doorbell, () -> false, -1, 1000));
        }
    }
}

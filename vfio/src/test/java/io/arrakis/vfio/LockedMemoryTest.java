package io.arrakis.vfio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LockedMemoryTest {
    private static final String LIMITS = """
            Limit                     Soft Limit           Hard Limit           Units
            Max open files            1024                 524288               files
            Max locked memory         8388608              8388608              bytes
            Max address space         unlimited            unlimited            bytes
            """;
    private static final String USER = "Name:\tjava\nCapInh:\t0000000000000000\nCapEff:\t0000000000000000\n";
    private static final String ROOT = "Name:\tjava\nCapEff:\t000001ffffffffff\n";

    @Test
    void readsTheSoftLimitAndTheIpcLockCapability() {
        assertEquals(8388608, LockedMemory.softLimit(LIMITS));
        assertEquals(-1, LockedMemory.softLimit("Max locked memory         unlimited            unlimited   bytes\n"));
        assertEquals(-2, LockedMemory.softLimit("nothing here"));
        assertFalse(LockedMemory.hasIpcLock(USER));
        assertTrue(LockedMemory.hasIpcLock(ROOT));
        assertTrue(LockedMemory.hasIpcLock("CapEff:\t0000000000004000\n"));
    }

    @Test
    void aLimitedUserIsToldTheLimitAndHowToRaiseIt() {
        String message = LockedMemory.explain(16 << 20, 4096, LIMITS, USER);
        assertTrue(message.contains("RLIMIT_MEMLOCK, which is 8388608 bytes"), message);
        assertTrue(message.contains("ulimit -l"), message);
        assertTrue(message.contains("CAP_IPC_LOCK"), message);
        assertTrue(message.startsWith("mapping 16777216 bytes for DMA (with 4096 already mapped)"), message);
    }

    @Test
    void withoutALimitTheMessageDoesNotBlameTheLimit() {
        String message = LockedMemory.explain(4096, 0, LIMITS, ROOT);
        assertFalse(message.contains("ulimit"), message);
        assertTrue(message.contains("not limited"), message);
    }
}

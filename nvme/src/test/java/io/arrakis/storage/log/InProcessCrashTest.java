package io.arrakis.storage.log;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.storage.CrashingVsic;
import io.arrakis.storage.TestAreas;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The in-process crash check that the NVMe lab test runs, here on the file and io_uring
 * backends: a fault-injecting VSIC dies at a random write (torn or not), every acknowledged
 * append survives reopening.
 */
class InProcessCrashTest {
    @TempDir
    Path directory;

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyAcknowledgedAppendSurvivesACrashAtARandomWrite() throws Exception {
        for (String backend : TestAreas.BACKENDS) {
            Path image = directory.resolve(backend + ".img");
            String summary = InProcessCrash.run(() -> Stores.vsic(backend, image, 1024), 8, 21);
            System.out.println(backend + ": " + summary);
            assertTrue(summary.contains("all present"));
        }
    }

    /**
     * A crash tears a commit group after its first block: the group's second record starts in
     * that block, behind acknowledged records, so its torn head cannot be erased. Recovery resumes
     * on the next block; the next recovery must read past the torn head to the commits made after
     * it instead of stopping there again (and erasing them as unreachable).
     */
    @Test
    void aRecordTornByACrashDoesNotHideTheCommitsMadeAfterItsRecovery() throws Exception {
        Path image = directory.resolve("torn.img");
        try (LogStore store = Stores.format("file", image, 256)) {
            store.open("a", true).force(true);
        }
        // Each force commits a group of a 100-byte and a 6000-byte append: two blocks, the second
        // record starting mid-block. The third group's write is torn after its first block.
        CrashingVsic crashing = new CrashingVsic(Stores.vsic("file", image, 256), 3, true);
        LogStore doomed = LogStore.open(crashing);
        LogFile file = doomed.open("a", false);
        java.io.ByteArrayOutputStream acknowledged = new java.io.ByteArrayOutputStream();
        try {
            for (int n = 0; n < 10; n++) {
                byte[] small = Stores.pattern(100, n);
                byte[] large = Stores.pattern(6000, 1000 + n);
                file.append(ByteBuffer.wrap(small));
                file.append(ByteBuffer.wrap(large));
                file.force(false);
                acknowledged.write(small);
                acknowledged.write(large);
            }
        } catch (IOException expected) {
            // The crash.
        }
        crashing.close();
        assertTrue(crashing.crashDescription().contains("tearing"), crashing.crashDescription());
        assertEquals(2 * 6100, acknowledged.size());
        byte[] afterFirstRecovery;
        java.io.ByteArrayOutputStream later = new java.io.ByteArrayOutputStream();
        try (LogStore store = Stores.open("file", image, 256)) {
            assertFalse(store.recovery().clean(), "the torn record is found: " + store.recovery());
            LogFile again = store.open("a", false);
            afterFirstRecovery = Stores.readAll(again);
            assertArrayEquals(acknowledged.toByteArray(), java.util.Arrays.copyOf(afterFirstRecovery,
                    acknowledged.size()), "the acknowledged appends survived the crash");
            for (int n = 0; n < 3; n++) {
                byte[] more = Stores.pattern(6000, 2000 + n);
                again.append(ByteBuffer.wrap(more));
                again.force(false);
                later.write(more);
            }
        }
        try (LogStore store = Stores.open("file", image, 256)) {
            byte[] content = Stores.readAll(store.open("a", false));
            byte[] expected = java.util.Arrays.copyOf(afterFirstRecovery, afterFirstRecovery.length + later.size());
            System.arraycopy(later.toByteArray(), 0, expected, afterFirstRecovery.length, later.size());
            assertArrayEquals(expected, content, "what was forced after the first recovery survives the second ("
                    + store.recovery() + ")");
        }
    }
}

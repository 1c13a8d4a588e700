package io.arrakis.storage;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.storage.log.LogStore;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The log store's SIGKILL test (LogStoreCrashTest) for the persistent log: a child appends and
 * forces from three threads (and trims), and is killed at a random moment; after each kill every
 * acknowledged record not trimmed is present at its position with its bytes, every record
 * iterated is whole, and positions run without gaps. Backends alternate on one image.
 */
class PersistentLogCrashTest {
    /** 4 MiB: regions of 2 MiB, which the trimmed segments fill every few runs, so kills land in checkpoints too. */
    private static final long BLOCKS = 1024;
    private static final int THREADS = 3;

    @TempDir
    Path directory;

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyForcedRecordSurvivesSigkill() throws Exception {
        crashRepeatedly(20, 21);
    }

    @Test
    @Tag("long")
    @Timeout(value = 1800, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyForcedRecordSurvivesSigkillTwoHundredTimes() throws Exception {
        crashRepeatedly(200, 22);
    }

    private void crashRepeatedly(int runs, long seed) throws Exception {
        Random random = new Random(seed);
        Path image = directory.resolve("vsa.img");
        PersistentLogs.format("file", image, BLOCKS).close();
        Map<Long, int[]> acknowledged = new HashMap<>();
        long totalAcks = 0;
        long firstGeneration = -1;
        long lastGeneration = -1;
        for (int run = 0; run < runs; run++) {
            String backend = run % 2 == 0 ? "io_uring" : "file";
            List<String> lines = KilledWriter.runThenKill(javaCommand(backend, image), "RECOVERED", random,
                    "run " + run + " (" + backend + ")");
            for (String line : lines) {
                if (line.startsWith("ACK ")) {
                    String[] parts = line.split(" ");
                    totalAcks++;
                    acknowledged.put(Long.parseLong(parts[1]),
                            new int[] {Integer.parseInt(parts[2]), Integer.parseInt(parts[3])});
                } else if (!line.startsWith("RECOVERED")) {
                    throw new AssertionError("run " + run + " (" + backend + "): the writer said " + line);
                }
            }
            try (LogStore store = PersistentLogs.open(run % 2 == 0 ? "file" : "io_uring", image, BLOCKS);
                    PersistentLog log = PersistentLog.open(store, PersistentLogCrashWriter.LOG,
                            PersistentLogCrashWriter.SEGMENT)) {
                lastGeneration = store.recovery().generation();
                if (firstGeneration < 0) {
                    firstGeneration = lastGeneration;
                }
                Map<Long, int[]> present = new HashMap<>();
                long expectNext = -1;
                for (PersistentLog.Entry entry : PersistentLogs.all(log, 0)) {
                    if (expectNext >= 0 && entry.position() != expectNext) {
                        throw new AssertionError("run " + run + ": gap before record " + entry.position());
                    }
                    present.put(entry.position(), PersistentLogCrashWriter.decode(entry));
                    expectNext = entry.next();
                }
                long trim = log.trimPosition();
                for (var ack : acknowledged.entrySet()) {
                    if (ack.getKey() < trim) {
                        continue;
                    }
                    int[] found = present.get(ack.getKey());
                    if (found == null || found[0] != ack.getValue()[0] || found[1] != ack.getValue()[1]) {
                        throw new AssertionError("run " + run + " (" + backend + "): record " + ack.getValue()[1]
                                + " of thread " + ack.getValue()[0] + " was acknowledged at position " + ack.getKey()
                                + " but is " + (found == null ? "missing" : "another record") + " after recovery ("
                                + log + "; " + store.recovery() + ")");
                    }
                }
                acknowledged.keySet().removeIf(position -> position < trim);
            }
        }
        System.out.printf("%d SIGKILLs, %d acknowledged records (%d of them untrimmed at the end, all present);"
                + " %d checkpoints%n", runs, totalAcks, acknowledged.size(), lastGeneration - firstGeneration);
        assertTrue(totalAcks > runs, "the writers made progress: " + totalAcks + " acknowledged records");
    }

    private static List<String> javaCommand(String backend, Path image) {
        String java = ProcessHandle.current().info().command().orElse("java");
        return List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), PersistentLogCrashWriter.class.getName(), backend,
                image.toString(), String.valueOf(BLOCKS), String.valueOf(THREADS));
    }
}

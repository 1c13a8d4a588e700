package io.arrakis.storage.log;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.storage.KilledWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A child JVM appends and forces from several threads and is killed with SIGKILL at a random
 * moment; after each kill, every record whose force returned is present and intact, and nothing
 * after the last record is half-written. Backends alternate between runs on the same VSA image.
 */
class LogStoreCrashTest {
    /** 4 MiB: regions of 2 MiB, which the writers' rotated files fill every few runs, so kills land in compactions too. */
    private static final long BLOCKS = 1024;
    private static final int THREADS = 3;

    @TempDir
    Path directory;

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyForcedAppendSurvivesSigkill() throws Exception {
        crashRepeatedly(20, 11);
    }

    @Test
    @Tag("long")
    @Timeout(value = 1800, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyForcedAppendSurvivesSigkillTwoHundredTimes() throws Exception {
        crashRepeatedly(200, 12);
    }

    private void crashRepeatedly(int runs, long seed) throws Exception {
        Random random = new Random(seed);
        Path image = directory.resolve("vsa.img");
        long firstGeneration;
        try (LogStore store = Stores.format("file", image, BLOCKS)) {
            firstGeneration = store.recovery().generation();
        }
        // Per writer, the newest acknowledged (epoch, record).
        int[] ackedEpoch = new int[THREADS];
        int[] acknowledged = new int[THREADS];
        Arrays.fill(ackedEpoch, -1);
        Arrays.fill(acknowledged, -1);
        long totalAcks = 0;
        int uncleanRecoveries = 0;
        for (int run = 0; run < runs; run++) {
            String backend = run % 2 == 0 ? "io_uring" : "file";
            List<String> lines = KilledWriter.runThenKill(javaCommand(backend, image), "RECOVERED", random,
                    "run " + run + " (" + backend + ")");
            int acksThisRun = 0;
            for (String line : lines) {
                if (line.startsWith("ACK ")) {
                    String[] parts = line.split(" ");
                    int thread = Integer.parseInt(parts[1]);
                    int epoch = Integer.parseInt(parts[2]);
                    int record = Integer.parseInt(parts[3]);
                    if (epoch > ackedEpoch[thread] || (epoch == ackedEpoch[thread] && record > acknowledged[thread])) {
                        ackedEpoch[thread] = epoch;
                        acknowledged[thread] = record;
                    }
                    acksThisRun++;
                } else if (!line.startsWith("RECOVERED")) {
                    throw new AssertionError("run " + run + " (" + backend + "): the writer said " + line);
                }
            }
            totalAcks += acksThisRun;
            try (LogStore store = Stores.open(run % 2 == 0 ? "file" : "io_uring", image, BLOCKS)) {
                if (!store.recovery().clean()) {
                    uncleanRecoveries++;
                }
                for (String name : store.list()) {
                    // Every file, of any epoch, holds whole, correct records only.
                    CrashWriter.countRecords(Integer.parseInt(name.substring(1, name.indexOf('-'))),
                            Stores.readAll(store.open(name, false)));
                }
                for (int t = 0; t < THREADS; t++) {
                    if (ackedEpoch[t] < 0) {
                        continue;
                    }
                    int latest = CrashWriter.latestEpoch(store, t);
                    if (latest > ackedEpoch[t]) {
                        continue; // the writer moved on to a new file (durably) after its last acknowledgement
                    }
                    String name = CrashWriter.fileName(t, ackedEpoch[t]);
                    int present = store.exists(name)
                            ? CrashWriter.countRecords(t, Stores.readAll(store.open(name, false))) : -1;
                    if (present <= acknowledged[t]) {
                        throw new AssertionError("run " + run + " (" + backend + "): writer " + t + " had record "
                                + acknowledged[t] + " of " + name + " acknowledged, but "
                                + (present < 0 ? "the file is gone" : "only " + present + " records survived")
                                + "; recovery " + store.recovery());
                    }
                }
            }
        }
        long generations;
        try (LogStore store = Stores.open("file", image, BLOCKS)) {
            generations = store.recovery().generation() - firstGeneration;
        }
        System.out.printf("%d SIGKILLs, %d acknowledged appends, all present; %d recoveries found a torn or unreachable"
                + " tail; %d checkpoints%n", runs, totalAcks, uncleanRecoveries, generations);
        assertTrue(totalAcks > runs, "the writers made progress: " + totalAcks + " acknowledged appends");
    }

    private static List<String> javaCommand(String backend, Path image) {
        String java = ProcessHandle.current().info().command().orElse("java");
        return List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), CrashWriter.class.getName(), backend, image.toString(),
                String.valueOf(BLOCKS), String.valueOf(THREADS));
    }
}

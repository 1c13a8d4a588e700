package io.arrakis.storage;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.storage.log.LogStore;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
            Process child = new ProcessBuilder(javaCommand(backend, image)).redirectErrorStream(true).start();
            List<String> lines = new ArrayList<>();
            Thread reader = Thread.ofPlatform().start(() -> {
                try (BufferedReader in = new BufferedReader(
                        new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        synchronized (lines) {
                            lines.add(line);
                        }
                    }
                } catch (IOException ignored) {
                    // the child died: its output ends here
                }
            });
            try {
                awaitLine(lines, "RECOVERED", child);
                Thread.sleep(20 + random.nextInt(300));
                if (!child.isAlive()) {
                    reader.join(10_000);
                    throw new AssertionError("run " + run + " (" + backend + "): the writer died by itself with status "
                            + child.exitValue() + ": " + tail(lines));
                }
                kill(child.pid());
            } finally {
                child.destroyForcibly();
                child.waitFor(10, TimeUnit.SECONDS);
                reader.join(10_000);
            }
            synchronized (lines) {
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

    private static void awaitLine(List<String> lines, String prefix, Process child) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            synchronized (lines) {
                if (lines.stream().anyMatch(l -> l.startsWith(prefix))) {
                    return;
                }
            }
            if (!child.isAlive()) {
                throw new AssertionError("the writer exited with " + child.exitValue() + ": " + tail(lines));
            }
            Thread.sleep(5);
        }
        throw new AssertionError("the writer did not start within 20 s: " + tail(lines));
    }

    private static String tail(List<String> lines) {
        synchronized (lines) {
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        }
    }

    /** SIGKILL by the child's own PID. */
    private static void kill(long pid) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-KILL", String.valueOf(pid)).redirectErrorStream(true).start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IOException("kill -KILL " + pid + " failed: " + new String(kill.getInputStream().readAllBytes()));
        }
    }
}

package io.arrakis.storage.fs;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Child JVMs append checksummed records through our {@code FileChannel} and force each one,
 * printing its sequence number once {@code force} returned, and are SIGKILLed at random moments.
 * After every kill, each writer's file holds consecutive intact records, ends exactly after the
 * last one (nothing half-written), and includes the last acknowledged record (unless the writer
 * had started truncating its file since).
 *
 * <p>To fit 200 kills in about a minute on two cores, the JVM start-up is overlapped: the next
 * child is started while the current one writes, and waits for the VSA (the current child holds
 * its lock until the kernel drops it at the kill); it then checks the files itself and prints
 * {@code STATE}, which this test compares with what the killed child acknowledged. Backends
 * alternate ({@code io_uring}, {@code file}) on the same image; the 4 MiB VSA makes the store
 * compact every few children, so kills land in checkpoints too.
 */
class FileChannelCrashTest {
    private static final long VSA_BYTES = 4L << 20;
    private static final int THREADS = 2;

    @TempDir
    Path directory;

    @Test
    @Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyForcedAppendSurvivesTwoHundredSigkills() throws Exception {
        crashRepeatedly(200, 21);
    }

    @Test
    @Tag("long")
    @Timeout(value = 3600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyForcedAppendSurvivesTwoThousandSigkills() throws Exception {
        crashRepeatedly(2000, 22);
    }

    /** One child JVM and its output, read to its end by a thread of its own. */
    private static final class Child {
        final Process process;
        final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final List<String> all = new ArrayList<>();
        final Thread reader;
        /** Why reading its output failed, or null: then lines may be missing and nothing can be checked. */
        volatile IOException readFailure;

        Child(Process process) {
            this.process = process;
            this.reader = Thread.ofPlatform().daemon().start(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        lines.add(line);
                    }
                } catch (IOException e) {
                    readFailure = e;
                }
            });
        }

        /** Lines up to and including the first that starts with {@code prefix}. */
        List<String> until(String prefix) throws InterruptedException {
            List<String> taken = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline) {
                String line = lines.poll(50, TimeUnit.MILLISECONDS);
                if (line == null) {
                    if (!process.isAlive() && lines.isEmpty()) {
                        break;
                    }
                    continue;
                }
                taken.add(line);
                all.add(line);
                if (line.startsWith(prefix)) {
                    return taken;
                }
            }
            throw new AssertionError("child " + process.pid() + " did not say " + prefix + " (alive "
                    + process.isAlive() + "): " + String.join("\n", all));
        }

        /**
         * Everything it said, after it died: the pipe keeps what it wrote, so the reader reaches
         * the end of it. A reader that does not, or fails, would leave acknowledgements unseen, and
         * the next child's files would look newer than what was acknowledged: that fails here.
         */
        List<String> rest() throws InterruptedException {
            reader.join(60_000);
            if (reader.isAlive() || readFailure != null) {
                throw new AssertionError("the output of killed child " + process.pid() + " could not be read to its end ("
                        + (readFailure != null ? readFailure : "still open 60 s after the kill")
                        + "); without it the acknowledgements cannot be checked");
            }
            List<String> taken = new ArrayList<>();
            lines.drainTo(taken);
            all.addAll(taken);
            return taken;
        }

        void kill() throws InterruptedException {
            // SIGKILL by its own PID through ProcessHandle, not Process.destroyForcibly: that one
            // also closes our end of the child's output pipe at once, throwing away every line the
            // reader had not read yet. Under load the reader lags by tens of lines (ACKs, a
            // RESETTING), and the next child's files then held records newer than the last
            // acknowledgement this test had seen.
            process.toHandle().destroyForcibly();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new AssertionError("child " + process.pid() + " survived SIGKILL");
            }
        }
    }

    private void crashRepeatedly(int kills, long seed) throws Exception {
        Random random = new Random(seed);
        Path mount = Files.createDirectories(directory.resolve("mnt"));
        Path image = directory.resolve("vsa.img");
        long[] acknowledged = new long[THREADS];
        boolean[] truncating = new boolean[THREADS];
        java.util.Arrays.fill(acknowledged, -1);
        long totalAcks = 0;
        int resets = 0;
        Child current = start(mount, image, 0);
        Child next = null;
        try {
            current.until("BOOTED");
            for (int run = 0; run < kills; run++) {
                checkStates(run, current.until("RECOVERED"), acknowledged, truncating);
                next = start(mount, image, run + 1);
                next.until("BOOTED"); // the next JVM is up and waits for the VSA
                Thread.sleep(random.nextInt(40));
                current.kill();
                List<String> said = new ArrayList<>(current.rest());
                for (String line : said) {
                    String[] parts = line.split(" ");
                    switch (parts[0]) {
                        case "ACK" -> {
                            int t = Integer.parseInt(parts[1]);
                            acknowledged[t] = Long.parseLong(parts[2]);
                            truncating[t] = false;
                            totalAcks++;
                        }
                        case "RESETTING" -> {
                            truncating[Integer.parseInt(parts[1])] = true;
                            resets++;
                        }
                        default -> throw new AssertionError("run " + run + ": the writer said " + line);
                    }
                }
                current = next;
                next = null;
            }
            checkStates(kills, current.until("RECOVERED"), acknowledged, truncating);
        } finally {
            for (Child child : new Child[] {current, next}) {
                if (child != null) {
                    child.kill();
                }
            }
        }
        System.out.printf("%d SIGKILLs through FileChannel: %d acknowledged appends, all present; %d truncations%n",
                kills, totalAcks, resets);
        assertTrue(totalAcks > kills, "the writers made progress: " + totalAcks + " acknowledged appends");
    }

    private static void checkStates(int run, List<String> lines, long[] acknowledged, boolean[] truncating) {
        for (String line : lines) {
            if (!line.startsWith("STATE ")) {
                continue;
            }
            String[] parts = line.split(" ", 3);
            int t = Integer.parseInt(parts[1]);
            ChannelCrashWriter.State state = ChannelCrashWriter.State.parse(parts[2]);
            String context = "after kill " + run + ", writer " + t + " (last acknowledged " + acknowledged[t]
                    + (truncating[t] ? ", truncating since" : "") + "): file holds " + state + "\n"
                    + String.join("\n", lines);
            assertTrue(state.clean(), "half-written or damaged: " + context);
            if (acknowledged[t] >= 0 && !truncating[t]) {
                assertTrue(state.first() <= acknowledged[t] && acknowledged[t] <= state.last(),
                        "an acknowledged record is missing: " + context);
            }
        }
    }

    private Child start(Path mount, Path image, int run) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        String backend = run % 2 == 0 ? "io_uring" : "file";
        List<String> command = List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Xshare:auto", "-Xmx64m", "-cp",
                System.getProperty("java.class.path"), ChannelCrashWriter.class.getName(), mount.toString(),
                image.toString(), backend, String.valueOf(VSA_BYTES), String.valueOf(THREADS));
        return new Child(new ProcessBuilder(command).redirectErrorStream(true).start());
    }
}

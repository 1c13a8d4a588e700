package io.arrakis.storage;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The crash tests' way to kill a writer: a child JVM started from {@code command} recovers its
 * storage, says so on a line starting with a ready prefix, writes and acknowledges for a random
 * 20–320 ms, and is then killed with SIGKILL by its own PID wherever it is. Returns every line it
 * printed, to be checked against the storage after recovery. Each call is independent.
 */
public final class KilledWriter {
    private KilledWriter() {}

    /**
     * Runs one writer to its SIGKILL; {@code label} names the run in failures. Fails if it exits by
     * itself, or does not get ready within 20 s.
     */
    public static List<String> runThenKill(List<String> command, String readyPrefix, Random random, String label)
            throws IOException, InterruptedException {
        Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
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
            awaitLine(lines, readyPrefix, child);
            Thread.sleep(20 + random.nextInt(300));
            if (!child.isAlive()) {
                reader.join(10_000);
                throw new AssertionError(label + ": the writer died by itself with status " + child.exitValue() + ": "
                        + tail(lines));
            }
            kill(child.pid());
        } finally {
            // ProcessHandle's destroyForcibly, not Process's: that one also closes our end of the
            // child's output pipe at once, throwing away the lines the reader had not read yet
            // (acknowledgements, under load), so the check would run against stale ones.
            child.toHandle().destroyForcibly();
            child.waitFor(10, TimeUnit.SECONDS);
            reader.join(60_000);
        }
        if (reader.isAlive()) {
            throw new AssertionError(label + ": the killed writer's output did not end within 60 s; without all of it"
                    + " its acknowledgements cannot be checked: " + tail(lines));
        }
        synchronized (lines) {
            return List.copyOf(lines);
        }
    }

    /** The last 20 lines, for failure messages. */
    public static String tail(List<String> lines) {
        synchronized (lines) {
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        }
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

    /** SIGKILL by the child's own PID. */
    private static void kill(long pid) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-KILL", String.valueOf(pid)).redirectErrorStream(true).start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IOException("kill -KILL " + pid + " failed: " + new String(kill.getInputStream().readAllBytes()));
        }
    }
}

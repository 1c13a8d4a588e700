package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A child JVM running {@link ShmPeer}, started with this JVM's java binary and class path. Its
 * output lines are collected by a reader thread; commands go to its standard input. Every wait
 * is bounded, and {@link #close()} ends it by its own pid whatever state it is in.
 */
final class Child implements AutoCloseable {
    private final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final StringBuffer transcript = new StringBuffer();
    private final OutputStream input;
    private final Thread reader;

    private Child(Process process) {
        this.process = process;
        this.input = process.getOutputStream();
        this.reader = Thread.ofPlatform().name("child-" + process.pid()).daemon().start(this::read);
    }

    static Child start(String... args) throws IOException {
        return startMain(ShmPeer.class.getName(), args);
    }

    /** A child JVM running {@code mainClass} from this JVM's class path. */
    static Child startMain(String mainClass, String... args) throws IOException {
        String java = ProcessHandle.current().info().command()
                .orElseThrow(() -> new IllegalStateException("cannot tell which java binary runs this test"));
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-Xmx96m", "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"), mainClass));
        command.addAll(List.of(args));
        return new Child(new ProcessBuilder(command).redirectErrorStream(true).start());
    }

    private void read() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                transcript.append(line).append('\n');
                lines.add(line);
            }
        } catch (IOException e) {
            transcript.append("(output unreadable: ").append(e).append(")\n");
        }
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Waits for the next line starting with {@code prefix} (skipping others); fails the test at the deadline. */
    String awaitLine(String prefix, Duration patience) throws InterruptedException {
        long deadline = System.nanoTime() + patience.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            String line = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
            if (line == null) {
                fail("child " + pid() + (process.isAlive() ? " is still running" : " exited") + " without printing \""
                        + prefix + "...\" within " + patience + "; it said:\n" + transcript);
            }
            if (line.startsWith(prefix)) {
                return line;
            }
        }
    }

    /** The value of {@code key=value} in a line. */
    static String field(String line, String key) {
        for (String part : line.split(" ")) {
            if (part.startsWith(key + "=")) {
                return part.substring(key.length() + 1);
            }
        }
        throw new IllegalArgumentException("no " + key + "= in \"" + line + "\"");
    }

    void send(String command) throws IOException {
        input.write((command + "\n").getBytes(StandardCharsets.UTF_8));
        input.flush();
    }

    String transcript() {
        return transcript.toString();
    }

    /** SIGTERM by pid (shutdown hooks run); returns the exit code, or -1 if it did not exit within 10 s. */
    int terminate() throws InterruptedException {
        process.destroy();
        return process.waitFor(10, TimeUnit.SECONDS) ? process.exitValue() : -1;
    }

    /** SIGKILL by pid, and reap it (bounded). */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    /** Asks it to quit (closes its input), waits briefly, then kills it by pid if it is still there. */
    @Override
    public void close() {
        try {
            input.close();
        } catch (IOException ignored) {
            // It is gone already.
        }
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
            reader.join(2000);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}

package io.arrakis.cli;

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
 * A child JVM running {@link OpsPeer} with this JVM's java and class path: its output lines are
 * collected by a reader thread, commands go to its standard input, every wait is bounded, and
 * {@link #close()} ends it by its own pid whatever state it is in.
 */
final class PeerProcess implements AutoCloseable {
    private final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final StringBuffer transcript = new StringBuffer();
    private final OutputStream input;
    private final Thread reader;

    private PeerProcess(Process process) {
        this.process = process;
        this.input = process.getOutputStream();
        this.reader = Thread.ofPlatform().name("peer-" + process.pid()).daemon().start(this::read);
    }

    /** {@code jvmOptions} go before the main class (a JFR recording, say). */
    static PeerProcess start(List<String> jvmOptions, String... args) throws IOException {
        String java = ProcessHandle.current().info().command()
                .orElseThrow(() -> new IllegalStateException("cannot tell which java binary runs this test"));
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-Xmx96m", "-cp", System.getProperty("java.class.path")));
        command.addAll(jvmOptions);
        command.add(OpsPeer.class.getName());
        command.addAll(List.of(args));
        return new PeerProcess(new ProcessBuilder(command).redirectErrorStream(true).start());
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

    /** Waits for the next line starting with {@code prefix}; fails the test at the deadline. */
    String awaitLine(String prefix, Duration patience) throws InterruptedException {
        long deadline = System.nanoTime() + patience.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            String line = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
            if (line == null) {
                fail("peer " + pid() + (process.isAlive() ? " is still running" : " exited") + " without printing \""
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

    /** Closes its input (it quits) and waits for it to exit; returns its exit status, -1 if it had to be killed. */
    int quit() throws InterruptedException {
        try {
            input.close();
        } catch (IOException ignored) {
            // gone already
        }
        if (process.waitFor(10, TimeUnit.SECONDS)) {
            return process.exitValue();
        }
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
        return -1;
    }

    String transcript() {
        return transcript.toString();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            quit();
        }
        reader.join(2000);
    }
}

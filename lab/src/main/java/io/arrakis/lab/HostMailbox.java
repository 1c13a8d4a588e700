package io.arrakis.lab;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * The guest side of the lab's host mailbox: runs a shell command line on the host, inside the
 * lab's network namespace (where the TAP device with {@code 198.18.90.1} lives and {@code ping},
 * {@code redis-cli}, {@code redis-benchmark} are installed), and returns its exit code and output.
 *
 * <p>Protocol (docs/lab.md): write {@code <shared>/host/<id>.cmd} (through {@code <id>.tmp} and a
 * rename, so the host never reads half a command); the host runs it with a 120 s timeout and writes
 * {@code <id>.out} (stdout and stderr) then {@code <id>.rc} (the exit code, last). Thread-safe: each
 * call uses its own id.
 */
public final class HostMailbox {
    /** The system property naming the directory shared read-write with the host. */
    public static final String SHARED_PROPERTY = "arrakis.lab.shared";
    private static final Pattern ID = Pattern.compile("[a-z0-9-]+");
    private static final AtomicLong SEQUENCE = new AtomicLong();

    private final Path box;

    /** What the host's command did. */
    public record Result(int exitCode, String output) {}

    public HostMailbox(Path shared) {
        this.box = shared.resolve("host");
    }

    /** The mailbox of this lab run, or {@code null} outside the lab (the property is absent). */
    public static HostMailbox fromSystemProperties() {
        String shared = System.getProperty(SHARED_PROPERTY);
        return shared == null ? null : new HostMailbox(Path.of(shared));
    }

    /**
     * Runs {@code commandLine} on the host and waits at most {@code timeout} for its exit code
     * (the host gives up on a command after 120 s and reports exit code 124).
     *
     * @throws IOException when the host does not answer in time (the message names the command)
     */
    public Result run(String commandLine, Duration timeout) throws IOException, InterruptedException {
        return run("cmd-" + ProcessHandle.current().pid() + "-" + SEQUENCE.incrementAndGet(), commandLine, timeout);
    }

    /** {@link #run(String, Duration)} with a chosen id ({@code [a-z0-9-]+}, unique within the run). */
    public Result run(String id, String commandLine, Duration timeout) throws IOException, InterruptedException {
        if (!ID.matcher(id).matches()) {
            throw new IllegalArgumentException("mailbox id \"" + id + "\" must match [a-z0-9-]+");
        }
        Files.createDirectories(box);
        Path temporary = box.resolve(id + ".tmp");
        Files.writeString(temporary, commandLine + "\n", StandardCharsets.UTF_8);
        Files.move(temporary, box.resolve(id + ".cmd"), StandardCopyOption.ATOMIC_MOVE);
        Path rc = box.resolve(id + ".rc");
        long deadline = System.nanoTime() + timeout.toNanos();
        long pauseMillis = 20;
        while (!Files.exists(rc)) {
            if (System.nanoTime() - deadline > 0) {
                throw new IOException("the lab host did not answer mailbox command " + id + " (\"" + commandLine
                        + "\") within " + timeout + "; is ./dev lab's mailbox server running?");
            }
            Thread.sleep(pauseMillis);
            pauseMillis = Math.min(pauseMillis * 2, 200);
        }
        int exitCode = Integer.parseInt(Files.readString(rc).trim());
        Path out = box.resolve(id + ".out");
        String output = Files.exists(out) ? Files.readString(out, StandardCharsets.UTF_8) : "";
        return new Result(exitCode, output);
    }
}

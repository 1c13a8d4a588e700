package io.arrakis.bench.shm;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * An {@link EchoPeer} in a second JVM (this JVM's java binary and class path): waits for its
 * {@code READY} line, and stops it by closing its input, or by its own pid if it does not exit.
 * Not thread-safe.
 */
final class EchoPeerProcess implements AutoCloseable {
    private static final long READY_PATIENCE_SECONDS = 30;

    private final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final StringBuffer transcript = new StringBuffer();
    private final String readyLine;

    private EchoPeerProcess(Process process) throws IOException {
        this.process = process;
        Thread.ofPlatform().daemon().name("echo-peer-" + process.pid()).start(this::read);
        this.readyLine = awaitReady();
    }

    static EchoPeerProcess start(String... args) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-Xmx256m", "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"), EchoPeer.class.getName()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            return new EchoPeerProcess(process);
        } catch (IOException | RuntimeException e) {
            process.destroyForcibly();
            throw e;
        }
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

    private String awaitReady() throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(READY_PATIENCE_SECONDS);
        try {
            while (true) {
                long left = deadline - System.nanoTime();
                String line = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
                if (line == null) {
                    throw new IOException("echo peer " + process.pid() + (process.isAlive() ? " is running but" : " exited")
                            + " did not say READY within " + READY_PATIENCE_SECONDS + " s; it said:\n" + transcript);
                }
                if (line.startsWith("READY")) {
                    return line;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for echo peer " + process.pid(), e);
        }
    }

    /** The value of {@code key=value} in the READY line. */
    String field(String key) {
        for (String part : readyLine.split(" ")) {
            if (part.startsWith(key + "=")) {
                return part.substring(key.length() + 1);
            }
        }
        throw new IllegalStateException("echo peer's READY line has no " + key + "=: " + readyLine);
    }

    /** Throws if the peer died (so a round trip does not wait for an echo that cannot come). */
    void checkAlive() throws IOException {
        if (!process.isAlive()) {
            throw new IOException("echo peer " + process.pid() + " exited with status " + process.exitValue()
                    + "; it said:\n" + transcript);
        }
    }

    @Override
    public void close() {
        try {
            process.getOutputStream().close();
        } catch (IOException ignored) {
            // It is gone already.
        }
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}

package io.arrakis.bench.ipc;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A peer JVM running one of our peer mains, started with this JVM's java binary and class path,
 * and ended by its own PID if it does not stop by itself. Not thread-safe.
 */
final class PeerProcess implements AutoCloseable {
    private final Process process;

    private PeerProcess(Process process) {
        this.process = process;
    }

    static PeerProcess start(Class<?> main, String... args) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "-XX:+UseSerialGC", "-Xmx256m", "-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.INHERIT).start();
        return new PeerProcess(process);
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Waits up to {@code seconds} for the peer to exit by itself, then kills it; returns its exit code. */
    int awaitExit(long seconds) throws IOException {
        try {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
                throw new IOException("peer " + process.pid() + " did not stop within " + seconds + " s; killed it");
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for peer " + process.pid(), e);
        }
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
        }
    }
}

package io.arrakis.stack.interop;

import io.arrakis.testing.NetworkNamespace;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * {@link LinuxUdpPeer} running in a network namespace ({@code ip netns exec <ns> java ...}) with
 * the JDK of this JVM: its stdout lines are collected so a test can wait for one, boundedly.
 * Closing it closes the peer's stdin (it exits at once then) and, if it is still alive after a
 * moment, ends it and whatever it started, each by PID.
 */
final class PeerProcess implements AutoCloseable {
    private static final Duration GRACE = Duration.ofSeconds(2);
    private static final String END = "\u0000end";

    private final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<String> transcript = new ArrayList<>();
    private final StringBuilder errors = new StringBuilder();

    private PeerProcess(Process process) {
        this.process = process;
        Thread.ofPlatform().daemon().name("peer-stdout-" + process.pid()).start(() -> {
            try (BufferedReader out = process.inputReader(StandardCharsets.UTF_8)) {
                for (String line; (line = out.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (IOException ignored) {
                // The process is gone; END below says so.
            } finally {
                lines.add(END);
            }
        });
        Thread.ofPlatform().daemon().name("peer-stderr-" + process.pid()).start(() -> {
            try (BufferedReader err = new BufferedReader(new InputStreamReader(process.getErrorStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = err.readLine()) != null; ) {
                    synchronized (errors) {
                        errors.append(line).append('\n');
                    }
                }
            } catch (IOException ignored) {
                // Only diagnostics.
            }
        });
    }

    /** Starts {@code LinuxUdpPeer args...} inside {@code namespace} and waits for its {@code ready} line. */
    static PeerProcess start(NetworkNamespace namespace, Duration patience, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", namespace.name(),
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m", "-Xshare:auto",
                "-cp", classpath(), LinuxUdpPeer.class.getName()));
        command.addAll(List.of(args));
        PeerProcess peer = new PeerProcess(new ProcessBuilder(command).start());
        try {
            peer.expect("ready", patience);
        } catch (RuntimeException | Error e) {
            peer.close();
            throw e;
        }
        return peer;
    }

    /**
     * Starts {@code main args...} (a plain-JDK class of the test classes, such as
     * {@link LinuxTcpPeer}) inside {@code namespace} with the JVM options {@code jvmOptions}, and
     * waits for its {@code ready} line.
     */
    static PeerProcess start(NetworkNamespace namespace, Duration patience, List<String> jvmOptions, Class<?> main,
            String... args) throws IOException {
        return start(namespace, -1, patience, jvmOptions, main, args);
    }

    /**
     * As {@link #start(NetworkNamespace, Duration, List, Class, String...)}, the whole JVM pinned to
     * CPU {@code cpu} ({@code taskset}; -1: not pinned), so that transmit-queue selection by CPU
     * (XPS) puts its frames on a chosen queue.
     */
    static PeerProcess start(NetworkNamespace namespace, int cpu, Duration patience, List<String> jvmOptions,
            Class<?> main, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", namespace.name()));
        if (cpu >= 0) {
            command.addAll(List.of("taskset", "-c", Integer.toString(cpu)));
        }
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", classpath(), main.getName()));
        command.addAll(List.of(args));
        PeerProcess peer = new PeerProcess(new ProcessBuilder(command).start());
        try {
            peer.expect("ready", patience);
        } catch (RuntimeException | Error e) {
            peer.close();
            throw e;
        }
        return peer;
    }

    /** The test classes directory (the peer needs nothing else: it is plain JDK). */
    private static String classpath() {
        try {
            return Path.of(LinuxUdpPeer.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Waits up to {@code patience} for the next line that starts with {@code prefix}, skipping
     * others; returns it. Fails with the transcript if none comes or the peer ends first.
     */
    String expect(String prefix, Duration patience) {
        long deadline = System.nanoTime() + patience.toNanos();
        try {
            while (true) {
                long left = deadline - System.nanoTime();
                String line = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
                if (line == null || line.equals(END)) {
                    if (line != null) {
                        lines.add(END);
                    }
                    throw new AssertionError((line == null ? "no line starting '" + prefix + "' from the Linux peer within "
                            + patience : "the Linux peer ended before saying '" + prefix + "'") + "; " + describe());
                }
                synchronized (transcript) {
                    transcript.add(line);
                }
                if (line.startsWith(prefix)) {
                    return line;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted waiting for the Linux peer", e);
        }
    }

    /**
     * Waits up to {@code patience} (in all) until a line starting with each of {@code prefixes}
     * has come, in any order, skipping others; returns them in the order of {@code prefixes}.
     */
    List<String> expectAll(Duration patience, String... prefixes) {
        long deadline = System.nanoTime() + patience.toNanos();
        String[] found = new String[prefixes.length];
        int missing = prefixes.length;
        try {
            while (missing > 0) {
                long left = deadline - System.nanoTime();
                String line = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
                if (line == null || line.equals(END)) {
                    if (line != null) {
                        lines.add(END);
                    }
                    throw new AssertionError((line == null ? "not all of " + List.of(prefixes)
                            + " from the Linux peer within " + patience : "the Linux peer ended before saying all of "
                            + List.of(prefixes)) + "; " + describe());
                }
                synchronized (transcript) {
                    transcript.add(line);
                }
                for (int i = 0; i < prefixes.length; i++) {
                    if (found[i] == null && line.startsWith(prefixes[i])) {
                        found[i] = line;
                        missing--;
                        break;
                    }
                }
            }
            return List.of(found);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted waiting for the Linux peer", e);
        }
    }

    /** Waits (bounded) for the peer to exit by itself; returns its exit code. */
    int awaitExit(Duration patience) {
        try {
            if (!process.waitFor(patience.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new AssertionError("the Linux peer did not exit within " + patience + "; " + describe());
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted waiting for the Linux peer", e);
        }
    }

    String describe() {
        String said;
        synchronized (transcript) {
            said = String.join(" | ", transcript);
        }
        String complained;
        synchronized (errors) {
            complained = errors.toString().strip();
        }
        return "peer " + process.pid() + (process.isAlive() ? " running" : " exited " + process.exitValue())
                + ", said [" + said + "]" + (complained.isEmpty() ? "" : ", stderr: " + complained);
    }

    @Override
    public void close() {
        try {
            process.getOutputStream().close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            try {
                if (!process.waitFor(GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
                    List<ProcessHandle> descendants = process.descendants().toList();
                    process.destroyForcibly();
                    descendants.forEach(ProcessHandle::destroyForcibly);
                    process.waitFor(NetworkNamespace.COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
    }
}

package io.arrakis.bench.child;

import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.FlowFilter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What the demo and the server benchmark share to run the samples in child processes: starting
 * them with their output in a log, waiting for a server's "ready" line, asking the control plane
 * whether a server with the agent announced its listener (so the switch, not the kernel, carries
 * its traffic), stopping them by their own PID, and saying what went wrong (the log's tail, a
 * thread dump of a stuck JVM).
 *
 * <p>An instance holds the children it started and ends them when closed (and, through a shutdown
 * hook, when this JVM ends first, Ctrl-C included). Thread-safe: the list is copy-on-write.
 */
public final class ChildProcesses implements AutoCloseable {
    private final List<Process> children;
    private final Thread reaper;
    /** Set when this JVM starts shutting down: a child started after the reaper ran would outlive us. */
    private volatile boolean shuttingDown;

    public ChildProcesses() {
        this(new CopyOnWriteArrayList<>());
    }

    /** Tracks its children in {@code children} (a list a caller already holds and may end itself). */
    public ChildProcesses(List<Process> children) {
        this.children = children;
        List<Process> all = children;
        this.reaper = new Thread(() -> {
            shuttingDown = true;
            all.forEach(Process::destroyForcibly);
        }, "child-reaper");
        Runtime.getRuntime().addShutdownHook(reaper);
    }

    /** Starts {@code command} in {@code directory}, its output and errors in {@code log}. */
    public Process start(List<String> command, Path directory, Path log) throws IOException {
        if (shuttingDown) {
            throw new IOException("not starting " + command.getFirst() + ": this JVM is shutting down");
        }
        Process process = new ProcessBuilder(command).directory(directory.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        children.add(process);
        if (shuttingDown) {
            // The reaper may have run between the check and the add: end it ourselves.
            process.destroyForcibly();
            throw new IOException("not starting " + command.getFirst() + ": this JVM is shutting down");
        }
        return process;
    }

    /**
     * Ends every child still running, forcibly, and forgets them.
     */
    @Override
    public void close() {
        children.forEach(Process::destroyForcibly);
        children.clear();
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException e) {
            // This JVM is already shutting down: the hook runs anyway.
        }
    }

    /**
     * Waits up to {@code seconds} for {@code pattern} to appear in {@code log}, the output of
     * {@code process}, which must stay alive meanwhile; {@code what} names it in errors.
     */
    public static Matcher awaitLine(Process process, Path log, Pattern pattern, long seconds, String what)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            Matcher ready = pattern.matcher(Files.readString(log, StandardCharsets.UTF_8));
            if (ready.find()) {
                return ready;
            }
            if (!process.isAlive()) {
                throw new IOException(what + " (pid " + process.pid() + ") ended with exit status "
                        + process.exitValue() + " before it was ready; its output:\n" + tail(log));
            }
            Thread.sleep(20);
        }
        throw new IOException(what + " (pid " + process.pid() + ") was not ready after " + seconds
                + " s; its output:\n" + tail(log));
    }

    /**
     * Ends {@code process} by its PID (SIGTERM, then SIGKILL after 10 s); one that had to be killed
     * is reported on standard error, and one that ended by itself during a run that otherwise
     * {@code completed} is an error (after a failure, that failure is the one to tell).
     */
    public static void stop(Process process, String what, Path log, boolean completed)
            throws IOException, InterruptedException {
        if (!process.isAlive() && completed) {
            throw new IOException(what + " (pid " + process.pid() + ") ended by itself, exit status "
                    + process.exitValue() + "; its output:\n" + tail(log));
        }
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            String stacks = threadDump(process);
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
            System.err.println(what + " (pid " + process.pid() + ") did not stop within 10 s of SIGTERM and was"
                    + " killed; its threads:\n" + stacks);
        }
    }

    /**
     * Waits for {@code process} to end within {@code seconds}; if it does not, kills it and
     * throws, with a thread dump (for a JVM) and its output.
     */
    public static void awaitExit(Process process, long seconds, String what, Path log)
            throws IOException, InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            String stacks = threadDump(process);
            process.destroyForcibly();
            throw new IOException(what + " (pid " + process.pid() + ") did not finish within " + seconds
                    + " s; its threads:\n" + stacks + "\nits output:\n" + tail(log));
        }
    }

    /**
     * The threads of a stuck child JVM, through {@code jcmd} next to this JVM's {@code java}, to
     * say where it hangs (a child that is no JVM gets a line saying so).
     */
    public static String threadDump(Process process) {
        Path jcmd = Path.of(javaCommand()).resolveSibling("jcmd");
        try {
            Process dump = new ProcessBuilder(jcmd.toString(), Long.toString(process.pid()), "Thread.print")
                    .redirectErrorStream(true).start();
            byte[] out = dump.getInputStream().readAllBytes();
            dump.waitFor(30, TimeUnit.SECONDS);
            return new String(out, StandardCharsets.UTF_8);
        } catch (IOException | InterruptedException e) {
            return "(no thread dump: " + jcmd + " failed: " + e + ")";
        }
    }

    /**
     * The VNIC of {@code server} once it announced a user-level listener on {@code port}: without
     * it a client with the agent would take the kernel's path.
     */
    public static ControlStatus.VnicStatus awaitListener(ControlClient control, Process server, int port)
            throws IOException, InterruptedException {
        for (int i = 0; i < 500; i++) {
            ControlStatus.VnicStatus vnic = control.status().listener(FlowFilter.Protocol.TCP, port);
            if (vnic != null && vnic.pid() == server.pid()) {
                return vnic;
            }
            Thread.sleep(10);
        }
        throw new IOException("the server with the agent (pid " + server.pid() + ") listens on port " + port
                + " but the control plane knows no user-level listener there:\n" + control.status().format());
    }

    /** The VNIC {@code server} attached to the control plane, or null if it has none. */
    public static ControlStatus.VnicStatus serverVnic(ControlClient control, Process server) throws IOException {
        return control.status().vnics().stream().filter(v -> v.pid() == server.pid()).findFirst().orElse(null);
    }

    /**
     * A jar holding only HdrHistogram, for the load generator's class path: the classes come
     * from wherever this JVM loaded them, the library's own jar (used as it is) or the
     * benchmarks' uber-jar (copied out into {@code directory}).
     */
    public static Path hdrHistogramJar(Path directory) throws IOException {
        Path source;
        try {
            source = Path.of(org.HdrHistogram.Histogram.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IOException("cannot locate HdrHistogram's classes: " + e.getMessage(), e);
        }
        if (Files.isDirectory(source)) {
            throw new IOException("HdrHistogram's classes come from the directory " + source
                    + ", not a jar; run from benchmarks/target/benchmarks.jar");
        }
        try (JarFile jar = new JarFile(source.toFile())) {
            if (jar.stream().noneMatch(e -> e.getName().startsWith("io/arrakis/"))) {
                return source;
            }
            Path copy = directory.resolve("HdrHistogram.jar");
            try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(copy))) {
                for (JarEntry entry : jar.stream().filter(e -> e.getName().startsWith("org/HdrHistogram/")).toList()) {
                    out.putNextEntry(new JarEntry(entry.getName()));
                    try (InputStream in = jar.getInputStream(entry)) {
                        in.transferTo(out);
                    }
                    out.closeEntry();
                }
            }
            return copy;
        }
    }

    /** The {@code java} this JVM runs on, for children of the same JDK. */
    public static String javaCommand() {
        return ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString());
    }

    /** The last 40 lines of a child's log, for error messages. */
    public static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** The one-minute load average, from /proc/loadavg. */
    public static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ", 4)[0];
        } catch (IOException e) {
            return "?";
        }
    }

    /** Removes a directory tree; a failure is reported on standard error, not thrown. */
    public static void deleteRecursively(Path directory) {
        try (Stream<Path> paths = Files.walk(directory)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            System.err.println("could not remove " + directory + ": " + e.getMessage());
        }
    }
}

package io.arrakis.bench.demo;

import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.VnicCounter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Issue 6's demo, what {@code ./dev demo} runs: the unmodified Redis-like server of the samples
 * and the load generator, each in its own JVM, first both with {@code -javaagent} (the load
 * generator connects to 127.0.0.1 as before; the agent sends the connection through the
 * shared-memory switch of a control plane embedded in this JVM), then both without it, over
 * the kernel's loopback; then the figures side by side, and the server VNIC's counters as the
 * control plane reports them, which show the frames went through the switch.
 *
 * <p>The child JVMs' class paths hold the samples' classes and, for the load generator,
 * HdrHistogram: nothing of ours but what {@code -javaagent} brings. This class is not
 * thread-safe; {@link #main} runs it once.
 */
public final class RedisDemo {
    static final String SERVER_MAIN = "io.arrakis.samples.redis.RedisServer";
    static final String LOAD_GENERATOR_MAIN = "io.arrakis.samples.loadgen.LoadGenerator";
    private static final Pattern READY = Pattern.compile("redis: ready on [^:]+:(\\d+) .*selector ([\\w.$]+)\\)");
    private static final long SERVER_START_SECONDS = 30;

    /**
     * One load: connections in all, requests in flight on each, seconds of warm-up and of
     * measurement; GET:SET 9:1 over {@code keys} keys with 32-byte values, closed loop.
     */
    record Workload(String title, int connections, int pipeline, double warmUpSeconds, double seconds, int keys) {
        List<String> arguments(int port, Path json) {
            return List.of("--host", "127.0.0.1", "--port", Integer.toString(port), "--connections",
                    Integer.toString(connections), "--pipeline", Integer.toString(pipeline), "--warmup",
                    Double.toString(warmUpSeconds), "--duration", Double.toString(seconds), "--keys",
                    Integer.toString(keys), "--ratio", "9:1", "--value-size", "32", "--json", json.toString());
        }
    }

    /**
     * What the load generator measured over all operations (GET and SET), and what the server's
     * VNIC counted meanwhile (zero on the kernel path, where it has none).
     */
    record Measurement(long operations, double operationsPerSecond, double p50Micros, double p99Micros,
            double p999Micros, double maxMicros, long serverFramesIn, long serverFramesOut) {

        Measurement withServerFrames(long in, long out) {
            return new Measurement(operations, operationsPerSecond, p50Micros, p99Micros, p999Micros, maxMicros, in,
                    out);
        }
    }

    /** One path's run: the provider the server's selector came from, a measurement per workload, its VNIC at the end. */
    record PathResult(String selectorProvider, List<Measurement> measurements, ControlStatus.VnicStatus serverVnic) {}

    /**
     * Where things are: the {@code java} to run, the agent jar, the class paths of the two
     * programs, the control plane's socket, and a private directory for logs and results.
     */
    record Setup(String java, Path agentJar, String serverClassPath, String loadGeneratorClassPath, Path socket,
            Path workDirectory) {

        List<String> jvmOptions(boolean agent) {
            List<String> options = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
            if (agent) {
                options.add("-javaagent:" + agentJar + "=banner=false,shm.socket=" + socket + ",shm.embedded=false");
            }
            return options;
        }
    }

    private RedisDemo() {}

    static final List<Workload> WORKLOADS = List.of(
            new Workload("1 connection (latency)", 1, 1, 3, 8, 10_000),
            new Workload("50 connections, pipeline 1", 50, 1, 2, 5, 10_000),
            new Workload("50 connections, pipeline 16", 50, 16, 2, 5, 10_000));

    public static void main(String[] args) throws Exception {
        run();
    }

    static void run() throws Exception {
        Path agentJar = existing(System.getProperty("arrakis.agent.jar", "agent/target/arrakis-agent.jar"), "the agent jar");
        Path samples = existing(System.getProperty("arrakis.demo.samples", "samples/target/classes"),
                "the samples' classes");
        Path work = Files.createTempDirectory("arrakis-demo");
        // Our children, ended by their own handles however this JVM ends (Ctrl-C included).
        List<Process> children = new CopyOnWriteArrayList<>();
        Thread reaper = new Thread(() -> children.forEach(Process::destroyForcibly), "demo-reaper");
        Runtime.getRuntime().addShutdownHook(reaper);
        try {
            Path hdrHistogram = hdrHistogramJar(work);
            Setup setup = new Setup(javaCommand(), agentJar, samples.toString(),
                    samples + java.io.File.pathSeparator + hdrHistogram, work.resolve("control.sock"), work);
            printIntroduction(setup);
            PathResult arrakis;
            PathResult kernel;
            try (ControlPlane plane = ControlPlane.startEmbedded(setup.socket())) {
                System.out.printf("load average %s; control plane embedded in this JVM (pid %d) on %s%n%n",
                        loadAverage(), ProcessHandle.current().pid(), setup.socket());
                arrakis = runPath(setup, true, WORKLOADS, children);
                kernel = runPath(setup, false, WORKLOADS, children);
            }
            printResults(arrakis, kernel, WORKLOADS);
        } finally {
            children.forEach(Process::destroyForcibly);
            deleteRecursively(work);
            Runtime.getRuntime().removeShutdownHook(reaper);
        }
    }

    private static void printIntroduction(Setup setup) {
        String samples = relative(Path.of(setup.serverClassPath()));
        System.out.printf("""
                Arrakis for the JVM: an unmodified Redis-like server and its load generator
                Two JVMs, GET:SET 9:1 over 10,000 keys with 32-byte values, every reply checked. First
                both run with the agent: the load generator still connects to 127.0.0.1, and the agent
                sends the connection through the shared-memory switch and the user-level TCP stack.
                Then both run without it, over the kernel's loopback. The same programs, class paths
                and arguments; only the -javaagent option differs:
                  java [-javaagent:%s=banner=false] -cp %s %s --port 0
                  java [-javaagent:...] -cp %s:HdrHistogram.jar %s --port <port> ...
                """, relative(setup.agentJar()), samples, SERVER_MAIN, samples, LOAD_GENERATOR_MAIN);
    }

    /**
     * Starts the server (with or without the agent), runs every workload against it with a load
     * generator of the same kind, and reads the server's VNIC from the control plane after each.
     */
    static PathResult runPath(Setup setup, boolean agent, List<Workload> workloads, List<Process> children)
            throws IOException, InterruptedException {
        String name = agent ? "arrakis" : "kernel";
        System.out.printf("%s path: starting the server%s%n", agent ? "Arrakis" : "kernel",
                agent ? " with the agent" : " without the agent");
        Path serverLog = setup.workDirectory().resolve(name + "-server.log");
        List<String> serverCommand = new ArrayList<>(setup.jvmOptions(agent));
        serverCommand.addAll(List.of("-cp", setup.serverClassPath(), SERVER_MAIN, "--port", "0"));
        Process server = start(serverCommand, setup.workDirectory(), serverLog, children);
        boolean completed = false;
        try (ControlClient control = ControlClient.connect(setup.socket())) {
            Matcher ready = awaitReady(server, serverLog);
            int port = Integer.parseInt(ready.group(1));
            String provider = ready.group(2);
            System.out.printf("  server pid %d listening on 127.0.0.1:%d, its selector from %s%n", server.pid(), port,
                    provider);
            ControlStatus.VnicStatus vnic = agent ? awaitListener(control, server, port) : null;
            if (vnic != null) {
                System.out.printf("  control plane: VNIC %s (%s) of pid %d announced a user-level listener on port %d%n",
                        vnic.name(), Ipv4Text.format(vnic.address()), vnic.pid(), port);
            }
            List<Measurement> measurements = new ArrayList<>();
            for (Workload workload : workloads) {
                System.out.printf("  %-32s ...", workload.title());
                System.out.flush();
                long framesInBefore = vnic == null ? 0 : vnic.counter(VnicCounter.RX_PACKETS);
                long framesOutBefore = vnic == null ? 0 : vnic.counter(VnicCounter.TX_PACKETS);
                Measurement m = runLoadGenerator(setup, agent, workload, port, name, children);
                vnic = serverVnic(control, server);
                if (agent && vnic == null) {
                    throw new IOException("the server (pid " + server.pid() + ") no longer has a VNIC on the control"
                            + " plane after '" + workload.title() + "'; its log: " + tail(serverLog));
                }
                if (!agent && vnic != null) {
                    throw new IOException("the server without the agent (pid " + server.pid() + ") attached VNIC "
                            + vnic.name() + " to the control plane; the kernel path is not the kernel's");
                }
                if (vnic != null) {
                    m = m.withServerFrames(vnic.counter(VnicCounter.RX_PACKETS) - framesInBefore,
                            vnic.counter(VnicCounter.TX_PACKETS) - framesOutBefore);
                }
                measurements.add(m);
                System.out.printf(Locale.ROOT, " %,10.0f ops/s, p50 %.1f us%n", m.operationsPerSecond(), m.p50Micros());
            }
            completed = true;
            return new PathResult(provider, measurements, vnic);
        } finally {
            stop(server, setup, serverLog, completed);
        }
    }

    /** Runs one load generator JVM to its end and reads its JSON; any wrong reply or failure stops the demo. */
    private static Measurement runLoadGenerator(Setup setup, boolean agent, Workload workload, int port, String name,
            List<Process> children) throws IOException, InterruptedException {
        String stem = name + "-load-" + workload.connections() + "x" + workload.pipeline();
        Path json = setup.workDirectory().resolve(stem + ".json");
        Path log = setup.workDirectory().resolve(stem + ".log");
        List<String> command = new ArrayList<>(setup.jvmOptions(agent));
        command.addAll(List.of("-cp", setup.loadGeneratorClassPath(), LOAD_GENERATOR_MAIN));
        command.addAll(workload.arguments(port, json));
        Process load = start(command, setup.workDirectory(), log, children);
        long patience = (long) Math.ceil(workload.warmUpSeconds() + workload.seconds()) + 60;
        if (!load.waitFor(patience, TimeUnit.SECONDS)) {
            String stacks = threadDump(setup, load);
            load.destroyForcibly();
            throw new IOException("the load generator (" + stem + ", pid " + load.pid() + ") did not finish within "
                    + patience + " s; its threads:\n" + stacks + "\nits output:\n" + tail(log));
        }
        if (load.exitValue() != 0 || !Files.exists(json)) {
            throw new IOException("the load generator (" + stem + ") failed with exit status " + load.exitValue()
                    + " (1: wrong or failed replies); its output:\n" + tail(log));
        }
        return parse(Files.readString(json), json);
    }

    private static final Pattern TOTAL = Pattern.compile("\"total\": \\{\"ops\": (\\d+), \"opsPerSecond\": ([\\d.]+),"
            + " .*\"latencyMicros\": \\{\"p50\": ([\\d.]+), \"p90\": [\\d.]+, \"p99\": ([\\d.]+),"
            + " \"p99\\.9\": ([\\d.]+), \"max\": ([\\d.]+),");

    /** The "total" row of the load generator's JSON (GET and SET together). */
    static Measurement parse(String json, Path from) throws IOException {
        Matcher total = TOTAL.matcher(json);
        if (!total.find()) {
            throw new IOException("no \"total\" row in the load generator's results " + from + ":\n" + json);
        }
        return new Measurement(Long.parseLong(total.group(1)), Double.parseDouble(total.group(2)),
                Double.parseDouble(total.group(3)), Double.parseDouble(total.group(4)),
                Double.parseDouble(total.group(5)), Double.parseDouble(total.group(6)), 0, 0);
    }

    private static void printResults(PathResult arrakis, PathResult kernel, List<Workload> workloads) {
        System.out.printf("%nload average %s%n", loadAverage());
        System.out.printf("%-34s %12s %9s %9s %10s %10s%n", "", "ops/s", "p50 us", "p99 us", "p99.9 us", "max us");
        for (int i = 0; i < workloads.size(); i++) {
            Measurement ours = arrakis.measurements().get(i);
            Measurement theirs = kernel.measurements().get(i);
            System.out.println(workloads.get(i).title());
            System.out.println(row("  kernel loopback (no agent)", theirs));
            System.out.println(row("  Arrakis agent (shm switch)", ours));
            System.out.printf(Locale.ROOT, "%-34s %11.1fx %8.1fx %8.1fx %9.1fx%n", "  Arrakis is better by",
                    ours.operationsPerSecond() / theirs.operationsPerSecond(), theirs.p50Micros() / ours.p50Micros(),
                    theirs.p99Micros() / ours.p99Micros(), theirs.p999Micros() / ours.p999Micros());
        }
        System.out.println("(\"better by\": throughput Arrakis/kernel, latency kernel/Arrakis. Latency is measured from"
                + " each request's send;\n a 2-core machine shared with other work: the figures move, read the ratios.)");
        ControlStatus.VnicStatus vnic = arrakis.serverVnic();
        System.out.printf("%nThrough the switch: the server's VNIC %s (%s), as the control plane reports it%n",
                vnic.name(), Ipv4Text.format(vnic.address()));
        for (int i = 0; i < workloads.size(); i++) {
            Measurement m = arrakis.measurements().get(i);
            System.out.printf(Locale.ROOT, "  %-32s %,12d frames in, %,12d out (%,d requests measured)%n",
                    workloads.get(i).title(), m.serverFramesIn(), m.serverFramesOut(), m.operations());
        }
        System.out.printf(Locale.ROOT, "  in all: %,d frames (%,d bytes) in, %,d frames (%,d bytes) out%n",
                vnic.counter(VnicCounter.RX_PACKETS), vnic.counter(VnicCounter.RX_BYTES),
                vnic.counter(VnicCounter.TX_PACKETS), vnic.counter(VnicCounter.TX_BYTES));
        System.out.printf("The server's selector came from %s with the agent, %s without.%n",
                arrakis.selectorProvider(), kernel.selectorProvider());
    }

    private static String row(String label, Measurement m) {
        return String.format(Locale.ROOT, "%-34s %,12.0f %9.1f %9.1f %10.1f %10.0f", label, m.operationsPerSecond(),
                m.p50Micros(), m.p99Micros(), m.p999Micros(), m.maxMicros());
    }

    /** Waits for the server's "ready" line, which names its port and its selector's provider. */
    private static Matcher awaitReady(Process server, Path log) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(SERVER_START_SECONDS);
        while (System.nanoTime() < deadline) {
            Matcher ready = READY.matcher(Files.readString(log, StandardCharsets.UTF_8));
            if (ready.find()) {
                return ready;
            }
            if (!server.isAlive()) {
                throw new IOException("the server (pid " + server.pid() + ") ended with exit status "
                        + server.exitValue() + " before it was ready; its output:\n" + tail(log));
            }
            Thread.sleep(20);
        }
        throw new IOException("the server (pid " + server.pid() + ") was not ready after " + SERVER_START_SECONDS
                + " s; its output:\n" + tail(log));
    }

    /** The server's VNIC once it announced its listener: without it the load generator would take the kernel's path. */
    private static ControlStatus.VnicStatus awaitListener(ControlClient control, Process server, int port)
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

    private static ControlStatus.VnicStatus serverVnic(ControlClient control, Process server) throws IOException {
        return control.status().vnics().stream().filter(v -> v.pid() == server.pid()).findFirst().orElse(null);
    }

    private static Process start(List<String> command, Path directory, Path log, List<Process> children)
            throws IOException {
        Process process = new ProcessBuilder(command).directory(directory.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        children.add(process);
        return process;
    }

    /**
     * Ends the server by its PID (SIGTERM, then SIGKILL after 10 s); a server that had to be
     * killed is reported, and one that ended by itself during a run that otherwise
     * {@code completed} is an error (after a failure, that failure is the one to tell).
     */
    private static void stop(Process server, Setup setup, Path log, boolean completed)
            throws IOException, InterruptedException {
        if (!server.isAlive() && completed) {
            throw new IOException("the server (pid " + server.pid() + ") ended by itself, exit status "
                    + server.exitValue() + "; its output:\n" + tail(log));
        }
        server.destroy();
        if (!server.waitFor(10, TimeUnit.SECONDS)) {
            String stacks = threadDump(setup, server);
            server.destroyForcibly();
            server.waitFor(30, TimeUnit.SECONDS);
            System.err.println("demo: the server (pid " + server.pid() + ") did not stop within 10 s of SIGTERM and"
                    + " was killed; its threads:\n" + stacks);
        }
    }

    /** The threads of a stuck child, through {@code jcmd} next to our {@code java}, to say where it hangs. */
    private static String threadDump(Setup setup, Process process) {
        Path jcmd = Path.of(setup.java()).resolveSibling("jcmd");
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
     * A jar holding only HdrHistogram, for the load generator's class path: the classes come
     * from wherever this JVM loaded them, the library's own jar (used as it is) or the
     * benchmarks' uber-jar (copied out into {@code directory}).
     */
    static Path hdrHistogramJar(Path directory) throws IOException {
        Path source;
        try {
            source = Path.of(org.HdrHistogram.Histogram.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IOException("cannot locate HdrHistogram's classes: " + e.getMessage(), e);
        }
        if (Files.isDirectory(source)) {
            throw new IOException("HdrHistogram's classes come from the directory " + source
                    + ", not a jar; run the demo from benchmarks/target/benchmarks.jar");
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

    private static Path existing(String path, String what) throws IOException {
        Path p = Path.of(path).toAbsolutePath().normalize();
        if (!Files.exists(p)) {
            throw new IOException(what + " is not at " + p + "; build first (./dev demo does), or name it with -D"
                    + (what.startsWith("the agent") ? "arrakis.agent.jar" : "arrakis.demo.samples") + "=<path>");
        }
        return p;
    }

    private static String javaCommand() {
        return ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString());
    }

    private static String relative(Path path) {
        Path here = Path.of("").toAbsolutePath();
        return path.startsWith(here) ? here.relativize(path).toString() : path.toString();
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ", 4)[0];
        } catch (IOException e) {
            return "?";
        }
    }

    private static void deleteRecursively(Path directory) {
        try (Stream<Path> paths = Files.walk(directory)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            System.err.println("demo: could not remove " + directory + ": " + e.getMessage());
        }
    }
}

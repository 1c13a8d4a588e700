package io.arrakis.bench.demo;

import io.arrakis.bench.child.ChildProcesses;
import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.VnicCounter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
        try (ChildProcesses children = new ChildProcesses()) {
            Path hdrHistogram = ChildProcesses.hdrHistogramJar(work);
            Setup setup = new Setup(ChildProcesses.javaCommand(), agentJar, samples.toString(),
                    samples + java.io.File.pathSeparator + hdrHistogram, work.resolve("control.sock"), work);
            printIntroduction(setup);
            PathResult arrakis;
            PathResult kernel;
            try (ControlPlane plane = ControlPlane.startEmbedded(setup.socket())) {
                System.out.printf("load average %s; control plane embedded in this JVM (pid %d) on %s%n%n",
                        ChildProcesses.loadAverage(), ProcessHandle.current().pid(), setup.socket());
                arrakis = runPath(setup, true, WORKLOADS, children);
                kernel = runPath(setup, false, WORKLOADS, children);
            }
            printResults(arrakis, kernel, WORKLOADS);
        } finally {
            ChildProcesses.deleteRecursively(work);
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
    static PathResult runPath(Setup setup, boolean agent, List<Workload> workloads, ChildProcesses children)
            throws IOException, InterruptedException {
        String name = agent ? "arrakis" : "kernel";
        System.out.printf("%s path: starting the server%s%n", agent ? "Arrakis" : "kernel",
                agent ? " with the agent" : " without the agent");
        Path serverLog = setup.workDirectory().resolve(name + "-server.log");
        List<String> serverCommand = new ArrayList<>(setup.jvmOptions(agent));
        serverCommand.addAll(List.of("-cp", setup.serverClassPath(), SERVER_MAIN, "--port", "0"));
        Process server = children.start(serverCommand, setup.workDirectory(), serverLog);
        boolean completed = false;
        try (ControlClient control = ControlClient.connect(setup.socket())) {
            Matcher ready = awaitReady(server, serverLog);
            int port = Integer.parseInt(ready.group(1));
            String provider = ready.group(2);
            System.out.printf("  server pid %d listening on 127.0.0.1:%d, its selector from %s%n", server.pid(), port,
                    provider);
            ControlStatus.VnicStatus vnic = agent ? ChildProcesses.awaitListener(control, server, port) : null;
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
                vnic = ChildProcesses.serverVnic(control, server);
                if (agent && vnic == null) {
                    throw new IOException("the server (pid " + server.pid() + ") no longer has a VNIC on the control"
                            + " plane after '" + workload.title() + "'; its log: " + ChildProcesses.tail(serverLog));
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
            ChildProcesses.stop(server, "the server", serverLog, completed);
        }
    }

    /** Runs one load generator JVM to its end and reads its JSON; any wrong reply or failure stops the demo. */
    private static Measurement runLoadGenerator(Setup setup, boolean agent, Workload workload, int port, String name,
            ChildProcesses children) throws IOException, InterruptedException {
        String stem = name + "-load-" + workload.connections() + "x" + workload.pipeline();
        Path json = setup.workDirectory().resolve(stem + ".json");
        Path log = setup.workDirectory().resolve(stem + ".log");
        List<String> command = new ArrayList<>(setup.jvmOptions(agent));
        command.addAll(List.of("-cp", setup.loadGeneratorClassPath(), LOAD_GENERATOR_MAIN));
        command.addAll(workload.arguments(port, json));
        Process load = children.start(command, setup.workDirectory(), log);
        long patience = (long) Math.ceil(workload.warmUpSeconds() + workload.seconds()) + 60;
        ChildProcesses.awaitExit(load, patience, "the load generator (" + stem + ")", log);
        if (load.exitValue() != 0 || !Files.exists(json)) {
            throw new IOException("the load generator (" + stem + ") failed with exit status " + load.exitValue()
                    + " (1: wrong or failed replies); its output:\n" + ChildProcesses.tail(log));
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
        System.out.printf("%nload average %s%n", ChildProcesses.loadAverage());
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
        return ChildProcesses.awaitLine(server, log, READY, SERVER_START_SECONDS, "the server");
    }

    private static Path existing(String path, String what) throws IOException {
        Path p = Path.of(path).toAbsolutePath().normalize();
        if (!Files.exists(p)) {
            throw new IOException(what + " is not at " + p + "; build first (./dev demo does), or name it with -D"
                    + (what.startsWith("the agent") ? "arrakis.agent.jar" : "arrakis.demo.samples") + "=<path>");
        }
        return p;
    }

    private static String relative(Path path) {
        Path here = Path.of("").toAbsolutePath();
        return path.startsWith(here) ? here.relativize(path).toString() : path.toString();
    }
}

package io.arrakis.bench.servers;

import io.arrakis.bench.child.ChildProcesses;
import io.arrakis.bench.servers.Scenario.Case;
import io.arrakis.bench.servers.Scenario.DataPath;
import io.arrakis.bench.servers.Scenario.ServerKind;
import io.arrakis.bench.servers.Scenario.ServerSpec;
import io.arrakis.bench.servers.Scenario.Sizes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Scenario {@code clients}: the Linux tools ({@code redis-benchmark} from redis-tools,
 * {@code memcaslap} from libmemcached-tools) against the samples' Java servers, for protocol
 * fidelity. On {@link DataPath#AGENT_TAP} the server runs with the agent on the TAP backend inside
 * a {@link TapNamespace} and the tool, in the same namespace, reaches it only through the TAP (the
 * interface's kernel counters are checked to prove it); on {@link DataPath#KERNEL} both use the
 * kernel's loopback. Not thread-safe.
 */
final class RealClients {
    private static final Pattern REDIS_BENCHMARK_ROW = Pattern.compile(
            "^\"(SET|GET)\",\"([\\d.]+)\",\"([\\d.]+)\",\"([\\d.]+)\",\"([\\d.]+)\",\"([\\d.]+)\",\"([\\d.]+)\",\"([\\d.]+)\"",
            Pattern.MULTILINE);
    private static final Pattern MEMCASLAP_TOTAL = Pattern.compile("Run time: ([\\d.]+)s Ops: (\\d+) TPS: (\\d+)");
    private static final Pattern TAP_READY = Pattern.compile("(redis|memcached): ready on [^:]+:(\\d+) .*selector ([\\w.$]+)\\)");

    private RealClients() {}

    /** A server the tools can reach: where, and how to run a tool next to it. */
    static final class Target implements ServerBenchmark.Session {
        private final ServerRunner runner;
        private final ServerRunner.RunningServer kernelServer;
        private final Process tapServer;
        private final Path tapLog;
        private final TapNamespace namespace;
        private final String host;
        private final int port;
        private final Sizes sizes;

        private Target(ServerRunner runner, ServerRunner.RunningServer kernelServer, Process tapServer, Path tapLog,
                TapNamespace namespace, String host, int port, Sizes sizes) {
            this.runner = runner;
            this.kernelServer = kernelServer;
            this.tapServer = tapServer;
            this.tapLog = tapLog;
            this.namespace = namespace;
            this.host = host;
            this.port = port;
            this.sizes = sizes;
        }

        @Override
        public Measurement run(Case c, int repetition) throws IOException, InterruptedException {
            long[] before = namespace == null ? null : namespace.kernelSideFrames();
            Measurement m = c.server().kind().resp() ? redisBenchmark(c, repetition) : memcaslap(c, repetition);
            Process server = namespace == null ? kernelServer.process() : tapServer;
            if (!server.isAlive()) {
                throw new IOException("the server (pid " + server.pid() + ") ended during " + c.title() + "; its output:\n"
                        + ChildProcesses.tail(namespace == null ? kernelServer.log() : tapLog));
            }
            if (namespace != null) {
                long[] after = namespace.kernelSideFrames();
                long toServer = after[1] - before[1];
                long fromServer = after[0] - before[0];
                if (toServer == 0 || fromServer == 0) {
                    throw new IOException("the TAP " + TapNamespace.INTERFACE + " carried " + toServer + " frames to the"
                            + " server and " + fromServer + " back during " + c.title() + ": not through our stack");
                }
                return new Measurement(m.path(), repetition, m.operations(), m.opsPerSecond(), m.p50Micros(),
                        m.p99Micros(), m.p999Micros(), m.maxMicros(), toServer, fromServer, m.curve(), m.details());
            }
            return m;
        }

        @Override
        public boolean alive() {
            return (namespace == null ? kernelServer.process() : tapServer).isAlive();
        }

        @Override
        public void close() throws IOException, InterruptedException {
            try {
                if (kernelServer != null) {
                    runner.stop(kernelServer, false);
                }
                if (tapServer != null) {
                    ChildProcesses.stop(tapServer, "the server on the TAP backend", tapLog, false);
                }
            } finally {
                if (namespace != null) {
                    namespace.close();
                }
            }
        }

        private DataPath path() {
            return namespace == null ? DataPath.KERNEL : DataPath.AGENT_TAP;
        }

        private List<String> tool(List<String> command) {
            return namespace == null ? command : namespace.inside(command);
        }

        private String runTool(Case c, int repetition, List<String> command, long patienceSeconds)
                throws IOException, InterruptedException {
            String stem = runner.stem(c.name() + "-" + path().key + "-r" + repetition);
            Path log = runner.setup().workDirectory().resolve(stem + ".log");
            Process process;
            try {
                process = runner.children().start(tool(command), runner.setup().workDirectory(), log);
            } catch (IOException e) {
                throw new IOException("cannot run " + command.getFirst() + ": " + e.getMessage() + "; ./dev installs it"
                        + " (Debian package " + (command.getFirst().startsWith("redis") ? "redis-tools"
                        : "libmemcached-tools") + ")", e);
            }
            ChildProcesses.awaitExit(process, patienceSeconds, command.getFirst() + " (" + stem + ")", log);
            String output = Files.readString(log, StandardCharsets.UTF_8);
            if (process.exitValue() != 0) {
                throw new IOException(command.getFirst() + " failed with exit status " + process.exitValue()
                        + " against " + host + ":" + port + "; its output:\n" + ChildProcesses.tail(log));
            }
            return output;
        }

        /** One redis-benchmark run of the case's operation; its CSV row gives rps and latency in ms. */
        private Measurement redisBenchmark(Case c, int repetition) throws IOException, InterruptedException {
            String operation = c.load().sets() > 0 ? "set" : "get";
            int connections = c.load().connections();
            int requests = connections == 1 ? sizes.redisBenchmarkRequests() / 5 : sizes.redisBenchmarkRequests();
            String output = runTool(c, repetition, List.of("redis-benchmark", "-h", host, "-p", Integer.toString(port),
                    "-c", Integer.toString(connections), "-n", Integer.toString(requests), "-t", operation, "-r",
                    Integer.toString(sizes.keys()), "-d", Integer.toString(sizes.valueSize()), "--csv"), 120);
            Matcher row = REDIS_BENCHMARK_ROW.matcher(output);
            if (!row.find()) {
                throw new IOException("redis-benchmark printed no " + operation.toUpperCase(Locale.ROOT)
                        + " row against " + host + ":" + port + "; its output:\n" + output);
            }
            double rps = Double.parseDouble(row.group(2));
            double min = ms(row.group(4));
            double p50 = ms(row.group(5));
            double p95 = ms(row.group(6));
            double p99 = ms(row.group(7));
            double max = ms(row.group(8));
            double[][] curve = {{0, min}, {50, p50}, {95, p95}, {99, p99}, {100, max}};
            return new Measurement(path(), repetition, requests, rps, p50, p99, Double.NaN, max, 0, 0, curve,
                    Map.of("tool", "redis-benchmark", "requests", requests));
        }

        /** One memcaslap run: 9:1 GET:SET (its default), 10% of GETs verified; no verification may fail. */
        private Measurement memcaslap(Case c, int repetition) throws IOException, InterruptedException {
            long seconds = Math.max(1, Math.round(sizes.memcaslapSeconds()));
            String output = runTool(c, repetition, List.of("memcaslap", "-s", host + ":" + port, "-T", "1", "-c",
                    Integer.toString(c.load().connections()), "-t", seconds + "s", "-X",
                    Integer.toString(sizes.valueSize()), "-v", "0.1"), seconds + 60);
            Matcher total = MEMCASLAP_TOTAL.matcher(output);
            if (!total.find()) {
                throw new IOException("memcaslap printed no total against " + host + ":" + port + "; its output:\n"
                        + output);
            }
            long verifyFailed = counter(output, "verify_failed");
            long verifyMisses = counter(output, "verify_misses");
            if (verifyFailed != 0) {
                throw new IOException("memcaslap found " + verifyFailed + " values that differ from what it stored,"
                        + " against " + host + ":" + port + "; its output:\n" + output);
            }
            Map<String, Object> details = new LinkedHashMap<>();
            details.put("tool", "memcaslap");
            details.put("verifyFailed", verifyFailed);
            details.put("verifyMisses", verifyMisses);
            details.put("getMisses", counter(output, "get_misses"));
            return new Measurement(path(), repetition, Long.parseLong(total.group(2)),
                    Double.parseDouble(total.group(3)), Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0, 0,
                    new double[0][], details);
        }

        private static long counter(String output, String name) {
            Matcher m = Pattern.compile("^" + name + ": (\\d+)", Pattern.MULTILINE).matcher(output);
            return m.find() ? Long.parseLong(m.group(1)) : -1;
        }

        private static double ms(String text) {
            return Double.parseDouble(text) * 1000;
        }
    }

    /**
     * Starts {@code spec}'s Java server for the tools: on the kernel path through
     * {@link ServerRunner}; on the TAP path in a new namespace, with the agent's backend {@code tap}
     * on its interface, bound to {@value TapNamespace#SERVER_ADDRESS}. A server that cannot start
     * there fails with what it printed.
     */
    static Target open(ServerRunner runner, ServerSpec spec, DataPath path, Sizes sizes)
            throws IOException, InterruptedException {
        if (!spec.kind().java()) {
            throw new IllegalArgumentException("the clients scenario drives the samples' Java servers");
        }
        if (path == DataPath.KERNEL) {
            ServerRunner.RunningServer server = runner.start(spec, DataPath.KERNEL);
            return new Target(runner, server, null, null, null, "127.0.0.1", server.port(), sizes);
        }
        if (path != DataPath.AGENT_TAP) {
            throw new IllegalArgumentException("the clients scenario runs on the TAP and kernel paths, not " + path);
        }
        if (!TapNamespace.permitted()) {
            throw new IOException("skipped: the TAP path needs root (to create a network namespace and a TAP"
                    + " interface); run ./dev bench-servers as root for it");
        }
        TapNamespace namespace = TapNamespace.create();
        Process server = null;
        Path log = null;
        boolean ok = false;
        try {
            int port = spec.kind() == ServerKind.REDIS_JAVA ? 6379 : 11211;
            List<String> command = new ArrayList<>(List.of(ChildProcesses.javaCommand(),
                    "--enable-native-access=ALL-UNNAMED",
                    runner.setup().agentOption("banner=false,backend=tap,tap.interface=" + TapNamespace.INTERFACE
                            + ",tap.address=" + TapNamespace.SERVER_ADDRESS + "/24")));
            command.addAll(List.of("-cp", runner.setup().samplesClassPath()));
            if (spec.kind() == ServerKind.REDIS_JAVA) {
                command.addAll(List.of(ServerRunner.REDIS_MAIN, "--bind", TapNamespace.SERVER_ADDRESS, "--port",
                        Integer.toString(port)));
            } else {
                command.addAll(List.of(ServerRunner.MEMCACHED_MAIN, "-l", TapNamespace.SERVER_ADDRESS, "-p",
                        Integer.toString(port), "-t", Integer.toString(spec.threads())));
            }
            String stem = runner.stem(spec.kind().name().toLowerCase(Locale.ROOT) + "-" + path.key);
            log = runner.setup().workDirectory().resolve(stem + ".log");
            server = runner.children().start(namespace.inside(command), runner.setup().workDirectory(), log);
            try {
                ChildProcesses.awaitLine(server, log, TAP_READY, 30, spec.kind().description + " with the agent on"
                        + " the TAP backend");
            } catch (IOException e) {
                throw new IOException("the agent on the TAP backend does not work end to end: " + firstCause(log)
                        + "\n" + e.getMessage(), e);
            }
            ok = true;
            return new Target(runner, null, server, log, namespace, TapNamespace.SERVER_ADDRESS, port, sizes);
        } finally {
            if (!ok) {
                if (server != null) {
                    ChildProcesses.stop(server, "the server on the TAP backend", log, false);
                }
                namespace.close();
            }
        }
    }

    /** The line of a failed server's output that says why: its first exception or warning, else its last line. */
    private static String firstCause(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            for (String line : lines) {
                if (line.contains("Exception:") || line.startsWith("WARNING:") || line.startsWith("Arrakis:")) {
                    return line.strip();
                }
            }
            return lines.isEmpty() ? "(no output)" : lines.getLast();
        } catch (IOException e) {
            return "(cannot read " + log + ")";
        }
    }
}

package io.arrakis.bench.servers;

import io.arrakis.bench.child.ChildProcesses;
import io.arrakis.bench.servers.Scenario.Case;
import io.arrakis.bench.servers.Scenario.DataPath;
import io.arrakis.bench.servers.Scenario.ServerSpec;
import io.arrakis.bench.servers.Scenario.Sizes;
import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Issue 6's server benchmark, what {@code ./dev bench-servers} runs: the {@linkplain
 * Scenario#suite() scenarios}, each on its paths (ours with the agent, the kernel's) in the same
 * run, several repetitions alternating which path goes first (to spread drift over both), then
 * per scenario a JSON file of every repetition and the summary, PNG plots, and one markdown table
 * of medians, spreads and ratios ({@link Report}).
 *
 * <p>Runs on one thread; the servers and clients are child processes.
 */
public final class ServerBenchmark {
    static final String USAGE = """
            usage: ./dev bench-servers [--quick] [--scenario NAME]... [--repetitions N] [--out DIR] [--list]
              --quick            short runs, one repetition (about 2 minutes; the full suite takes 10-15)
              --scenario NAME    run only this scenario (repeatable, or comma-separated); --list names them
              --repetitions N    repetitions of every case on every path (default 3, --quick 1)
              --out DIR          where results go (default bench/results)""";

    /** A server ready for a scenario's cases on one path. */
    interface Session extends AutoCloseable {
        Measurement run(Case c, int repetition) throws IOException, InterruptedException;

        boolean alive();

        @Override
        void close() throws IOException, InterruptedException;
    }

    /** Everything measured for one case: the repetitions per path, and why a path failed if it did. */
    record CaseResult(Case c, Map<DataPath, List<Measurement>> runs, Map<DataPath, String> failures) {
        static CaseResult empty(Case c) {
            return new CaseResult(c, new EnumMap<>(DataPath.class), new EnumMap<>(DataPath.class));
        }

        List<Measurement> runs(DataPath path) {
            return runs.getOrDefault(path, List.of());
        }
    }

    /** A scenario's outcome: its cases' results, when it started, and the load average around it. */
    record ScenarioResult(Scenario scenario, String timestamp, Sizes sizes, List<CaseResult> cases, String loadBefore,
            String loadAfter) {}

    private ServerBenchmark() {}

    public static void main(String[] args) throws Exception {
        Sizes sizes = Sizes.FULL;
        Integer repetitions = null;
        Set<String> names = new LinkedHashSet<>();
        Path out = Path.of("bench", "results");
        List<Scenario> suite = Scenario.suite();
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--quick" -> sizes = Sizes.QUICK;
                    case "--list" -> {
                        suite.forEach(s -> System.out.printf("%-10s %s%n", s.name(), s.title()));
                        return;
                    }
                    case "--scenario" -> {
                        for (String name : value(args, i++).split(",")) {
                            if (suite.stream().noneMatch(s -> s.name().equals(name))) {
                                throw new IllegalArgumentException("no scenario '" + name + "'; the scenarios are: "
                                        + String.join(", ", suite.stream().map(Scenario::name).toList()));
                            }
                            names.add(name);
                        }
                    }
                    case "--repetitions" -> {
                        String text = value(args, i++);
                        try {
                            repetitions = Integer.parseInt(text);
                        } catch (NumberFormatException e) {
                            repetitions = 0;
                        }
                        if (repetitions < 1) {
                            throw new IllegalArgumentException("--repetitions needs a whole number of at least 1, not '"
                                    + text + "'");
                        }
                    }
                    case "--out" -> out = Path.of(value(args, i++));
                    case "-h", "--help" -> {
                        System.out.println(USAGE);
                        return;
                    }
                    default -> throw new IllegalArgumentException("unknown option '" + args[i] + "'");
                }
            }
        } catch (IllegalArgumentException e) {
            System.err.println("bench-servers: " + e.getMessage() + "\n" + USAGE);
            System.exit(2);
            return;
        }
        if (repetitions != null) {
            sizes = sizes.withRepetitions(repetitions);
        }
        List<Scenario> chosen = names.isEmpty() ? suite
                : suite.stream().filter(s -> names.contains(s.name())).toList();
        try {
            Path agentJar = existing(System.getProperty("arrakis.agent.jar", "agent/target/arrakis-agent.jar"),
                    "the agent jar", "arrakis.agent.jar");
            Path samples = existing(System.getProperty("arrakis.demo.samples", "samples/target/classes"),
                    "the samples' classes", "arrakis.demo.samples");
            List<ScenarioResult> results = run(chosen, sizes, agentJar, samples, out, System.out);
            boolean anyFailure = results.stream().flatMap(r -> r.cases().stream())
                    .anyMatch(c -> !c.failures().isEmpty());
            System.out.println("\n" + Files.readString(out.resolve(Report.SUMMARY)));
            System.out.println("results in " + out.toAbsolutePath().normalize()
                    + (anyFailure ? " (some rows failed: their reasons are in the table and the JSON)" : ""));
        } catch (IOException e) {
            System.err.println("bench-servers: " + e.getMessage());
            System.exit(1);
        }
    }

    /**
     * Runs {@code scenarios} at {@code sizes} and writes their results into {@code out}: a JSON
     * file and plots per scenario, and the summary table of them all. Progress goes to {@code log}.
     */
    static List<ScenarioResult> run(List<Scenario> scenarios, Sizes sizes, Path agentJar, Path samples, Path out,
            PrintStream log) throws IOException, InterruptedException {
        Files.createDirectories(out);
        Path work = Files.createTempDirectory("arrakis-bench-servers");
        List<ScenarioResult> results = new ArrayList<>();
        ZonedDateTime started = ZonedDateTime.now(ZoneOffset.UTC);
        try (ChildProcesses children = new ChildProcesses()) {
            ServerRunner.Setup setup = ServerRunner.Setup.of(agentJar, samples, work.resolve("control.sock"), work);
            try (ControlPlane plane = ControlPlane.startEmbedded(setup.controlSocket());
                    ControlClient control = ControlClient.connect(setup.controlSocket())) {
                ServerRunner runner = new ServerRunner(setup, children, control);
                log.printf(Locale.ROOT, "bench-servers: %s sizes, %d repetition%s, %.1f s warm-up + %.1f s per run;"
                                + " load average %s; control plane embedded (pid %d)%n", sizes.name(),
                        sizes.repetitions(), sizes.repetitions() == 1 ? "" : "s", sizes.warmupSeconds(),
                        sizes.durationSeconds(), ChildProcesses.loadAverage(), ProcessHandle.current().pid());
                for (Scenario scenario : scenarios) {
                    ScenarioResult result = runScenario(runner, scenario, sizes, log);
                    results.add(result);
                    Report.writeScenario(out, result);
                }
            }
            Report.writeSummary(out, results, started);
        } finally {
            ChildProcesses.deleteRecursively(work);
        }
        return results;
    }

    /**
     * Every case of {@code scenario} on every path, {@code sizes.repetitions()} times; odd
     * repetitions take the paths in the scenario's order, even ones in reverse. A case that fails
     * on a path is recorded with its reason and the rest go on; a server that died is restarted.
     */
    static ScenarioResult runScenario(ServerRunner runner, Scenario scenario, Sizes sizes, PrintStream log)
            throws IOException, InterruptedException {
        String timestamp = ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        String loadBefore = ChildProcesses.loadAverage();
        log.printf("%n== %s: %s%n", scenario.name(), scenario.title());
        Map<Case, CaseResult> results = new LinkedHashMap<>();
        scenario.cases().forEach(c -> results.put(c, CaseResult.empty(c)));
        Map<ServerSpec, List<Case>> groups = new LinkedHashMap<>();
        scenario.cases().forEach(c -> groups.computeIfAbsent(c.server(), s -> new ArrayList<>()).add(c));
        // Servers that could not start on a path: not retried (the reason will not change).
        Map<String, String> cannotStart = new LinkedHashMap<>();
        for (int repetition = 1; repetition <= sizes.repetitions(); repetition++) {
            List<DataPath> order = new ArrayList<>(scenario.paths());
            if (repetition % 2 == 0) {
                java.util.Collections.reverse(order);
            }
            for (DataPath path : order) {
                for (Map.Entry<ServerSpec, List<Case>> group : groups.entrySet()) {
                    runGroup(runner, scenario, group.getKey(), group.getValue(), path, repetition, sizes, results,
                            cannotStart, log);
                }
            }
        }
        return new ScenarioResult(scenario, timestamp, sizes, List.copyOf(results.values()), loadBefore,
                ChildProcesses.loadAverage());
    }

    private static void runGroup(ServerRunner runner, Scenario scenario, ServerSpec spec, List<Case> cases,
            DataPath path, int repetition, Sizes sizes, Map<Case, CaseResult> results, Map<String, String> cannotStart,
            PrintStream log) throws InterruptedException {
        String key = spec + "/" + path;
        Session session = null;
        try {
            for (Case c : cases) {
                CaseResult result = results.get(c);
                if (cannotStart.containsKey(key)) {
                    result.failures().putIfAbsent(path, cannotStart.get(key));
                    continue;
                }
                log.printf(Locale.ROOT, "  r%d %-10s %-48s ", repetition, path.key, c.title()
                        + (spec.durable() == null ? "" : ", AOF " + spec.durable().key));
                log.flush();
                try {
                    if (session == null || !session.alive()) {
                        closeQuietly(session, log);
                        session = null;
                        try {
                            session = open(runner, scenario, spec, path, sizes, log);
                        } catch (IOException e) {
                            cannotStart.put(key, e.getMessage());
                            throw e;
                        }
                    }
                    Measurement m = session.run(c, repetition);
                    result.runs().computeIfAbsent(path, p -> new ArrayList<>()).add(m);
                    log.printf(Locale.ROOT, "%,12.0f ops/s  p50 %8.1f us  p99 %8.1f us%n", m.opsPerSecond(),
                            m.p50Micros(), m.p99Micros());
                } catch (IOException e) {
                    result.failures().putIfAbsent(path, e.getMessage());
                    String first = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
                    log.println("FAILED: " + first);
                }
            }
        } finally {
            closeQuietly(session, log);
        }
    }

    private static Session open(ServerRunner runner, Scenario scenario, ServerSpec spec, DataPath path, Sizes sizes,
            PrintStream log) throws IOException, InterruptedException {
        if (scenario.realClients()) {
            return RealClients.open(runner, spec, path, sizes);
        }
        ServerRunner.RunningServer server = runner.start(spec, path);
        try {
            runner.warmUp(server, sizes);
        } catch (IOException | InterruptedException | RuntimeException e) {
            runner.stop(server, false);
            throw e;
        }
        return new Session() {
            @Override
            public Measurement run(Case c, int repetition) throws IOException, InterruptedException {
                return runner.runLoadGenerator(server, c, repetition, sizes);
            }

            @Override
            public boolean alive() {
                return server.process().isAlive();
            }

            @Override
            public void close() throws IOException, InterruptedException {
                ServerRunner.StoredAof stored = runner.stop(server, false);
                if (stored != null) {
                    log.printf(Locale.ROOT, "  (AOF on our storage, read back from the VSA after the stop: %,d bytes in"
                            + " %,d log records, log end at %,d bytes, recovers clean)%n", stored.aofBytes(),
                            stored.records(), stored.logBytes());
                }
            }
        };
    }

    private static void closeQuietly(Session session, PrintStream log) throws InterruptedException {
        if (session == null) {
            return;
        }
        try {
            session.close();
        } catch (IOException e) {
            log.println("  (stopping a server: " + e.getMessage() + ")");
        }
    }

    private static String value(String[] args, int i) {
        if (i + 1 >= args.length) {
            throw new IllegalArgumentException("option " + args[i] + " needs a value");
        }
        return args[i + 1];
    }

    private static Path existing(String path, String what, String property) throws IOException {
        Path p = Path.of(path).toAbsolutePath().normalize();
        if (!Files.exists(p)) {
            throw new IOException(what + " is not at " + p + "; build first (./dev bench-servers does), or name it"
                    + " with -D" + property + "=<path>");
        }
        return p;
    }
}

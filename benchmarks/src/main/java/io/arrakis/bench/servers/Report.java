package io.arrakis.bench.servers;

import io.arrakis.bench.servers.Measurement.Spread;
import io.arrakis.bench.servers.Measurement.Summary;
import io.arrakis.bench.servers.Scenario.Case;
import io.arrakis.bench.servers.Scenario.DataPath;
import io.arrakis.bench.servers.Scenario.ServerKind;
import io.arrakis.bench.servers.Scenario.ServerSpec;
import io.arrakis.bench.servers.ServerBenchmark.CaseResult;
import io.arrakis.bench.servers.ServerBenchmark.ScenarioResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The benchmark's files: per scenario {@code <scenario>-<timestamp>.json} (every repetition and
 * the summary), {@code <scenario>-<timestamp>-<case>-latency.png} and
 * {@code <scenario>-<timestamp>-throughput.png}; for the whole run {@value #SUMMARY}, the
 * markdown table with the ratios. Stateless.
 */
final class Report {
    static final String SUMMARY = "summary.md";

    private Report() {}

    /** The summary of one path's repetitions of a case, or null when it has none. */
    static Summary summary(CaseResult result, DataPath path) {
        List<Measurement> runs = result.runs(path);
        return runs.isEmpty() ? null : Summary.of(runs);
    }

    /** Ours against the kernel (the first path of the scenario against the second): each median divided. */
    static Map<String, Object> ratios(Summary ours, Summary kernel) {
        if (ours == null || kernel == null) {
            return null;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("opsPerSecond", ours.opsPerSecond().median() / kernel.opsPerSecond().median());
        out.put("p50Micros", ours.p50Micros().median() / kernel.p50Micros().median());
        out.put("p99Micros", ours.p99Micros().median() / kernel.p99Micros().median());
        out.put("p999Micros", ours.p999Micros().median() / kernel.p999Micros().median());
        return out;
    }

    /** Writes the scenario's JSON and plots into {@code out}; returns the files' names. */
    static List<String> writeScenario(Path out, ScenarioResult result) throws IOException {
        Scenario scenario = result.scenario();
        String stem = scenario.name() + "-" + result.timestamp();
        List<String> files = new ArrayList<>();
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("scenario", scenario.name());
        root.put("title", scenario.title());
        root.put("timestamp", result.timestamp());
        Map<String, Object> sizes = new LinkedHashMap<>();
        sizes.put("name", result.sizes().name());
        sizes.put("repetitions", result.sizes().repetitions());
        sizes.put("warmupSeconds", result.sizes().warmupSeconds());
        sizes.put("durationSeconds", result.sizes().durationSeconds());
        sizes.put("keys", result.sizes().keys());
        sizes.put("valueSize", result.sizes().valueSize());
        root.put("sizes", sizes);
        Map<String, Object> machine = new LinkedHashMap<>();
        machine.put("cpus", Runtime.getRuntime().availableProcessors());
        machine.put("loadAverageBefore", result.loadBefore());
        machine.put("loadAverageAfter", result.loadAfter());
        machine.put("kernel", System.getProperty("os.version"));
        machine.put("java", System.getProperty("java.version"));
        root.put("machine", machine);
        root.put("paths", scenario.paths().stream().map(p -> p.key + ": " + p.description).toList());
        List<Object> cases = new ArrayList<>();
        for (CaseResult c : result.cases()) {
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("name", c.c().name());
            json.put("title", c.c().title());
            json.put("server", c.c().server().describe());
            json.put("operation", c.c().load().operation());
            json.put("connections", c.c().load().connections());
            json.put("pipeline", c.c().load().pipeline());
            Map<String, Object> summaries = new LinkedHashMap<>();
            List<Object> runs = new ArrayList<>();
            for (DataPath path : scenario.paths()) {
                Summary summary = summary(c, path);
                summaries.put(path.key, summary == null ? null : summary.toJson());
                c.runs(path).forEach(m -> runs.add(m.toJson()));
            }
            json.put("summary", summaries);
            if (scenario.paths().size() == 2) {
                json.put("ratios", ratios(summary(c, scenario.paths().get(0)), summary(c, scenario.paths().get(1))));
            }
            Map<String, Object> failures = new LinkedHashMap<>();
            c.failures().forEach((path, why) -> failures.put(path.key, why));
            json.put("failures", failures);
            json.put("runs", runs);
            cases.add(json);
        }
        root.put("cases", cases);
        Path json = out.resolve(stem + ".json");
        Files.writeString(json, Json.write(root));
        files.add(json.getFileName().toString());

        for (CaseResult c : result.cases()) {
            List<Charts.Curve> curves = new ArrayList<>();
            for (DataPath path : scenario.paths()) {
                double[][] curve = Measurement.medianCurve(c.runs(path));
                if (curve.length > 0) {
                    curves.add(new Charts.Curve(label(c.c().server(), path), curve));
                }
            }
            if (!curves.isEmpty()) {
                Path png = out.resolve(stem + "-" + c.c().name() + "-latency.png");
                Charts.latency(png, scenario.name() + ": " + c.c().title() + " (median of " + result.sizes().repetitions()
                        + " per percentile)", curves);
                files.add(png.getFileName().toString());
            }
        }
        List<Charts.Throughput> lines = throughputLines(List.of(result), c -> true);
        if (!lines.isEmpty()) {
            Path png = out.resolve(stem + "-throughput.png");
            Charts.throughput(png, scenario.name() + ": throughput versus connections", lines);
            files.add(png.getFileName().toString());
        }
        return files;
    }

    /**
     * Lines of throughput against connections: one per scenario, path and family of cases (same
     * server, operation and pipeline depth), in order of connections.
     */
    static List<Charts.Throughput> throughputLines(List<ScenarioResult> results, java.util.function.Predicate<Case> keep) {
        Map<String, List<Charts.Throughput.Point>> lines = new LinkedHashMap<>();
        for (ScenarioResult result : results) {
            for (DataPath path : result.scenario().paths()) {
                for (CaseResult c : result.cases()) {
                    Summary summary = summary(c, path);
                    if (summary == null || !keep.test(c.c())) {
                        continue;
                    }
                    String title = c.c().title();
                    String family = label(c.c().server(), path) + ", " + (result.scenario().realClients()
                            ? title.substring(0, title.indexOf(',')) // the tool and its operation
                            : c.c().load().operation()
                                    + (c.c().load().pipeline() == 1 ? "" : ", pipeline " + c.c().load().pipeline())
                                    + (c.c().server().kind().resp() ? "" : ", " + c.c().server().threads() + " workers")
                                    + durableLabel(c.c().server(), path));
                    lines.computeIfAbsent(family, f -> new ArrayList<>())
                            .add(new Charts.Throughput.Point(c.c().load().connections(), summary.opsPerSecond()));
                }
            }
        }
        List<Charts.Throughput> out = new ArrayList<>();
        lines.forEach((label, points) -> {
            points.sort(java.util.Comparator.comparingInt(Charts.Throughput.Point::connections));
            out.add(new Charts.Throughput(label, points));
        });
        return out;
    }

    /** For a durable case's line: where our path's AOF was (the kernel's path always has it on /tmp). */
    private static String durableLabel(ServerSpec server, DataPath path) {
        if (server.durable() == null) {
            return "";
        }
        return ", appendfsync always" + (path.agent() && server.durable().onStore()
                ? ", AOF on our storage (" + server.durable().storageBackend + ")"
                : server.durable().onStore() ? " (vs AOF on our storage, " + server.durable().storageBackend + ")" : "");
    }

    /** A line's name in the plots: the path for our servers, the program for the C ones. */
    private static String label(ServerSpec server, DataPath path) {
        return server.kind().java() ? path.description : server.kind().description;
    }

    /** Writes {@value #SUMMARY}: a table per scenario, ours against the C servers, and the run's plot. */
    static void writeSummary(Path out, List<ScenarioResult> results, ZonedDateTime started) throws IOException {
        StringBuilder md = new StringBuilder("# Server benchmark (issue 6)\n\n");
        md.append(String.format(Locale.ROOT, "Run of %s UTC: `./dev bench-servers`%s; %d CPUs; Java %s.%n",
                started.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm")),
                results.isEmpty() ? "" : " (" + results.getFirst().sizes().name() + " sizes, "
                        + results.getFirst().sizes().repetitions() + " repetitions, paths alternating which goes first)",
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version")));
        md.append("Each cell: median (min–max) over the repetitions. **ours/kernel** divides the medians:"
                + " above 1 is better for throughput, below 1 is better for latency. Latency is the client's, from"
                + " each request's send to its reply, in µs.\n");
        for (ScenarioResult result : results) {
            Scenario scenario = result.scenario();
            md.append("\n## ").append(scenario.name()).append(": ").append(scenario.title()).append("\n\n");
            md.append("Load average ").append(result.loadBefore()).append(" before, ").append(result.loadAfter())
                    .append(" after. Files: `").append(scenario.name()).append('-').append(result.timestamp())
                    .append(".json` and its plots.\n\n");
            java.util.Set<String> shown = new java.util.HashSet<>();
            md.append("| case | server | path | ops/s | p50 µs | p99 µs | p99.9 µs |\n");
            md.append("|---|---|---|---|---|---|---|\n");
            for (CaseResult c : result.cases()) {
                boolean first = true;
                for (DataPath path : scenario.paths()) {
                    md.append("| ").append(first ? c.c().title() : "").append(" | ")
                            .append(first ? c.c().server().describe() : "").append(" | ")
                            .append(path.description).append(" | ");
                    first = false;
                    Summary s = summary(c, path);
                    String failure = c.failures().get(path);
                    if (s == null) {
                        String why = failure == null ? "no result" : cell(failure);
                        md.append("**failed**: ").append(shown.add(why) ? why : "as above").append(" | | | |\n");
                        continue;
                    }
                    md.append(spread(s.opsPerSecond(), "%,.0f")).append(" | ").append(spread(s.p50Micros(), "%.1f"))
                            .append(" | ").append(spread(s.p99Micros(), "%.1f")).append(" | ")
                            .append(spread(s.p999Micros(), "%.1f")).append(" |");
                    if (failure != null) {
                        md.append(" (").append(s.repetitions()).append(" of ").append(result.sizes().repetitions())
                                .append(" repetitions; one failed: ").append(cell(failure)).append(')');
                    }
                    md.append('\n');
                }
                if (scenario.paths().size() == 2) {
                    Map<String, Object> r = ratios(summary(c, scenario.paths().get(0)),
                            summary(c, scenario.paths().get(1)));
                    if (r != null) {
                        md.append("| | | **").append(scenario.paths().get(0).key).append('/')
                                .append(scenario.paths().get(1).key).append("** | **")
                                .append(ratio((Double) r.get("opsPerSecond"))).append("** | ")
                                .append(ratio((Double) r.get("p50Micros"))).append(" | ")
                                .append(ratio((Double) r.get("p99Micros"))).append(" | ")
                                .append(ratio((Double) r.get("p999Micros"))).append(" |\n");
                    }
                }
            }
        }
        appendAgainstC(md, results);
        List<Charts.Throughput> redisGet = throughputLines(results.stream()
                        .filter(r -> !r.scenario().realClients()).toList(),
                c -> c.server().kind().resp() && c.server().durable() == null && c.load().sets() == 0
                        && c.load().pipeline() == 1);
        if (!redisGet.isEmpty()) {
            String name = "redis-get-throughput-" + results.getFirst().timestamp() + ".png";
            Charts.throughput(out.resolve(name), "Redis GET, pipeline 1: throughput versus connections", redisGet);
            md.append("\n![Redis GET throughput versus connections](").append(name).append(")\n");
        }
        Files.writeString(out.resolve(SUMMARY), md.toString());
    }

    /** Ours (with the agent) against the C server doing the same case, when the run has both. */
    private static void appendAgainstC(StringBuilder md, List<ScenarioResult> results) {
        Map<String, CaseResult> reference = new LinkedHashMap<>();
        for (ScenarioResult r : results) {
            for (CaseResult c : r.cases()) {
                if (!c.c().server().kind().java()) {
                    reference.put(matchKey(c.c(), c.c().server().kind()), c);
                }
            }
        }
        List<String> rows = new ArrayList<>();
        for (ScenarioResult r : results) {
            if (r.scenario().realClients() || !r.scenario().paths().contains(DataPath.AGENT)) {
                continue;
            }
            for (CaseResult c : r.cases()) {
                ServerKind twin = c.c().server().kind() == ServerKind.REDIS_JAVA ? ServerKind.REDIS_C : ServerKind.MEMCACHED_C;
                CaseResult theirs = reference.get(matchKey(c.c(), twin));
                Summary ours = summary(c, DataPath.AGENT);
                Summary kernel = summary(c, DataPath.KERNEL);
                Summary c2 = theirs == null ? null : summary(theirs, DataPath.KERNEL);
                if (ours == null || c2 == null) {
                    continue;
                }
                rows.add("| " + c.c().title() + " | " + c.c().server().describe() + " | "
                        + String.format(Locale.ROOT, "%,.0f", ours.opsPerSecond().median()) + " | "
                        + String.format(Locale.ROOT, "%,.0f", c2.opsPerSecond().median()) + " | **"
                        + ratio(ours.opsPerSecond().median() / c2.opsPerSecond().median()) + "** | "
                        + (kernel == null ? "–" : ratio(kernel.opsPerSecond().median() / c2.opsPerSecond().median()))
                        + " | " + ratio(ours.p50Micros().median() / c2.p50Micros().median()) + " | "
                        + ratio(ours.p99Micros().median() / c2.p99Micros().median()) + " |");
            }
        }
        if (rows.isEmpty()) {
            return;
        }
        md.append("\n## Ours against the C servers\n\n");
        md.append("The Java server with the agent against the C server on the kernel's loopback, same load generator"
                + " and case (medians). Throughput: above 1 is ours faster; latency: below 1 is ours lower.\n\n");
        md.append("| case | server | ours ops/s | C ops/s | ours/C ops/s | Java kernel/C ops/s | ours/C p50 |"
                + " ours/C p99 |\n|---|---|---|---|---|---|---|---|\n");
        rows.forEach(row -> md.append(row).append('\n'));
    }

    private static String matchKey(Case c, ServerKind kind) {
        ServerSpec s = c.server();
        // Every durable Java case (wherever its AOF is) against the C server's durable case (/tmp).
        return kind + "/" + s.threads() + "/" + (s.durable() != null) + "/" + c.load();
    }

    private static String spread(Spread s, String format) {
        if (Double.isNaN(s.median())) {
            return "–";
        }
        if (s.min() == s.max()) {
            return String.format(Locale.ROOT, format, s.median());
        }
        return String.format(Locale.ROOT, format + " (" + format + "–" + format + ")", s.median(), s.min(), s.max());
    }

    private static String ratio(double r) {
        return Double.isNaN(r) || Double.isInfinite(r) ? "–" : String.format(Locale.ROOT, "%.2f×", r);
    }

    /** A failure message fit for one table cell: its first line, pipes escaped, at most 300 characters. */
    private static String cell(String text) {
        String line = text.lines().findFirst().orElse("").replace("|", "\\|");
        return line.length() > 300 ? line.substring(0, 300) + "…" : line;
    }
}

package io.arrakis.bench.servers;

import io.arrakis.bench.servers.Scenario.DataPath;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One repetition of one case on one path: what the client measured (throughput, latency
 * percentiles in microseconds, the percentile curve when the client gives one) and what the
 * server's VNIC counted meanwhile (zero on the kernel's path). Immutable.
 *
 * @param curve {percentile, microseconds} pairs, empty when the client gives no curve
 * @param details what else the client said worth keeping (e.g. memcaslap's verification counts)
 */
record Measurement(DataPath path, int repetition, long operations, double opsPerSecond, double p50Micros,
        double p99Micros, double p999Micros, double maxMicros, long serverFramesIn, long serverFramesOut,
        double[][] curve, Map<String, Object> details) {

    /** The load generator's JSON (its {@code total} row and its curve). */
    static Measurement fromLoadGenerator(DataPath path, int repetition, String json, long framesIn, long framesOut) {
        Map<String, Object> root = Json.object(Json.parse(json), "the load generator's results");
        Map<String, Object> total = Json.object(root.get("total"), "\"total\"");
        Map<String, Object> latency = Json.object(total.get("latencyMicros"), "\"total.latencyMicros\"");
        List<Object> points = Json.array(root.get("latencyCurveMicros"), "\"latencyCurveMicros\"");
        double[][] curve = new double[points.size()][];
        for (int i = 0; i < curve.length; i++) {
            List<Object> point = Json.array(points.get(i), "a curve point");
            curve[i] = new double[] {Json.number(point.get(0), "a percentile"), Json.number(point.get(1), "a latency")};
        }
        return new Measurement(path, repetition, (long) Json.number(total.get("ops"), "total.ops"),
                Json.number(total.get("opsPerSecond"), "total.opsPerSecond"), Json.number(latency.get("p50"), "p50"),
                Json.number(latency.get("p99"), "p99"), Json.number(latency.get("p99.9"), "p99.9"),
                Json.number(latency.get("max"), "max"), framesIn, framesOut, curve, Map.of());
    }

    Map<String, Object> toJson() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("path", path.key);
        out.put("repetition", repetition);
        out.put("operations", operations);
        out.put("opsPerSecond", opsPerSecond);
        out.put("p50Micros", p50Micros);
        out.put("p99Micros", p99Micros);
        out.put("p999Micros", p999Micros);
        out.put("maxMicros", maxMicros);
        out.put("serverFramesIn", serverFramesIn);
        out.put("serverFramesOut", serverFramesOut);
        out.putAll(details);
        out.put("latencyCurveMicros", new ArrayList<>(Arrays.asList(curve)));
        return out;
    }

    /** Median, minimum and maximum of one figure over repetitions. */
    record Spread(double median, double min, double max) {
        static Spread of(List<Double> values) {
            double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            if (sorted.length == 0) {
                return new Spread(Double.NaN, Double.NaN, Double.NaN);
            }
            int n = sorted.length;
            double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
            return new Spread(median, sorted[0], sorted[n - 1]);
        }

        Map<String, Object> toJson() {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("median", median);
            out.put("min", min);
            out.put("max", max);
            return out;
        }
    }

    /** The four figures the table shows, each over the repetitions of one path. */
    record Summary(int repetitions, Spread opsPerSecond, Spread p50Micros, Spread p99Micros, Spread p999Micros) {
        static Summary of(List<Measurement> runs) {
            return new Summary(runs.size(), Spread.of(runs.stream().map(Measurement::opsPerSecond).toList()),
                    Spread.of(runs.stream().map(Measurement::p50Micros).toList()),
                    Spread.of(runs.stream().map(Measurement::p99Micros).toList()),
                    Spread.of(runs.stream().map(Measurement::p999Micros).toList()));
        }

        Map<String, Object> toJson() {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("repetitions", repetitions);
            out.put("opsPerSecond", opsPerSecond.toJson());
            out.put("p50Micros", p50Micros.toJson());
            out.put("p99Micros", p99Micros.toJson());
            out.put("p999Micros", p999Micros.toJson());
            return out;
        }
    }

    /**
     * The pointwise median of the runs' curves (each percentile's median latency), for the plots;
     * empty when the runs have no curves or curves of different shapes.
     */
    static double[][] medianCurve(List<Measurement> runs) {
        if (runs.isEmpty() || runs.getFirst().curve.length == 0) {
            return new double[0][];
        }
        int points = runs.getFirst().curve.length;
        if (runs.stream().anyMatch(r -> r.curve.length != points)) {
            return new double[0][];
        }
        double[][] median = new double[points][];
        for (int i = 0; i < points; i++) {
            int index = i;
            median[i] = new double[] {runs.getFirst().curve[i][0],
                    Spread.of(runs.stream().map(r -> r.curve[index][1]).toList()).median()};
        }
        return median;
    }
}

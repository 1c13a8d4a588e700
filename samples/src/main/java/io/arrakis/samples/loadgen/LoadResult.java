package io.arrakis.samples.loadgen;

import java.util.Locale;
import org.HdrHistogram.Histogram;

/**
 * The outcome of a run: per operation and in total, the measured throughput and latency
 * percentiles (microseconds), hits, misses and errors, as a table and as JSON. Immutable.
 */
public final class LoadResult {
    /** One row: an operation (GET, SET) or all of them. */
    public record Row(String name, long operations, double operationsPerSecond, long hits, long misses,
            long errors, double p50Micros, double p90Micros, double p99Micros, double p999Micros, double maxMicros,
            double meanMicros) {

        static Row of(String name, OperationStats stats, double seconds) {
            Histogram h = stats.latencyNanos;
            boolean any = h.getTotalCount() > 0;
            return new Row(name, stats.measured, stats.measured / seconds, stats.hits, stats.misses, stats.errors,
                    any ? h.getValueAtPercentile(50) / 1e3 : 0, any ? h.getValueAtPercentile(90) / 1e3 : 0,
                    any ? h.getValueAtPercentile(99) / 1e3 : 0, any ? h.getValueAtPercentile(99.9) / 1e3 : 0,
                    any ? h.getMaxValue() / 1e3 : 0, any ? h.getMean() / 1e3 : 0);
        }
    }

    private final String description;
    private final LoadConfig config;
    private final Row get;
    private final Row set;
    private final Row total;
    private final int connectionFailures;
    private final String firstFailure;
    /** {percentile, microseconds} pairs of all operations' latency, for percentile plots. */
    private final double[][] totalCurve;

    /** Where {@link #latencyCurve} samples the distribution: evenly to the median, then by nines. */
    static final double[] CURVE_PERCENTILES = {0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 99.75,
            99.9, 99.95, 99.99, 99.995, 99.999, 100};

    /** Seconds the warm-up went on past the configured one while the JIT compiler worked. */
    private final double extraWarmupSeconds;

    LoadResult(LoadConfig config, OperationStats gets, OperationStats sets, int connectionFailures, String firstFailure,
            double extraWarmupSeconds) {
        this.config = config;
        this.extraWarmupSeconds = extraWarmupSeconds;
        this.description = config.describe() + (extraWarmupSeconds > 0
                ? String.format(Locale.ROOT, " (+%.1f s while the JIT compiler worked)", extraWarmupSeconds) : "");
        double seconds = config.durationSeconds;
        this.get = Row.of("GET", gets, seconds);
        this.set = Row.of("SET", sets, seconds);
        OperationStats all = new OperationStats();
        all.add(gets);
        all.add(sets);
        this.total = Row.of("ALL", all, seconds);
        this.totalCurve = curve(all.latencyNanos);
        this.connectionFailures = connectionFailures;
        this.firstFailure = firstFailure;
    }

    public Row get() {
        return get;
    }

    public Row set() {
        return set;
    }

    public Row total() {
        return total;
    }

    /** Wrong or error replies, plus requests lost with a failed connection. */
    public long errors() {
        return total.errors();
    }

    public int connectionFailures() {
        return connectionFailures;
    }

    public String firstFailure() {
        return firstFailure;
    }

    /**
     * The latency of all operations at each of {@link #CURVE_PERCENTILES}: {percentile,
     * microseconds} pairs, empty when nothing was measured.
     */
    public double[][] latencyCurve() {
        double[][] copy = new double[totalCurve.length][];
        for (int i = 0; i < totalCurve.length; i++) {
            copy[i] = totalCurve[i].clone();
        }
        return copy;
    }

    private static double[][] curve(Histogram h) {
        if (h.getTotalCount() == 0) {
            return new double[0][];
        }
        double[][] points = new double[CURVE_PERCENTILES.length][];
        for (int i = 0; i < points.length; i++) {
            double percentile = CURVE_PERCENTILES[i];
            long nanos = percentile == 0 ? h.getMinValue() : percentile == 100 ? h.getMaxValue()
                    : h.getValueAtPercentile(percentile);
            points[i] = new double[] {percentile, nanos / 1e3};
        }
        return points;
    }

    public String table() {
        StringBuilder out = new StringBuilder(description).append('\n');
        out.append(String.format(Locale.ROOT, "%-4s %12s %9s %9s %9s %9s %9s %9s %8s %8s%n", "op", "ops/s", "p50 us",
                "p90 us", "p99 us", "p99.9 us", "max us", "mean us", "misses", "errors"));
        for (Row row : new Row[] {get, set, total}) {
            out.append(String.format(Locale.ROOT, "%-4s %12.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %8d %8d%n",
                    row.name(), row.operationsPerSecond(), row.p50Micros(), row.p90Micros(), row.p99Micros(),
                    row.p999Micros(), row.maxMicros(), row.meanMicros(), row.misses(), row.errors()));
        }
        if (connectionFailures > 0) {
            out.append("connection failures: ").append(connectionFailures).append(" (first: ").append(firstFailure)
                    .append(")\n");
        }
        return out.toString();
    }

    public String json() {
        StringBuilder out = new StringBuilder("{\n");
        out.append("  \"description\": ").append(quote(description)).append(",\n");
        out.append("  \"config\": {");
        out.append("\"protocol\": ").append(quote(config.protocol == LoadConfig.Protocol.RESP ? "resp" : "memcache"));
        out.append(", \"host\": ").append(quote(config.host));
        out.append(", \"port\": ").append(config.port);
        out.append(", \"connections\": ").append(config.connections);
        out.append(", \"threads\": ").append(config.threads);
        out.append(", \"pipeline\": ").append(config.pipeline);
        out.append(", \"rate\": ").append(config.rate);
        out.append(", \"warmupSeconds\": ").append(number(config.warmupSeconds));
        out.append(", \"durationSeconds\": ").append(number(config.durationSeconds));
        out.append(", \"extraWarmupSeconds\": ").append(number(extraWarmupSeconds));
        out.append(", \"keys\": ").append(config.keys);
        out.append(", \"valueSize\": ").append(config.valueSize);
        out.append(", \"getWeight\": ").append(config.getWeight);
        out.append(", \"setWeight\": ").append(config.setWeight);
        out.append("},\n");
        out.append("  \"total\": ").append(rowJson(total)).append(",\n");
        out.append("  \"get\": ").append(rowJson(get)).append(",\n");
        out.append("  \"set\": ").append(rowJson(set)).append(",\n");
        out.append("  \"errors\": ").append(errors()).append(",\n");
        out.append("  \"connectionFailures\": ").append(connectionFailures).append(",\n");
        out.append("  \"firstFailure\": ").append(firstFailure == null ? "null" : quote(firstFailure)).append(",\n");
        out.append("  \"latencyCurveMicros\": [");
        for (int i = 0; i < totalCurve.length; i++) {
            out.append(i == 0 ? "" : ", ").append('[').append(totalCurve[i][0]).append(", ")
                    .append(number(totalCurve[i][1])).append(']');
        }
        out.append("]\n");
        return out.append("}\n").toString();
    }

    private static String rowJson(Row r) {
        return String.format(Locale.ROOT, "{\"ops\": %d, \"opsPerSecond\": %s, \"hits\": %d, \"misses\": %d, "
                        + "\"errors\": %d, \"latencyMicros\": {\"p50\": %s, \"p90\": %s, \"p99\": %s, \"p99.9\": %s, "
                        + "\"max\": %s, \"mean\": %s}}",
                r.operations(), number(r.operationsPerSecond()), r.hits(), r.misses(), r.errors(),
                number(r.p50Micros()), number(r.p90Micros()), number(r.p99Micros()), number(r.p999Micros()),
                number(r.maxMicros()), number(r.meanMicros()));
    }

    private static String number(double value) {
        return String.format(Locale.ROOT, "%.3f", value);
    }

    private static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}

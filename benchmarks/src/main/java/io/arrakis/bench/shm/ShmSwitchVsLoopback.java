package io.arrakis.bench.shm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.util.Statistics;

/**
 * Round trips of a 64-byte message between two JVMs, every {@link RoundTripPath.Kind} in one
 * run: the foundation's raw cross-process SPSC ring (the physical limit; cross-vCPU rings here
 * have a "near" and a "far" mode, so the goals are judged against the ring of the same run),
 * through the shared-memory switch (raw frames at the queue; UDP ping-pong and TCP
 * request/response through our stack) and through the kernel's loopback with JDK channels
 * (blocking, and busy-polling). Sample mode, so JMH reports p50/p99 of single round trips. Each
 * trial starts its own echo peer (and, for the shm paths, its own embedded control plane); every
 * echo is checked against the sequence number sent.
 *
 * <p>{@code ./dev bench ShmSwitchVsLoopback} gives JMH's table. {@code java
 * --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar
 * io.arrakis.bench.shm.ShmSwitchVsLoopback [JMH options]} runs the same and then prints medians,
 * p99, the spread of the per-iteration medians (noise), the load average, and the ratios
 * kernel/ours: the figures to quote.
 */
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx512m"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 4, time = 2)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ShmSwitchVsLoopback {

    @State(Scope.Thread)
    public static class Exchange {
        @Param({"RAW_RING", "SHM_RAW", "SHM_RAW_STEERED", "SHM_UDP", "SHM_TCP", "KERNEL_UDP", "KERNEL_TCP", "KERNEL_UDP_SPIN", "KERNEL_TCP_SPIN"})
        public RoundTripPath.Kind path;
        RoundTripPath roundTrips;
        int sequence;

        @Setup(Level.Trial)
        public void open() throws IOException {
            roundTrips = RoundTripPath.open(path);
        }

        @TearDown(Level.Trial)
        public void close() throws IOException {
            roundTrips.close();
        }
    }

    @Benchmark
    public int roundTrip(Exchange state) throws IOException {
        int sequence = state.sequence++;
        state.roundTrips.roundTrip(sequence);
        return sequence;
    }

    /** Runs the benchmark (extra arguments are JMH's) and prints the summary with ratios. */
    public static void main(String[] args) throws RunnerException, CommandLineOptionException, IOException {
        String before = loadAverage();
        Options options = new OptionsBuilder().parent(new CommandLineOptions(args))
                .include(ShmSwitchVsLoopback.class.getName() + ".roundTrip").build();
        Collection<RunResult> results = new Runner(options).run();
        String after = loadAverage();
        System.out.println();
        System.out.print(summary(results));
        System.out.println("load average (1, 5, 15 min) before: " + before + "; after: " + after);
    }

    /** p50, p99 (µs) and the per-iteration medians' range, per path, then the ratios kernel/ours. */
    static String summary(Collection<RunResult> results) {
        Map<RoundTripPath.Kind, double[]> figures = new EnumMap<>(RoundTripPath.Kind.class);
        StringBuilder text = new StringBuilder(String.format("%-44s %10s %10s %22s%n", "64-byte round trip",
                "p50 (µs)", "p99 (µs)", "iteration p50s (µs)"));
        for (RunResult result : results) {
            BenchmarkParams params = result.getParams();
            RoundTripPath.Kind kind = RoundTripPath.Kind.valueOf(params.getParam("path"));
            Statistics all = result.getPrimaryResult().getStatistics();
            List<Double> medians = new ArrayList<>();
            for (var benchmark : result.getBenchmarkResults()) {
                for (IterationResult iteration : benchmark.getIterationResults()) {
                    medians.add(iteration.getPrimaryResult().getStatistics().getPercentile(50) / 1e3);
                }
            }
            double p50 = all.getPercentile(50) / 1e3;
            double p99 = all.getPercentile(99) / 1e3;
            figures.put(kind, new double[] {p50, p99});
            text.append(String.format("%-44s %10.2f %10.2f %10.2f .. %-8.2f%n", kind.description, p50, p99,
                    medians.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN),
                    medians.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN)));
        }
        text.append(ratio(figures, RoundTripPath.Kind.KERNEL_UDP, RoundTripPath.Kind.SHM_UDP));
        text.append(ratio(figures, RoundTripPath.Kind.KERNEL_UDP_SPIN, RoundTripPath.Kind.SHM_UDP));
        text.append(ratio(figures, RoundTripPath.Kind.KERNEL_TCP, RoundTripPath.Kind.SHM_TCP));
        text.append(ratio(figures, RoundTripPath.Kind.KERNEL_TCP_SPIN, RoundTripPath.Kind.SHM_TCP));
        text.append(ratio(figures, RoundTripPath.Kind.SHM_UDP, RoundTripPath.Kind.SHM_RAW));
        text.append(ratio(figures, RoundTripPath.Kind.SHM_RAW, RoundTripPath.Kind.RAW_RING));
        text.append(ratio(figures, RoundTripPath.Kind.SHM_RAW_STEERED, RoundTripPath.Kind.SHM_RAW));
        text.append(ratio(figures, RoundTripPath.Kind.SHM_UDP, RoundTripPath.Kind.RAW_RING));
        text.append(ratio(figures, RoundTripPath.Kind.SHM_TCP, RoundTripPath.Kind.RAW_RING));
        double[] udp = figures.get(RoundTripPath.Kind.SHM_UDP);
        double[] ring = figures.get(RoundTripPath.Kind.RAW_RING);
        if (udp != null && ring != null) {
            text.append(String.format("issue 4's UDP goal (p50 within 4x of the raw ring of this run, %.2f us): %s%n",
                    ring[0], udp[0] <= 4 * ring[0] ? "met" : "not met"));
        }
        return text.toString();
    }

    private static String ratio(Map<RoundTripPath.Kind, double[]> figures, RoundTripPath.Kind slower,
            RoundTripPath.Kind faster) {
        double[] a = figures.get(slower);
        double[] b = figures.get(faster);
        if (a == null || b == null) {
            return "";
        }
        return String.format("%-18s / %-10s p50 %6.1fx   p99 %6.1fx%n", slower, faster, a[0] / b[0], a[1] / b[1]);
    }

    static String loadAverage() {
        try {
            String[] fields = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return fields[0] + " " + fields[1] + " " + fields[2];
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }
}

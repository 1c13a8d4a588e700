package io.arrakis.bench.demo;

import io.arrakis.bench.shm.RoundTripPath;
import io.arrakis.bench.shm.RoundTripPath.Kind;
import java.io.IOException;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * The control plane's demo: a 64-byte UDP ping-pong and TCP request/response between two JVMs
 * through the shared-memory switch and our stack, next to the same exchanges over the kernel's
 * loopback with JDK channels (blocking, and busy-polling), back to back in one run; each path
 * for a fixed time, so the whole takes about 15 s. A demonstration: for figures to quote, run
 * the benchmark ({@code io.arrakis.bench.shm.ShmSwitchVsLoopback}).
 */
public final class SwitchDemo {
    private static final long WARM_UP_NANOS = 400_000_000L;
    private static final long MEASURE_NANOS = 1_000_000_000L;
    private static final List<Kind> PATHS = List.of(Kind.SHM_UDP, Kind.SHM_TCP, Kind.KERNEL_UDP, Kind.KERNEL_TCP,
            Kind.KERNEL_UDP_SPIN, Kind.KERNEL_TCP_SPIN);

    private SwitchDemo() {}

    public static void main(String[] args) throws IOException {
        run();
    }

    static void run() throws IOException {
        System.out.println("""
                The shared-memory switch: two JVMs attached to one control plane (embedded here) exchange
                64-byte messages through our user-level stack over direct shared-memory channels, next to
                the same exchange over the kernel's loopback with JDK channels. Every echo is checked.
                """);
        Map<Kind, Histogram> results = new EnumMap<>(Kind.class);
        for (Kind kind : PATHS) {
            System.out.printf("measuring %-40s ...%n", kind.description);
            results.put(kind, measure(kind));
        }
        System.out.println();
        System.out.printf("%-40s %12s %12s %14s%n", "64-byte round trip", "p50 (µs)", "p99 (µs)", "round trips");
        results.forEach((kind, h) -> System.out.printf("%-40s %12.2f %12.2f %,14d%n", kind.description,
                h.getValueAtPercentile(50) / 1000.0, h.getValueAtPercentile(99) / 1000.0, h.getTotalCount()));
        System.out.println();
        printRatio(results, Kind.KERNEL_UDP, Kind.SHM_UDP);
        printRatio(results, Kind.KERNEL_TCP, Kind.SHM_TCP);
        printRatio(results, Kind.KERNEL_UDP_SPIN, Kind.SHM_UDP);
        printRatio(results, Kind.KERNEL_TCP_SPIN, Kind.SHM_TCP);
    }

    private static void printRatio(Map<Kind, Histogram> results, Kind kernel, Kind ours) {
        Histogram k = results.get(kernel);
        Histogram o = results.get(ours);
        System.out.printf("%-40s vs ours: p50 %.1fx, p99 %.1fx%n", kernel.description,
                (double) k.getValueAtPercentile(50) / o.getValueAtPercentile(50),
                (double) k.getValueAtPercentile(99) / o.getValueAtPercentile(99));
    }

    /** Round trips for a fixed time after a fixed warm-up, each timed on its own. */
    private static Histogram measure(Kind kind) throws IOException {
        Histogram histogram = new Histogram(10_000_000_000L, 3);
        try (RoundTripPath path = RoundTripPath.open(kind)) {
            int sequence = 0;
            long warmUpEnd = System.nanoTime() + WARM_UP_NANOS;
            while (System.nanoTime() < warmUpEnd) {
                path.roundTrip(sequence++);
            }
            long end = System.nanoTime() + MEASURE_NANOS;
            long now;
            do {
                long start = System.nanoTime();
                path.roundTrip(sequence++);
                now = System.nanoTime();
                histogram.recordValue(now - start);
            } while (now < end);
        }
        return histogram;
    }
}

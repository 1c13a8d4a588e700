package io.arrakis.bench.demo;

import io.arrakis.bench.ipc.Transport;
import java.io.IOException;
import java.util.EnumMap;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * The foundation's demo: two JVM processes exchanging 64-byte messages through our shared-memory
 * ring, next to the same exchange through Linux pipes, measured back to back in one run.
 * {@code ./dev demo} runs it. It is a demonstration, not the benchmark: for figures to quote,
 * run {@code ./dev bench SharedRingVsPipe}.
 */
public final class RingDemo {
    private static final long ONE_WAY_NANOS = 1_000_000_000L;

    private RingDemo() {}

    record Result(Histogram roundTrips, double messagesPerSecond) {}

    public static void main(String[] args) throws IOException {
        System.out.println("""
                Arrakis for the JVM: the foundation demo
                Two JVM processes exchange 64-byte messages, first through an SPSC ring in a shared
                memfd (spin, then sleep on a futex doorbell), then through a pair of Linux pipes
                (blocking, and busy-polling). Every message carries a sequence number the peer checks.
                """);
        Map<Transport.Kind, Result> results = new EnumMap<>(Transport.Kind.class);
        for (Transport.Kind kind : Transport.Kind.values()) {
            System.out.printf("measuring %-9s ...%n", kind);
            results.put(kind, new Result(roundTrips(kind), oneWay(kind)));
        }
        System.out.println();
        System.out.printf("%-10s %14s %14s %14s %18s%n", "transport", "RTT p50 (µs)", "RTT p99 (µs)",
                "RTT p99.9 (µs)", "one way (msg/s)");
        for (var entry : results.entrySet()) {
            Histogram h = entry.getValue().roundTrips();
            System.out.printf("%-10s %14.2f %14.2f %14.2f %,18.0f%n", entry.getKey(),
                    h.getValueAtPercentile(50) / 1000.0, h.getValueAtPercentile(99) / 1000.0,
                    h.getValueAtPercentile(99.9) / 1000.0, entry.getValue().messagesPerSecond());
        }
        Result ring = results.get(Transport.Kind.RING);
        for (Transport.Kind kernel : new Transport.Kind[] {Transport.Kind.PIPE, Transport.Kind.PIPE_SPIN}) {
            Result pipe = results.get(kernel);
            System.out.printf("%nring vs %s: round trip p50 %.1fx lower, one-way throughput %.1fx higher",
                    kernel, (double) pipe.roundTrips().getValueAtPercentile(50)
                            / ring.roundTrips().getValueAtPercentile(50),
                    ring.messagesPerSecond() / pipe.messagesPerSecond());
        }
        System.out.println();
        System.out.println("\n(2-core VM: figures move with what else runs; the ratios are what to read.)");
    }

    private static Histogram roundTrips(Transport.Kind kind) throws IOException {
        int warmUp = kind == Transport.Kind.RING ? 200_000 : 20_000;
        int measured = kind == Transport.Kind.RING ? 500_000 : 50_000;
        Histogram histogram = new Histogram(1_000_000_000L, 3);
        try (Transport transport = Transport.open(kind, Transport.PeerMode.ECHO)) {
            long sequence = 0;
            for (int i = 0; i < warmUp; i++, sequence++) {
                check(sequence, transport.roundTrip(sequence));
            }
            for (int i = 0; i < measured; i++, sequence++) {
                long start = System.nanoTime();
                long echoed = transport.roundTrip(sequence);
                histogram.recordValue(System.nanoTime() - start);
                check(sequence, echoed);
            }
        }
        return histogram;
    }

    private static double oneWay(Transport.Kind kind) throws IOException {
        try (Transport transport = Transport.open(kind, Transport.PeerMode.SINK)) {
            long sequence = 0;
            long warmUpEnd = System.nanoTime() + ONE_WAY_NANOS / 4;
            while (System.nanoTime() < warmUpEnd) {
                transport.send(sequence++);
            }
            long start = System.nanoTime();
            long first = sequence;
            long end = start + ONE_WAY_NANOS;
            long now;
            do {
                for (int i = 0; i < 256; i++) {
                    transport.send(sequence++);
                }
                now = System.nanoTime();
            } while (now < end);
            return (sequence - first) * 1e9 / (now - start);
        }
    }

    private static void check(long sent, long echoed) {
        if (sent != echoed) {
            throw new IllegalStateException("sent message " + sent + " but the peer echoed " + echoed);
        }
    }
}

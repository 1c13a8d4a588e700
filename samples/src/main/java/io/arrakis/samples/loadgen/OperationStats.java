package io.arrakis.samples.loadgen;

import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * Counts and latencies of one kind of request in one worker: the histogram, completed count,
 * hits and misses over the measured period; errors over the whole run, warm-up included. Confined to its
 * worker until the run ends, then merged by the coordinator.
 */
final class OperationStats {
    static final long HIGHEST_NANOS = TimeUnit.SECONDS.toNanos(60);

    final Histogram latencyNanos = new Histogram(HIGHEST_NANOS, 3);
    long measured;
    long hits;
    long misses;
    long errors;

    void record(long nanos) {
        latencyNanos.recordValue(Math.max(0, Math.min(nanos, HIGHEST_NANOS)));
        measured++;
    }

    void add(OperationStats other) {
        latencyNanos.add(other.latencyNanos);
        measured += other.measured;
        hits += other.hits;
        misses += other.misses;
        errors += other.errors;
    }
}

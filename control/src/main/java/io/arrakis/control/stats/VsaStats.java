package io.arrakis.control.stats;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The stats file of a mounted VSA: a process that mounts a VSA the control plane granted publishes
 * that VSA's I/O counters in {@code <control socket>.stats/vsa@<name>} (the same
 * {@linkplain StatsFile layout} as a VNIC's, with no connection rows), so {@code arrakis stat} can
 * show them next to the VNICs'. A thread of its own samples the counters at most every
 * {@link StatsPublisher#DEFAULT_INTERVAL_NANOS} and sleeps in between: the I/O path only counts.
 * The file's subject field ({@link StackStats#vnic()}) is {@code vsa:<name>:<backend>}.
 *
 * <p>Thread-safe: the publishing thread is the file's only writer; {@link #close} stops it first.
 */
public final class VsaStats implements AutoCloseable {
    /** The prefix of a VSA's stats file name and of its subject field. */
    public static final String FILE_PREFIX = "vsa@";
    public static final String SUBJECT_PREFIX = "vsa:";

    /** Fills {@code values} (one per counter name, in order) with the counters now. */
    @FunctionalInterface
    public interface Sampler {
        void sample(long[] values);
    }

    private final StatsPublisher publisher;
    private final Thread thread;
    private volatile boolean stopping;

    private VsaStats(StatsPublisher publisher, List<String> names, Sampler sampler, String vsa) {
        this.publisher = publisher;
        long[] values = new long[names.size()];
        this.thread = Thread.ofPlatform().daemon().name("arrakis-vsa-stats-" + vsa).unstarted(() -> {
            while (!stopping) {
                long now = System.nanoTime();
                try {
                    sampler.sample(values);
                } catch (RuntimeException e) {
                    // A store closing under us: publish what we had, the next round stops.
                }
                publisher.begin(now);
                for (int i = 0; i < values.length; i++) {
                    publisher.counter(i, values[i]);
                }
                publisher.end(0, 0);
                try {
                    Thread.sleep(StatsPublisher.DEFAULT_INTERVAL_NANOS / 1_000_000);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    /** Where the VSA {@code vsa} of the control plane on {@code socket} publishes. */
    public static Path path(Path socket, String vsa) {
        return StatsFile.directory(socket).resolve(FILE_PREFIX + vsa);
    }

    /**
     * Creates the stats file of VSA {@code vsa} (mounted with {@code backend}) and starts
     * publishing the counters {@code names} ({@code group.NAME}, e.g. {@code vsa.READS}) that
     * {@code sampler} reads.
     */
    public static VsaStats start(Path socket, String vsa, String backend, List<String> names, Sampler sampler)
            throws IOException {
        StatsPublisher publisher = StatsPublisher.create(path(socket, vsa), SUBJECT_PREFIX + vsa + ":" + backend,
                names, 0, 4096, StatsPublisher.DEFAULT_INTERVAL_NANOS);
        VsaStats stats = new VsaStats(publisher, names, sampler, vsa);
        stats.thread.start();
        return stats;
    }

    /** Stops publishing and deletes the file. Idempotent. */
    @Override
    public void close() {
        stopping = true;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!thread.isAlive()) {
            publisher.close();
        }
    }
}

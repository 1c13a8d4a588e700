package io.arrakis.samples.loadgen;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A memtier-like load generator over plain {@code java.nio}: RESP or memcached text, N
 * connections times a pipeline depth, closed loop or open loop at a target rate, a GET:SET mix
 * over a key space, warm-up then a measured period, every reply checked. Results as a table and
 * as JSON. {@link #run} is safe to call from any thread; each run uses its own threads.
 */
public final class LoadGenerator {
    private LoadGenerator() {}

    /** Runs the load described by {@code config} and returns the measured results. */
    public static LoadResult run(LoadConfig config) throws IOException, InterruptedException {
        KeySpace keySpace = new KeySpace(config);
        WireProtocol protocol = WireProtocol.of(config.protocol, keySpace);
        if (config.prefill) {
            prefill(config, protocol);
        }
        List<LoadWorker> workers = new ArrayList<>();
        try {
            for (int t = 0; t < config.threads; t++) {
                int first = (int) ((long) t * config.connections / config.threads);
                int last = (int) ((long) (t + 1) * config.connections / config.threads);
                workers.add(new LoadWorker(config, protocol, first, last - first, config.seed * 1_000_003L + t));
            }
        } catch (IOException e) {
            throw e;
        }
        long start = System.nanoTime() + 20_000_000;
        long measureStart = start + (long) (config.warmupSeconds * 1e9);
        long duration = (long) (config.durationSeconds * 1e9);
        // With a warm-up, nobody measures until the warm-up is over and this JVM's JIT compiler
        // has settled (see awaitCompilerSettled): the window is set then.
        long notYet = start + (long) (3650 * 86_400e9);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < workers.size(); t++) {
            LoadWorker worker = workers.get(t);
            worker.startNanos = start;
            worker.measureStartNanos = config.warmupSeconds > 0 ? notYet : measureStart;
            worker.measureEndNanos = config.warmupSeconds > 0 ? notYet : measureStart + duration;
            threads.add(Thread.ofPlatform().name("loadgen-" + t).start(() -> {
                long delay = start - System.nanoTime();
                if (delay > 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(delay);
                }
                worker.run();
            }));
        }
        double extraWarmup = 0;
        if (config.warmupSeconds > 0) {
            long settled = awaitCompilerSettled(measureStart, (long) (EXTRA_WARMUP_FACTOR * config.warmupSeconds * 1e9));
            extraWarmup = (settled - measureStart) / 1e9;
            for (LoadWorker worker : workers) {
                worker.measure(settled, settled + duration);
            }
        }
        for (Thread thread : threads) {
            thread.join();
        }
        OperationStats gets = new OperationStats();
        OperationStats sets = new OperationStats();
        int failures = 0;
        String firstFailure = null;
        for (LoadWorker worker : workers) {
            gets.add(worker.gets);
            sets.add(worker.sets);
            failures += worker.connectionFailures;
            if (firstFailure == null) {
                firstFailure = worker.firstFailure;
            }
        }
        return new LoadResult(config, gets, sets, failures, firstFailure, extraWarmup);
    }

    /** The warm-up goes on at most this many times its length while the JIT compiler works. */
    static final double EXTRA_WARMUP_FACTOR = 3;
    /** How often the compiler's progress is looked at after the warm-up. */
    private static final long SETTLE_STEP_NANOS = 200_000_000;
    /** A step in which the compiler worked less than this (ms) ends the warm-up. */
    private static final long SETTLED_COMPILE_MILLIS = 4;

    /**
     * Waits until {@code warmupEnd}, then while this JVM's JIT compiler keeps working (more than
     * {@link #SETTLED_COMPILE_MILLIS} of compilation in a {@link #SETTLE_STEP_NANOS} step), at most
     * {@code maxExtraNanos} more; returns when measurement starts. A fresh JVM's C2 compiler still
     * took 10–26% of a CPU 2–5 s after start, on a 2-CPU machine the CPU of the very threads being
     * measured, and doubled the p99 of a 1-connection run; the JVM reports compilation time where
     * it can ({@code CompilationMXBean}), and without it the warm-up is as configured.
     */
    static long awaitCompilerSettled(long warmupEnd, long maxExtraNanos) throws InterruptedException {
        sleepUntil(warmupEnd);
        java.lang.management.CompilationMXBean jit = java.lang.management.ManagementFactory.getCompilationMXBean();
        if (jit == null || !jit.isCompilationTimeMonitoringSupported()) {
            return System.nanoTime();
        }
        long limit = warmupEnd + maxExtraNanos;
        long compiled = jit.getTotalCompilationTime();
        while (System.nanoTime() - limit < 0) {
            sleepUntil(Math.min(System.nanoTime() + SETTLE_STEP_NANOS, limit));
            long now = jit.getTotalCompilationTime();
            if (now - compiled < SETTLED_COMPILE_MILLIS) {
                break;
            }
            compiled = now;
        }
        return System.nanoTime();
    }

    private static void sleepUntil(long deadline) throws InterruptedException {
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
        }
    }

    /** SETs every key once, pipelined in batches on one connection, checking every reply. */
    static void prefill(LoadConfig config, WireProtocol protocol) throws IOException {
        KeySpace keys = protocol.keySpace;
        int batch = 256;
        byte[] out = new byte[batch * protocol.maxRequestSize()];
        byte[] in = new byte[1 << 16];
        try (SocketChannel channel = SocketChannel.open(new InetSocketAddress(config.host, config.port))) {
            for (int first = 0; first < keys.keys; first += batch) {
                int count = Math.min(batch, keys.keys - first);
                int length = 0;
                for (int k = first; k < first + count; k++) {
                    length = protocol.encodeSet(out, length, k);
                }
                ByteBuffer request = ByteBuffer.wrap(out, 0, length);
                while (request.hasRemaining()) {
                    channel.write(request);
                }
                int start = 0;
                int end = 0;
                for (int k = first; k < first + count; ) {
                    int replyEnd;
                    try {
                        replyEnd = protocol.replyEnd(in, start, end);
                    } catch (WireProtocol.Violation e) {
                        throw new IOException("prefill: unparseable reply to SET of key " + k + ": " + e.getMessage());
                    }
                    if (replyEnd < 0) {
                        if (end == in.length) {
                            System.arraycopy(in, start, in, 0, end - start);
                            end -= start;
                            start = 0;
                        }
                        int read = channel.read(ByteBuffer.wrap(in, end, in.length - end));
                        if (read < 0) {
                            throw new IOException("prefill: the server closed the connection at key " + k);
                        }
                        end += read;
                        continue;
                    }
                    if (protocol.judge(in, start, replyEnd, true, k) != WireProtocol.Outcome.STORED) {
                        throw new IOException("prefill: the server answered '"
                                + new String(in, start, Math.min(replyEnd - start, 200), StandardCharsets.ISO_8859_1).strip()
                                + "' to SET of key " + k + "; is --protocol right for port " + config.port + "?");
                    }
                    start = replyEnd;
                    k++;
                }
            }
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("prefill")) {
                throw e;
            }
            throw new IOException("prefill: cannot talk to " + config.host + ":" + config.port + ": " + e.getMessage()
                    + " (is the server running?)", e);
        }
    }

    /** Runs from the command line; exits 1 when any reply was wrong, 2 on bad options. */
    public static void main(String[] args) throws Exception {
        LoadConfig config;
        try {
            config = LoadConfig.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        LoadResult result;
        try {
            result = run(config);
        } catch (IOException e) {
            System.err.println("loadgen: " + e.getMessage());
            System.exit(1);
            return;
        }
        System.out.print(result.table());
        if (config.jsonPath != null) {
            if (config.jsonPath.equals("-")) {
                System.out.print(result.json());
            } else {
                Files.writeString(Path.of(config.jsonPath), result.json());
            }
        }
        if (result.errors() > 0) {
            System.err.println("loadgen: " + result.errors() + " wrong or failed replies");
            System.exit(1);
        }
    }
}

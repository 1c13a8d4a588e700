package io.arrakis.storage.log;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.VsicQueue;
import io.arrakis.linux.Errno;
import java.io.IOException;

/**
 * Runs one command at a time on a queue and waits for it: spins briefly on {@code poll}, then
 * blocks in {@code awaitCompletion}, bounded; counts what it did ({@link #counters}). Not
 * thread-safe: one per queue, used under the lock that owns the queue; its counters may be read
 * from any thread (opaque stores and loads: each value whole, no fence on the I/O path).
 */
final class DeviceIo {
    private static final java.lang.invoke.VarHandle COUNT = java.lang.invoke.MethodHandles.arrayElementVarHandle(
            long[].class);
    /** Indexes in {@link #counters}. */
    static final int READS = 0;
    static final int WRITES = 1;
    static final int FLUSHES = 2;
    static final int BYTES_READ = 3;
    static final int BYTES_WRITTEN = 4;
    static final int ERRORS = 5;
    static final int COUNTERS = 6;

    private static final int SPINS = 200;
    private static final long PATIENCE_NANOS = 60_000_000_000L;

    private final String vsaName;
    private final VsicQueue queue;
    private final CompletionBatch batch = new CompletionBatch(1);
    private final int blockSize;
    private final long[] counters = new long[COUNTERS];

    DeviceIo(String vsaName, VsicQueue queue, int blockSize) {
        this.vsaName = vsaName;
        this.queue = queue;
        this.blockSize = blockSize;
    }

    /** Counter {@code index} (READS..ERRORS) since open; any thread. */
    long counter(int index) {
        return (long) COUNT.getOpaque(counters, index);
    }

    private void count(int index, long amount) {
        COUNT.setOpaque(counters, index, counters[index] + amount);
    }

    VsicQueue queue() {
        return queue;
    }

    void read(long block, int blocks, long memoryOffset) throws IOException {
        if (!queue.submitRead(block, blocks, memoryOffset, 1)) {
            throw busy();
        }
        complete("read of " + blocks + " blocks at block " + block);
        count(READS, 1);
        count(BYTES_READ, (long) blocks * blockSize);
    }

    void write(long block, int blocks, long memoryOffset) throws IOException {
        if (!queue.submitWrite(block, blocks, memoryOffset, 2)) {
            throw busy();
        }
        complete("write of " + blocks + " blocks at block " + block);
        count(WRITES, 1);
        count(BYTES_WRITTEN, (long) blocks * blockSize);
    }

    void writeThenFlush(long block, int blocks, long memoryOffset) throws IOException {
        if (!queue.submitWriteThenFlush(block, blocks, memoryOffset, 3)) {
            throw busy();
        }
        complete("durable write of " + blocks + " blocks at block " + block);
        count(WRITES, 1);
        count(FLUSHES, 1);
        count(BYTES_WRITTEN, (long) blocks * blockSize);
    }

    void flush() throws IOException {
        if (!queue.submitFlush(4)) {
            throw busy();
        }
        complete("flush");
        count(FLUSHES, 1);
    }

    private void complete(String what) throws IOException {
        try {
            await(what);
        } catch (IOException e) {
            count(ERRORS, 1);
            throw e;
        }
    }

    private void await(String what) throws IOException {
        queue.ring();
        batch.clear();
        long deadline = 0;
        int spins = 0;
        while (queue.poll(batch) == 0) {
            if (spins++ < SPINS) {
                Thread.onSpinWait();
                continue;
            }
            if (deadline == 0) {
                deadline = System.nanoTime() + PATIENCE_NANOS;
            } else if (System.nanoTime() > deadline) {
                throw new IOException("VSA " + vsaName + ": " + what + " did not complete within 60 s");
            }
            queue.awaitCompletion(1_000_000_000L);
        }
        int status = batch.status(0);
        if (status != 0) {
            throw new IOException("VSA " + vsaName + ": " + what + " failed: " + Errno.name(-status) + " ("
                    + Errno.description(-status) + ")");
        }
    }

    private IOException busy() {
        count(ERRORS, 1);
        return new IOException("VSA " + vsaName + " queue " + queue.index() + " is full: a command is still in flight");
    }
}

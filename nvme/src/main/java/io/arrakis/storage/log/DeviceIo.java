package io.arrakis.storage.log;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.VsicQueue;
import io.arrakis.linux.Errno;
import java.io.IOException;

/**
 * Runs one command at a time on a queue and waits for it: spins briefly on {@code poll}, then
 * blocks in {@code awaitCompletion}, bounded. Not thread-safe: one per queue, used under the
 * lock that owns the queue.
 */
final class DeviceIo {
    private static final int SPINS = 200;
    private static final long PATIENCE_NANOS = 60_000_000_000L;

    private final String vsaName;
    private final VsicQueue queue;
    private final CompletionBatch batch = new CompletionBatch(1);

    DeviceIo(String vsaName, VsicQueue queue) {
        this.vsaName = vsaName;
        this.queue = queue;
    }

    VsicQueue queue() {
        return queue;
    }

    void read(long block, int blocks, long memoryOffset) throws IOException {
        if (!queue.submitRead(block, blocks, memoryOffset, 1)) {
            throw busy();
        }
        complete("read of " + blocks + " blocks at block " + block);
    }

    void write(long block, int blocks, long memoryOffset) throws IOException {
        if (!queue.submitWrite(block, blocks, memoryOffset, 2)) {
            throw busy();
        }
        complete("write of " + blocks + " blocks at block " + block);
    }

    void writeThenFlush(long block, int blocks, long memoryOffset) throws IOException {
        if (!queue.submitWriteThenFlush(block, blocks, memoryOffset, 3)) {
            throw busy();
        }
        complete("durable write of " + blocks + " blocks at block " + block);
    }

    void flush() throws IOException {
        if (!queue.submitFlush(4)) {
            throw busy();
        }
        complete("flush");
    }

    private void complete(String what) throws IOException {
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
        return new IOException("VSA " + vsaName + " queue " + queue.index() + " is full: a command is still in flight");
    }
}

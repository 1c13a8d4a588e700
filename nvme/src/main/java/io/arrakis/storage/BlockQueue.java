package io.arrakis.storage;

import io.arrakis.device.Counters;
import io.arrakis.device.VsicCounter;
import io.arrakis.device.VsicQueue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * What the file and io_uring queues share: their I/O memory, counters, and the checks that keep
 * a bad command from ever reaching the device. Owned by one thread, except {@link #counters()}.
 */
public abstract class BlockQueue implements VsicQueue {
    protected final VsaFile area;
    protected final int index;
    protected final MemorySegment memory;
    protected final int depth;
    protected final int blockSize;
    protected final Counters<VsicCounter> counters = Counters.onHeap(VsicCounter.class);

    protected BlockQueue(VsaFile area, int index, MemorySegment memory, int depth) {
        this.area = area;
        this.index = index;
        this.memory = memory;
        this.depth = depth;
        this.blockSize = area.blockSize();
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }

    @Override
    public int depth() {
        return depth;
    }

    @Override
    public Counters<VsicCounter> counters() {
        return counters;
    }

    /**
     * Refuses a transfer that leaves the area or the I/O memory, or whose memory offset is not
     * block-aligned (O_DIRECT and DMA need it; every backend asks the same, so code that runs on
     * one runs on all).
     */
    protected final void checkTransfer(String operation, long block, int blocks, long memoryOffset) {
        long capacity = area.capacityBlocks();
        if (blocks <= 0) {
            throw new IllegalArgumentException("VSA " + area.vsaName() + " queue " + index + ": " + operation + " of "
                    + blocks + " blocks at block " + block + " refused: a transfer needs at least one block");
        }
        if (block < 0 || block > capacity - blocks) {
            throw new IllegalArgumentException("VSA " + area.vsaName() + " queue " + index + ": " + operation
                    + " of blocks " + block + ".." + (block + blocks - 1) + " refused: the area has blocks 0.."
                    + (capacity - 1) + " (" + capacity + " blocks of " + blockSize + " bytes)");
        }
        long bytes = (long) blocks * blockSize;
        if (memoryOffset < 0 || memoryOffset > memory.byteSize() - bytes) {
            throw new IllegalArgumentException("VSA " + area.vsaName() + " queue " + index + ": " + operation + " of "
                    + bytes + " bytes at memory offset " + memoryOffset + " refused: the queue's I/O memory has "
                    + memory.byteSize() + " bytes");
        }
        if (memoryOffset % blockSize != 0) {
            throw new IllegalArgumentException("VSA " + area.vsaName() + " queue " + index + ": " + operation
                    + " at memory offset " + memoryOffset + " refused: offsets must be multiples of the block size "
                    + blockSize);
        }
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("VSA " + area.vsaName() + " queue " + index + ": " + operation + " of "
                    + bytes + " bytes refused: one command moves less than 2 GiB");
        }
    }

    /** Counts a finished command by kind and status. */
    protected final void count(CommandKind kind, int blocks, int status) {
        if (status < 0) {
            counters.increment(VsicCounter.ERRORS);
            return;
        }
        long bytes = (long) blocks * blockSize;
        switch (kind) {
            case READ -> {
                counters.increment(VsicCounter.READS);
                counters.add(VsicCounter.READ_BYTES, bytes);
            }
            case WRITE -> {
                counters.increment(VsicCounter.WRITES);
                counters.add(VsicCounter.WRITE_BYTES, bytes);
            }
            case FLUSH -> counters.increment(VsicCounter.FLUSHES);
            case WRITE_THEN_FLUSH -> {
                counters.increment(VsicCounter.WRITES);
                counters.add(VsicCounter.WRITE_BYTES, bytes);
                counters.increment(VsicCounter.FLUSHES);
            }
        }
    }

    /** Waits for the commands in flight (bounded) so the memory they use can be freed. */
    protected abstract void close() throws IOException;

    /** The kinds of command a queue stages. */
    protected enum CommandKind {
        READ, WRITE, FLUSH, WRITE_THEN_FLUSH
    }
}

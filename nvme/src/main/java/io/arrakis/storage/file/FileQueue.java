package io.arrakis.storage.file;

import io.arrakis.device.CompletionBatch;
import io.arrakis.linux.Errno;
import io.arrakis.linux.FileIo;
import io.arrakis.linux.LinuxException;
import io.arrakis.storage.BlockQueue;
import io.arrakis.storage.VsaFile;
import java.lang.foreign.MemorySegment;

/**
 * A queue that runs its commands in {@link #ring()}, in order, with {@code pread}/{@code pwrite}/
 * {@code fdatasync}; their completions wait for {@link #poll}. Nothing runs in the background, so
 * there is nothing to wait for once {@code ring} returns: {@link #awaitCompletion} never blocks.
 * Owned by one thread, except {@link #counters()}. Staging and polling allocate nothing.
 */
final class FileQueue extends BlockQueue {
    private static final CommandKind[] KINDS = CommandKind.values();

    // Staged commands, in submission order.
    private final byte[] stagedKind;
    private final long[] stagedBlock;
    private final int[] stagedBlocks;
    private final long[] stagedOffset;
    private final long[] stagedTag;
    private int staged;
    // Finished commands waiting for poll: a FIFO of (tag, status).
    private final long[] doneTag;
    private final int[] doneStatus;
    private int doneHead;
    private int doneCount;

    FileQueue(VsaFile area, int index, MemorySegment memory, int depth) {
        super(area, index, memory, depth);
        stagedKind = new byte[depth];
        stagedBlock = new long[depth];
        stagedBlocks = new int[depth];
        stagedOffset = new long[depth];
        stagedTag = new long[depth];
        doneTag = new long[depth];
        doneStatus = new int[depth];
    }

    @Override
    public boolean submitRead(long block, int blocks, long memoryOffset, long tag) {
        checkTransfer("read", block, blocks, memoryOffset);
        return stage(CommandKind.READ, block, blocks, memoryOffset, tag);
    }

    @Override
    public boolean submitWrite(long block, int blocks, long memoryOffset, long tag) {
        checkTransfer("write", block, blocks, memoryOffset);
        return stage(CommandKind.WRITE, block, blocks, memoryOffset, tag);
    }

    @Override
    public boolean submitFlush(long tag) {
        return stage(CommandKind.FLUSH, 0, 0, 0, tag);
    }

    @Override
    public boolean submitWriteThenFlush(long block, int blocks, long memoryOffset, long tag) {
        checkTransfer("write-then-flush", block, blocks, memoryOffset);
        return stage(CommandKind.WRITE_THEN_FLUSH, block, blocks, memoryOffset, tag);
    }

    private boolean stage(CommandKind kind, long block, int blocks, long memoryOffset, long tag) {
        if (staged + doneCount >= depth) {
            counters.increment(io.arrakis.device.VsicCounter.QUEUE_FULL);
            return false;
        }
        stagedKind[staged] = (byte) kind.ordinal();
        stagedBlock[staged] = block;
        stagedBlocks[staged] = blocks;
        stagedOffset[staged] = memoryOffset;
        stagedTag[staged] = tag;
        staged++;
        return true;
    }

    @Override
    public int ring() {
        int count = staged;
        for (int i = 0; i < count; i++) {
            CommandKind kind = KINDS[stagedKind[i]];
            int status = execute(kind, stagedBlock[i], stagedBlocks[i], stagedOffset[i]);
            count(kind, stagedBlocks[i], status);
            int slot = (doneHead + doneCount) % depth;
            doneTag[slot] = stagedTag[i];
            doneStatus[slot] = status;
            doneCount++;
        }
        staged = 0;
        return count;
    }

    /** Runs one command; 0 or a negative errno, as the device would report it. */
    private int execute(CommandKind kind, long block, int blocks, long memoryOffset) {
        int fd = area.fd();
        long position = block * blockSize;
        long bytes = (long) blocks * blockSize;
        try {
            switch (kind) {
                case READ -> {
                    return transfer(false, fd, memoryOffset, bytes, position);
                }
                case WRITE -> {
                    return transfer(true, fd, memoryOffset, bytes, position);
                }
                case FLUSH -> {
                    FileIo.fdatasync(fd);
                    return 0;
                }
                case WRITE_THEN_FLUSH -> {
                    int status = transfer(true, fd, memoryOffset, bytes, position);
                    if (status == 0) {
                        FileIo.fdatasync(fd);
                    }
                    return status;
                }
                default -> throw new AssertionError(kind);
            }
        } catch (LinuxException e) {
            return -e.errno();
        }
    }

    /** The whole transfer, in as many calls as the kernel needs; -EIO if the area ends early. */
    private int transfer(boolean write, int fd, long memoryOffset, long bytes, long position) throws LinuxException {
        long done = 0;
        while (done < bytes) {
            MemorySegment rest = memory.asSlice(memoryOffset + done, bytes - done);
            long n = write ? FileIo.pwrite(fd, rest, position + done) : FileIo.pread(fd, rest, position + done);
            if (n == 0) {
                return -Errno.EIO;
            }
            done += n;
        }
        return 0;
    }

    @Override
    public int poll(CompletionBatch completions) {
        int moved = 0;
        while (doneCount > 0 && !completions.isFull()) {
            completions.add(doneTag[doneHead], doneStatus[doneHead]);
            doneHead = (doneHead + 1) % depth;
            doneCount--;
            moved++;
        }
        return moved;
    }

    /** True when completions wait; otherwise false at once, since nothing is in flight between rings. */
    @Override
    public boolean awaitCompletion(long timeoutNanos) {
        return doneCount > 0;
    }

    @Override
    protected void close() {
        staged = 0;
    }
}

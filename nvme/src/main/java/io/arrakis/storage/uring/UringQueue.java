package io.arrakis.storage.uring;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.VsicCounter;
import io.arrakis.linux.Errno;
import io.arrakis.linux.IoUring;
import io.arrakis.linux.LinuxException;
import io.arrakis.storage.BlockQueue;
import io.arrakis.storage.VsaFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A queue backed by one io_uring. The I/O memory is registered as fixed buffer 0 and the VSA as
 * fixed file 0, so a command costs the kernel neither a page pinning nor a descriptor lookup.
 * {@link #submitWriteThenFlush} is a WRITE_FIXED linked ({@code IOSQE_IO_LINK}) to an
 * fdatasync: the kernel starts the flush only after the write succeeded. Idle waits block in
 * {@code io_uring_enter} with a timeout. Owned by one thread, except {@link #counters()};
 * staging, ringing and polling allocate nothing.
 */
final class UringQueue extends BlockQueue {
    private static final CommandKind[] KINDS = CommandKind.values();
    private static final int FIXED_FILE = 0;
    private static final int FIXED_BUFFER = 0;
    /** Set in user_data on the flush half of a write-then-flush. */
    private static final long FLUSH_PART = 1L << 32;
    private static final long CLOSE_PATIENCE_NANOS = 10_000_000_000L;

    private final IoUring ring;
    // One slot per command from submit until poll hands its completion over.
    private final long[] slotTag;
    private final byte[] slotKind;
    private final int[] slotBlocks;
    private final int[] slotStatus;
    private final byte[] slotPartsLeft;
    private final int[] freeSlots;
    private int freeCount;
    // Finished slots waiting for poll, in completion order.
    private final int[] doneSlots;
    private int doneHead;
    private int doneCount;
    private int staged;
    private int inFlight;
    private final IoUring.CompletionHandler onCompletion = this::onCompletion;

    UringQueue(VsaFile area, int index, MemorySegment memory, int depth, boolean sqPoll) throws LinuxException {
        super(area, index, memory, depth);
        // A write-then-flush takes two SQEs, so twice the depth always fits.
        this.ring = IoUring.open(2 * depth, sqPoll ? IoUring.IORING_SETUP_SQPOLL : 0);
        try {
            ring.registerBuffers(memory);
            ring.registerFiles(area.fd());
        } catch (LinuxException | RuntimeException e) {
            ring.close();
            throw e;
        }
        slotTag = new long[depth];
        slotKind = new byte[depth];
        slotBlocks = new int[depth];
        slotStatus = new int[depth];
        slotPartsLeft = new byte[depth];
        freeSlots = new int[depth];
        for (int i = 0; i < depth; i++) {
            freeSlots[i] = depth - 1 - i;
        }
        freeCount = depth;
        doneSlots = new int[depth];
    }

    @Override
    public boolean submitRead(long block, int blocks, long memoryOffset, long tag) {
        checkTransfer("read", block, blocks, memoryOffset);
        int slot = takeSlot(CommandKind.READ, blocks, tag, 1);
        if (slot < 0) {
            return false;
        }
        prepareTransfer(IoUring.IORING_OP_READ_FIXED, 0, block, blocks, memoryOffset, slot);
        return true;
    }

    @Override
    public boolean submitWrite(long block, int blocks, long memoryOffset, long tag) {
        checkTransfer("write", block, blocks, memoryOffset);
        int slot = takeSlot(CommandKind.WRITE, blocks, tag, 1);
        if (slot < 0) {
            return false;
        }
        prepareTransfer(IoUring.IORING_OP_WRITE_FIXED, 0, block, blocks, memoryOffset, slot);
        return true;
    }

    @Override
    public boolean submitFlush(long tag) {
        int slot = takeSlot(CommandKind.FLUSH, 0, tag, 1);
        if (slot < 0) {
            return false;
        }
        prepareFlush(slot);
        return true;
    }

    @Override
    public boolean submitWriteThenFlush(long block, int blocks, long memoryOffset, long tag) {
        checkTransfer("write-then-flush", block, blocks, memoryOffset);
        int slot = takeSlot(CommandKind.WRITE_THEN_FLUSH, blocks, tag, 2);
        if (slot < 0) {
            return false;
        }
        prepareTransfer(IoUring.IORING_OP_WRITE_FIXED, IoUring.IOSQE_IO_LINK, block, blocks, memoryOffset, slot);
        prepareFlush(slot | FLUSH_PART);
        return true;
    }

    private int takeSlot(CommandKind kind, int blocks, long tag, int parts) {
        if (freeCount == 0) {
            counters.increment(VsicCounter.QUEUE_FULL);
            return -1;
        }
        int slot = freeSlots[--freeCount];
        slotTag[slot] = tag;
        slotKind[slot] = (byte) kind.ordinal();
        slotBlocks[slot] = blocks;
        slotStatus[slot] = 0;
        slotPartsLeft[slot] = (byte) parts;
        staged++;
        return slot;
    }

    private void prepareTransfer(int opcode, int extraFlags, long block, int blocks, long memoryOffset, long userData) {
        boolean prepared = ring.prepare(opcode, IoUring.IOSQE_FIXED_FILE | extraFlags, FIXED_FILE,
                memory.address() + memoryOffset, blocks * blockSize, block * blockSize, 0, userData, FIXED_BUFFER);
        if (!prepared) {
            throw new IllegalStateException("io_uring submission queue full with " + staged + " staged commands"
                    + " (sized for twice the depth " + depth + "): a bug");
        }
    }

    private void prepareFlush(long userData) {
        boolean prepared = ring.prepare(IoUring.IORING_OP_FSYNC, IoUring.IOSQE_FIXED_FILE, FIXED_FILE, 0, 0, 0,
                IoUring.IORING_FSYNC_DATASYNC, userData, 0);
        if (!prepared) {
            throw new IllegalStateException("io_uring submission queue full with " + staged + " staged commands: a bug");
        }
    }

    @Override
    public int ring() throws IOException {
        if (staged == 0) {
            return 0;
        }
        ring.submit();
        int count = staged;
        inFlight += count;
        staged = 0;
        return count;
    }

    private void onCompletion(long userData, int result, int flags) {
        int slot = (int) userData;
        boolean flushPart = (userData & FLUSH_PART) != 0;
        CommandKind kind = KINDS[slotKind[slot]];
        int status;
        if (result < 0) {
            status = result;
        } else if (!flushPart && kind != CommandKind.FLUSH && result != slotBlocks[slot] * blockSize) {
            status = -Errno.EIO; // a short transfer: the area ended early under us
        } else {
            status = 0;
        }
        // The first failure explains the command: a failed write cancels its flush (ECANCELED).
        if (slotStatus[slot] == 0) {
            slotStatus[slot] = status;
        }
        if (--slotPartsLeft[slot] == 0) {
            count(kind, slotBlocks[slot], slotStatus[slot]);
            doneSlots[(doneHead + doneCount) % depth] = slot;
            doneCount++;
            inFlight--;
        }
    }

    @Override
    public int poll(CompletionBatch completions) {
        ring.drainCompletions(onCompletion);
        int moved = 0;
        while (doneCount > 0 && !completions.isFull()) {
            int slot = doneSlots[doneHead];
            completions.add(slotTag[slot], slotStatus[slot]);
            doneHead = (doneHead + 1) % depth;
            doneCount--;
            freeSlots[freeCount++] = slot;
            moved++;
        }
        return moved;
    }

    /** Blocks in io_uring_enter; false at once when nothing rung is still in flight. */
    @Override
    public boolean awaitCompletion(long timeoutNanos) throws IOException {
        if (doneCount > 0 || ring.hasCompletion()) {
            return true;
        }
        if (inFlight == 0) {
            return false;
        }
        counters.increment(VsicCounter.IDLE_WAITS);
        if (timeoutNanos > 0) {
            return ring.waitForCompletion(timeoutNanos);
        }
        while (!ring.hasCompletion()) {
            ring.submitAndWait(1);
        }
        return true;
    }

    boolean sqPolling() {
        return ring.sqPolling();
    }

    @Override
    protected void close() throws IOException {
        long deadline = System.nanoTime() + CLOSE_PATIENCE_NANOS;
        while (inFlight > 0 && System.nanoTime() < deadline) {
            ring.waitForCompletion(Math.max(1, deadline - System.nanoTime()));
            ring.drainCompletions(onCompletion);
        }
        if (inFlight > 0) {
            throw new IOException("VSA " + area.vsaName() + " queue " + index + ": " + inFlight
                    + " commands still in flight after 10 s; the ring is left open and its memory allocated");
        }
        ring.close();
    }
}

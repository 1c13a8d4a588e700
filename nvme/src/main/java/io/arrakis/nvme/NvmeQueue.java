package io.arrakis.nvme;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.Counters;
import io.arrakis.device.VsicCounter;
import io.arrakis.device.VsicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import io.arrakis.vfio.DmaRegion;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.LockSupport;

/**
 * One NVMe I/O queue pair (submission queue {@code qid} and its own completion queue) as a
 * {@link VsicQueue}. Its DMA region holds, page-aligned: the submission ring, the completion
 * ring, a PRP list area per command identifier, and the queue's I/O memory. A VSIC command is
 * split into NVMe commands of at most MDTS bytes; it completes when all of them have, with the
 * first failure's status. {@link #submitWriteThenFlush} issues the FLUSH only once every part
 * of the write completed (NVMe does not order commands within a queue), from {@link #poll}.
 * Completions are polled by their phase tag; an idle waiter sleeps on the queue's MSI-X eventfd
 * (or parks briefly when the controller has no vector for it).
 *
 * <p>Owned by one thread, except {@link #counters()}; staging, ringing and polling allocate nothing.
 */
final class NvmeQueue implements VsicQueue {
    private static final int PAGE = NvmeController.PAGE;
    private static final long CLOSE_PATIENCE_NANOS = 10_000_000_000L;
    /** Longest single sleep on the eventfd: an interrupt that never comes costs this, not a hang. */
    private static final int MAX_SLEEP_MILLIS = 10;
    private static final long PARK_NANOS = 50_000;
    private static final int READ = 0;
    private static final int WRITE = 1;
    private static final int FLUSH = 2;
    private static final int WRITE_THEN_FLUSH = 3;
    private static final String[] KIND_NAMES = {"read", "write", "flush", "write-then-flush"};

    private final NvmeVsic vsic;
    private final NvmeController controller;
    private final MemorySegment bar;
    private final int index;
    private final int qid;
    private final int depth;
    private final int blockSize;
    private final int lbasPerBlock;
    private final LbaRange range;
    private final int maxBlocksPerCommand;
    private final DmaRegion region;
    private final SubmissionRing submissions;
    private final CompletionRing completions;
    private final int submissionDoorbell;
    private final int completionDoorbell;
    private final MemorySegment memory;
    private final long memoryIova;
    private final long memoryRegionOffset;
    private final long prpAreaOffset;
    private final int prpPagesPerCommand;
    private final Counters<VsicCounter> counters = Counters.onHeap(VsicCounter.class);

    // Per NVMe command identifier (0 .. entries-2): which VSIC slot it belongs to, -1 when free.
    private final int[] commandSlot;
    private final byte[] commandOpcode;
    private final long[] commandLba;
    private final int[] commandLbas;
    private final int[] freeCommands;
    private int freeCommandCount;
    // Per VSIC slot (0 .. depth-1), from submit until poll hands its completion over.
    private final long[] slotTag;
    private final byte[] slotKind;
    private final int[] slotBlocks;
    private final int[] slotStatus;
    private final int[] slotPartsLeft;
    private final int[] slotFlushCommand;
    private final boolean[] slotFlushIssued;
    private final int[] freeSlots;
    private int freeSlotCount;
    private final int[] doneSlots;
    private int doneHead;
    private int doneCount;
    private int staged;
    private int inFlight;

    private final int interruptFd;
    private final int epollFd;
    private final Epoll.Events events;
    private int missedInterrupts;
    private boolean parkInsteadOfSleeping;
    private volatile String lastFailure;
    private boolean closed;

    NvmeQueue(NvmeVsic vsic, NvmeController controller, int index, LbaRange range, int blockSize, int depth,
            long ioMemoryBytes, Arena arena) throws IOException {
        this.vsic = vsic;
        this.controller = controller;
        this.bar = controller.bar();
        this.index = index;
        this.range = range;
        this.blockSize = blockSize;
        this.lbasPerBlock = blockSize / controller.namespace(range.namespaceId()).blockSize();
        this.depth = depth;
        long maxBytes = controller.identity().maxTransferBytes();
        if (maxBytes == 0 || maxBytes > (2L << 20)) {
            maxBytes = 2L << 20;
        }
        maxBytes = Math.min(maxBytes, 65536L * (blockSize / lbasPerBlock));
        this.maxBlocksPerCommand = (int) (maxBytes / blockSize);
        if (maxBlocksPerCommand < 1) {
            throw new IOException("VSA " + vsic.name() + ": the controller moves at most " + maxBytes
                    + " bytes per command (MDTS), less than one block of " + blockSize);
        }
        long ioBytes = roundUp(ioMemoryBytes, PAGE);
        int partsPerCommand = (int) ((ioBytes / blockSize + maxBlocksPerCommand - 1) / maxBlocksPerCommand);
        int wanted = Math.max(32, depth * (partsPerCommand + 1) + 1);
        int entries = Math.min(Math.min(controller.capabilities().maxQueueEntries(), 1024), wanted);
        int commandIds = entries - 1;
        long perCommandBytes = (long) maxBlocksPerCommand * blockSize;
        this.prpPagesPerCommand = Math.max(PrpList.listPagesNeeded(0, perCommandBytes, PAGE),
                PrpList.listPagesNeeded(PAGE - 4, perCommandBytes, PAGE));
        long submissionBytes = roundUp((long) entries * NvmeCommands.ENTRY_BYTES, PAGE);
        long completionBytes = roundUp((long) entries * NvmeCommands.COMPLETION_BYTES, PAGE);
        this.prpAreaOffset = submissionBytes + completionBytes;
        this.memoryRegionOffset = prpAreaOffset + (long) commandIds * prpPagesPerCommand * PAGE;
        this.region = controller.function().allocateDma(memoryRegionOffset + ioBytes);
        int allocatedQid = -1;
        int epoll = -1;
        try {
            MemorySegment all = region.memory();
            this.submissions = new SubmissionRing(all.asSlice(0, submissionBytes), entries);
            this.completions = new CompletionRing(all.asSlice(submissionBytes, completionBytes), entries);
            this.memory = all.asSlice(memoryRegionOffset, ioBytes);
            this.memoryIova = region.iova(memoryRegionOffset);
            allocatedQid = controller.allocateQueueId();
            this.qid = allocatedQid;
            this.submissionDoorbell = controller.capabilities().submissionDoorbell(qid);
            this.completionDoorbell = controller.capabilities().completionDoorbell(qid);
            this.interruptFd = controller.createQueuePair(qid, entries, region.iova(0), region.iova(submissionBytes));
            if (interruptFd >= 0) {
                epoll = Epoll.create(Epoll.EPOLL_CLOEXEC);
                Epoll.add(epoll, interruptFd, Epoll.EPOLLIN, 0);
            }
            this.epollFd = epoll;
            this.events = Epoll.Events.allocate(arena, 1);
        } catch (IOException | RuntimeException e) {
            if (epoll >= 0) {
                closeQuietly(epoll);
            }
            if (allocatedQid > 0) {
                controller.freeQueueId(allocatedQid);
            }
            try {
                region.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        commandSlot = new int[commandIds];
        commandOpcode = new byte[commandIds];
        commandLba = new long[commandIds];
        commandLbas = new int[commandIds];
        freeCommands = new int[commandIds];
        for (int i = 0; i < commandIds; i++) {
            commandSlot[i] = -1;
            freeCommands[i] = commandIds - 1 - i;
        }
        freeCommandCount = commandIds;
        slotTag = new long[depth];
        slotKind = new byte[depth];
        slotBlocks = new int[depth];
        slotStatus = new int[depth];
        slotPartsLeft = new int[depth];
        slotFlushCommand = new int[depth];
        slotFlushIssued = new boolean[depth];
        freeSlots = new int[depth];
        for (int i = 0; i < depth; i++) {
            freeSlots[i] = depth - 1 - i;
        }
        freeSlotCount = depth;
        doneSlots = new int[depth];
    }

    private static long roundUp(long value, long unit) {
        return (value + unit - 1) / unit * unit;
    }

    @Override
    public int index() {
        return index;
    }

    /** The NVMe queue id of this pair (1-based; 0 is the admin queue). */
    int queueId() {
        return qid;
    }

    /** How many blocks one NVMe command moves at most (MDTS); longer transfers are split. */
    int maxBlocksPerCommand() {
        return maxBlocksPerCommand;
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
     * The last failed command in words: which command, which LBAs, and the NVMe status type and
     * code (the SPI's completion carries only an errno). Null until a command fails.
     */
    String lastFailure() {
        return lastFailure;
    }

    @Override
    public boolean submitRead(long block, int blocks, long memoryOffset, long tag) {
        return submitTransfer(READ, block, blocks, memoryOffset, tag);
    }

    @Override
    public boolean submitWrite(long block, int blocks, long memoryOffset, long tag) {
        return submitTransfer(WRITE, block, blocks, memoryOffset, tag);
    }

    @Override
    public boolean submitWriteThenFlush(long block, int blocks, long memoryOffset, long tag) {
        return submitTransfer(WRITE_THEN_FLUSH, block, blocks, memoryOffset, tag);
    }

    @Override
    public boolean submitFlush(long tag) {
        checkOpen();
        if (freeSlotCount == 0 || freeCommandCount == 0) {
            counters.increment(VsicCounter.QUEUE_FULL);
            return false;
        }
        int slot = takeSlot(FLUSH, 0, tag, 1);
        int command = takeCommand(slot, NvmeCommands.FLUSH, 0, 0);
        NvmeCommands.flush(submissions.entries(), submissions.tailOffset(), command, range.namespaceId());
        submissions.advance();
        return true;
    }

    private boolean submitTransfer(int kind, long block, int blocks, long memoryOffset, long tag) {
        checkOpen();
        checkTransfer(kind, block, blocks, memoryOffset);
        long firstLba = range.first() + block * lbasPerBlock;
        // The last line of the VSA's protection: whatever the arithmetic above, no LBA outside
        // the range the control plane assigned is ever encoded.
        range.check(KIND_NAMES[kind], firstLba, (long) blocks * lbasPerBlock);
        int parts = (blocks + maxBlocksPerCommand - 1) / maxBlocksPerCommand;
        int needed = parts + (kind == WRITE_THEN_FLUSH ? 1 : 0);
        if (freeSlotCount == 0 || freeCommandCount < needed) {
            counters.increment(VsicCounter.QUEUE_FULL);
            return false;
        }
        int slot = takeSlot(kind, blocks, tag, parts);
        int opcode = kind == READ ? NvmeCommands.READ : NvmeCommands.WRITE;
        for (int done = 0; done < blocks; ) {
            int partBlocks = Math.min(maxBlocksPerCommand, blocks - done);
            long lba = firstLba + (long) done * lbasPerBlock;
            int lbas = partBlocks * lbasPerBlock;
            int command = takeCommand(slot, opcode, lba, lbas);
            long address = memoryIova + memoryOffset + (long) done * blockSize;
            long prpOffset = prpAreaOffset + (long) command * prpPagesPerCommand * PAGE;
            long prp2 = PrpList.build(address, (long) partBlocks * blockSize, PAGE, region.memory(), prpOffset,
                    region.iova(prpOffset));
            NvmeCommands.readWrite(submissions.entries(), submissions.tailOffset(), opcode, command,
                    range.namespaceId(), lba, lbas, address, prp2);
            submissions.advance();
            done += partBlocks;
        }
        if (kind == WRITE_THEN_FLUSH) {
            slotFlushCommand[slot] = takeCommand(slot, NvmeCommands.FLUSH, 0, 0);
        }
        return true;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("VSA " + vsic.name() + " queue " + index + " is closed");
        }
    }

    /** As every backend: a transfer inside the area and the queue memory, block-aligned in memory. */
    private void checkTransfer(int kind, long block, int blocks, long memoryOffset) {
        String operation = KIND_NAMES[kind];
        long capacity = vsic.capacityBlocks();
        if (blocks <= 0) {
            throw new IllegalArgumentException("VSA " + vsic.name() + " queue " + index + ": " + operation + " of "
                    + blocks + " blocks at block " + block + " refused: a transfer needs at least one block");
        }
        if (block < 0 || block > capacity - blocks) {
            throw new IllegalArgumentException("VSA " + vsic.name() + " queue " + index + ": " + operation
                    + " of blocks " + block + ".." + (block + blocks - 1) + " refused before it reached the device:"
                    + " the area has blocks 0.." + (capacity - 1) + " (" + range + ")");
        }
        long bytes = (long) blocks * blockSize;
        if (memoryOffset < 0 || memoryOffset > memory.byteSize() - bytes) {
            throw new IllegalArgumentException("VSA " + vsic.name() + " queue " + index + ": " + operation + " of "
                    + bytes + " bytes at memory offset " + memoryOffset + " refused: the queue's I/O memory has "
                    + memory.byteSize() + " bytes");
        }
        if (memoryOffset % blockSize != 0) {
            throw new IllegalArgumentException("VSA " + vsic.name() + " queue " + index + ": " + operation
                    + " at memory offset " + memoryOffset + " refused: offsets must be multiples of the block size "
                    + blockSize);
        }
    }

    private int takeSlot(int kind, int blocks, long tag, int parts) {
        int slot = freeSlots[--freeSlotCount];
        slotTag[slot] = tag;
        slotKind[slot] = (byte) kind;
        slotBlocks[slot] = blocks;
        slotStatus[slot] = 0;
        slotPartsLeft[slot] = parts;
        slotFlushCommand[slot] = -1;
        slotFlushIssued[slot] = false;
        staged++;
        return slot;
    }

    private int takeCommand(int slot, int opcode, long lba, int lbas) {
        int command = freeCommands[--freeCommandCount];
        commandSlot[command] = slot;
        commandOpcode[command] = (byte) opcode;
        commandLba[command] = lba;
        commandLbas[command] = lbas;
        return command;
    }

    private void freeCommand(int command) {
        commandSlot[command] = -1;
        freeCommands[freeCommandCount++] = command;
    }

    @Override
    public int ring() {
        checkOpen();
        if (staged == 0) {
            return 0;
        }
        return ringStaged();
    }

    private int ringStaged() {
        // A volatile store after the plain stores of the entries: x86 keeps stores in order, and
        // the JIT may not move the entries' stores after it.
        NvmeRegisters.write32(bar, submissionDoorbell, submissions.tail());
        int count = staged;
        inFlight += count;
        staged = 0;
        return count;
    }

    @Override
    public int poll(CompletionBatch batch) {
        checkOpen();
        reapCompletions();
        int moved = 0;
        while (doneCount > 0 && !batch.isFull()) {
            int slot = doneSlots[doneHead];
            batch.add(slotTag[slot], slotStatus[slot]);
            doneHead = (doneHead + 1) % depth;
            doneCount--;
            freeSlots[freeSlotCount++] = slot;
            moved++;
        }
        return moved;
    }

    private void reapCompletions() {
        boolean took = false;
        boolean issuedFlush = false;
        while (completions.next()) {
            took = true;
            submissions.consumedUpTo(completions.submissionHead());
            int command = completions.commandId();
            if (command >= commandSlot.length || commandSlot[command] < 0) {
                lastFailure = "VSA " + vsic.name() + " queue " + index + ": the controller completed command id "
                        + command + ", which is not in flight (ignored)";
                continue;
            }
            int slot = commandSlot[command];
            int status = completions.status();
            if (!NvmeStatus.isSuccess(status)) {
                String failure = "VSA " + vsic.name() + " queue " + index + ": NVMe "
                        + opcodeName(commandOpcode[command]) + (commandOpcode[command] == NvmeCommands.FLUSH ? ""
                        : " of LBAs " + commandLba[command] + ".." + (commandLba[command] + commandLbas[command] - 1))
                        + " of namespace " + range.namespaceId() + " failed: " + NvmeStatus.describe(status);
                lastFailure = failure;
                if (slotStatus[slot] == 0) {
                    slotStatus[slot] = NvmeStatus.toErrno(status);
                }
            }
            freeCommand(command);
            if (--slotPartsLeft[slot] > 0) {
                continue;
            }
            if (slotKind[slot] == WRITE_THEN_FLUSH && !slotFlushIssued[slot]) {
                int flush = slotFlushCommand[slot];
                if (slotStatus[slot] == 0) {
                    // Every part of the write is done: now, and only now, the flush.
                    slotFlushIssued[slot] = true;
                    slotPartsLeft[slot] = 1;
                    commandSlot[flush] = slot;
                    NvmeCommands.flush(submissions.entries(), submissions.tailOffset(), flush, range.namespaceId());
                    submissions.advance();
                    issuedFlush = true;
                    continue;
                }
                freeCommand(flush);
            }
            finish(slot);
        }
        if (took) {
            NvmeRegisters.write32(bar, completionDoorbell, completions.head());
        }
        if (issuedFlush) {
            // The doorbell hands over everything up to the tail, so commands staged since are rung too.
            ringStaged();
        }
    }

    private void finish(int slot) {
        int status = slotStatus[slot];
        int blocks = slotBlocks[slot];
        if (status < 0) {
            counters.increment(VsicCounter.ERRORS);
        } else {
            long bytes = (long) blocks * blockSize;
            switch (slotKind[slot]) {
                case READ -> {
                    counters.increment(VsicCounter.READS);
                    counters.add(VsicCounter.READ_BYTES, bytes);
                }
                case WRITE -> {
                    counters.increment(VsicCounter.WRITES);
                    counters.add(VsicCounter.WRITE_BYTES, bytes);
                }
                case FLUSH -> counters.increment(VsicCounter.FLUSHES);
                default -> {
                    counters.increment(VsicCounter.WRITES);
                    counters.add(VsicCounter.WRITE_BYTES, bytes);
                    counters.increment(VsicCounter.FLUSHES);
                }
            }
        }
        doneSlots[(doneHead + doneCount) % depth] = slot;
        doneCount++;
        inFlight--;
    }

    private static String opcodeName(int opcode) {
        return switch (opcode) {
            case NvmeCommands.READ -> "READ";
            case NvmeCommands.WRITE -> "WRITE";
            case NvmeCommands.FLUSH -> "FLUSH";
            default -> "opcode 0x" + Integer.toHexString(opcode);
        };
    }

    /**
     * Sleeps on the queue's MSI-X eventfd (at most {@value #MAX_SLEEP_MILLIS} ms at a time, so a
     * lost interrupt costs a little latency, never a hang). If the controller's interrupts do not
     * arrive (three sleeps that timed out with a completion waiting), the queue parks in
     * {@value #PARK_NANOS} ns steps instead.
     */
    @Override
    public boolean awaitCompletion(long timeoutNanos) throws IOException {
        checkOpen();
        if (doneCount > 0 || completions.ready()) {
            return true;
        }
        if (inFlight == 0) {
            return false;
        }
        counters.increment(VsicCounter.IDLE_WAITS);
        long deadline = timeoutNanos > 0 ? System.nanoTime() + timeoutNanos : Long.MAX_VALUE;
        while (!completions.ready()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            if (epollFd < 0 || parkInsteadOfSleeping) {
                LockSupport.parkNanos(Math.min(left, PARK_NANOS));
                continue;
            }
            try {
                // Consume interrupts already delivered, then look again: a completion that raced
                // with the drain is seen here, and a later one signals the eventfd anew.
                EventFd.drain(interruptFd);
                if (completions.ready()) {
                    return true;
                }
                int millis = (int) Math.min(MAX_SLEEP_MILLIS, Math.max(1, left / 1_000_000));
                int woke = Epoll.wait(epollFd, events, millis);
                if (woke == 0 && completions.ready() && ++missedInterrupts >= 3) {
                    parkInsteadOfSleeping = true;
                    System.err.println("arrakis nvme: VSA " + vsic.name() + " queue " + index + " (NVMe queue " + qid
                            + "): completions arrive without interrupts; idle waits now park instead");
                }
            } catch (LinuxException e) {
                throw new IOException("VSA " + vsic.name() + " queue " + index + ": waiting on the queue's interrupt"
                        + " eventfd failed: " + e.getMessage(), e);
            }
        }
        return true;
    }

    /** Waits (bounded) for the commands in flight, deletes the queue pair, frees its memory. */
    void close() throws IOException {
        if (closed) {
            return;
        }
        long deadline = System.nanoTime() + CLOSE_PATIENCE_NANOS;
        // Staged commands were never rung: the controller never sees them once the queue is deleted.
        while (inFlight > 0 && System.nanoTime() < deadline) {
            reapCompletions();
            if (inFlight > 0) {
                LockSupport.parkNanos(PARK_NANOS);
            }
        }
        closed = true;
        if (epollFd >= 0) {
            closeQuietly(epollFd);
        }
        if (inFlight > 0) {
            throw new IOException("VSA " + vsic.name() + " queue " + index + ": " + inFlight
                    + " commands still in flight after 10 s; the queue's memory stays mapped");
        }
        try {
            controller.deleteQueuePair(qid);
        } finally {
            region.close();
        }
    }

    private static void closeQuietly(int fd) {
        try {
            Unistd.close(fd);
        } catch (LinuxException ignored) {
            // Nothing else refers to it.
        }
    }

    @Override
    public String toString() {
        return "VSA " + vsic.name() + " queue " + index + " (NVMe queue pair " + qid + ", " + submissions.size()
                + " entries, " + maxBlocksPerCommand + " blocks per command)";
    }
}

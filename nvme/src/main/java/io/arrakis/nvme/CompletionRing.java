package io.arrakis.nvme;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * The consumer's side of a completion queue: entries of 16 bytes that the controller writes in
 * order, each carrying the phase tag it had when written. The tag of a slot flips every time the
 * controller wraps around, so an entry is new exactly when its tag equals the phase we expect
 * (1 on the first pass, then 0, then 1 …); nothing ever has to be cleared. Owned by one thread.
 *
 * <pre>
 * dword 0 command specific   dword 1 reserved   dword 2 SQ head (15:0), SQ id (31:16)
 * dword 3 command id (15:0), phase tag (16), status (31:17)
 * </pre>
 */
public final class CompletionRing {
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    private final MemorySegment entries;
    private final int size;
    private int head;
    private boolean phase = true;
    // The entry last taken by next().
    private int dword0;
    private int dword2;
    private int dword3;

    public CompletionRing(MemorySegment entries, int size) {
        if (size < 2 || entries.byteSize() < (long) size * NvmeCommands.COMPLETION_BYTES) {
            throw new IllegalArgumentException("a completion queue of " + size + " entries needs "
                    + size * NvmeCommands.COMPLETION_BYTES + " bytes and at least 2 entries; got " + entries.byteSize());
        }
        this.entries = entries;
        this.size = size;
    }

    /** Whether the entry at the head is new (its phase tag is the one expected). */
    public boolean ready() {
        int d3 = (int) INT.getVolatile(entries, (long) head * NvmeCommands.COMPLETION_BYTES + 12);
        return NvmeStatus.phase(d3) == phase;
    }

    /**
     * Takes the entry at the head if it is new: its fields are then {@link #commandId()},
     * {@link #status()}, {@link #submissionHead()} and {@link #result()}. Returns whether it took one.
     */
    public boolean next() {
        long base = (long) head * NvmeCommands.COMPLETION_BYTES;
        int d3 = (int) INT.getVolatile(entries, base + 12);
        if (NvmeStatus.phase(d3) != phase) {
            return false;
        }
        // Read after the tag (a volatile read orders them): the rest of the entry is in place.
        dword0 = (int) INT.getVolatile(entries, base);
        dword2 = (int) INT.getVolatile(entries, base + 8);
        dword3 = d3;
        head++;
        if (head == size) {
            head = 0;
            phase = !phase;
        }
        return true;
    }

    /** The head to write to the completion doorbell once entries were taken. */
    public int head() {
        return head;
    }

    public boolean expectedPhase() {
        return phase;
    }

    public int size() {
        return size;
    }

    public int commandId() {
        return NvmeStatus.commandId(dword3);
    }

    /** The 15-bit status field ({@link NvmeStatus}). */
    public int status() {
        return NvmeStatus.fromDword3(dword3);
    }

    /** Where the controller's submission queue head was when it wrote the entry. */
    public int submissionHead() {
        return dword2 & 0xffff;
    }

    public int submissionQueueId() {
        return dword2 >>> 16;
    }

    /** Dword 0: the command-specific result (e.g. the queues a SET FEATURES granted). */
    public int result() {
        return dword0;
    }
}

package io.arrakis.nvme;

import java.lang.foreign.MemorySegment;

/**
 * The producer's side of a submission queue: entries of 64 bytes written at the tail, which
 * advances modulo the size; the controller consumes from its head, which it reports in every
 * completion. One slot always stays empty (tail + 1 == head means full), so a ring of N entries
 * holds N − 1 commands. Owned by one thread.
 */
public final class SubmissionRing {
    private final MemorySegment entries;
    private final int size;
    private int tail;
    private int head;

    public SubmissionRing(MemorySegment entries, int size) {
        if (size < 2 || entries.byteSize() < (long) size * NvmeCommands.ENTRY_BYTES) {
            throw new IllegalArgumentException("a submission queue of " + size + " entries needs "
                    + size * NvmeCommands.ENTRY_BYTES + " bytes and at least 2 entries; got " + entries.byteSize());
        }
        this.entries = entries;
        this.size = size;
    }

    public MemorySegment entries() {
        return entries;
    }

    public int size() {
        return size;
    }

    /** How many entries may still be written before the ring is full. */
    public int free() {
        return size - 1 - used();
    }

    public int used() {
        return Math.floorMod(tail - head, size);
    }

    /** The byte offset of the next entry to write; call {@link #advance()} once it is written. */
    public long tailOffset() {
        if (free() == 0) {
            throw new IllegalStateException("submission queue full: " + (size - 1) + " commands not yet consumed");
        }
        return (long) tail * NvmeCommands.ENTRY_BYTES;
    }

    /** Moves the tail past the entry just written; returns the new tail (the doorbell value). */
    public int advance() {
        tail = (tail + 1) % size;
        return tail;
    }

    public int tail() {
        return tail;
    }

    /** Records the controller's head from a completion (SQHD): the slots before it are free again. */
    public void consumedUpTo(int controllerHead) {
        if (controllerHead < 0 || controllerHead >= size) {
            throw new IllegalArgumentException("submission queue head " + controllerHead + " outside 0.." + (size - 1));
        }
        head = controllerHead;
    }
}

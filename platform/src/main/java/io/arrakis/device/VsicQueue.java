package io.arrakis.device;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * One submission/completion queue pair of a {@link Vsic}, with the I/O memory registered with the
 * device (DMA-mapped, or io_uring registered buffers). Data moves between blocks of the storage
 * area and {@link #memory()}; commands name a byte offset into that memory, not a pointer.
 *
 * <p>Commands are staged by {@code submit*} and handed to the device together by {@link #ring()}
 * (one doorbell or syscall for many commands). Each carries a caller-chosen tag that comes back
 * with its completion. Owned by one thread, except {@link #counters()}.
 */
public interface VsicQueue {
    int index();

    /** The I/O memory; aligned as the device needs (at least to {@link Vsic#blockSize()}). */
    MemorySegment memory();

    /** How many commands may be in flight at once. */
    int depth();

    /**
     * Stages a read of {@code blocks} blocks from {@code block} into memory at
     * {@code memoryOffset}; returns {@code false} when the queue is full. A range outside the
     * storage area or memory is refused with {@link IllegalArgumentException} before it reaches
     * the device.
     */
    boolean submitRead(long block, int blocks, long memoryOffset, long tag);

    /** Stages a write; as {@link #submitRead}. */
    boolean submitWrite(long block, int blocks, long memoryOffset, long tag);

    /**
     * Stages a flush: when it completes, every write that completed before it was submitted is
     * durable. Ordered after nothing else: to make a write durable, submit the flush after the
     * write's completion (or use {@link #submitWriteThenFlush}).
     */
    boolean submitFlush(long tag);

    /**
     * Stages a write followed by a flush that starts only after the write completed; one
     * completion (tag) reports both. Backends without command linking emulate it.
     */
    boolean submitWriteThenFlush(long block, int blocks, long memoryOffset, long tag);

    /** Hands every staged command to the device; returns how many. */
    int ring() throws IOException;

    /** Appends finished commands to {@code completions}; returns how many. Never blocks. */
    int poll(CompletionBatch completions) throws IOException;

    /**
     * Blocks until a completion is probably waiting, or {@code timeoutNanos} pass (0 or less:
     * no limit); returns {@code true} unless it timed out. Callers spin on {@link #poll} first.
     * Returns {@code false} at once when no command handed over by {@link #ring()} is still in
     * flight and none waits to be polled: such a wait could never end.
     */
    boolean awaitCompletion(long timeoutNanos) throws IOException;

    Counters<VsicCounter> counters();
}

package io.arrakis.device;

/**
 * A reusable batch of frame descriptors moving between a stack and a {@link VnicQueue}: for each
 * frame, the buffer that holds it (an index into the queue's {@link VnicQueue#memory() packet
 * memory}), where the frame starts in that buffer, and its length.
 *
 * <p>Batches exist so that the per-frame cost of crossing the SPI is a few array stores: a
 * stack allocates one batch per queue at start-up and reuses it for ever. Not thread-safe: a
 * batch belongs to the thread that polls its queue.
 */
public final class PacketBatch {
    private final int[] buffers;
    private final int[] offsets;
    private final int[] lengths;
    private int size;

    public PacketBatch(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("batch capacity must be positive: " + capacity);
        }
        buffers = new int[capacity];
        offsets = new int[capacity];
        lengths = new int[capacity];
    }

    public int capacity() {
        return buffers.length;
    }

    public int size() {
        return size;
    }

    public boolean isEmpty() {
        return size == 0;
    }

    public boolean isFull() {
        return size == buffers.length;
    }

    public void clear() {
        size = 0;
    }

    /** Appends a frame; throws {@link IllegalStateException} when the batch is full. */
    public void add(int buffer, int offset, int length) {
        if (size == buffers.length) {
            throw new IllegalStateException("packet batch is full (" + buffers.length + " frames)");
        }
        buffers[size] = buffer;
        offsets[size] = offset;
        lengths[size] = length;
        size++;
    }

    public int buffer(int i) {
        checkIndex(i);
        return buffers[i];
    }

    public int offset(int i) {
        checkIndex(i);
        return offsets[i];
    }

    public int length(int i) {
        checkIndex(i);
        return lengths[i];
    }

    public void setLength(int i, int length) {
        checkIndex(i);
        lengths[i] = length;
    }

    /**
     * Drops the first {@code n} frames, keeping the rest in order: what a queue does after it
     * accepted only part of a batch for transmission.
     */
    public void removeFirst(int n) {
        if (n < 0 || n > size) {
            throw new IndexOutOfBoundsException("cannot remove " + n + " frames from a batch of " + size);
        }
        int rest = size - n;
        System.arraycopy(buffers, n, buffers, 0, rest);
        System.arraycopy(offsets, n, offsets, 0, rest);
        System.arraycopy(lengths, n, lengths, 0, rest);
        size = rest;
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= size) {
            throw new IndexOutOfBoundsException("frame " + i + " of a batch of " + size);
        }
    }
}

package io.arrakis.device;

/**
 * Frames waiting to be received, in order, as descriptors (buffer, offset, length): what a
 * software queue holds between a frame's arrival and the stack's next {@link VnicQueue#receive}.
 * Sized to its pool, since each buffer can wait at most once, so it never overflows. Not
 * thread-safe: it belongs to the queue's polling thread.
 */
public final class FrameQueue {
    private final int[] buffers;
    private final int[] offsets;
    private final int[] lengths;
    private int head;
    private int count;

    /** A queue for frames in a pool of {@code poolCapacity} buffers. */
    public FrameQueue(int poolCapacity) {
        buffers = new int[poolCapacity];
        offsets = new int[poolCapacity];
        lengths = new int[poolCapacity];
    }

    public boolean isEmpty() {
        return count == 0;
    }

    public void add(int buffer, int offset, int length) {
        if (count == buffers.length) {
            throw new IllegalStateException("frame queue of " + buffers.length
                    + " is full: a buffer was queued twice");
        }
        int tail = (head + count) % buffers.length;
        buffers[tail] = buffer;
        offsets[tail] = offset;
        lengths[tail] = length;
        count++;
    }

    /**
     * Moves waiting frames to {@code batch}, oldest first, until it is full; returns how many
     * counting them as received on {@code counters} unless it is null.
     */
    public int moveTo(PacketBatch batch, Counters<VnicCounter> counters) {
        int moved = 0;
        while (count > 0 && !batch.isFull()) {
            int length = lengths[head];
            batch.add(buffers[head], offsets[head], length);
            head = (head + 1) % buffers.length;
            count--;
            moved++;
            if (counters != null) {
                counters.increment(VnicCounter.RX_PACKETS);
                counters.add(VnicCounter.RX_BYTES, length);
            }
        }
        return moved;
    }
}

package io.arrakis.device;

import io.arrakis.memory.BufferPool;

/**
 * The buffer bookkeeping every queue backed by a {@link BufferPool} shares: lending free
 * buffers ({@link VnicQueue#allocate}), taking them back ({@link VnicQueue#release}), and
 * checking a transmit descriptor before anything of its batch is sent. A buffer the caller was
 * never lent is refused with a message naming the queue, as the SPI promises. Not thread-safe:
 * it belongs to the queue's polling thread, like the pool.
 */
public final class LentBuffers {
    private static final int ETHERNET_HEADER = 14;

    private final BufferPool pool;
    private final int headroom;
    private final int maxFrame;
    private final int mtu;
    private final String queueName;

    /**
     * @param maxFrame the longest frame the device carries (MTU + Ethernet header + a VLAN tag)
     * @param queueName how messages name the queue, e.g. {@code "VNIC vf1 queue 0 (tap arrakis0)"}
     */
    public LentBuffers(BufferPool pool, int headroom, int mtu, int maxFrame, String queueName) {
        this.pool = pool;
        this.headroom = headroom;
        this.mtu = mtu;
        this.maxFrame = maxFrame;
        this.queueName = queueName;
    }

    public BufferPool pool() {
        return pool;
    }

    /** Appends up to {@code n} free buffers to {@code batch}, at the headroom with length 0. */
    public int allocate(PacketBatch batch, int n) {
        int allocated = 0;
        while (allocated < n && !batch.isFull()) {
            int buffer = pool.allocate();
            if (buffer < 0) {
                break;
            }
            batch.add(buffer, headroom, 0);
            allocated++;
        }
        return allocated;
    }

    /**
     * Takes back every buffer of {@code batch} and empties it; a buffer not lent stops it with an
     * {@link IllegalArgumentException}, leaving that one and the rest in the batch.
     */
    public void release(PacketBatch batch) {
        for (int i = 0; i < batch.size(); i++) {
            int buffer = batch.buffer(i);
            if (buffer < 0 || buffer >= pool.capacity() || !pool.isAllocated(buffer)) {
                // Keep the batch consistent: what was freed leaves it, the bad one and the rest stay.
                batch.removeFirst(i);
                throw new IllegalArgumentException(queueName + ": cannot release buffer " + buffer
                        + ": it was not lent to the caller (pool of " + pool.capacity() + ")");
            }
            pool.free(buffer);
        }
        batch.clear();
    }

    /** Checks one transmit descriptor; the message says nothing of the batch was sent. */
    public void checkTransmit(int buffer, int offset, int length) {
        if (buffer < 0 || buffer >= pool.capacity() || !pool.isAllocated(buffer)) {
            throw new IllegalArgumentException(queueName + ": buffer " + buffer + " was not lent to the caller"
                    + " (pool of " + pool.capacity() + "); nothing in the batch was sent");
        }
        if (offset < 0 || length < ETHERNET_HEADER || (long) offset + length > pool.bufferSize()) {
            throw new IllegalArgumentException(queueName + ": buffer " + buffer + ": frame at offset " + offset
                    + " length " + length + " does not fit a " + pool.bufferSize()
                    + "-byte buffer or is shorter than an Ethernet header; nothing in the batch was sent");
        }
        if (length > maxFrame) {
            throw new IllegalArgumentException(queueName + ": buffer " + buffer + ": a " + length
                    + "-byte frame exceeds the MTU of " + mtu + " (at most " + maxFrame
                    + " bytes with a VLAN tag); nothing in the batch was sent");
        }
    }
}

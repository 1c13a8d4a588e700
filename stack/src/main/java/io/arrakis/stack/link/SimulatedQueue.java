package io.arrakis.stack.link;

import io.arrakis.device.Counters;
import io.arrakis.device.FrameQueue;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.TokenBucket;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.memory.BufferPool;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * The one queue of a {@link SimulatedVnic}. Transmit hands frames to the link, which keeps their
 * buffers until they arrive; receive hands out the frames the link copied into this pool.
 * {@link #awaitReceive} never blocks (a simulation advances time instead of waiting). Owned by
 * the simulation thread, except {@link #wakeup()} and {@link #counters()}.
 */
final class SimulatedQueue implements VnicQueue {
    private static final int ETHERNET_HEADER = 14;

    private final SimulatedLink link;
    private final SimulatedVnic vnic;
    private final BufferPool pool;
    private final Counters<VnicCounter> counters = Counters.onHeap(VnicCounter.class);
    private final TokenBucket bucket = new TokenBucket();

    // Frames delivered and not yet received, in order. Every buffer is in it at most once, so a
    // ring as large as the pool never overflows.
    private final FrameQueue arrived;

    private volatile boolean wakeupPending;

    SimulatedQueue(SimulatedLink link, SimulatedVnic vnic, BufferPool pool) {
        this.link = link;
        this.vnic = vnic;
        this.pool = pool;
        this.arrived = new FrameQueue(pool.capacity());
    }

    @Override
    public int index() {
        return 0;
    }

    @Override
    public MemorySegment memory() {
        return pool.segment();
    }

    @Override
    public int bufferSize() {
        return pool.bufferSize();
    }

    @Override
    public int headroom() {
        return 0;
    }

    /** Delivers what is due on the link, then hands out waiting frames. */
    @Override
    public int receive(PacketBatch batch) throws IOException {
        checkOpen();
        link.deliverDue();
        return arrived.moveTo(batch, null);
    }

    /** Called by the link: a frame was copied into {@code buffer} of this pool. */
    void arrived(int buffer, int offset, int length) {
        arrived.add(buffer, offset, length);
        counters.increment(VnicCounter.RX_PACKETS);
        counters.add(VnicCounter.RX_BYTES, length);
    }

    @Override
    public int transmit(PacketBatch batch) {
        checkOpen();
        long now = link.clock().now();
        if (bucket.limit() != vnic.rateLimit()) {
            bucket.setLimit(vnic.rateLimit(), now);
        }
        int accepted = 0;
        for (int i = 0; i < batch.size(); i++) {
            int buffer = batch.buffer(i);
            int offset = batch.offset(i);
            int length = batch.length(i);
            checkDescriptor(buffer, offset, length);
            if (!bucket.tryTake(length, now)) {
                counters.increment(VnicCounter.TX_RATE_LIMITED);
                break;
            }
            accepted++;
            if (!vnic.transmitFilter().allowsFrame(pool.segment(), pool.offset(buffer) + offset, length)) {
                counters.increment(VnicCounter.TX_DROPPED_FILTERED);
                pool.free(buffer);
                continue;
            }
            counters.increment(VnicCounter.TX_PACKETS);
            counters.add(VnicCounter.TX_BYTES, length);
            link.send(vnic, buffer, offset, length);
        }
        batch.removeFirst(accepted);
        return accepted;
    }

    private void checkDescriptor(int buffer, int offset, int length) {
        if (buffer < 0 || buffer >= pool.capacity() || !pool.isAllocated(buffer)) {
            throw new IllegalArgumentException("simulated VNIC " + vnic.name() + ": buffer " + buffer
                    + " was not lent to the caller (pool of " + pool.capacity() + "); frame not sent");
        }
        if (link.inFlight(vnic, buffer)) {
            throw new IllegalArgumentException("simulated VNIC " + vnic.name() + ": buffer " + buffer
                    + " was already transmitted and is still on the wire; frame not sent");
        }
        if (offset < 0 || length < ETHERNET_HEADER || (long) offset + length > pool.bufferSize()) {
            throw new IllegalArgumentException("simulated VNIC " + vnic.name() + ": frame at offset " + offset
                    + " length " + length + " does not fit a " + pool.bufferSize()
                    + "-byte buffer or is shorter than an Ethernet header; frame not sent");
        }
    }

    @Override
    public int allocate(PacketBatch batch, int n) {
        checkOpen();
        int allocated = 0;
        while (allocated < n && !batch.isFull()) {
            int buffer = pool.allocate();
            if (buffer < 0) {
                break;
            }
            batch.add(buffer, headroom(), 0);
            allocated++;
        }
        return allocated;
    }

    @Override
    public void release(PacketBatch batch) {
        checkOpen();
        for (int i = 0; i < batch.size(); i++) {
            int buffer = batch.buffer(i);
            if (buffer >= 0 && buffer < pool.capacity() && link.inFlight(vnic, buffer)) {
                throw new IllegalStateException("simulated VNIC " + vnic.name() + ": buffer " + buffer
                        + " was transmitted and is still on the wire; it is not the caller's to release");
            }
            pool.free(buffer);
        }
        batch.clear();
    }

    /**
     * Delivers what is due, then returns at once: {@code true} if frames are waiting or a
     * {@link #wakeup()} was pending, {@code false} otherwise (as if the timeout passed). A
     * simulation never blocks: nothing could arrive while its only thread waits; the driver
     * advances virtual time instead.
     */
    @Override
    public boolean awaitReceive(long timeoutNanos) throws IOException {
        checkOpen();
        link.deliverDue();
        if (!arrived.isEmpty()) {
            return true;
        }
        if (wakeupPending) {
            wakeupPending = false;
            return true;
        }
        counters.increment(VnicCounter.IDLE_WAITS);
        return false;
    }

    @Override
    public void wakeup() {
        wakeupPending = true;
    }

    @Override
    public int readinessFd() {
        return -1;
    }

    @Override
    public Counters<VnicCounter> counters() {
        return counters;
    }

    private void checkOpen() {
        link.checkOpen();
        if (vnic.isClosed()) {
            throw new IllegalStateException("simulated VNIC " + vnic.name() + " is closed");
        }
    }
}

package io.arrakis.device.loopback;

import io.arrakis.device.Counters;
import io.arrakis.device.FrameQueue;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.TokenBucket;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.memory.BufferPool;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.LockSupport;

/**
 * A queue pair whose transmit side feeds its own receive side, without copying: the buffer a
 * frame was transmitted in is the buffer it is received in. The transmit filter and the rate
 * limit of the VNIC are enforced here, as a device would. Owned by one thread, except
 * {@link #wakeup()} and {@link #counters()}.
 */
final class LoopbackQueue implements VnicQueue {
    private static final int ETHERNET_HEADER = 14;

    private final LoopbackVnic vnic;
    private final int index;
    private final BufferPool pool;
    private final Counters<VnicCounter> counters = Counters.onHeap(VnicCounter.class);
    private final TokenBucket bucket = new TokenBucket();

    // Frames transmitted and not yet received, in order. Every buffer is in it at most once, so
    // a ring as large as the pool never overflows.
    private final FrameQueue reflected;

    private volatile boolean wakeupPending;
    private volatile Thread waiter;

    LoopbackQueue(LoopbackVnic vnic, int index, MemorySegment memory, int bufferSize) {
        this.vnic = vnic;
        this.index = index;
        this.pool = new BufferPool(memory, bufferSize);
        this.reflected = new FrameQueue(pool.capacity());
    }

    @Override
    public int index() {
        return index;
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

    @Override
    public int receive(PacketBatch batch) {
        return reflected.moveTo(batch, counters);
    }

    @Override
    public int transmit(PacketBatch batch) {
        if (bucket.limit() != vnic.rateLimit()) {
            bucket.setLimit(vnic.rateLimit(), System.nanoTime());
        }
        int accepted = 0;
        long now = System.nanoTime();
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
            reflected.add(buffer, offset, length);
            counters.increment(VnicCounter.TX_PACKETS);
            counters.add(VnicCounter.TX_BYTES, length);
        }
        batch.removeFirst(accepted);
        return accepted;
    }

    private void checkDescriptor(int buffer, int offset, int length) {
        if (buffer < 0 || buffer >= pool.capacity() || !pool.isAllocated(buffer)) {
            throw new IllegalArgumentException("VNIC " + vnic.name() + " queue " + index + ": buffer " + buffer
                    + " was not lent to the caller (pool of " + pool.capacity() + "); frame not sent");
        }
        if (offset < 0 || length < ETHERNET_HEADER || (long) offset + length > pool.bufferSize()) {
            throw new IllegalArgumentException("VNIC " + vnic.name() + " queue " + index + ": frame at offset "
                    + offset + " length " + length + " does not fit a " + pool.bufferSize()
                    + "-byte buffer or is shorter than an Ethernet header; frame not sent");
        }
    }

    @Override
    public int allocate(PacketBatch batch, int n) {
        int allocated = 0;
        while (allocated < n && !batch.isFull()) {
            int buffer = pool.allocate();
            if (buffer < 0) {
                break;
            }
            batch.add(buffer, 0, 0);
            allocated++;
        }
        return allocated;
    }

    @Override
    public void release(PacketBatch batch) {
        for (int i = 0; i < batch.size(); i++) {
            pool.free(batch.buffer(i));
        }
        batch.clear();
    }

    @Override
    public boolean awaitReceive(long timeoutNanos) {
        // Frames only ever come from this queue's own transmit, on this thread: if none are
        // waiting now, only wakeup() or the timeout can end the wait.
        if (!reflected.isEmpty() || consumeWakeup()) {
            return true;
        }
        counters.increment(VnicCounter.IDLE_WAITS);
        waiter = Thread.currentThread();
        try {
            long deadline = System.nanoTime() + timeoutNanos;
            while (!consumeWakeup()) {
                if (timeoutNanos <= 0) {
                    LockSupport.park(this);
                } else {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    LockSupport.parkNanos(this, left);
                }
            }
            return true;
        } finally {
            waiter = null;
        }
    }

    private boolean consumeWakeup() {
        if (wakeupPending) {
            wakeupPending = false;
            return true;
        }
        return false;
    }

    @Override
    public void wakeup() {
        wakeupPending = true;
        Thread thread = waiter;
        if (thread != null) {
            LockSupport.unpark(thread);
        }
    }

    @Override
    public int readinessFd() {
        return -1;
    }

    @Override
    public Counters<VnicCounter> counters() {
        return counters;
    }
}

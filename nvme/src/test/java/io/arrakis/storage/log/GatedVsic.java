package io.arrakis.storage.log;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.Counters;
import io.arrakis.device.Vsic;
import io.arrakis.storage.ForwardingVsic;
import io.arrakis.device.VsicCounter;
import io.arrakis.device.VsicQueue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A VSIC over a real one whose queue {@code gatedQueue} can be made to hold one command: after
 * {@link #closeGate}, the next {@code ring()} there (only that one) waits, at most 30 s, until
 * {@link #open}, before the command reaches the device; later rings pass. A test thus holds one
 * thread inside one device write (and its flush) or read at a known point. Queues as the inner
 * VSIC's (one thread each); the gate itself is thread-safe.
 */
final class GatedVsic extends ForwardingVsic {
    private final int gatedQueue;
    private final VsicQueue[] queues;
    private volatile CountDownLatch release;
    private final java.util.concurrent.atomic.AtomicBoolean armed = new java.util.concurrent.atomic.AtomicBoolean();
    private final CountDownLatch entered = new CountDownLatch(1);

    GatedVsic(Vsic inner, int gatedQueue) {
        super(inner);
        this.gatedQueue = gatedQueue;
        this.queues = new VsicQueue[inner.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = i == gatedQueue ? new Gated(inner.queue(i)) : inner.queue(i);
        }
    }

    /** From now on, the next ring on the gated queue (one only) waits for {@link #open}. */
    void closeGate() {
        release = new CountDownLatch(1);
        armed.set(true);
    }

    /** Waits (bounded) until a thread is held at the gate. */
    boolean awaitHeld(long timeout, TimeUnit unit) throws InterruptedException {
        return entered.await(timeout, unit);
    }

    void open() {
        armed.set(false);
        CountDownLatch latch = release;
        release = null;
        if (latch != null) {
            latch.countDown();
        }
    }

    @Override
    public VsicQueue queue(int index) {
        return queues[index];
    }

    @Override
    public void close() throws IOException {
        open();
        super.close();
    }

    private final class Gated implements VsicQueue {
        private final VsicQueue queue;

        Gated(VsicQueue queue) {
            this.queue = queue;
        }

        @Override
        public int index() {
            return queue.index();
        }

        @Override
        public MemorySegment memory() {
            return queue.memory();
        }

        @Override
        public int depth() {
            return queue.depth();
        }

        @Override
        public boolean submitRead(long block, int blocks, long memoryOffset, long tag) {
            return queue.submitRead(block, blocks, memoryOffset, tag);
        }

        @Override
        public boolean submitWrite(long block, int blocks, long memoryOffset, long tag) {
            return queue.submitWrite(block, blocks, memoryOffset, tag);
        }

        @Override
        public boolean submitFlush(long tag) {
            return queue.submitFlush(tag);
        }

        @Override
        public boolean submitWriteThenFlush(long block, int blocks, long memoryOffset, long tag) {
            return queue.submitWriteThenFlush(block, blocks, memoryOffset, tag);
        }

        @Override
        public int ring() throws IOException {
            CountDownLatch latch = release;
            if (latch != null && armed.compareAndSet(true, false)) {
                entered.countDown();
                try {
                    if (!latch.await(30, TimeUnit.SECONDS)) {
                        throw new IOException("gated queue " + gatedQueue + " of " + inner.name()
                                + " was never opened (a test bug)");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted at the gate", e);
                }
            }
            return queue.ring();
        }

        @Override
        public int poll(CompletionBatch completions) throws IOException {
            return queue.poll(completions);
        }

        @Override
        public boolean awaitCompletion(long timeoutNanos) throws IOException {
            return queue.awaitCompletion(timeoutNanos);
        }

        @Override
        public Counters<VsicCounter> counters() {
            return queue.counters();
        }
    }
}

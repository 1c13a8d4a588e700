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
 * A VSIC over a real one whose gated queues can be made to hold one command: after
 * {@link #closeGate}, the next {@code ring()} on any of them (only that one) waits, at most 30 s,
 * until {@link #open}, before the command reaches the device; later rings pass. A test thus holds
 * one thread inside one device write (and its flush) or read at a known point, whichever commit
 * lane it runs on. Queues as the inner VSIC's (one thread each); the gate itself is thread-safe.
 */
final class GatedVsic extends ForwardingVsic {
    private final java.util.Set<Integer> gatedQueues;
    private final VsicQueue[] queues;
    private volatile CountDownLatch release;
    private volatile boolean failHeld;
    private final java.util.concurrent.atomic.AtomicInteger armed = new java.util.concurrent.atomic.AtomicInteger();
    private volatile CountDownLatch entered = new CountDownLatch(1);
    private volatile int rings = 1;

    GatedVsic(Vsic inner, Integer... gatedQueues) {
        super(inner);
        this.gatedQueues = java.util.Set.of(gatedQueues);
        this.queues = new VsicQueue[inner.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = this.gatedQueues.contains(i) ? new Gated(inner.queue(i)) : inner.queue(i);
        }
    }

    /** A gate on the queues a log store commits on (0 and 2), not on its read queue. */
    static GatedVsic onCommits(Vsic inner) {
        return inner.queueCount() >= 3 ? new GatedVsic(inner, 0, 2) : new GatedVsic(inner, 0);
    }

    /** From now on, the next ring on a gated queue (one only) waits for {@link #open}. */
    void closeGate() {
        closeGate(1);
    }

    /** From now on, the next {@code rings} rings on gated queues wait for {@link #open} or {@link #failHeld}. */
    void closeGate(int rings) {
        failHeld = false;
        this.rings = rings;
        entered = new CountDownLatch(rings);
        release = new CountDownLatch(1);
        armed.set(rings);
    }

    /** Waits (bounded) until as many threads as {@link #closeGate(int)} named are held at the gate. */
    boolean awaitHeld(long timeout, TimeUnit unit) throws InterruptedException {
        return entered.await(timeout, unit);
    }

    /** How many rings reached the gate since {@link #closeGate(int)}. */
    int held() {
        return rings - (int) entered.getCount();
    }

    /** Releases the held rings as failures: their commands never reach the device, and ring() throws. */
    void failHeld() {
        failHeld = true;
        open();
    }

    void open() {
        armed.set(0);
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
            if (latch != null && armed.getAndUpdate(left -> Math.max(0, left - 1)) > 0) {
                entered.countDown();
                try {
                    if (!latch.await(30, TimeUnit.SECONDS)) {
                        throw new IOException("gated queue " + queue.index() + " of " + inner.name()
                                + " was never opened (a test bug)");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted at the gate", e);
                }
                if (failHeld) {
                    throw new IOException("injected failure: the command held at the gate of queue " + queue.index()
                            + " of " + inner.name() + " never reached the device");
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

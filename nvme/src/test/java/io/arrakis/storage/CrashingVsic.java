package io.arrakis.storage;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.Counters;
import io.arrakis.device.Vsic;
import io.arrakis.device.VsicCounter;
import io.arrakis.device.VsicQueue;
import io.arrakis.linux.Errno;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A fault-injecting VSIC over a real one that "kills the process" at its {@code crashAt}-th
 * write: that write reaches the device torn (only its first half of blocks, when it has two or
 * more and tearing is on) or not at all, and from then on nothing reaches the device and every
 * command, including those already in flight, completes with {@code -EIO}, as if the process
 * that issued them had died before seeing their completions. What the device holds afterwards
 * is what it would hold after a SIGKILL at that instant, without a new JVM per crash. Queues as
 * the inner VSIC's (one thread each); the crash point is shared by all queues.
 */
public final class CrashingVsic extends ForwardingVsic {
    private final AtomicLong writesLeft;
    private final boolean tear;
    private final List<CrashingQueue> queues = new ArrayList<>();
    private volatile boolean crashed;
    private volatile String crashDescription = "no crash yet";

    public CrashingVsic(Vsic inner, long crashAt, boolean tear) {
        super(inner);
        this.writesLeft = new AtomicLong(crashAt);
        this.tear = tear;
        for (int i = 0; i < inner.queueCount(); i++) {
            queues.add(new CrashingQueue(inner.queue(i)));
        }
    }

    public boolean crashed() {
        return crashed;
    }

    /** Which write the crash came at and what of it reached the device. */
    public String crashDescription() {
        return crashDescription;
    }

    @Override
    public VsicQueue queue(int index) {
        return queues.get(index);
    }

    private final class CrashingQueue implements VsicQueue {
        private final VsicQueue queue;
        private final ArrayDeque<Long> failedHere = new ArrayDeque<>();
        /**
         * Tags staged on the device queue and not yet rung. If another queue's thread crashes the
         * VSIC before this one rings, they never reach the device and complete with -EIO here;
         * otherwise (with two commit lanes) the thread waiting for them would wait for a command
         * nobody handed over, until its 60 s patience ran out.
         */
        private final ArrayDeque<Long> stagedHere = new ArrayDeque<>();
        private final CompletionBatch scratch = new CompletionBatch(64);

        CrashingQueue(VsicQueue queue) {
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
            if (crashed) {
                failedHere.add(tag);
                return true;
            }
            return staged(queue.submitRead(block, blocks, memoryOffset, tag), tag);
        }

        @Override
        public boolean submitWrite(long block, int blocks, long memoryOffset, long tag) {
            return write(block, blocks, memoryOffset, tag, false);
        }

        @Override
        public boolean submitWriteThenFlush(long block, int blocks, long memoryOffset, long tag) {
            return write(block, blocks, memoryOffset, tag, true);
        }

        private boolean write(long block, int blocks, long memoryOffset, long tag, boolean flush) {
            if (crashed) {
                failedHere.add(tag);
                return true;
            }
            if (writesLeft.decrementAndGet() != 0) {
                return staged(flush ? queue.submitWriteThenFlush(block, blocks, memoryOffset, tag)
                        : queue.submitWrite(block, blocks, memoryOffset, tag), tag);
            }
            crashed = true;
            if (tear && blocks >= 2) {
                // The torn write: its first half reaches the device, the rest never does.
                int half = blocks / 2;
                crashDescription = "crashed tearing a write of blocks " + block + ".." + (block + blocks - 1)
                        + " after " + half + " blocks";
                try {
                    if (queue.submitWrite(block, half, memoryOffset, Long.MIN_VALUE)) {
                        TestAreas.complete(queue, 1);
                    }
                } catch (IOException e) {
                    throw new AssertionError("the torn half-write failed on the device: " + e, e);
                }
            } else {
                crashDescription = "crashed before a write of blocks " + block + ".." + (block + blocks - 1)
                        + " reached the device";
            }
            failedHere.add(tag);
            return true;
        }

        @Override
        public boolean submitFlush(long tag) {
            if (crashed) {
                failedHere.add(tag);
                return true;
            }
            return staged(queue.submitFlush(tag), tag);
        }

        private boolean staged(boolean accepted, long tag) {
            if (accepted) {
                stagedHere.add(tag);
            }
            return accepted;
        }

        @Override
        public int ring() throws IOException {
            if (crashed) {
                failedHere.addAll(stagedHere);
                stagedHere.clear();
                return 0;
            }
            stagedHere.clear();
            return queue.ring();
        }

        @Override
        public int poll(CompletionBatch completions) throws IOException {
            if (!crashed) {
                return queue.poll(completions);
            }
            int moved = 0;
            scratch.clear();
            queue.poll(scratch);
            for (int i = 0; i < scratch.size(); i++) {
                failedHere.add(scratch.tag(i));
            }
            while (!failedHere.isEmpty() && !completions.isFull()) {
                long tag = failedHere.poll();
                if (tag != Long.MIN_VALUE) {
                    completions.add(tag, -Errno.EIO);
                    moved++;
                }
            }
            return moved;
        }

        @Override
        public boolean awaitCompletion(long timeoutNanos) throws IOException {
            if (crashed && !failedHere.isEmpty()) {
                return true;
            }
            return queue.awaitCompletion(timeoutNanos);
        }

        @Override
        public Counters<VsicCounter> counters() {
            return queue.counters();
        }
    }
}

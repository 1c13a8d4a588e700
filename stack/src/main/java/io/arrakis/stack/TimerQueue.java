package io.arrakis.stack;

import java.util.Arrays;

/**
 * Deadlines of many timers (one per TCP connection and listener) in a binary min-heap, so the
 * stack learns the next deadline in O(1) and re-arms a timer in O(log n) without allocating:
 * each {@link Timer} carries its own heap index. A simulation jumps virtual time straight to
 * {@link #nextDeadline()}, so it must be exact, which a hashed wheel's rounding would not be.
 * Not thread-safe: it belongs to the stack's polling thread.
 */
public final class TimerQueue {
    /** Something with a deadline; subclasses say what happens when it passes. */
    public abstract static class Timer {
        private long deadline = Long.MAX_VALUE;
        private int index = -1;

        /** Called by {@link #expire} once the deadline has passed; may re-arm itself. */
        protected abstract void fire(long now);

        public final long deadline() {
            return deadline;
        }

        public final boolean isScheduled() {
            return index >= 0;
        }
    }

    private Timer[] heap = new Timer[64];
    private int size;

    /** Sets {@code timer}'s deadline; {@code Long.MAX_VALUE} cancels it. */
    public void schedule(Timer timer, long deadline) {
        if (deadline == Long.MAX_VALUE) {
            cancel(timer);
            return;
        }
        if (timer.index < 0) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            timer.deadline = deadline;
            timer.index = size;
            heap[size++] = timer;
            siftUp(timer.index);
            return;
        }
        long old = timer.deadline;
        timer.deadline = deadline;
        if (deadline < old) {
            siftUp(timer.index);
        } else if (deadline > old) {
            siftDown(timer.index);
        }
    }

    public void cancel(Timer timer) {
        int i = timer.index;
        if (i < 0) {
            return;
        }
        Timer last = heap[--size];
        heap[size] = null;
        timer.index = -1;
        timer.deadline = Long.MAX_VALUE;
        if (last != timer) {
            heap[i] = last;
            last.index = i;
            siftDown(i);
            siftUp(last.index);
        }
    }

    /** The earliest deadline, or {@code Long.MAX_VALUE} when nothing is scheduled. */
    public long nextDeadline() {
        return size == 0 ? Long.MAX_VALUE : heap[0].deadline;
    }

    /**
     * Fires every timer whose deadline is at or before {@code now}, earliest first; each is
     * unscheduled before it fires, so it may schedule itself again. Returns how many fired.
     * A timer that re-arms at or before {@code now} fires again in the same call, at most
     * {@code size} times overall, so a buggy timer cannot hang the stack.
     */
    public int expire(long now) {
        int fired = 0;
        int budget = Math.max(size * 2, 16);
        while (size > 0 && heap[0].deadline <= now && fired < budget) {
            Timer timer = heap[0];
            cancel(timer);
            timer.fire(now);
            fired++;
        }
        return fired;
    }

    public int size() {
        return size;
    }

    private void siftUp(int i) {
        Timer timer = heap[i];
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            Timer above = heap[parent];
            if (above.deadline <= timer.deadline) {
                break;
            }
            heap[i] = above;
            above.index = i;
            i = parent;
        }
        heap[i] = timer;
        timer.index = i;
    }

    private void siftDown(int i) {
        Timer timer = heap[i];
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && heap[child + 1].deadline < heap[child].deadline) {
                child++;
            }
            if (heap[child].deadline >= timer.deadline) {
                break;
            }
            heap[i] = heap[child];
            heap[i].index = i;
            i = child;
        }
        heap[i] = timer;
        timer.index = i;
    }
}

package io.arrakis.stack.link;

import java.util.Arrays;

/**
 * Frames waiting to arrive, earliest first: a binary min-heap ordered by (arrival time, the
 * order they were added), over slots held in parallel arrays, so scheduling and delivering a
 * frame allocate nothing once the arrays have grown to the traffic. Each frame is a buffer
 * descriptor plus two tags its owner may use (a frame number, a bit to flip). The instruments
 * that delay frames ({@link SimulatedLink}, {@link FaultyVnic}) share it. Not thread-safe.
 */
final class FrameSchedule {
    private long nextOrder;
    private int size;
    private int[] heap = new int[64];
    private long[] arrival = new long[64];
    private long[] order = new long[64];
    private long[] frameNumber = new long[64];
    private int[] buffer = new int[64];
    private int[] offset = new int[64];
    private int[] length = new int[64];
    private int[] flipBit = new int[64];
    private int[] freeSlots = new int[64];
    private int freeCount;
    private int slotsUsed;

    int size() {
        return size;
    }

    long nextArrival() {
        return size == 0 ? Long.MAX_VALUE : arrival[heap[0]];
    }

    boolean isDue(long now) {
        return size > 0 && arrival[heap[0]] <= now;
    }

    void add(long at, int buf, int off, int len, long frame, int flip) {
        int slot;
        if (freeCount > 0) {
            slot = freeSlots[--freeCount];
        } else {
            if (slotsUsed == arrival.length) {
                grow();
            }
            slot = slotsUsed++;
        }
        arrival[slot] = at;
        order[slot] = nextOrder++;
        frameNumber[slot] = frame;
        buffer[slot] = buf;
        offset[slot] = off;
        length[slot] = len;
        flipBit[slot] = flip;
        int i = size++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!before(slot, heap[parent])) {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = slot;
    }

    /** Removes the earliest frame and returns its slot, which stays readable until the next {@link #add}. */
    int pop() {
        int top = heap[0];
        int last = heap[--size];
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && before(heap[child + 1], heap[child])) {
                child++;
            }
            if (!before(heap[child], last)) {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        if (size > 0) {
            heap[i] = last;
        }
        freeSlots[freeCount++] = top;
        return top;
    }

    long arrival(int slot) {
        return arrival[slot];
    }

    long frameNumber(int slot) {
        return frameNumber[slot];
    }

    int buffer(int slot) {
        return buffer[slot];
    }

    int offset(int slot) {
        return offset[slot];
    }

    int length(int slot) {
        return length[slot];
    }

    int flipBit(int slot) {
        return flipBit[slot];
    }

    private boolean before(int x, int y) {
        return arrival[x] < arrival[y] || (arrival[x] == arrival[y] && order[x] < order[y]);
    }

    private void grow() {
        int capacity = arrival.length * 2;
        heap = Arrays.copyOf(heap, capacity);
        arrival = Arrays.copyOf(arrival, capacity);
        order = Arrays.copyOf(order, capacity);
        frameNumber = Arrays.copyOf(frameNumber, capacity);
        buffer = Arrays.copyOf(buffer, capacity);
        offset = Arrays.copyOf(offset, capacity);
        length = Arrays.copyOf(length, capacity);
        flipBit = Arrays.copyOf(flipBit, capacity);
        freeSlots = Arrays.copyOf(freeSlots, capacity);
    }
}

package io.arrakis.vfio.virtio;

/**
 * The free descriptors of a virtqueue's table: a stack of indices, so the descriptor freed last
 * (its cache line still warm) is used first, with a bit per descriptor that catches a double free
 * or a device completing a descriptor it was never given. Not thread-safe: it belongs to the
 * queue's polling thread.
 */
final class DescriptorFreeList {
    private final int[] free;
    private int top;
    private final boolean[] inUse;

    DescriptorFreeList(int size) {
        if (size <= 0) {
            throw new IllegalArgumentException("a descriptor table needs at least one descriptor: " + size);
        }
        free = new int[size];
        inUse = new boolean[size];
        for (int i = 0; i < size; i++) {
            free[i] = size - 1 - i; // 0 comes out first: easier to read in a dump
        }
        top = size;
    }

    /** Takes a free descriptor; -1 when every one is in use. */
    int allocate() {
        if (top == 0) {
            return -1;
        }
        int id = free[--top];
        inUse[id] = true;
        return id;
    }

    /** Whether {@code id} names a descriptor that is in use (false for any other int). */
    boolean isInUse(int id) {
        return id >= 0 && id < inUse.length && inUse[id];
    }

    /** Gives descriptor {@code id} back; refuses one that is not in use. */
    void free(int id) {
        if (!isInUse(id)) {
            throw new IllegalStateException("descriptor " + id + " is not in use (table of " + inUse.length
                    + "): freed twice, or completed by the device without having been offered");
        }
        inUse[id] = false;
        free[top++] = id;
    }

    int available() {
        return top;
    }

    int size() {
        return free.length;
    }
}

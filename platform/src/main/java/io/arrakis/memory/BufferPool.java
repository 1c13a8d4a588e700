package io.arrakis.memory;

import java.lang.foreign.MemorySegment;

/**
 * Fixed-size buffers carved from one memory segment, named by an int index. Not thread-safe, by
 * design: a pool has a single owner (one thread), and buffers move between threads and processes
 * as indices through rings, not through the pool.
 *
 * <p>Buffer {@code i} is the {@link #bufferSize()} bytes at {@link #offset(int) offset(i)}
 * {@code = i * bufferSize} in {@link #segment()}. Because an index is an offset, not an address,
 * it means the same buffer in every process that maps the same memory, wherever the mapping
 * lands. For allocation-free access use {@code segment().get(layout, offset(i) + field)};
 * {@link #buffer(int)} is convenient but allocates a slice.
 *
 * <p>Free buffers are kept on a stack, so the buffer freed last is handed out first, while its
 * cache lines are still warm. A bitmap of allocated buffers catches double frees and indices the
 * pool never handed out, which in a system passing indices between processes are the usual
 * symptoms of a peer's bug.
 */
public final class BufferPool {
    private final MemorySegment segment;
    private final int bufferSize;
    private final int shift;
    private final int capacity;
    /** Free indices; the top of the stack is {@code free[top - 1]}. */
    private final int[] free;
    private int top;
    /** One bit per buffer: set while allocated. */
    private final long[] allocated;

    /**
     * Carves as many {@code bufferSize}-byte buffers as fit from {@code region}; all start free.
     *
     * @param bufferSize a power of two, e.g. 2048 (a page holds a whole number of them, and an
     *        index becomes an offset with a shift)
     */
    public BufferPool(MemorySegment region, int bufferSize) {
        if (bufferSize < 8 || Integer.bitCount(bufferSize) != 1) {
            throw new IllegalArgumentException("buffer size must be a power of two of at least 8 bytes, not "
                    + bufferSize);
        }
        long count = region.byteSize() / bufferSize;
        if (count == 0) {
            throw new IllegalArgumentException("a region of " + region.byteSize() + " bytes holds no buffer of "
                    + bufferSize + " bytes");
        }
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a region of " + region.byteSize() + " bytes holds " + count
                    + " buffers of " + bufferSize + " bytes; a pool indexes at most " + (Integer.MAX_VALUE - 8)
                    + ": use larger buffers or several pools");
        }
        this.capacity = (int) count;
        this.bufferSize = bufferSize;
        this.shift = Integer.numberOfTrailingZeros(bufferSize);
        this.segment = region.asSlice(0, (long) capacity * bufferSize);
        this.free = new int[capacity];
        this.allocated = new long[(capacity + 63) >>> 6];
        // Push in reverse so the first allocations return 0, 1, 2...: easier to read in a dump.
        for (int i = 0; i < capacity; i++) {
            free[i] = capacity - 1 - i;
        }
        this.top = capacity;
    }

    /** Takes a free buffer; returns its index, or -1 if every buffer is allocated. */
    public int allocate() {
        if (top == 0) {
            return -1;
        }
        int index = free[--top];
        allocated[index >>> 6] |= 1L << index;
        return index;
    }

    /**
     * Takes up to {@code n} free buffers, writing their indices to {@code into[0..]}; returns how
     * many it took (fewer than {@code n} only when the pool runs out).
     */
    public int allocate(int[] into, int n) {
        if (n < 0 || n > into.length) {
            throw new IllegalArgumentException("cannot allocate " + n + " buffers into an array of " + into.length);
        }
        int count = Math.min(n, top);
        for (int i = 0; i < count; i++) {
            int index = free[--top];
            allocated[index >>> 6] |= 1L << index;
            into[i] = index;
        }
        return count;
    }

    /**
     * Returns buffer {@code index} to the pool.
     *
     * @throws IllegalArgumentException if this pool has no such buffer
     * @throws IllegalStateException if the buffer is already free (a double free)
     */
    public void free(int index) {
        checkIndex(index);
        long bit = 1L << index;
        int word = index >>> 6;
        if ((allocated[word] & bit) == 0) {
            throw new IllegalStateException("double free: buffer " + index + " of this pool (" + capacity + " x "
                    + bufferSize + " B) is already free; whoever freed it first, or handed its index on twice, has"
                    + " a bug");
        }
        allocated[word] &= ~bit;
        free[top++] = index;
    }

    /** Frees {@code from[0..n)}; stops at the first bad index, having freed the ones before it. */
    public void free(int[] from, int n) {
        if (n < 0 || n > from.length) {
            throw new IllegalArgumentException("cannot free " + n + " buffers from an array of " + from.length);
        }
        for (int i = 0; i < n; i++) {
            free(from[i]);
        }
    }

    /** True if buffer {@code index} is allocated. */
    public boolean isAllocated(int index) {
        checkIndex(index);
        return (allocated[index >>> 6] & (1L << index)) != 0;
    }

    /** Byte offset of buffer {@code index} in {@link #segment()}: the same in every process's mapping. */
    public long offset(int index) {
        checkIndex(index);
        return (long) index << shift;
    }

    /** Buffer {@code index} as its own segment. Allocates a slice: on hot paths use {@link #offset(int)}. */
    public MemorySegment buffer(int index) {
        return segment.asSlice(offset(index), bufferSize);
    }

    /** The memory all buffers are carved from (exactly {@code capacity() * bufferSize()} bytes). */
    public MemorySegment segment() {
        return segment;
    }

    public int bufferSize() {
        return bufferSize;
    }

    /** Number of buffers in the pool. */
    public int capacity() {
        return capacity;
    }

    /** Number of free buffers. */
    public int available() {
        return top;
    }

    private void checkIndex(int index) {
        if (index < 0 || index >= capacity) {
            throw new IllegalArgumentException("buffer index " + index + " does not belong to this pool, which has"
                    + " buffers 0.." + (capacity - 1) + " of " + bufferSize + " B; was it from another pool, or"
                    + " garbage from a peer?");
        }
    }
}

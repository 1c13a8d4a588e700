package io.arrakis.device;

/**
 * A reusable batch of storage completions: for each, the submitter's tag and a status — 0 for
 * success, otherwise a negative errno ({@code -EIO}, {@code -ENOSPC}, …) that backends translate
 * device-specific errors into, so the storage stack sees one vocabulary. Not thread-safe.
 */
public final class CompletionBatch {
    private final long[] tags;
    private final int[] statuses;
    private int size;

    public CompletionBatch(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("batch capacity must be positive: " + capacity);
        }
        tags = new long[capacity];
        statuses = new int[capacity];
    }

    public int capacity() {
        return tags.length;
    }

    public int size() {
        return size;
    }

    public boolean isFull() {
        return size == tags.length;
    }

    public void clear() {
        size = 0;
    }

    public void add(long tag, int status) {
        if (size == tags.length) {
            throw new IllegalStateException("completion batch is full (" + tags.length + " completions)");
        }
        tags[size] = tag;
        statuses[size] = status;
        size++;
    }

    public long tag(int i) {
        checkIndex(i);
        return tags[i];
    }

    public int status(int i) {
        checkIndex(i);
        return statuses[i];
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= size) {
            throw new IndexOutOfBoundsException("completion " + i + " of a batch of " + size);
        }
    }
}

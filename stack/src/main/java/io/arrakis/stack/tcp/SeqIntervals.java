package io.arrakis.stack.tcp;

/**
 * A bounded, sorted set of disjoint, non-adjacent sequence-number intervals [start, end), all
 * within 2³¹ of each other so modular comparison is consistent. Used by the receiver for
 * out-of-order data held in the receive ring (with a recency stamp per interval, so SACK blocks
 * go most recent first, RFC 2018 §4) and by the sender as its SACK scoreboard. Preallocated; no
 * allocation after construction. Not thread-safe.
 */
final class SeqIntervals {
    private final int[] start;
    private final int[] end;
    private final long[] stamp;
    private int count;
    private long clock;

    SeqIntervals(int capacity) {
        start = new int[capacity];
        end = new int[capacity];
        stamp = new long[capacity];
    }

    int count() {
        return count;
    }

    int start(int i) {
        return start[i];
    }

    int end(int i) {
        return end[i];
    }

    void clear() {
        count = 0;
    }

    /**
     * Adds [s, e), merging with any interval it overlaps or touches; the result is the most
     * recent. Returns false (and changes nothing) when it would need a new entry and the table is full.
     */
    boolean add(int s, int e) {
        if (e - s <= 0) {
            return true;
        }
        int i = 0;
        while (i < count && end[i] - s < 0) {
            i++;
        }
        int j = i;
        while (j < count && start[j] - e <= 0) {
            j++;
        }
        if (i == j) {
            if (count == start.length) {
                return false;
            }
            System.arraycopy(start, i, start, i + 1, count - i);
            System.arraycopy(end, i, end, i + 1, count - i);
            System.arraycopy(stamp, i, stamp, i + 1, count - i);
            start[i] = s;
            end[i] = e;
            stamp[i] = ++clock;
            count++;
            return true;
        }
        int ns = start[i] - s < 0 ? start[i] : s;
        int ne = end[j - 1] - e > 0 ? end[j - 1] : e;
        start[i] = ns;
        end[i] = ne;
        stamp[i] = ++clock;
        int removed = j - i - 1;
        if (removed > 0) {
            System.arraycopy(start, j, start, i + 1, count - j);
            System.arraycopy(end, j, end, i + 1, count - j);
            System.arraycopy(stamp, j, stamp, i + 1, count - j);
            count -= removed;
        }
        return true;
    }

    /**
     * Receiver: removes the intervals that begin at or before {@code next} (they became in-order)
     * and returns the new in-order end.
     */
    int advance(int next) {
        int removed = 0;
        while (removed < count && start[removed] - next <= 0) {
            if (end[removed] - next > 0) {
                next = end[removed];
            }
            removed++;
        }
        removeFirst(removed);
        return next;
    }

    /** Sender: forgets everything below {@code una} (cumulatively acknowledged). */
    void trimBelow(int una) {
        int removed = 0;
        while (removed < count && end[removed] - una <= 0) {
            removed++;
        }
        removeFirst(removed);
        if (count > 0 && start[0] - una < 0) {
            start[0] = una;
        }
    }

    private void removeFirst(int n) {
        if (n > 0) {
            System.arraycopy(start, n, start, 0, count - n);
            System.arraycopy(end, n, end, 0, count - n);
            System.arraycopy(stamp, n, stamp, 0, count - n);
            count -= n;
        }
    }

    /** The highest end, or {@code otherwise} when empty. */
    int highestEnd(int otherwise) {
        return count == 0 ? otherwise : end[count - 1];
    }

    /** Bytes covered. */
    long coveredBytes() {
        long sum = 0;
        for (int i = 0; i < count; i++) {
            sum += end[i] - start[i];
        }
        return sum;
    }

    /** Bytes covered below {@code limit}. */
    long coveredBytesBelow(int limit) {
        long sum = 0;
        for (int i = 0; i < count && start[i] - limit < 0; i++) {
            int e = end[i] - limit < 0 ? end[i] : limit;
            sum += e - start[i];
        }
        return sum;
    }

    /** The first sequence number at or after {@code from} not covered by any interval. */
    int firstUncovered(int from) {
        for (int i = 0; i < count; i++) {
            if (start[i] - from > 0) {
                break;
            }
            if (end[i] - from > 0) {
                from = end[i];
            }
        }
        return from;
    }

    /** The start of the first interval beginning after {@code seq}, or {@code otherwise}. */
    int nextStartAfter(int seq, int otherwise) {
        for (int i = 0; i < count; i++) {
            if (start[i] - seq > 0) {
                return start[i];
            }
        }
        return otherwise;
    }

    /** True if [s, e) lies inside one interval. */
    boolean covers(int s, int e) {
        for (int i = 0; i < count; i++) {
            if (start[i] - s <= 0 && end[i] - e >= 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * Copies up to {@code max} intervals into the arrays, most recently added or extended first
     * (RFC 2018 §4: the first block reports the segment that triggered the ACK). Returns how many.
     */
    int mostRecentFirst(int[] left, int[] right, int max) {
        int n = Math.min(max, count);
        long below = Long.MAX_VALUE;
        for (int k = 0; k < n; k++) {
            int best = -1;
            for (int i = 0; i < count; i++) {
                if (stamp[i] < below && (best < 0 || stamp[i] > stamp[best])) {
                    best = i;
                }
            }
            left[k] = start[best];
            right[k] = end[best];
            below = stamp[best];
        }
        return n;
    }
}

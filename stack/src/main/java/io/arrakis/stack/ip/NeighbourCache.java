package io.arrakis.stack.ip;

/**
 * The ARP neighbour cache of one stack: IPv4 address to MAC, with expiry, and the frames waiting
 * for an address to resolve. Not thread-safe: it belongs to the stack's polling thread.
 *
 * <p>A small array scanned linearly, with the last hit remembered: a host stack talks to its
 * gateway and a handful of on-link peers, so a scan of a few dozen ints beats hashing and
 * allocates nothing. When it is full, the least recently confirmed entry that has nothing
 * pending is replaced.
 *
 * <p>Frames waiting for resolution are held as (buffer, frame offset, length) triples, at most
 * {@link #PENDING_PER_ENTRY} per neighbour (RFC 1122 §2.3.2.2 asks for at least one; Linux
 * holds about 100 kB); the oldest
 * is dropped when more arrive, and all are dropped if the neighbour never answers.
 */
public final class NeighbourCache {
    /** Enough for every fragment of a maximum-size UDP datagram at a 1500-byte MTU (45). */
    public static final int PENDING_PER_ENTRY = 48;

    private static final byte FREE = 0;
    private static final byte INCOMPLETE = 1;
    private static final byte REACHABLE = 2;

    private final int capacity;
    private final int[] addresses;
    private final long[] macs;
    private final byte[] states;
    private final long[] confirmedAt;
    private final long[] nextRequestAt;
    private final int[] requestsSent;
    private final int[] pendingBuffers;
    private final int[] pendingOffsets;
    private final int[] pendingLengths;
    private final int[] pendingCounts;
    private int lastHit = -1;
    /** The earliest ARP deadline, recomputed only after a change: polls ask for it every time. */
    private long earliestDeadline = Long.MAX_VALUE;
    private boolean deadlineStale;

    public NeighbourCache(int capacity) {
        this.capacity = capacity;
        addresses = new int[capacity];
        macs = new long[capacity];
        states = new byte[capacity];
        confirmedAt = new long[capacity];
        nextRequestAt = new long[capacity];
        requestsSent = new int[capacity];
        pendingBuffers = new int[capacity * PENDING_PER_ENTRY];
        pendingOffsets = new int[capacity * PENDING_PER_ENTRY];
        pendingLengths = new int[capacity * PENDING_PER_ENTRY];
        pendingCounts = new int[capacity];
    }

    /** The MAC of {@code address} if known and not older than {@code reachableNanos}; -1 otherwise. */
    public long lookup(int address, long now, long reachableNanos) {
        int i = find(address);
        if (i < 0 || states[i] != REACHABLE || now - confirmedAt[i] > reachableNanos) {
            return -1;
        }
        return macs[i];
    }

    /**
     * Records that {@code address} is at {@code mac} (from a reply, or a request naming us);
     * returns the entry index, whose pending frames the caller should now send with
     * {@link #pendingCount}/{@link #pendingBuffer}…, then {@link #clearPending}. Returns -1 if
     * the cache had no room and nothing was pending for it.
     */
    public int confirm(int address, long mac, long now) {
        int i = find(address);
        if (i < 0) {
            i = allocate(address, now);
            if (i < 0) {
                return -1;
            }
        }
        macs[i] = mac;
        states[i] = REACHABLE;
        confirmedAt[i] = now;
        requestsSent[i] = 0;
        deadlineStale = true;
        return i;
    }

    /**
     * Holds a frame until {@code address} resolves. Returns the frame evicted to make room
     * ({@code evicted[0..2]} = buffer, offset, length) as {@code true}, so the caller frees its
     * buffer; {@code false} if nothing was evicted. If the cache is full of entries with frames
     * pending, the new frame itself is handed back as evicted.
     */
    public boolean hold(int address, int buffer, int offset, int length, long now, int[] evicted) {
        int i = find(address);
        if (i < 0) {
            i = allocate(address, now);
            if (i < 0) {
                evicted[0] = buffer;
                evicted[1] = offset;
                evicted[2] = length;
                return true;
            }
            states[i] = INCOMPLETE;
            requestsSent[i] = 0;
            nextRequestAt[i] = now;
        } else if (states[i] == REACHABLE) {
            // Callers hold only when lookup failed: the entry went stale, so resolve it again.
            states[i] = INCOMPLETE;
            requestsSent[i] = 0;
            nextRequestAt[i] = now;
        }
        deadlineStale = true;
        int base = i * PENDING_PER_ENTRY;
        boolean dropped = false;
        if (pendingCounts[i] == PENDING_PER_ENTRY) {
            evicted[0] = pendingBuffers[base];
            evicted[1] = pendingOffsets[base];
            evicted[2] = pendingLengths[base];
            System.arraycopy(pendingBuffers, base + 1, pendingBuffers, base, PENDING_PER_ENTRY - 1);
            System.arraycopy(pendingOffsets, base + 1, pendingOffsets, base, PENDING_PER_ENTRY - 1);
            System.arraycopy(pendingLengths, base + 1, pendingLengths, base, PENDING_PER_ENTRY - 1);
            pendingCounts[i]--;
            dropped = true;
        }
        int slot = base + pendingCounts[i]++;
        pendingBuffers[slot] = buffer;
        pendingOffsets[slot] = offset;
        pendingLengths[slot] = length;
        return dropped;
    }

    /**
     * Whether an ARP request for {@code address} is due now (first one at once, then every
     * {@code retryNanos}); marks it sent. False once {@code maxRequests} went unanswered.
     */
    public boolean requestDue(int address, long now, long retryNanos, int maxRequests) {
        int i = find(address);
        if (i < 0 || states[i] != INCOMPLETE || requestsSent[i] >= maxRequests || now < nextRequestAt[i]) {
            return false;
        }
        requestsSent[i]++;
        nextRequestAt[i] = now + retryNanos;
        deadlineStale = true;
        return true;
    }

    /**
     * The address of some neighbour whose next ARP request is due now, marked as sent; 0 if
     * none. Call until it returns 0 to send every due retry.
     */
    public int nextDueRequest(long now, long retryNanos, int maxRequests) {
        for (int i = 0; i < capacity; i++) {
            if (states[i] == INCOMPLETE && requestsSent[i] < maxRequests && now >= nextRequestAt[i]) {
                requestsSent[i]++;
                nextRequestAt[i] = now + retryNanos;
                deadlineStale = true;
                return addresses[i];
            }
        }
        return 0;
    }

    /**
     * Finds an entry whose resolution failed ({@code maxRequests} sent, the last one
     * {@code retryNanos} ago): returns its index (the caller drops its pending frames, then
     * {@link #remove}s it), or -1 if none.
     */
    public int failed(long now, long retryNanos, int maxRequests) {
        for (int i = 0; i < capacity; i++) {
            if (states[i] == INCOMPLETE && requestsSent[i] >= maxRequests && now >= nextRequestAt[i]) {
                return i;
            }
        }
        return -1;
    }

    /** The earliest time an ARP retry or failure is due; Long.MAX_VALUE if none. */
    public long nextDeadline() {
        if (deadlineStale) {
            long next = Long.MAX_VALUE;
            for (int i = 0; i < capacity; i++) {
                if (states[i] == INCOMPLETE) {
                    next = Math.min(next, nextRequestAt[i]);
                }
            }
            earliestDeadline = next;
            deadlineStale = false;
        }
        return earliestDeadline;
    }

    public int pendingCount(int entry) {
        return pendingCounts[entry];
    }

    public int pendingBuffer(int entry, int k) {
        return pendingBuffers[entry * PENDING_PER_ENTRY + k];
    }

    public int pendingOffset(int entry, int k) {
        return pendingOffsets[entry * PENDING_PER_ENTRY + k];
    }

    public int pendingLength(int entry, int k) {
        return pendingLengths[entry * PENDING_PER_ENTRY + k];
    }

    public void clearPending(int entry) {
        pendingCounts[entry] = 0;
    }

    public int address(int entry) {
        return addresses[entry];
    }

    public long mac(int entry) {
        return macs[entry];
    }

    public void remove(int entry) {
        deadlineStale = true;
        states[entry] = FREE;
        pendingCounts[entry] = 0;
        if (lastHit == entry) {
            lastHit = -1;
        }
    }

    private int find(int address) {
        int hit = lastHit;
        if (hit >= 0 && states[hit] != FREE && addresses[hit] == address) {
            return hit;
        }
        for (int i = 0; i < capacity; i++) {
            if (states[i] != FREE && addresses[i] == address) {
                lastHit = i;
                return i;
            }
        }
        return -1;
    }

    private int allocate(int address, long now) {
        int victim = -1;
        for (int i = 0; i < capacity; i++) {
            if (states[i] == FREE) {
                victim = i;
                break;
            }
            if (pendingCounts[i] == 0 && states[i] == REACHABLE
                    && (victim < 0 || confirmedAt[i] < confirmedAt[victim])) {
                victim = i;
            }
        }
        if (victim < 0) {
            return -1;
        }
        deadlineStale = true;
        addresses[victim] = address;
        states[victim] = INCOMPLETE;
        confirmedAt[victim] = now;
        pendingCounts[victim] = 0;
        requestsSent[victim] = 0;
        nextRequestAt[victim] = now;
        return victim;
    }
}

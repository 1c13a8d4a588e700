package io.arrakis.stack.ip;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Reassembles fragmented IPv4 datagrams (RFC 791 §3.2, RFC 815) in bounded memory and time:
 * a fixed number of slots, each with room for the largest datagram, and a deadline after which
 * an incomplete datagram is dropped. Not thread-safe: it belongs to the stack's polling thread.
 *
 * <p>Received payload bytes are tracked in 8-byte blocks (fragment offsets are in those units),
 * so "complete" is a bitmap check. When all slots are busy, a new datagram takes the slot whose
 * deadline is nearest: under a fragment flood, old incomplete datagrams go first.
 */
public final class Ipv4Reassembly {
    private static final int MAX_PAYLOAD = 65_535 - 20;
    private static final int BLOCKS = (MAX_PAYLOAD + 7) / 8;

    private final int slots;
    private final MemorySegment memory;
    private final boolean[] used;
    private final int[] sources;
    private final int[] destinations;
    private final int[] protocols;
    private final int[] identifications;
    private final long[] deadlines;
    /** Payload length once the last fragment arrived; -1 before. */
    private final int[] totalLengths;
    private final long[][] received;

    private int completedSlot = -1;
    /** The earliest deadline, recomputed only after a change: polls ask for it every time. */
    private long earliestDeadline = Long.MAX_VALUE;
    private boolean deadlineStale;

    public Ipv4Reassembly(int slots, Arena arena) {
        this.slots = slots;
        this.memory = arena.allocate((long) slots * MAX_PAYLOAD, 64);
        used = new boolean[slots];
        sources = new int[slots];
        destinations = new int[slots];
        protocols = new int[slots];
        identifications = new int[slots];
        deadlines = new long[slots];
        totalLengths = new int[slots];
        received = new long[slots][(BLOCKS + 63) / 64];
    }

    /** What {@link #accept} did with a fragment. */
    public enum Outcome {
        /** Kept; the datagram is not complete yet. */
        HELD,
        /** It completed a datagram: read it with {@link #datagram()}, {@link #datagramOffset()}, {@link #datagramLength()}. */
        COMPLETE,
        /** Dropped: beyond the largest datagram, or not a multiple of 8 bytes where it must be. */
        INVALID,
        /** Dropped: it disagrees with the end of the datagram another fragment declared. */
        INCONSISTENT
    }

    /**
     * Takes one fragment's payload ({@code length} bytes at {@code payloadAt} in {@code packet})
     * at byte {@code fragmentOffset} of the datagram; {@code more} is the MF flag.
     */
    public Outcome accept(int source, int destination, int protocol, int identification, int fragmentOffset,
            boolean more, MemorySegment packet, long payloadAt, int length, long now, long timeoutNanos) {
        int end = fragmentOffset + length;
        if (end > MAX_PAYLOAD || (more && (length & 7) != 0) || length == 0 && more) {
            return Outcome.INVALID;
        }
        int slot = find(source, destination, protocol, identification);
        if (slot < 0) {
            slot = claim(now);
            used[slot] = true;
            sources[slot] = source;
            destinations[slot] = destination;
            protocols[slot] = protocol;
            identifications[slot] = identification;
            deadlines[slot] = now + timeoutNanos;
            deadlineStale = true;
            totalLengths[slot] = -1;
            java.util.Arrays.fill(received[slot], 0);
        }
        int total = totalLengths[slot];
        if ((!more && total >= 0 && total != end) || (total >= 0 && end > total)) {
            release(slot);
            return Outcome.INCONSISTENT;
        }
        if (!more) {
            totalLengths[slot] = end;
        }
        MemorySegment.copy(packet, ValueLayout.JAVA_BYTE, payloadAt, memory, ValueLayout.JAVA_BYTE,
                (long) slot * MAX_PAYLOAD + fragmentOffset, length);
        long[] bits = received[slot];
        for (int block = fragmentOffset >>> 3, last = (end + 7) >>> 3; block < last; block++) {
            bits[block >>> 6] |= 1L << block;
        }
        if (totalLengths[slot] >= 0 && allReceived(bits, (totalLengths[slot] + 7) >>> 3)) {
            completedSlot = slot;
            release(slot);
            return Outcome.COMPLETE;
        }
        return Outcome.HELD;
    }

    /** The memory holding the datagram {@link #accept} just completed; valid until the next accept. */
    public MemorySegment datagram() {
        return memory;
    }

    public long datagramOffset() {
        return (long) completedSlot * MAX_PAYLOAD;
    }

    public int datagramLength() {
        return totalLengths[completedSlot];
    }

    /** Drops datagrams whose deadline passed; returns how many. */
    public int expire(long now) {
        if (now < nextDeadline()) {
            return 0;
        }
        int expired = 0;
        for (int i = 0; i < slots; i++) {
            if (used[i] && now - deadlines[i] >= 0) {
                release(i);
                expired++;
            }
        }
        return expired;
    }

    public long nextDeadline() {
        if (deadlineStale) {
            long next = Long.MAX_VALUE;
            for (int i = 0; i < slots; i++) {
                if (used[i]) {
                    next = Math.min(next, deadlines[i]);
                }
            }
            earliestDeadline = next;
            deadlineStale = false;
        }
        return earliestDeadline;
    }

    public int inProgress() {
        int n = 0;
        for (boolean u : used) {
            n += u ? 1 : 0;
        }
        return n;
    }

    private static boolean allReceived(long[] bits, int blocks) {
        int full = blocks >>> 6;
        for (int w = 0; w < full; w++) {
            if (bits[w] != -1L) {
                return false;
            }
        }
        int rest = blocks & 63;
        return rest == 0 || (bits[full] & ((1L << rest) - 1)) == ((1L << rest) - 1);
    }

    private int find(int source, int destination, int protocol, int identification) {
        for (int i = 0; i < slots; i++) {
            if (used[i] && sources[i] == source && destinations[i] == destination && protocols[i] == protocol
                    && identifications[i] == identification) {
                return i;
            }
        }
        return -1;
    }

    private int claim(long now) {
        int oldest = 0;
        for (int i = 0; i < slots; i++) {
            if (!used[i]) {
                return i;
            }
            if (deadlines[i] - deadlines[oldest] < 0) {
                oldest = i;
            }
        }
        release(oldest);
        return oldest;
    }

    private void release(int slot) {
        used[slot] = false;
        deadlineStale = true;
    }
}

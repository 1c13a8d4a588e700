package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;

/**
 * The Internet checksum (RFC 1071): the ones'-complement of the ones'-complement sum of 16-bit
 * words, as used by IPv4, ICMP, UDP and TCP. Stateless; thread-safe; allocation-free.
 *
 * <p>Sums eight bytes per step: adding the two 32-bit halves of a big-endian long into a 64-bit
 * accumulator defers every carry to one final fold, which is the same ones'-complement sum
 * (RFC 1071 §2(B), "deferred carries") at a quarter of the loop iterations.
 */
public final class InternetChecksum {
    private InternetChecksum() {}

    /**
     * The unfolded sum of {@code length} bytes at {@code at}, plus {@code initial} (a previous
     * partial sum, e.g. of a pseudo-header). An odd trailing byte counts as the high byte of a
     * word padded with zero. Feed the result to {@link #finish}.
     */
    public static long sum(MemorySegment s, long at, int length, long initial) {
        long sum = initial;
        long i = at;
        long end = at + length;
        while (end - i >= 8) {
            long v = s.get(NetworkOrder.U64, i);
            sum += (v >>> 32) + (v & 0xFFFF_FFFFL);
            i += 8;
        }
        if (end - i >= 4) {
            sum += s.get(NetworkOrder.U32, i) & 0xFFFF_FFFFL;
            i += 4;
        }
        if (end - i >= 2) {
            sum += s.get(NetworkOrder.U16, i) & 0xFFFF;
            i += 2;
        }
        if (i < end) {
            sum += (NetworkOrder.u8(s, i) << 8);
        }
        return sum;
    }

    /** Folds a sum to 16 bits and complements it: the value to store in a checksum field. */
    public static int finish(long sum) {
        sum = (sum & 0xFFFF_FFFFL) + (sum >>> 32);
        sum = (sum & 0xFFFF_FFFFL) + (sum >>> 32);
        sum = (sum & 0xFFFF) + (sum >>> 16);
        sum = (sum & 0xFFFF) + (sum >>> 16);
        return (int) (~sum & 0xFFFF);
    }

    /** The checksum of {@code length} bytes at {@code at}. */
    public static int of(MemorySegment s, long at, int length) {
        return finish(sum(s, at, length, 0));
    }

    /**
     * The partial sum of the IPv4 pseudo-header TCP and UDP checksums cover: source and
     * destination address, protocol and the transport length (RFC 9293 §3.1, RFC 768).
     */
    public static long pseudoHeaderSum(int source, int destination, int protocol, int transportLength) {
        return (source >>> 16) + (source & 0xFFFF) + (destination >>> 16) + (destination & 0xFFFF)
                + protocol + transportLength;
    }
}

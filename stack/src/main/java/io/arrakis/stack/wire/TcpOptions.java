package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;

/**
 * The TCP options of one segment, parsed into reusable fields: MSS (RFC 9293), window scale and
 * timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018). One instance per stack,
 * reused for every segment, so parsing allocates nothing. Not thread-safe.
 *
 * <p>Parsing never throws on malformed bytes: it stops, sets {@link #malformed()}, and keeps what
 * it had read, because a receiver must survive anything a network sends.
 */
public final class TcpOptions {
    public static final int KIND_END = 0;
    public static final int KIND_NOP = 1;
    public static final int KIND_MSS = 2;
    public static final int KIND_WINDOW_SCALE = 3;
    public static final int KIND_SACK_PERMITTED = 4;
    public static final int KIND_SACK = 5;
    public static final int KIND_TIMESTAMPS = 8;
    /** SACK blocks a segment can carry (4 fit in 40 option bytes without timestamps). */
    public static final int MAX_SACK_BLOCKS = 4;
    /** RFC 7323 §2.3: shifts above 14 are treated as 14. */
    public static final int MAX_WINDOW_SHIFT = 14;

    private int mss = -1;
    private int windowShift = -1;
    private boolean sackPermitted;
    private boolean hasTimestamps;
    private int timestampValue;
    private int timestampEcho;
    private final int[] sackLeft = new int[MAX_SACK_BLOCKS];
    private final int[] sackRight = new int[MAX_SACK_BLOCKS];
    private int sackBlocks;
    private boolean malformed;

    public void clear() {
        mss = -1;
        windowShift = -1;
        sackPermitted = false;
        hasTimestamps = false;
        timestampValue = 0;
        timestampEcho = 0;
        sackBlocks = 0;
        malformed = false;
    }

    /**
     * Parses the options of the TCP header at {@code at} ({@code headerLength} bytes in all,
     * already checked to lie within the segment). Returns {@code false} if they were malformed.
     */
    public boolean parse(MemorySegment p, long at, int headerLength) {
        clear();
        long i = at + Tcp.MIN_HEADER_LENGTH;
        long end = at + headerLength;
        while (i < end) {
            int kind = NetworkOrder.u8(p, i);
            if (kind == KIND_END) {
                break;
            }
            if (kind == KIND_NOP) {
                i++;
                continue;
            }
            if (i + 1 >= end) {
                malformed = true;
                break;
            }
            int length = NetworkOrder.u8(p, i + 1);
            if (length < 2 || i + length > end) {
                malformed = true;
                break;
            }
            switch (kind) {
                case KIND_MSS -> {
                    if (length == 4) {
                        mss = NetworkOrder.u16(p, i + 2);
                    } else {
                        malformed = true;
                    }
                }
                case KIND_WINDOW_SCALE -> {
                    if (length == 3) {
                        windowShift = Math.min(NetworkOrder.u8(p, i + 2), MAX_WINDOW_SHIFT);
                    } else {
                        malformed = true;
                    }
                }
                case KIND_SACK_PERMITTED -> {
                    if (length == 2) {
                        sackPermitted = true;
                    } else {
                        malformed = true;
                    }
                }
                case KIND_TIMESTAMPS -> {
                    if (length == 10) {
                        hasTimestamps = true;
                        timestampValue = NetworkOrder.u32(p, i + 2);
                        timestampEcho = NetworkOrder.u32(p, i + 6);
                    } else {
                        malformed = true;
                    }
                }
                case KIND_SACK -> {
                    if ((length - 2) % 8 == 0) {
                        int blocks = Math.min((length - 2) / 8, MAX_SACK_BLOCKS);
                        for (int b = 0; b < blocks; b++) {
                            sackLeft[b] = NetworkOrder.u32(p, i + 2 + 8L * b);
                            sackRight[b] = NetworkOrder.u32(p, i + 6 + 8L * b);
                        }
                        sackBlocks = blocks;
                    } else {
                        malformed = true;
                    }
                }
                default -> {
                    // Unknown options are skipped by their length (RFC 9293 §3.1, MUST-6/7).
                }
            }
            i += length;
        }
        return !malformed;
    }

    /** The peer's MSS, or -1 when the segment carried none. */
    public int mss() {
        return mss;
    }

    /** The peer's window shift (0..14), or -1 when it did not offer window scaling. */
    public int windowShift() {
        return windowShift;
    }

    public boolean sackPermitted() {
        return sackPermitted;
    }

    public boolean hasTimestamps() {
        return hasTimestamps;
    }

    public int timestampValue() {
        return timestampValue;
    }

    public int timestampEcho() {
        return timestampEcho;
    }

    public int sackBlockCount() {
        return sackBlocks;
    }

    public int sackLeft(int block) {
        checkBlock(block);
        return sackLeft[block];
    }

    public int sackRight(int block) {
        checkBlock(block);
        return sackRight[block];
    }

    public boolean malformed() {
        return malformed;
    }

    private void checkBlock(int block) {
        if (block < 0 || block >= sackBlocks) {
            throw new IndexOutOfBoundsException("SACK block " + block + " of " + sackBlocks);
        }
    }

    // --- Writing. Each returns the offset after what it wrote; the caller pads to a multiple of 4
    // with writeEndPadding and puts the total into the header's data offset.

    public static long writeMss(MemorySegment p, long at, int mss) {
        NetworkOrder.setU8(p, at, KIND_MSS);
        NetworkOrder.setU8(p, at + 1, 4);
        NetworkOrder.setU16(p, at + 2, mss);
        return at + 4;
    }

    /** NOP then window scale: 4 bytes, keeping later options aligned. */
    public static long writeWindowScale(MemorySegment p, long at, int shift) {
        NetworkOrder.setU8(p, at, KIND_NOP);
        NetworkOrder.setU8(p, at + 1, KIND_WINDOW_SCALE);
        NetworkOrder.setU8(p, at + 2, 3);
        NetworkOrder.setU8(p, at + 3, shift);
        return at + 4;
    }

    /** NOP, NOP, SACK-permitted: 4 bytes. */
    public static long writeSackPermitted(MemorySegment p, long at) {
        NetworkOrder.setU8(p, at, KIND_NOP);
        NetworkOrder.setU8(p, at + 1, KIND_NOP);
        NetworkOrder.setU8(p, at + 2, KIND_SACK_PERMITTED);
        NetworkOrder.setU8(p, at + 3, 2);
        return at + 4;
    }

    /** NOP, NOP, timestamps: 12 bytes (RFC 7323 Appendix A layout). */
    public static long writeTimestamps(MemorySegment p, long at, int value, int echo) {
        NetworkOrder.setU8(p, at, KIND_NOP);
        NetworkOrder.setU8(p, at + 1, KIND_NOP);
        NetworkOrder.setU8(p, at + 2, KIND_TIMESTAMPS);
        NetworkOrder.setU8(p, at + 3, 10);
        NetworkOrder.setU32(p, at + 4, value);
        NetworkOrder.setU32(p, at + 8, echo);
        return at + 12;
    }

    /** NOP, NOP, SACK with {@code count} blocks from the arrays: 4 + 8 × count bytes. */
    public static long writeSack(MemorySegment p, long at, int[] left, int[] right, int count) {
        NetworkOrder.setU8(p, at, KIND_NOP);
        NetworkOrder.setU8(p, at + 1, KIND_NOP);
        NetworkOrder.setU8(p, at + 2, KIND_SACK);
        NetworkOrder.setU8(p, at + 3, 2 + 8 * count);
        for (int b = 0; b < count; b++) {
            NetworkOrder.setU32(p, at + 4 + 8L * b, left[b]);
            NetworkOrder.setU32(p, at + 8 + 8L * b, right[b]);
        }
        return at + 4 + 8L * count;
    }

    /** Pads with END bytes up to the next multiple of 4 from {@code headerStart}; returns the new end. */
    public static long writeEndPadding(MemorySegment p, long headerStart, long at) {
        while (((at - headerStart) & 3) != 0) {
            NetworkOrder.setU8(p, at++, KIND_END);
        }
        return at;
    }
}

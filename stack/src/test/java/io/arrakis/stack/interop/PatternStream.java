package io.arrakis.stack.interop;

import java.util.SplittableRandom;

/**
 * The bytes a TCP test sends: an endless pseudo-random stream determined by a seed, produced in
 * blocks of {@value #BLOCK} bytes, so a sender can hand out slices of {@link #block()} without
 * copying, and both ends of a test (our stack and the Linux peer, plain JDK) can make the same
 * stream. Not thread-safe.
 */
final class PatternStream {
    static final int BLOCK = 64 * 1024;

    private final SplittableRandom random;
    private final byte[] block = new byte[BLOCK];
    private int position = BLOCK;

    PatternStream(long seed) {
        this.random = new SplittableRandom(seed);
    }

    /** The current block; the next unsent byte is at {@link #position()}. */
    byte[] block() {
        if (position == BLOCK) {
            random.nextBytes(block);
            position = 0;
        }
        return block;
    }

    /** Where the next byte is in {@link #block()} (call {@code block()} first). */
    int position() {
        return position;
    }

    /** Bytes left in the current block (call {@code block()} first). */
    int remaining() {
        return BLOCK - position;
    }

    /** Marks {@code n} bytes of the current block as consumed. */
    void advance(int n) {
        if (n < 0 || n > BLOCK - position) {
            throw new IllegalArgumentException("cannot advance " + n + " bytes with " + (BLOCK - position) + " left");
        }
        position += n;
    }
}

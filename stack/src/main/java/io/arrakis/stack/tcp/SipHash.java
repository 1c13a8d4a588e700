package io.arrakis.stack.tcp;

/**
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012), written from the
 * paper's description, over messages of up to 23 bytes given as little-endian 64-bit words, so a
 * hash allocates nothing. Stateless; thread-safe.
 */
public final class SipHash {
    private SipHash() {}

    /**
     * SipHash-2-4 with key {@code (k0, k1)} of the {@code length} (0..23) bytes whose
     * little-endian encoding is {@code w0}, {@code w1}, {@code w2} (bytes beyond {@code length}
     * are ignored).
     */
    public static long hash(long k0, long k1, long w0, long w1, long w2, int length) {
        if (length < 0 || length > 23) {
            throw new IllegalArgumentException("SipHash message length " + length + " outside 0..23");
        }
        long v0 = k0 ^ 0x736f6d6570736575L;
        long v1 = k1 ^ 0x646f72616e646f6dL;
        long v2 = k0 ^ 0x6c7967656e657261L;
        long v3 = k1 ^ 0x7465646279746573L;
        int full = length >>> 3;
        for (int i = 0; i <= full; i++) {
            long m;
            if (i < full) {
                m = i == 0 ? w0 : i == 1 ? w1 : w2;
            } else {
                // The last block: the remaining length % 8 bytes, and length mod 256 in the top byte.
                long rest = i == 0 ? w0 : i == 1 ? w1 : w2;
                int bytes = length & 7;
                long mask = bytes == 0 ? 0 : -1L >>> (64 - 8 * bytes);
                m = (rest & mask) | ((long) (length & 0xFF) << 56);
            }
            v3 ^= m;
            for (int r = 0; r < 2; r++) { // c = 2 compression rounds
                v0 += v1; v1 = Long.rotateLeft(v1, 13); v1 ^= v0; v0 = Long.rotateLeft(v0, 32);
                v2 += v3; v3 = Long.rotateLeft(v3, 16); v3 ^= v2;
                v0 += v3; v3 = Long.rotateLeft(v3, 21); v3 ^= v0;
                v2 += v1; v1 = Long.rotateLeft(v1, 17); v1 ^= v2; v2 = Long.rotateLeft(v2, 32);
            }
            v0 ^= m;
        }
        v2 ^= 0xFF;
        for (int r = 0; r < 4; r++) { // d = 4 finalization rounds
            v0 += v1; v1 = Long.rotateLeft(v1, 13); v1 ^= v0; v0 = Long.rotateLeft(v0, 32);
            v2 += v3; v3 = Long.rotateLeft(v3, 16); v3 ^= v2;
            v0 += v3; v3 = Long.rotateLeft(v3, 21); v3 ^= v0;
            v2 += v1; v1 = Long.rotateLeft(v1, 17); v1 ^= v2; v2 = Long.rotateLeft(v2, 32);
        }
        return v0 ^ v1 ^ v2 ^ v3;
    }
}

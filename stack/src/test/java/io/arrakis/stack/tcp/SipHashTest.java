package io.arrakis.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class SipHashTest {
    static final long K0 = 0x0706050403020100L; // key bytes 00..0f, little-endian
    static final long K1 = 0x0f0e0d0c0b0a0908L;

    static long hashOfBytes(byte[] m) {
        long[] w = new long[3];
        ByteBuffer b = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        b.put(m);
        for (int i = 0; i < 3; i++) {
            w[i] = b.getLong(8 * i);
        }
        return SipHash.hash(K0, K1, w[0], w[1], w[2], m.length);
    }

    static byte[] counting(int n) {
        byte[] m = new byte[n];
        for (int i = 0; i < n; i++) {
            m[i] = (byte) i;
        }
        return m;
    }

    @Test
    void matchesThePapersTestVector() {
        // Appendix A of the SipHash paper: key 00..0f, message 00..0e.
        assertEquals(0xa129ca6149be45e5L, hashOfBytes(counting(15)));
    }

    @Test
    void matchesTheReferenceVectorForTheEmptyMessage() {
        assertEquals(0x726fdb47dd0e0e31L, hashOfBytes(counting(0)));
    }

    @Test
    void bytesBeyondTheLengthAreIgnored() {
        assertEquals(SipHash.hash(K0, K1, 0x0102, 0, 0, 2), SipHash.hash(K0, K1, 0xFFFF_0102L, -1, -1, 2));
    }

    @Test
    void rejectsLengthsItCannotCarry() {
        assertThrows(IllegalArgumentException.class, () -> SipHash.hash(K0, K1, 0, 0, 0, 24));
    }
}

package io.arrakis.samples.redis;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A binary-safe key or member: Redis keys are byte strings, not text. Immutable; the array is
 * never modified after construction, so instances may be shared freely.
 */
final class Bytes implements Comparable<Bytes> {
    final byte[] data;
    private int hash;

    Bytes(byte[] data) {
        this.data = data;
    }

    static Bytes of(String ascii) {
        return new Bytes(ascii.getBytes(StandardCharsets.ISO_8859_1));
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Bytes that && Arrays.equals(data, that.data);
    }

    @Override
    public int hashCode() {
        int h = hash;
        if (h == 0) {
            h = Arrays.hashCode(data);
            hash = h;
        }
        return h;
    }

    /** Unsigned lexicographic order, as Redis compares members (memcmp). */
    @Override
    public int compareTo(Bytes other) {
        return Arrays.compareUnsigned(data, other.data);
    }

    @Override
    public String toString() {
        return new String(data, StandardCharsets.ISO_8859_1);
    }
}

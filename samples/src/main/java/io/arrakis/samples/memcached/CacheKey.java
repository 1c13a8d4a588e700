package io.arrakis.samples.memcached;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A key as bytes (memcached keys are up to 250 bytes without spaces or control codes). Immutable. */
final class CacheKey {
    final byte[] bytes;
    private final int hash;

    CacheKey(byte[] bytes) {
        this.bytes = bytes;
        this.hash = Arrays.hashCode(bytes);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof CacheKey that && hash == that.hash && Arrays.equals(bytes, that.bytes);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }
}

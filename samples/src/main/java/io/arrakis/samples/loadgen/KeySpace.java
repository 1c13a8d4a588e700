package io.arrakis.samples.loadgen;

import java.nio.charset.StandardCharsets;

/**
 * Keys ({@code prefix + zero-padded index}) and their values. A key's value is a pattern derived
 * from its index, the same for every SET, so any GET that hits can be checked byte for byte.
 * Immutable.
 */
final class KeySpace {
    final int keys;
    final int valueSize;
    private final byte[] prefix;
    private final int digits;

    KeySpace(LoadConfig config) {
        this.keys = config.keys;
        this.valueSize = config.valueSize;
        this.prefix = config.keyPrefix.getBytes(StandardCharsets.ISO_8859_1);
        int natural = Integer.toString(Math.max(0, keys - 1)).length();
        this.digits = Math.max(natural, config.keySize - prefix.length);
    }

    int keyLength() {
        return prefix.length + digits;
    }

    /** Writes key {@code index} at {@code offset}; returns the offset after it. */
    int writeKey(byte[] out, int offset, int index) {
        System.arraycopy(prefix, 0, out, offset, prefix.length);
        int end = offset + prefix.length + digits;
        int value = index;
        for (int p = end - 1; p >= offset + prefix.length; p--) {
            out[p] = (byte) ('0' + value % 10);
            value /= 10;
        }
        return end;
    }

    boolean keyMatches(byte[] buffer, int from, int to, int index) {
        if (to - from != keyLength()) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (buffer[from + i] != prefix[i]) {
                return false;
            }
        }
        int value = index;
        for (int p = to - 1; p >= from + prefix.length; p--) {
            if (buffer[p] != (byte) ('0' + value % 10)) {
                return false;
            }
            value /= 10;
        }
        return true;
    }

    private static byte valueByte(int index, int position) {
        return (byte) ('a' + (int) (((long) index * 7 + position) % 26));
    }

    int writeValue(byte[] out, int offset, int index) {
        for (int i = 0; i < valueSize; i++) {
            out[offset + i] = valueByte(index, i);
        }
        return offset + valueSize;
    }

    /** Whether {@code length} bytes at {@code from} are exactly key {@code index}'s value. */
    boolean valueMatches(byte[] buffer, int from, long length, int index) {
        if (length != valueSize) {
            return false;
        }
        for (int i = 0; i < valueSize; i++) {
            if (buffer[from + i] != valueByte(index, i)) {
                return false;
            }
        }
        return true;
    }
}

package io.arrakis.samples.memcached;

/**
 * A stored value with its flags, CAS version and expiry, linked into the cache's LRU list.
 * Its key, flags, value and CAS never change once the item is in the cache (a store makes a new
 * item), so a worker may read them after the {@link Cache}'s lock is released; the expiry and the
 * LRU links are guarded by that lock.
 */
final class Item {
    /** memcached's item header (48 bytes) plus the CAS field (8). */
    static final int HEADER_BYTES = 56;

    final CacheKey key;
    final int flags;
    final byte[] value;
    final long cas;
    /** Absolute time in milliseconds, 0 for never. */
    long expiresAtMillis;
    long storedAtMillis;
    boolean fetched;
    Item newer;
    Item older;

    Item(CacheKey key, int flags, byte[] value, long cas, long expiresAtMillis, long storedAtMillis) {
        this.key = key;
        this.flags = flags;
        this.value = value;
        this.cas = cas;
        this.expiresAtMillis = expiresAtMillis;
        this.storedAtMillis = storedAtMillis;
    }

    /** Memory charged for the item, as memcached counts it: header, key, NUL, value, CRLF. */
    static long size(int keyLength, int valueLength) {
        return HEADER_BYTES + keyLength + 1L + valueLength + 2;
    }

    long size() {
        return size(key.bytes.length, value.length);
    }
}

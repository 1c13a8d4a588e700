package io.arrakis.samples.redis;

/**
 * One key of a database: its value ({@code byte[]}, {@link java.util.ArrayDeque},
 * {@link java.util.HashSet}, {@link java.util.HashMap} or {@link SortedSet}) and its expiry.
 * Confined to the event-loop thread.
 */
final class Entry {
    static final long NO_EXPIRY = -1;

    final Bytes key;
    Object value;
    /** Absolute Unix time in milliseconds, or {@link #NO_EXPIRY}. */
    long expireAtMillis = NO_EXPIRY;
    /** Index in the database's array of keys with an expiry (for sampling), or -1. */
    int volatileSlot = -1;

    Entry(Bytes key, Object value) {
        this.key = key;
        this.value = value;
    }
}

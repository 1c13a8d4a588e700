package io.arrakis.samples.memcached;

import java.util.HashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The item store: a hash table plus one LRU list, bounded by a memory limit (items are charged
 * as memcached charges them), with CAS versions, expiry and delayed flush. One lock guards it all,
 * as memcached's global cache lock once did; the workers hold it only for the table operation,
 * never during I/O.
 */
final class Cache {
    /** Outcome of a storage command, named after its reply. */
    enum StoreResult { STORED, NOT_STORED, EXISTS, NOT_FOUND, TOO_LARGE, NO_MEMORY }

    enum Mode { SET, ADD, REPLACE, APPEND, PREPEND, CAS }

    /** memcached's REALTIME_MAXDELTA: expiry times above 30 days are absolute Unix times. */
    static final long RELATIVE_EXPIRY_LIMIT_SECONDS = 60L * 60 * 24 * 30;

    private final ReentrantLock lock = new ReentrantLock();
    private final HashMap<CacheKey, Item> items = new HashMap<>();
    private final long memoryLimit;
    private final int itemSizeMax;
    private final long startedAtSeconds = System.currentTimeMillis() / 1000;
    private Item newest;
    private Item oldest;
    private long usedBytes;
    private long casCounter;
    /** Items stored at or before this time are invalid once it has passed (flush_all with delay). */
    private long oldestLiveMillis;

    // statistics, guarded by the lock
    private long totalItems;
    private long evictions;
    private long reclaimed;
    private long expiredUnfetched;
    private long evictedUnfetched;

    Cache(long memoryLimit, int itemSizeMax) {
        this.memoryLimit = memoryLimit;
        this.itemSizeMax = itemSizeMax;
    }

    int itemSizeMax() {
        return itemSizeMax;
    }

    long memoryLimit() {
        return memoryLimit;
    }

    boolean fits(int keyLength, long valueLength) {
        return Item.size(keyLength, (int) Math.min(valueLength, Integer.MAX_VALUE)) <= itemSizeMax;
    }

    /**
     * Converts a protocol expiry time to an absolute deadline in milliseconds: 0 is never,
     * negative is already expired, up to 30 days is relative, beyond that a Unix time.
     */
    long deadline(long exptime, long nowMillis) {
        if (exptime == 0) {
            return 0;
        }
        if (exptime < 0) {
            return 1;
        }
        if (exptime > RELATIVE_EXPIRY_LIMIT_SECONDS) {
            return exptime <= startedAtSeconds ? 1 : exptime * 1000;
        }
        return nowMillis + exptime * 1000;
    }

    private boolean isLive(Item item, long now) {
        if (item.expiresAtMillis != 0 && item.expiresAtMillis <= now) {
            return false;
        }
        return oldestLiveMillis == 0 || oldestLiveMillis > now || item.storedAtMillis > oldestLiveMillis;
    }

    /** The live item, marked recently used; null when absent, expired or flushed. */
    Item get(CacheKey key, long now) {
        lock.lock();
        try {
            return liveItem(key, now, true);
        } finally {
            lock.unlock();
        }
    }

    /** GAT: the live item with its expiry replaced. */
    Item getAndTouch(CacheKey key, long expiresAtMillis, long now) {
        lock.lock();
        try {
            Item item = liveItem(key, now, true);
            if (item != null) {
                item.expiresAtMillis = expiresAtMillis;
            }
            return item;
        } finally {
            lock.unlock();
        }
    }

    boolean touch(CacheKey key, long expiresAtMillis, long now) {
        return getAndTouch(key, expiresAtMillis, now) != null;
    }

    private Item liveItem(CacheKey key, long now, boolean bump) {
        Item item = items.get(key);
        if (item == null) {
            return null;
        }
        if (!isLive(item, now)) {
            if (!item.fetched) {
                expiredUnfetched++;
            }
            unlink(item);
            reclaimed++;
            return null;
        }
        if (bump) {
            moveToNewest(item);
            item.fetched = true;
        }
        return item;
    }

    StoreResult store(Mode mode, CacheKey key, int flags, long expiresAtMillis, byte[] value, long casUnique,
            long now) {
        lock.lock();
        try {
            Item existing = liveItem(key, now, false);
            switch (mode) {
                case ADD -> {
                    if (existing != null) {
                        moveToNewest(existing); // memcached bumps the item a failed add hit
                        return StoreResult.NOT_STORED;
                    }
                }
                case REPLACE, APPEND, PREPEND -> {
                    if (existing == null) {
                        return StoreResult.NOT_STORED;
                    }
                }
                case CAS -> {
                    if (existing == null) {
                        return StoreResult.NOT_FOUND;
                    }
                    if (existing.cas != casUnique) {
                        return StoreResult.EXISTS;
                    }
                }
                case SET -> { }
            }
            byte[] stored = value;
            int storedFlags = flags;
            long storedExpiry = expiresAtMillis;
            if (mode == Mode.APPEND || mode == Mode.PREPEND) {
                byte[] old = existing.value;
                if (!fits(key.bytes.length, (long) old.length + value.length)) {
                    return StoreResult.TOO_LARGE;
                }
                stored = new byte[old.length + value.length];
                byte[] first = mode == Mode.APPEND ? old : value;
                byte[] second = mode == Mode.APPEND ? value : old;
                System.arraycopy(first, 0, stored, 0, first.length);
                System.arraycopy(second, 0, stored, first.length, second.length);
                storedFlags = existing.flags; // append and prepend keep the item's flags and expiry
                storedExpiry = existing.expiresAtMillis;
            }
            return insert(new Item(key, storedFlags, stored, ++casCounter, storedExpiry, now), existing);
        } finally {
            lock.unlock();
        }
    }

    /** After a failed set (too large), memcached drops the key's old value rather than serve it stale. */
    void invalidate(CacheKey key) {
        lock.lock();
        try {
            Item existing = items.get(key);
            if (existing != null) {
                unlink(existing);
            }
        } finally {
            lock.unlock();
        }
    }

    private StoreResult insert(Item item, Item replaced) {
        long size = item.size();
        if (size > memoryLimit) {
            return StoreResult.NO_MEMORY;
        }
        if (replaced != null) {
            unlink(replaced);
        }
        while (usedBytes + size > memoryLimit && oldest != null) {
            Item victim = oldest;
            if (!victim.fetched) {
                evictedUnfetched++;
            }
            unlink(victim);
            evictions++;
        }
        items.put(item.key, item);
        linkNewest(item);
        usedBytes += size;
        totalItems++;
        return StoreResult.STORED;
    }

    boolean delete(CacheKey key, long now) {
        lock.lock();
        try {
            Item item = liveItem(key, now, false);
            if (item == null) {
                return false;
            }
            unlink(item);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Result of incr/decr: the new value, or why there is none. */
    record DeltaResult(boolean found, boolean numeric, long value) {}

    private static final DeltaResult NOT_FOUND = new DeltaResult(false, false, 0);
    private static final DeltaResult NON_NUMERIC = new DeltaResult(true, false, 0);

    /**
     * INCR wraps at 2^64, DECR stops at 0. As memcached does, a result no longer than the old
     * value is stored at the old length, padded with spaces.
     */
    DeltaResult delta(CacheKey key, boolean increment, long delta, long now) {
        lock.lock();
        try {
            Item item = liveItem(key, now, true);
            if (item == null) {
                return NOT_FOUND;
            }
            long current;
            try {
                current = parseStoredNumber(item.value);
            } catch (NotANumber e) {
                return NON_NUMERIC;
            }
            long result;
            if (increment) {
                result = current + delta; // unsigned wrap-around
            } else {
                result = Long.compareUnsigned(delta, current) > 0 ? 0 : current - delta;
            }
            byte[] digits = Long.toUnsignedString(result).getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
            byte[] stored = digits;
            if (digits.length <= item.value.length) {
                stored = new byte[item.value.length];
                java.util.Arrays.fill(stored, (byte) ' ');
                System.arraycopy(digits, 0, stored, 0, digits.length);
            }
            Item updated = new Item(key, item.flags, stored, ++casCounter, item.expiresAtMillis, now);
            updated.fetched = true;
            insert(updated, item);
            return new DeltaResult(true, true, result);
        } finally {
            lock.unlock();
        }
    }

    /** Thrown (one shared instance) when bytes are not a number memcached accepts. */
    static final class NotANumber extends Exception {
        static final NotANumber INSTANCE = new NotANumber();

        private NotANumber() {
            super("not a number", null, false, false);
        }
    }

    /**
     * A stored value as memcached's safe_strtoull reads it: optional leading blanks, an optional
     * '+', decimal digits fitting 64 unsigned bits, then blanks or the end.
     */
    static long parseStoredNumber(byte[] value) throws NotANumber {
        int i = 0;
        int n = value.length;
        while (i < n && isBlank(value[i])) {
            i++;
        }
        return parseUnsigned(value, i, n, true);
    }

    static boolean isBlank(byte b) {
        return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == 0x0b || b == '\f';
    }

    /** Digits (with an optional leading '+') fitting 64 unsigned bits, up to a blank or the end. */
    static long parseUnsigned(byte[] text, int from, int to, boolean blanksMayFollow) throws NotANumber {
        int i = from;
        if (i < to && text[i] == '+') {
            i++;
        }
        int digitsStart = i;
        long value = 0;
        while (i < to && text[i] >= '0' && text[i] <= '9') {
            int digit = text[i] - '0';
            if (Long.compareUnsigned(value, Long.divideUnsigned(-1L, 10)) > 0) {
                throw NotANumber.INSTANCE;
            }
            long next = value * 10 + digit;
            if (Long.compareUnsigned(next, value * 10) < 0) {
                throw NotANumber.INSTANCE;
            }
            value = next;
            i++;
        }
        if (i == digitsStart) {
            throw NotANumber.INSTANCE;
        }
        if (i < to) {
            if (!blanksMayFollow) {
                throw NotANumber.INSTANCE;
            }
            for (; i < to; i++) {
                if (!isBlank(text[i])) {
                    throw NotANumber.INSTANCE;
                }
            }
        }
        return value;
    }

    /** flush_all: everything now, or everything stored before {@code delaySeconds} from now. */
    void flush(long delaySeconds, long now) {
        lock.lock();
        try {
            if (delaySeconds <= 0) {
                items.clear();
                newest = null;
                oldest = null;
                usedBytes = 0;
                oldestLiveMillis = 0;
            } else {
                oldestLiveMillis = now + delaySeconds * 1000;
            }
        } finally {
            lock.unlock();
        }
    }

    /** A consistent copy of the cache's counters for "stats". */
    record Snapshot(long currItems, long totalItems, long bytes, long evictions, long reclaimed,
            long expiredUnfetched, long evictedUnfetched) {}

    Snapshot snapshot() {
        lock.lock();
        try {
            return new Snapshot(items.size(), totalItems, usedBytes, evictions, reclaimed, expiredUnfetched,
                    evictedUnfetched);
        } finally {
            lock.unlock();
        }
    }

    void resetStats() {
        lock.lock();
        try {
            totalItems = 0;
            evictions = 0;
            reclaimed = 0;
            expiredUnfetched = 0;
            evictedUnfetched = 0;
        } finally {
            lock.unlock();
        }
    }

    private void unlink(Item item) {
        items.remove(item.key);
        usedBytes -= item.size();
        if (item.newer != null) {
            item.newer.older = item.older;
        } else {
            newest = item.older;
        }
        if (item.older != null) {
            item.older.newer = item.newer;
        } else {
            oldest = item.newer;
        }
        item.newer = null;
        item.older = null;
    }

    private void linkNewest(Item item) {
        item.older = newest;
        item.newer = null;
        if (newest != null) {
            newest.newer = item;
        }
        newest = item;
        if (oldest == null) {
            oldest = item;
        }
    }

    private void moveToNewest(Item item) {
        if (newest == item) {
            return;
        }
        // unlink from the list only (it stays in the table and keeps its bytes)
        if (item.newer != null) {
            item.newer.older = item.older;
        }
        if (item.older != null) {
            item.older.newer = item.newer;
        } else {
            oldest = item.newer;
        }
        linkNewest(item);
    }
}

package io.arrakis.samples.redis;

import java.util.Arrays;
import java.util.HashMap;
import java.util.SplittableRandom;

/**
 * One of the numbered databases: a hash table of keys plus a dense array of the keys that have
 * an expiry, so the periodic expiry can sample them at random in O(1) as Redis does.
 * Confined to the event-loop thread.
 */
final class Database {
    final int index;
    final HashMap<Bytes, Entry> entries = new HashMap<>();
    private Entry[] volatileEntries = new Entry[16];
    private int volatileCount;

    Database(int index) {
        this.index = index;
    }

    int size() {
        return entries.size();
    }

    int volatileCount() {
        return volatileCount;
    }

    /** The entry, expired or not: callers that care use {@link Keyspace#lookup}. */
    Entry raw(Bytes key) {
        return entries.get(key);
    }

    Entry put(Bytes key, Object value) {
        Entry entry = entries.get(key);
        if (entry == null) {
            entry = new Entry(key, value);
            entries.put(key, entry);
        } else {
            entry.value = value;
        }
        return entry;
    }

    boolean remove(Bytes key) {
        Entry entry = entries.remove(key);
        if (entry == null) {
            return false;
        }
        clearExpiry(entry);
        return true;
    }

    void setExpiry(Entry entry, long expireAtMillis) {
        entry.expireAtMillis = expireAtMillis;
        if (entry.volatileSlot < 0) {
            if (volatileCount == volatileEntries.length) {
                volatileEntries = Arrays.copyOf(volatileEntries, volatileCount * 2);
            }
            entry.volatileSlot = volatileCount;
            volatileEntries[volatileCount++] = entry;
        }
    }

    void clearExpiry(Entry entry) {
        entry.expireAtMillis = Entry.NO_EXPIRY;
        int slot = entry.volatileSlot;
        if (slot < 0) {
            return;
        }
        Entry last = volatileEntries[--volatileCount];
        volatileEntries[slot] = last;
        last.volatileSlot = slot;
        volatileEntries[volatileCount] = null;
        entry.volatileSlot = -1;
    }

    Entry randomVolatile(SplittableRandom random) {
        return volatileCount == 0 ? null : volatileEntries[random.nextInt(volatileCount)];
    }

    void clear() {
        entries.clear();
        volatileEntries = new Entry[16];
        volatileCount = 0;
    }
}

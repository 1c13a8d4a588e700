package io.arrakis.stack;

import java.util.Arrays;

/**
 * A hash table from a 64-bit flow key (e.g. remote address, remote port and local port packed
 * together) to an object, with open addressing and linear probing, so a lookup per segment
 * allocates nothing (a {@code HashMap<Long, V>} would box the key). Removal shifts the following
 * entries back, so no tombstones accumulate. Grows at 50% load. Not thread-safe.
 */
public final class FlowTable<V> {
    private static final long EMPTY = 0;

    private long[] keys;
    private Object[] values;
    private int size;
    private int mask;

    public FlowTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
        keys = new long[capacity];
        values = new Object[capacity];
        mask = capacity - 1;
    }

    /** Packs a TCP or UDP flow as seen from our side. Never 0 for a real flow (ports are non-zero). */
    public static long key(int remoteAddress, int remotePort, int localPort) {
        return ((long) remoteAddress << 32) | ((long) remotePort << 16) | localPort;
    }

    @SuppressWarnings("unchecked")
    public V get(long key) {
        for (int i = slot(key); ; i = (i + 1) & mask) {
            long k = keys[i];
            if (k == key) {
                return (V) values[i];
            }
            if (k == EMPTY) {
                return null;
            }
        }
    }

    /** Maps {@code key} to {@code value}; returns the previous value or null. */
    @SuppressWarnings("unchecked")
    public V put(long key, V value) {
        if (key == EMPTY) {
            throw new IllegalArgumentException("flow key 0 is reserved for empty slots");
        }
        if (2 * (size + 1) > keys.length) {
            grow();
        }
        for (int i = slot(key); ; i = (i + 1) & mask) {
            if (keys[i] == key) {
                V old = (V) values[i];
                values[i] = value;
                return old;
            }
            if (keys[i] == EMPTY) {
                keys[i] = key;
                values[i] = value;
                size++;
                return null;
            }
        }
    }

    @SuppressWarnings("unchecked")
    public V remove(long key) {
        for (int i = slot(key); ; i = (i + 1) & mask) {
            long k = keys[i];
            if (k == EMPTY) {
                return null;
            }
            if (k == key) {
                V old = (V) values[i];
                shiftBack(i);
                size--;
                return old;
            }
        }
    }

    public int size() {
        return size;
    }

    /** Calls {@code action} for every value; the table must not change meanwhile. */
    @SuppressWarnings("unchecked")
    public void forEach(java.util.function.Consumer<V> action) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != EMPTY) {
                action.accept((V) values[i]);
            }
        }
    }

    private void shiftBack(int hole) {
        int i = hole;
        while (true) {
            i = (i + 1) & mask;
            long k = keys[i];
            if (k == EMPTY) {
                break;
            }
            int home = slot(k);
            // Move k into the hole if the hole lies cyclically between its home slot and i.
            if (((i - home) & mask) >= ((i - hole) & mask)) {
                keys[hole] = k;
                values[hole] = values[i];
                hole = i;
            }
        }
        keys[hole] = EMPTY;
        values[hole] = null;
    }

    private void grow() {
        long[] oldKeys = keys;
        Object[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new Object[oldKeys.length * 2];
        mask = keys.length - 1;
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != EMPTY) {
                reinsert(oldKeys[i], oldValues[i]);
            }
        }
        Arrays.fill(oldValues, null);
    }

    private void reinsert(long key, Object value) {
        int i = slot(key);
        while (keys[i] != EMPTY) {
            i = (i + 1) & mask;
        }
        keys[i] = key;
        values[i] = value;
        size++;
    }

    private int slot(long key) {
        // Fibonacci hashing mixes the address and port bits into the index's high bits.
        return (int) ((key * 0x9E37_79B9_7F4A_7C15L) >>> 40) & mask;
    }
}

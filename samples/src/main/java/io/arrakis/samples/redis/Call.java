package io.arrakis.samples.redis;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;

/**
 * The command being executed: its arguments, the client, the reply, and the keyspace operations
 * handlers need (lookup with lazy expiry, type checks, propagation to the append-only file).
 * One instance, reused, confined to the event-loop thread.
 */
final class Call {
    final RedisServer server;
    Client client;
    byte[][] argv;
    ReplyBuffer reply;
    Database db;
    /** The time of this command, fixed for its whole execution as Redis does. */
    long now;
    /** Changes made to the dataset by this command. */
    int dirty;
    /** Set when the handler propagated a rewritten form itself. */
    boolean propagated;

    Call(RedisServer server) {
        this.server = server;
    }

    int argc() {
        return argv.length;
    }

    byte[] arg(int index) {
        return argv[index];
    }

    Bytes key(int index) {
        return new Bytes(argv[index]);
    }

    long longArg(int index) {
        try {
            return RedisNumbers.parseLong(argv[index]);
        } catch (RedisNumbers.NotANumber e) {
            throw CommandError.NOT_INTEGER;
        }
    }

    double doubleArg(int index) {
        try {
            return RedisNumbers.parseDouble(argv[index]);
        } catch (RedisNumbers.NotANumber e) {
            throw CommandError.NOT_FLOAT;
        }
    }

    boolean argIs(int index, String word) {
        byte[] arg = argv[index];
        if (arg.length != word.length()) {
            return false;
        }
        for (int i = 0; i < arg.length; i++) {
            int c = arg[i];
            if (c >= 'a' && c <= 'z') {
                c -= 32;
            }
            int w = word.charAt(i);
            if (w >= 'a' && w <= 'z') {
                w -= 32;
            }
            if (c != w) {
                return false;
            }
        }
        return true;
    }

    /** The live entry for a key, deleting it first if it has expired (lazy expiry). */
    Entry lookup(Bytes key) {
        return server.keyspace.lookup(db, key, now);
    }

    byte[] stringOrNull(Bytes key) {
        Entry entry = lookup(key);
        if (entry == null) {
            return null;
        }
        if (!(entry.value instanceof byte[] value)) {
            throw CommandError.WRONG_TYPE;
        }
        return value;
    }

    @SuppressWarnings("unchecked")
    ArrayDeque<byte[]> listOrNull(Bytes key) {
        Entry entry = lookup(key);
        if (entry == null) {
            return null;
        }
        if (!(entry.value instanceof ArrayDeque<?> list)) {
            throw CommandError.WRONG_TYPE;
        }
        return (ArrayDeque<byte[]>) list;
    }

    @SuppressWarnings("unchecked")
    HashSet<Bytes> setOrNull(Bytes key) {
        Entry entry = lookup(key);
        if (entry == null) {
            return null;
        }
        if (!(entry.value instanceof HashSet<?> set)) {
            throw CommandError.WRONG_TYPE;
        }
        return (HashSet<Bytes>) set;
    }

    @SuppressWarnings("unchecked")
    HashMap<Bytes, byte[]> hashOrNull(Bytes key) {
        Entry entry = lookup(key);
        if (entry == null) {
            return null;
        }
        if (!(entry.value instanceof HashMap<?, ?> hash)) {
            throw CommandError.WRONG_TYPE;
        }
        return (HashMap<Bytes, byte[]>) hash;
    }

    SortedSet sortedSetOrNull(Bytes key) {
        Entry entry = lookup(key);
        if (entry == null) {
            return null;
        }
        if (!(entry.value instanceof SortedSet zset)) {
            throw CommandError.WRONG_TYPE;
        }
        return zset;
    }

    /** Deletes a key (which the caller has looked up) and counts the change. */
    void delete(Bytes key) {
        if (db.remove(key)) {
            dirty++;
        }
    }

    /** Writes {@code argv} to the append-only file in place of the command as received. */
    void propagate(byte[]... rewritten) {
        propagated = true;
        server.propagate(db.index, rewritten);
    }
}

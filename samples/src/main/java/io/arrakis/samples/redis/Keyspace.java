package io.arrakis.samples.redis;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * The numbered databases and Redis's two ways of expiring keys: lazily when a command touches an
 * expired key, and by a periodic cycle that samples keys with an expiry and deletes the expired
 * ones, repeating while more than a quarter of a sample had expired. Each deletion is written to
 * the append-only file as a DEL. Confined to the event-loop thread.
 */
final class Keyspace {
    private static final byte[] DEL = "DEL".getBytes(StandardCharsets.ISO_8859_1);
    private static final int SAMPLE = 20;

    final Database[] databases;
    private final RedisServer server;
    private final SplittableRandom random = new SplittableRandom(0x5eed);
    /** While replaying the append-only file nothing expires, so the file's order is kept. */
    boolean loading;
    long expiredKeys;
    long hits;
    long misses;

    Keyspace(RedisServer server, int count) {
        this.server = server;
        databases = new Database[count];
        for (int i = 0; i < count; i++) {
            databases[i] = new Database(i);
        }
    }

    Entry lookup(Database db, Bytes key, long now) {
        Entry entry = db.raw(key);
        if (entry == null) {
            return null;
        }
        if (!loading && entry.expireAtMillis != Entry.NO_EXPIRY && entry.expireAtMillis <= now) {
            expire(db, entry);
            return null;
        }
        return entry;
    }

    private void expire(Database db, Entry entry) {
        db.remove(entry.key);
        expiredKeys++;
        server.propagate(db.index, new byte[][] {DEL, entry.key.data});
    }

    /**
     * One pass of the periodic expiry over every database, stopping after {@code budgetNanos}.
     * Returns the number of keys deleted.
     */
    int activeExpireCycle(long now, long budgetNanos) {
        if (loading) {
            return 0;
        }
        long deadline = System.nanoTime() + budgetNanos;
        int deleted = 0;
        for (Database db : databases) {
            int expiredInSample;
            do {
                expiredInSample = 0;
                int sample = Math.min(SAMPLE, db.volatileCount());
                for (int i = 0; i < sample; i++) {
                    Entry entry = db.randomVolatile(random);
                    if (entry != null && entry.expireAtMillis <= now) {
                        expire(db, entry);
                        expiredInSample++;
                    }
                }
                deleted += expiredInSample;
            } while (expiredInSample > SAMPLE / 4 && System.nanoTime() < deadline);
            if (System.nanoTime() >= deadline) {
                break;
            }
        }
        return deleted;
    }

    void flushAll() {
        for (Database db : databases) {
            db.clear();
        }
    }
}

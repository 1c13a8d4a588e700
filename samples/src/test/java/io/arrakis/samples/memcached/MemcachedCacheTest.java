package io.arrakis.samples.memcached;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The LRU under its memory limit. */
class MemcachedCacheTest {
    private static CacheKey key(String k) {
        return new CacheKey(k.getBytes(StandardCharsets.ISO_8859_1));
    }

    @Test
    void evictsLeastRecentlyUsedWithinTheMemoryLimit() {
        long limit = 64 * 1024;
        Cache cache = new Cache(limit, 1024 * 1024);
        byte[] value = new byte[1000];
        long itemSize = Item.size("key0000".length(), value.length);
        int fits = (int) (limit / itemSize);
        long now = 1_000_000;
        for (int i = 0; i < fits; i++) {
            assertEquals(Cache.StoreResult.STORED, cache.store(Cache.Mode.SET, key(String.format("key%04d", i)), 0, 0,
                    value, 0, now));
        }
        assertEquals(fits, cache.snapshot().currItems());
        assertEquals(0, cache.snapshot().evictions());
        assertNotNull(cache.get(key("key0000"), now), "touching key0000 makes it the most recently used");
        for (int i = fits; i < fits + 10; i++) {
            cache.store(Cache.Mode.SET, key(String.format("key%04d", i)), 0, 0, value, 0, now);
        }
        Cache.Snapshot after = cache.snapshot();
        assertTrue(after.bytes() <= limit, "bytes " + after.bytes() + " within " + limit);
        assertEquals(10, after.evictions());
        assertNotNull(cache.get(key("key0000"), now), "the recently used item survived");
        for (int i = 1; i <= 10; i++) {
            assertNull(cache.get(key(String.format("key%04d", i)), now), "the 10 least recently used went: key" + i);
        }
        assertNotNull(cache.get(key("key0011"), now));
        assertNotNull(cache.get(key(String.format("key%04d", fits + 9)), now));
    }

    @Test
    void refusesAnItemLargerThanTheWholeLimit() {
        Cache cache = new Cache(4096, 1024 * 1024);
        assertEquals(Cache.StoreResult.NO_MEMORY, cache.store(Cache.Mode.SET, key("k"), 0, 0, new byte[5000], 0, 1));
        assertEquals(0, cache.snapshot().currItems());
    }

    @Test
    void evictsThroughTheServerToo() throws Exception {
        try (MemcachedServer server = MemcachedServer.start(
                new MemcachedConfig().port(0).threads(1).memoryLimitBytes(100 * 1024));
                TextConnection c = new TextConnection(server.port())) {
            String value = "v".repeat(1000);
            for (int i = 0; i < 300; i++) {
                assertEquals("STORED\r\n", c.call("set k" + i + " 0 0 1000\r\n" + value + "\r\n"));
            }
            c.send("get k0\r\n");
            assertEquals("END\r\n", c.retrieval(), "the oldest was evicted");
            c.send("get k299\r\n");
            assertTrue(c.retrieval().startsWith("VALUE k299 0 1000\r\n"));
            c.send("stats\r\n");
            StringBuilder stats = new StringBuilder();
            for (String line = c.line(); !line.equals("END\r\n"); line = c.line()) {
                stats.append(line);
            }
            long bytes = Long.parseLong(stats.toString().replaceAll("(?s).*STAT bytes (\\d+)\r\n.*", "$1"));
            assertTrue(bytes <= 100 * 1024, "bytes " + bytes);
            assertTrue(stats.toString().matches("(?s).*STAT evictions [1-9]\\d*\r\n.*"), stats.toString());
        }
    }
}

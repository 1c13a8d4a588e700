package io.arrakis.samples.loadgen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.samples.memcached.MemcachedConfig;
import io.arrakis.samples.memcached.MemcachedServer;
import io.arrakis.samples.redis.RedisConfig;
import io.arrakis.samples.redis.RedisServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The load generator against both sample servers (sane results, no errors) and against fake
 * servers that answer wrongly or stall (errors counted, stalls not hidden in the open loop).
 * Only loose sanity bounds on speed: speed itself is measured by running it, not asserted here.
 */
class LoadGeneratorTest {
    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Test
    void drivesTheRedisServerWithNoErrors() throws Exception {
        try (RedisServer server = RedisServer.start(new RedisConfig().port(0))) {
            LoadResult result = LoadGenerator.run(new LoadConfig().port(server.port()).connections(8).pipeline(4)
                    .warmupSeconds(0.2).durationSeconds(0.5).keys(500).valueSize(100));
            assertEquals(0, result.errors(), result.table());
            assertEquals(0, result.connectionFailures(), result.table());
            assertTrue(result.get().operations() > 0 && result.set().operations() > 0, result.table());
            assertEquals(0, result.get().misses(), "every key was set first");
            assertEquals(result.get().operations(), result.get().hits(), result.table());
            assertTrue(result.total().p50Micros() > 0 && result.total().p50Micros() <= result.total().p99Micros());
            assertTrue(result.total().p99Micros() <= result.total().maxMicros());
            assertTrue(result.json().contains("\"errors\": 0"), result.json());
            double[][] curve = result.latencyCurve();
            assertEquals(LoadResult.CURVE_PERCENTILES.length, curve.length);
            for (int i = 1; i < curve.length; i++) {
                assertTrue(curve[i][0] > curve[i - 1][0] && curve[i][1] >= curve[i - 1][1],
                        "the curve rises with the percentile at point " + i + ": " + result.json());
            }
            assertEquals(result.total().p99Micros(), curve[14][1], 1e-9, "the curve's 99th percentile is the table's");
            assertEquals(result.total().maxMicros(), curve[curve.length - 1][1], 1e-9);
            assertTrue(result.json().contains("\"latencyCurveMicros\": [[0.0, "), result.json());
        }
    }

    @Test
    void drivesTheMemcachedServerFromTwoThreadsWithNoErrors() throws Exception {
        try (MemcachedServer server = MemcachedServer.start(new MemcachedConfig().port(0).threads(2))) {
            LoadResult result = LoadGenerator.run(new LoadConfig().protocol(LoadConfig.Protocol.MEMCACHE)
                    .port(server.port()).connections(6).threads(2).pipeline(8).warmupSeconds(0.2)
                    .durationSeconds(0.5).keys(1000).keySize(40).valueSize(1000).ratio(1, 1));
            assertEquals(0, result.errors(), result.table());
            assertTrue(result.get().operations() > 0 && result.set().operations() > 0, result.table());
            assertEquals(0, result.get().misses(), result.table());
        }
    }

    @Test
    void countsWrongValuesAsErrors() throws Exception {
        try (FakeServer server = new FakeServer(false, (words, n) ->
                words.get(0).equals("SET") ? ascii("+OK\r\n") : ascii("$3\r\nbad\r\n"))) {
            LoadResult result = LoadGenerator.run(new LoadConfig().port(server.port()).connections(2)
                    .warmupSeconds(0).durationSeconds(0.3).keys(50));
            assertTrue(result.get().operations() > 0, result.table());
            assertEquals(0, result.get().hits(), result.table());
            assertTrue(result.get().errors() >= result.get().operations(), "every GET answered wrongly: " + result.table());
            assertEquals(0, result.set().errors(), result.table());
        }
    }

    @Test
    void countsErrorRepliesAndWrongKeysAsErrors() throws Exception {
        try (FakeServer server = new FakeServer(true, (words, n) -> words.get(0).equals("set")
                ? ascii(n % 2 == 0 ? "STORED\r\n" : "SERVER_ERROR out of memory storing object\r\n")
                : ascii("VALUE someotherkey 0 32\r\n" + "a".repeat(32) + "\r\nEND\r\n"))) {
            LoadResult result = LoadGenerator.run(new LoadConfig().protocol(LoadConfig.Protocol.MEMCACHE)
                    .port(server.port()).connections(2).warmupSeconds(0).durationSeconds(0.3).keys(50).ratio(1, 1)
                    .prefill(false));
            assertTrue(result.get().errors() > 0 && result.get().hits() == 0, result.table());
            assertTrue(result.set().errors() > 0, result.table());
        }
    }

    @Test
    void aGarbledReplyFailsTheConnectionAndCountsWhatWasInFlight() throws Exception {
        try (FakeServer server = new FakeServer(false, (words, n) -> ascii(n < 20 ? "+OK\r\n" : "?garbage\r\n"))) {
            LoadResult result = LoadGenerator.run(new LoadConfig().port(server.port()).connections(1).pipeline(4)
                    .warmupSeconds(0).durationSeconds(0.3).keys(10).ratio(0, 1).prefill(false));
            assertEquals(1, result.connectionFailures(), result.table());
            assertTrue(result.firstFailure().contains("unparseable reply"), result.firstFailure());
            assertTrue(result.errors() >= 1, result.table());
        }
    }

    @Test
    void aPrefillRefusedBySaysWhatTheServerAnswered() throws Exception {
        try (FakeServer server = new FakeServer(false, (words, n) -> ascii("-ERR nope\r\n"))) {
            IOException e = assertThrows(IOException.class,
                    () -> LoadGenerator.run(new LoadConfig().port(server.port()).connections(1).keys(10)));
            assertTrue(e.getMessage().contains("'-ERR nope'") && e.getMessage().contains("key 0"), e.getMessage());
        }
    }

    @Test
    void theOpenLoopKeepsToItsRate() throws Exception {
        try (RedisServer server = RedisServer.start(new RedisConfig().port(0))) {
            // No warm-up, so every request measured was scheduled inside the measured second: at most
            // 2000 of them, plus one per connection due exactly at its end. (With a warm-up, a backlog
            // scheduled before the measured period may complete inside it.)
            LoadResult result = LoadGenerator.run(new LoadConfig().port(server.port()).connections(2).rate(2000)
                    .warmupSeconds(0).durationSeconds(1).keys(100));
            assertEquals(0, result.errors(), result.table());
            long ops = result.total().operations();
            assertTrue(ops <= 2000 + 2, "never more than the schedule: " + result.table());
            assertTrue(ops >= 1000, "the schedule is kept: " + result.table());
        }
    }

    @Test
    void theOpenLoopCountsTheRequestsAStallDelayedButTheClosedLoopHidesThem() throws Exception {
        FakeServer.Responder stallOnce = (words, n) -> {
            if (n == 300) {
                Thread.sleep(300);
            }
            return ascii(words.get(0).equals("SET") ? "+OK\r\n" : "$-1\r\n");
        };
        LoadConfig.Protocol resp = LoadConfig.Protocol.RESP;
        LoadResult open;
        try (FakeServer server = new FakeServer(false, stallOnce)) {
            open = LoadGenerator.run(new LoadConfig().protocol(resp).port(server.port()).connections(1).rate(1000)
                    .warmupSeconds(0).durationSeconds(1.2).keys(10).prefill(false));
        }
        // At 1000/s a 300 ms stall delays ~300 requests by 0..300 ms: about 1 in 6 waits 100 ms or more.
        assertTrue(open.total().p90Micros() >= 50_000, "open loop: " + open.table());
        assertTrue(open.total().maxMicros() >= 250_000, "open loop: " + open.table());
        LoadResult closed;
        try (FakeServer server = new FakeServer(false, stallOnce)) {
            closed = LoadGenerator.run(new LoadConfig().protocol(resp).port(server.port()).connections(1)
                    .warmupSeconds(0).durationSeconds(1.2).keys(10).prefill(false));
        }
        // The closed loop simply waits: one slow request, the rest fast.
        assertTrue(closed.total().maxMicros() >= 250_000, "closed loop: " + closed.table());
        assertTrue(closed.total().p90Micros() < 50_000, "closed loop: " + closed.table());
    }

    @Test
    void rejectsBadOptionsWithAReason() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoadConfig.parse("--ratio", "3"))
                .getMessage().contains("GET:SET"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoadConfig.parse("--connections", "x"))
                .getMessage().contains("needs a number"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoadConfig.parse("--threads", "4",
                "--connections", "2")).getMessage().contains("cannot exceed"));
        LoadConfig ok = LoadConfig.parse("--protocol", "memcache", "--rate", "100", "--ratio", "1:4");
        assertEquals(11211, ok.port);
        assertEquals(100, ok.rate);
        assertEquals(4, ok.setWeight);
    }

    @Test
    void measurementStartsAfterTheWarmUpAndNoLaterThanItsCap() throws Exception {
        long warmupEnd = System.nanoTime() + 50_000_000;
        long maxExtra = 300_000_000;
        long start = LoadGenerator.awaitCompilerSettled(warmupEnd, maxExtra);
        assertTrue(start - warmupEnd >= 0, "measurement began " + (warmupEnd - start) / 1e6 + " ms before the warm-up ended");
        assertTrue(start - (warmupEnd + maxExtra) < 150_000_000L,
                "measurement began " + (start - warmupEnd) / 1e6 + " ms after the warm-up, past its 300 ms cap");
    }
}

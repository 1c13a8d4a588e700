package io.arrakis.samples.memcached;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** memcached's text protocol, reply for reply, including its errors and what survives them. */
class MemcachedProtocolTest {
    private MemcachedServer server;
    private TextConnection c;

    @BeforeEach
    void start() throws Exception {
        server = MemcachedServer.start(new MemcachedConfig().port(0).threads(2));
        c = new TextConnection(server.port());
    }

    @AfterEach
    void stop() throws Exception {
        c.close();
        server.close();
    }

    @Test
    void storesAndRetrieves() throws Exception {
        assertEquals("STORED\r\n", c.call("set k 5 0 5\r\nhello\r\n"));
        c.send("get k\r\n");
        assertEquals("VALUE k 5 5\r\nhello\r\nEND\r\n", c.retrieval());
        c.send("get nope k nope\r\n");
        assertEquals("VALUE k 5 5\r\nhello\r\nEND\r\n", c.retrieval());
        c.send("get nope\r\n");
        assertEquals("END\r\n", c.retrieval());
        assertEquals("NOT_STORED\r\n", c.call("add k 0 0 1\r\nx\r\n"));
        assertEquals("STORED\r\n", c.call("add a 0 0 1\r\nx\r\n"));
        assertEquals("NOT_STORED\r\n", c.call("replace nope 0 0 1\r\nx\r\n"));
        assertEquals("STORED\r\n", c.call("replace a 7 0 1\r\ny\r\n"));
        assertEquals("STORED\r\n", c.call("append a 9 0 2\r\nzz\r\n"));
        assertEquals("STORED\r\n", c.call("prepend a 9 0 2\r\nxx\r\n"));
        c.send("get a\r\n");
        assertEquals("VALUE a 7 5\r\nxxyzz\r\nEND\r\n", c.retrieval(), "append/prepend keep the flags");
        assertEquals("NOT_STORED\r\n", c.call("append nope 0 0 1\r\nx\r\n"));
        assertEquals("STORED\r\n", c.call("set empty 0 0 0\r\n\r\n"));
        c.send("get empty\r\n");
        assertEquals("VALUE empty 0 0\r\n\r\nEND\r\n", c.retrieval());
        assertEquals("DELETED\r\n", c.call("delete a\r\n"));
        assertEquals("NOT_FOUND\r\n", c.call("delete a\r\n"));
        assertEquals("DELETED\r\n", c.call("delete k 0\r\n"));
        assertEquals("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n", c.call("delete k 5\r\n"));
        assertEquals("STORED\r\n", c.call("set flags 4294967296 0 1\r\nx\r\n"));
        c.send("get flags\r\n");
        assertEquals("VALUE flags 0 1\r\nx\r\nEND\r\n", c.retrieval(), "flags keep their low 32 bits, as in 1.6");
    }

    @Test
    void casVersionsEveryStore() throws Exception {
        c.call("set c 0 0 1\r\n1\r\n");
        c.send("gets c\r\n");
        String first = c.retrieval();
        long cas = Long.parseLong(first.split("\r\n")[0].split(" ")[4]);
        assertEquals("EXISTS\r\n", c.call("cas c 0 0 1 " + (cas + 1000) + "\r\n2\r\n"));
        assertEquals("STORED\r\n", c.call("cas c 0 0 1 " + cas + "\r\n3\r\n"));
        assertEquals("EXISTS\r\n", c.call("cas c 0 0 1 " + cas + "\r\n4\r\n"), "the store changed the version");
        c.send("gets c\r\n");
        long next = Long.parseLong(c.retrieval().split("\r\n")[0].split(" ")[4]);
        assertTrue(next > cas);
        assertEquals("2\r\n", c.call("decr c 1\r\n"));
        c.send("gets c\r\n");
        assertTrue(Long.parseLong(c.retrieval().split("\r\n")[0].split(" ")[4]) > next, "incr/decr change it too");
        assertEquals("NOT_FOUND\r\n", c.call("cas nope 0 0 1 1\r\nx\r\n"));
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("cas c 0 0 1 -1\r\n3\r\n"));
        assertEquals("ERROR\r\n", c.line(), "the refused command's data line is read as a command");
        assertEquals("ERROR\r\n", c.call("cas c 0 0 1\r\n"));
        String stats = statsOf(c);
        assertTrue(stats.contains("STAT cas_hits 1\r\n") && stats.contains("STAT cas_badval 2\r\n")
                && stats.contains("STAT cas_misses 1\r\n"), stats);
    }

    private static String statsOf(TextConnection c) throws Exception {
        c.send("stats\r\n");
        StringBuilder all = new StringBuilder();
        String line;
        do {
            line = c.line();
            all.append(line);
        } while (!line.equals("END\r\n"));
        return all.toString();
    }

    @Test
    void incrementsAndDecrementsAsMemcachedDoes() throws Exception {
        c.call("set n 0 0 2\r\n10\r\n");
        assertEquals("9\r\n", c.call("decr n 1\r\n"));
        c.send("get n\r\n");
        assertEquals("VALUE n 0 2\r\n9 \r\nEND\r\n", c.retrieval(), "a shorter result keeps the length, space-padded");
        assertEquals("14\r\n", c.call("incr n 5\r\n"));
        assertEquals("0\r\n", c.call("decr n 100\r\n"), "decr stops at zero");
        c.call("set w 0 0 20\r\n18446744073709551615\r\n");
        assertEquals("0\r\n", c.call("incr w 1\r\n"), "incr wraps at 2^64");
        c.call("set w 0 0 1\r\n5\r\n");
        assertEquals("4\r\n", c.call("incr w 18446744073709551615\r\n"), "5 + (2^64 - 1) wraps to 4");
        assertEquals("CLIENT_ERROR invalid numeric delta argument\r\n", c.call("incr n abc\r\n"));
        assertEquals("CLIENT_ERROR invalid numeric delta argument\r\n", c.call("incr n -1\r\n"));
        assertEquals("CLIENT_ERROR invalid numeric delta argument\r\n", c.call("incr n 18446744073709551616\r\n"));
        assertEquals("NOT_FOUND\r\n", c.call("incr nope 1\r\n"));
        for (String value : new String[] {"ab", "-12", "12a", "1234567890123456789012"}) {
            c.call("set s 0 0 " + value.length() + "\r\n" + value + "\r\n");
            assertEquals("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", c.call("incr s 1\r\n"), value);
        }
        c.call("set s 0 0 3\r\n 12\r\n");
        assertEquals("13\r\n", c.call("incr s 1\r\n"), "leading blanks are allowed, as strtoull allows them");
        assertEquals("ERROR\r\n", c.call("incr s\r\n"));
    }

    @Test
    void touchesAndExpires() throws Exception {
        c.call("set t 0 -1 1\r\na\r\n");
        c.send("get t\r\n");
        assertEquals("END\r\n", c.retrieval(), "a negative expiry is already expired");
        c.call("set old 0 2592001 1\r\na\r\n");
        c.send("get old\r\n");
        assertEquals("END\r\n", c.retrieval(), "beyond 30 days it is a Unix time, here long past");
        c.call("set x 0 0 1\r\na\r\n");
        assertEquals("TOUCHED\r\n", c.call("touch x 1\r\n"));
        assertEquals("NOT_FOUND\r\n", c.call("touch nope 1\r\n"));
        assertEquals("CLIENT_ERROR invalid exptime argument\r\n", c.call("touch x abc\r\n"));
        c.send("gat 100 x nope\r\n");
        assertEquals("VALUE x 0 1\r\na\r\nEND\r\n", c.retrieval());
        c.send("gats 1 x\r\n");
        assertTrue(c.retrieval().matches("VALUE x 0 1 \\d+\r\na\r\nEND\r\n"));
        assertEquals("CLIENT_ERROR invalid exptime argument\r\n", c.call("gat abc x\r\n"));
        c.send("gat 10\r\n");
        assertEquals("END\r\n", c.retrieval());
        c.call("set soon 0 1 1\r\na\r\n");
        Thread.sleep(1100);
        c.send("get soon x\r\n");
        assertEquals("END\r\n", c.retrieval(), "both expired after a second");
    }

    @Test
    void flushesNowOrLater() throws Exception {
        c.call("set a 0 0 1\r\na\r\n");
        assertEquals("OK\r\n", c.call("flush_all\r\n"));
        c.send("get a\r\n");
        assertEquals("END\r\n", c.retrieval());
        c.call("set b 0 0 1\r\nb\r\n");
        assertEquals("OK\r\n", c.call("flush_all 1\r\n"));
        c.send("get b\r\n");
        assertEquals("VALUE b 0 1\r\nb\r\nEND\r\n", c.retrieval(), "still there before the delay");
        Thread.sleep(1100);
        c.send("get b\r\n");
        assertEquals("END\r\n", c.retrieval());
        c.call("set c 0 0 1\r\nc\r\n");
        c.send("get c\r\n");
        assertEquals("VALUE c 0 1\r\nc\r\nEND\r\n", c.retrieval(), "items stored after the flush time live");
        assertEquals("CLIENT_ERROR invalid exptime argument\r\n", c.call("flush_all abc\r\n"));
        assertEquals("VERSION 1.6.18\r\n", c.call("flush_all noreply\r\nversion\r\n"));
    }

    @Test
    void noreplySuppressesReplies() throws Exception {
        c.send("set a 0 0 1 noreply\r\na\r\nadd a 0 0 1 noreply\r\nb\r\nincr a 1 noreply\r\n"
                + "touch a 10 noreply\r\ndelete nope noreply\r\nverbosity 1 noreply\r\nset b 0 0 1 noreply\r\nxyz\r\n");
        assertEquals("ERROR\r\n", c.call("version\r\n"), "the bad chunk's error is suppressed; its tail 'z' is a command");
        assertEquals("VERSION 1.6.18\r\n", c.line());
        c.send("get a\r\n");
        assertEquals("VALUE a 0 1\r\na\r\nEND\r\n", c.retrieval());
    }

    @Test
    void answersErrorsWithMemcachedWording() throws Exception {
        assertEquals("ERROR\r\n", c.call("foo\r\n"));
        assertEquals("ERROR\r\n", c.call("GET x\r\n"));
        assertEquals("ERROR\r\n", c.call("\r\n"));
        assertEquals("ERROR\r\n", c.call("get\r\n"));
        assertEquals("ERROR\r\n", c.call("set k 0 0\r\n"));
        assertEquals("ERROR\r\n", c.call("verbosity\r\n"));
        assertEquals("OK\r\n", c.call("verbosity 1\r\n"));
        assertEquals("ERROR\r\n", c.call("stats foo\r\n"));
        assertEquals("CLIENT_ERROR bad data chunk\r\n", c.call("set k 0 0 5\r\nhelloX\r\n"));
        assertEquals("ERROR\r\n", c.line(), "the byte after the chunk starts the next line");
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("set k 0 0 -1\r\n"));
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("set k 0 0 abc\r\n"));
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("set k abc 0 1\r\n"));
        String longKey = "k".repeat(251);
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("set " + longKey + " 0 0 1\r\nx\r\n"));
        assertEquals("ERROR\r\n", c.line(), "an over-long key's data is not swallowed");
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("get a " + longKey + "\r\n"));
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("delete " + longKey + "\r\n"));
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("incr " + longKey + " 1\r\n"));
        assertEquals("CLIENT_ERROR bad command line format\r\n", c.call("touch " + longKey + " 1\r\n"));
        c.send("get " + "k".repeat(250) + "\r\n");
        assertEquals("END\r\n", c.retrieval(), "250 bytes is allowed");
        assertEquals("VERSION 1.6.18\r\n", c.call("version\r\n"), "the connection survived all of that");
    }

    @Test
    void refusesTooLargeValuesAndSwallowsTheirData() throws Exception {
        c.call("set big 0 0 1\r\nx\r\n");
        int largest = 1024 * 1024 - Item.HEADER_BYTES - "big".length() - 1 - 2;
        byte[] tooBig = ("set big 0 0 " + (largest + 1) + "\r\n" + "v".repeat(largest + 1) + "\r\n")
                .getBytes(StandardCharsets.ISO_8859_1);
        assertEquals("SERVER_ERROR object too large for cache\r\n", c.call(new String(tooBig, StandardCharsets.ISO_8859_1)));
        c.send("get big\r\n");
        assertEquals("END\r\n", c.retrieval(), "a failed set drops the old value, as memcached does");
        assertEquals("STORED\r\n", c.call("set big 0 0 " + largest + "\r\n" + "v".repeat(largest) + "\r\n"));
        c.send("get big\r\n");
        assertEquals(largest, c.retrieval().length() - "VALUE big 0 1048516\r\n\r\nEND\r\n".length());
        assertTrue(statsOf(c).contains("STAT store_too_large 1\r\n"));
    }

    @Test
    void closesOnALongLineWithoutNewlineButNotOnALongGet() throws Exception {
        StringBuilder get = new StringBuilder("get");
        for (int i = 0; i < 1500; i++) {
            get.append(" a").append(i);
        }
        c.send(get + "\r\n");
        assertEquals("END\r\n", c.retrieval());
        c.timeout(2000);
        c.send("set " + "a".repeat(3000));
        assertTrue(c.closedByPeer(), "memcached closes a connection sending 2 KiB without a newline");
        try (TextConnection other = new TextConnection(server.port())) {
            assertEquals("VERSION 1.6.18\r\n", other.call("version\r\n"));
        }
    }

    @Test
    void quitCloses() throws Exception {
        c.send("quit\r\n");
        assertTrue(c.closedByPeer());
    }

    @Test
    void sameRepliesWhateverByteTheInputIsSplitAt() throws Exception {
        String script = "set a 1 0 3\r\nabc\r\nget a b\r\ngets a\r\nincr a 1\r\nset n 0 0 1\r\n7\r\nincr n 3\r\n"
                + "delete a\r\nset x 0 0 2\r\nxyz\r\nbogus\r\ntouch n 5\r\nappend n 0 0 1\r\n0\r\nget n\r\n";
        byte[] bytes = script.getBytes(StandardCharsets.ISO_8859_1);
        String expected = null;
        for (int split = 0; split <= bytes.length; split++) {
            server.cache.flush(0, System.currentTimeMillis());
            Connection connection = new Connection(null, server);
            connection.feed(java.util.Arrays.copyOfRange(bytes, 0, split));
            connection.process(System.currentTimeMillis());
            connection.feed(java.util.Arrays.copyOfRange(bytes, split, bytes.length));
            connection.process(System.currentTimeMillis());
            String replies = connection.out.toString().replaceAll("VALUE a 1 3 \\d+", "VALUE a 1 3 CAS");
            if (expected == null) {
                expected = replies;
                assertEquals("STORED\r\nVALUE a 1 3\r\nabc\r\nEND\r\nVALUE a 1 3 CAS\r\nabc\r\nEND\r\n"
                        + "CLIENT_ERROR cannot increment or decrement non-numeric value\r\nSTORED\r\n10\r\n"
                        + "DELETED\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\nERROR\r\nTOUCHED\r\nSTORED\r\n"
                        + "VALUE n 0 3\r\n100\r\nEND\r\n", replies);
            }
            assertEquals(expected, replies, "split at byte " + split);
        }
    }

    @Test
    void servesManyClientsAtOnce() throws Exception {
        c.call("set shared 0 0 1\r\n0\r\n");
        int clients = 40;
        int rounds = 200;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < clients; t++) {
                int id = t;
                done.add(pool.submit(() -> {
                    try (TextConnection conn = new TextConnection(server.port())) {
                        for (int i = 0; i < rounds; i++) {
                            String value = id + ":" + i;
                            assertEquals("STORED\r\n", conn.call("set own" + id + " 0 0 " + value.length() + "\r\n" + value + "\r\n"));
                            conn.send("get own" + id + "\r\n");
                            assertEquals("VALUE own" + id + " 0 " + value.length() + "\r\n" + value + "\r\nEND\r\n", conn.retrieval());
                            assertTrue(conn.call("incr shared 1\r\n").matches("\\d+\r\n"));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        c.send("get shared\r\n");
        assertTrue(c.retrieval().contains("\r\n8000"), "every increment counted once");
        assertTrue(statsOf(c).contains("STAT total_connections " + (clients + 1) + "\r\n"));
    }

    @Test
    void survivesGarbage() throws Exception {
        SplittableRandom random = new SplittableRandom(7);
        String[] prefixes = {"set k 0 0 5\r\n", "get ", "incr ", "cas k 0 0 ", ""};
        for (int round = 0; round < 60; round++) {
            try (TextConnection conn = new TextConnection(server.port())) {
                conn.timeout(200);
                byte[] garbage = new byte[random.nextInt(1, 5000)];
                random.nextBytes(garbage);
                conn.send(prefixes[round % prefixes.length]);
                conn.send(garbage);
                conn.closedByPeer();
            }
        }
        assertEquals("VERSION 1.6.18\r\n", c.call("version\r\n"));
        assertFalse(c.closedByPeerQuickly());
    }
}

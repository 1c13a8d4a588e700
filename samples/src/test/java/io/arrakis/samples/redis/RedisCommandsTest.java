package io.arrakis.samples.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every command's replies and error strings, byte for byte as Redis 7.0 sends them. */
class RedisCommandsTest {
    private RedisServer server;
    private RespConnection c;

    @BeforeEach
    void start() throws Exception {
        server = RedisServer.start(new RedisConfig().port(0));
        c = new RespConnection(server.port());
    }

    @AfterEach
    void stop() throws Exception {
        c.close();
        server.close();
    }

    private static String bulk(String s) {
        return "$" + s.length() + "\r\n" + s + "\r\n";
    }

    private static String integer(long n) {
        return ":" + n + "\r\n";
    }

    private static String err(String s) {
        return "-" + s + "\r\n";
    }

    private static String array(String... items) {
        return "*" + items.length + "\r\n" + String.join("", items);
    }

    private static final String OK = "+OK\r\n";
    private static final String NIL = "$-1\r\n";
    private static final String WRONGTYPE = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    private static final String NOT_INT = err("ERR value is not an integer or out of range");

    @Test
    void pingEchoAndUnknownCommands() throws Exception {
        assertEquals("+PONG\r\n", c.call("PING"));
        assertEquals(bulk("hi"), c.call("ping", "hi"));
        assertEquals(err("ERR wrong number of arguments for 'ping' command"), c.call("ping", "a", "b"));
        assertEquals(bulk("hello"), c.call("ECHO", "hello"));
        assertEquals(err("ERR wrong number of arguments for 'echo' command"), c.call("echo"));
        assertEquals(err("ERR unknown command 'FOO', with args beginning with: 'a' 'b c' "), c.call("FOO", "a", "b c"));
        assertEquals(err("ERR unknown command 'foo', with args beginning with: "), c.call("foo"));
        String longArg = "x".repeat(200);
        assertEquals(err("ERR unknown command 'foo', with args beginning with: '" + "x".repeat(128) + "' "),
                c.call("foo", longArg, "y"));
        assertEquals(err("ERR unknown command 'a  b', with args beginning with: 'c d' "), c.call("a\r\nb", "c\nd"));
        assertEquals(err("ERR wrong number of arguments for 'get' command"), c.call("GET"));
        assertEquals(err("ERR wrong number of arguments for 'get' command"), c.call("get", "a", "b"));
    }

    @Test
    void setAndGetWithOptions() throws Exception {
        assertEquals(NIL, c.call("GET", "k"));
        assertEquals(OK, c.call("SET", "k", "v"));
        assertEquals(bulk("v"), c.call("GET", "k"));
        assertEquals(NIL, c.call("SET", "k", "w", "NX"));
        assertEquals(OK, c.call("SET", "k", "w", "XX"));
        assertEquals(NIL, c.call("SET", "absent", "w", "XX"));
        assertEquals(bulk("w"), c.call("SET", "k", "x", "GET"));
        assertEquals(NIL, c.call("SET", "new", "x", "GET"));
        assertEquals(OK, c.call("SET", "k", "v", "EX", "100"));
        assertEquals(integer(100), c.call("TTL", "k"));
        assertEquals(OK, c.call("SET", "k", "v2", "KEEPTTL"));
        assertEquals(integer(100), c.call("TTL", "k"));
        assertEquals(OK, c.call("SET", "k", "v3"));
        assertEquals(integer(-1), c.call("TTL", "k"));
        assertEquals(OK, c.call("SET", "k", "v", "PX", "100000"));
        assertTrue(c.call("PTTL", "k").matches(":(99\\d{3}|100000)\r\n"));
        assertEquals(err("ERR syntax error"), c.call("SET", "k", "v", "NX", "XX"));
        assertEquals(err("ERR syntax error"), c.call("SET", "k", "v", "EX", "10", "PX", "5"));
        assertEquals(err("ERR syntax error"), c.call("SET", "k", "v", "EX", "1", "KEEPTTL"));
        assertEquals(err("ERR syntax error"), c.call("SET", "k", "v", "EX"));
        assertEquals(err("ERR syntax error"), c.call("SET", "k", "v", "FOO"));
        assertEquals(NOT_INT, c.call("SET", "k", "v", "EX", "abc"));
        assertEquals(err("ERR invalid expire time in 'set' command"), c.call("SET", "k", "v", "EX", "0"));
        assertEquals(err("ERR invalid expire time in 'set' command"), c.call("SET", "k", "v", "PX", "-5"));
        assertEquals(err("ERR invalid expire time in 'set' command"),
                c.call("SET", "k", "v", "EX", "9223372036854775807"));
        assertEquals(integer(1), c.call("LPUSH", "list", "a"));
        assertEquals(WRONGTYPE, c.call("GET", "list"));
        assertEquals(WRONGTYPE, c.call("SET", "list", "v", "GET"));
        assertEquals(OK, c.call("SET", "list", "v"));
        assertEquals(bulk("v"), c.call("GET", "list"));
    }

    @Test
    void counters() throws Exception {
        assertEquals(integer(1), c.call("INCR", "n"));
        assertEquals(integer(0), c.call("DECR", "n"));
        assertEquals(integer(-10), c.call("INCRBY", "n", "-10"));
        assertEquals(integer(-5), c.call("DECRBY", "n", "-5"));
        assertEquals(NOT_INT, c.call("INCRBY", "n", "1.5"));
        assertEquals(OK, c.call("SET", "n", "9223372036854775807"));
        assertEquals(err("ERR increment or decrement would overflow"), c.call("INCR", "n"));
        assertEquals(bulk("9223372036854775807"), c.call("GET", "n"));
        assertEquals(err("ERR decrement would overflow"), c.call("DECRBY", "n", "-9223372036854775808"));
        for (String notInteger : new String[] {"abc", "007", "+1", " 1", "1.0", ""}) {
            assertEquals(OK, c.call("SET", "s", notInteger));
            assertEquals(NOT_INT, c.call("INCR", "s"), notInteger);
        }
        assertEquals(OK, c.call("SET", "t", "5", "EX", "100"));
        assertEquals(integer(6), c.call("INCR", "t"));
        assertEquals(integer(100), c.call("TTL", "t"), "INCR keeps the expiry");
        c.call("RPUSH", "l", "x");
        assertEquals(WRONGTYPE, c.call("INCR", "l"));
    }

    @Test
    void appendStrlenMgetMsetDelExists() throws Exception {
        assertEquals(integer(2), c.call("APPEND", "a", "xy"));
        assertEquals(integer(5), c.call("APPEND", "a", "zzz"));
        assertEquals(bulk("xyzzz"), c.call("GET", "a"));
        assertEquals(integer(5), c.call("STRLEN", "a"));
        assertEquals(integer(0), c.call("STRLEN", "none"));
        assertEquals(OK, c.call("MSET", "k1", "v1", "k2", "v2"));
        assertEquals(err("ERR wrong number of arguments for 'mset' command"), c.call("MSET", "k1", "v1", "k2"));
        c.call("SADD", "set", "m");
        assertEquals(array(bulk("v1"), NIL, bulk("v2"), NIL), c.call("MGET", "k1", "none", "k2", "set"));
        assertEquals(integer(3), c.call("EXISTS", "k1", "k1", "k2", "none"));
        assertEquals(integer(2), c.call("DEL", "k1", "k2", "none"));
        assertEquals(integer(0), c.call("EXISTS", "k1"));
        assertEquals(WRONGTYPE, c.call("APPEND", "set", "x"));
        assertEquals(WRONGTYPE, c.call("STRLEN", "set"));
        assertEquals("+set\r\n", c.call("TYPE", "set"));
        assertEquals("+none\r\n", c.call("TYPE", "none"));
    }

    @Test
    void expiry() throws Exception {
        assertEquals(integer(-2), c.call("TTL", "k"));
        assertEquals(integer(0), c.call("EXPIRE", "k", "10"));
        c.call("SET", "k", "v");
        assertEquals(integer(-1), c.call("PTTL", "k"));
        assertEquals(integer(0), c.call("EXPIRE", "k", "10", "XX"));
        assertEquals(integer(0), c.call("EXPIRE", "k", "10", "GT"), "no expiry counts as infinite");
        assertEquals(integer(1), c.call("EXPIRE", "k", "10", "LT"));
        assertEquals(integer(0), c.call("EXPIRE", "k", "20", "NX"));
        assertEquals(integer(0), c.call("EXPIRE", "k", "5", "GT"));
        assertEquals(integer(1), c.call("EXPIRE", "k", "20", "GT"));
        assertEquals(integer(20), c.call("TTL", "k"));
        assertEquals(integer(1), c.call("PEXPIRE", "k", "30000"));
        assertEquals(integer(30), c.call("TTL", "k"));
        assertEquals(err("ERR NX and XX, GT or LT options at the same time are not compatible"),
                c.call("EXPIRE", "k", "10", "NX", "XX"));
        assertEquals(err("ERR GT and LT options at the same time are not compatible"),
                c.call("EXPIRE", "k", "10", "GT", "LT"));
        assertEquals(err("ERR Unsupported option FOO"), c.call("EXPIRE", "k", "10", "FOO"));
        assertEquals(NOT_INT, c.call("EXPIRE", "k", "x"));
        assertEquals(err("ERR invalid expire time in 'expire' command"),
                c.call("EXPIRE", "k", "9223372036854775807"));
        assertEquals(err("ERR invalid expire time in 'pexpire' command"),
                c.call("PEXPIRE", "k", "9223372036854775807"));
        assertEquals(integer(1), c.call("EXPIRE", "k", "-1"), "a time in the past deletes");
        assertEquals(integer(0), c.call("EXISTS", "k"));
        assertEquals(OK, c.call("SET", "p", "v"));
        assertEquals(integer(1), c.call("EXPIRE", "p", "100"));
        assertEquals(integer(1), c.call("PERSIST", "p"));
        assertEquals(integer(-1), c.call("TTL", "p"));
    }

    @Test
    void expiredKeysVanishLazilyAndPeriodically() throws Exception {
        assertEquals(OK, c.call("SET", "lazy", "v", "PX", "30"));
        for (int i = 0; i < 200; i++) {
            c.call("SET", "periodic:" + i, "v", "PX", "30");
        }
        assertEquals(integer(201), c.call("DBSIZE"));
        Thread.sleep(60);
        assertEquals(NIL, c.call("GET", "lazy"), "an expired key is gone when touched");
        // DBSIZE touches no key: only the periodic cycle can bring it down.
        long deadline = System.nanoTime() + 5_000_000_000L;
        String size = c.call("DBSIZE");
        while (!size.equals(integer(0)) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            size = c.call("DBSIZE");
        }
        assertEquals(integer(0), size);
        assertTrue(c.call("INFO", "stats").contains("expired_keys:201"));
    }

    @Test
    void lists() throws Exception {
        assertEquals(integer(2), c.call("LPUSH", "l", "b", "a"));
        assertEquals(integer(4), c.call("RPUSH", "l", "c", "d"));
        assertEquals(array(bulk("a"), bulk("b"), bulk("c"), bulk("d")), c.call("LRANGE", "l", "0", "-1"));
        assertEquals(array(bulk("c"), bulk("d")), c.call("LRANGE", "l", "-2", "100"));
        assertEquals(array(), c.call("LRANGE", "l", "3", "1"));
        assertEquals(array(), c.call("LRANGE", "none", "0", "-1"));
        assertEquals(NOT_INT, c.call("LRANGE", "l", "a", "b"));
        assertEquals(integer(4), c.call("LLEN", "l"));
        assertEquals(bulk("a"), c.call("LPOP", "l"));
        assertEquals(bulk("d"), c.call("RPOP", "l"));
        assertEquals(array(), c.call("LPOP", "l", "0"));
        assertEquals(array(bulk("b"), bulk("c")), c.call("LPOP", "l", "5"));
        assertEquals(integer(0), c.call("EXISTS", "l"), "an emptied list is deleted");
        assertEquals(NIL, c.call("LPOP", "l"));
        assertEquals("*-1\r\n", c.call("RPOP", "l", "2"));
        assertEquals(err("ERR value is out of range, must be positive"), c.call("LPOP", "l", "-1"));
        assertEquals(err("ERR wrong number of arguments for 'lpop' command"), c.call("LPOP", "l", "1", "2"));
        c.call("SET", "s", "v");
        assertEquals(WRONGTYPE, c.call("LPUSH", "s", "x"));
        assertEquals(WRONGTYPE, c.call("LRANGE", "s", "0", "1"));
        assertEquals(WRONGTYPE, c.call("LLEN", "s"));
    }

    @Test
    void sets() throws Exception {
        assertEquals(integer(2), c.call("SADD", "s", "a", "b", "a"));
        assertEquals(integer(2), c.call("SCARD", "s"));
        assertEquals(integer(1), c.call("SISMEMBER", "s", "a"));
        String members = c.call("SMEMBERS", "s");
        assertTrue(members.equals(array(bulk("a"), bulk("b"))) || members.equals(array(bulk("b"), bulk("a"))));
        assertEquals(integer(1), c.call("SREM", "s", "a", "x"));
        assertEquals(bulk("b"), c.call("SPOP", "s"));
        assertEquals(integer(0), c.call("EXISTS", "s"));
        assertEquals(NIL, c.call("SPOP", "s"));
        assertEquals(array(), c.call("SPOP", "s", "3"));
        c.call("SADD", "t", "x", "y", "z");
        String popped = c.call("SPOP", "t", "2");
        assertTrue(popped.startsWith("*2\r\n"), popped);
        assertEquals(integer(1), c.call("SCARD", "t"));
        assertEquals(err("ERR value is out of range, must be positive"), c.call("SPOP", "t", "-1"));
        assertEquals(array(), c.call("SMEMBERS", "none"));
        c.call("SET", "str", "v");
        assertEquals(WRONGTYPE, c.call("SADD", "str", "x"));
        assertEquals(WRONGTYPE, c.call("SMEMBERS", "str"));
    }

    @Test
    void hashes() throws Exception {
        assertEquals(integer(2), c.call("HSET", "h", "a", "1", "b", "2", "a", "3"));
        assertEquals(bulk("3"), c.call("HGET", "h", "a"));
        assertEquals(NIL, c.call("HGET", "h", "zz"));
        assertEquals(integer(2), c.call("HLEN", "h"));
        assertEquals(err("ERR wrong number of arguments for 'hset' command"), c.call("HSET", "h", "f", "v", "g"));
        assertEquals(OK, c.call("HMSET", "h", "c", "4"));
        assertEquals(integer(2), c.call("HDEL", "h", "a", "zz", "c"));
        assertEquals(array(bulk("b"), bulk("2")), c.call("HGETALL", "h"));
        assertEquals(integer(1), c.call("HDEL", "h", "b"));
        assertEquals(integer(0), c.call("EXISTS", "h"));
        assertEquals(array(), c.call("HGETALL", "h"));
        c.call("SET", "str", "v");
        assertEquals(WRONGTYPE, c.call("HSET", "str", "f", "v"));
        assertEquals(WRONGTYPE, c.call("HGETALL", "str"));
    }

    @Test
    void sortedSets() throws Exception {
        assertEquals(integer(3), c.call("ZADD", "z", "1.5", "a", "2", "b", "0.1", "c"));
        assertEquals(array(bulk("c"), bulk("0.10000000000000001"), bulk("a"), bulk("1.5"), bulk("b"), bulk("2")),
                c.call("ZRANGE", "z", "0", "-1", "WITHSCORES"));
        assertEquals(array(bulk("b"), bulk("a")), c.call("ZRANGE", "z", "0", "1", "REV"));
        assertEquals(array(bulk("a"), bulk("1.5"), bulk("b"), bulk("2")),
                c.call("ZRANGE", "z", "(1", "+inf", "BYSCORE", "WITHSCORES"));
        assertEquals(array(bulk("a")), c.call("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "1"));
        assertEquals(array(bulk("b"), bulk("a")), c.call("ZRANGE", "z", "+inf", "1", "BYSCORE", "REV"));
        assertEquals(err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"),
                c.call("ZRANGE", "z", "0", "1", "LIMIT", "0", "1"));
        assertEquals(err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
                c.call("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"));
        assertEquals(err("ERR min or max is not a float"), c.call("ZRANGE", "z", "x", "2", "BYSCORE"));
        assertEquals(err("ERR min or max not valid string range item"), c.call("ZRANGE", "z", "a", "b", "BYLEX"));
        assertEquals(NOT_INT, c.call("ZRANGE", "z", "a", "2"));
        assertEquals(err("ERR syntax error"), c.call("ZRANGE", "z", "0", "1", "FOO"));
        assertEquals(integer(0), c.call("ZADD", "z", "5", "a"));
        assertEquals(integer(1), c.call("ZADD", "z", "CH", "6", "a"));
        assertEquals(integer(0), c.call("ZADD", "z", "XX", "1", "new"));
        assertEquals(integer(0), c.call("ZADD", "z", "NX", "1", "a"));
        assertEquals(bulk("7"), c.call("ZADD", "z", "INCR", "1", "a"));
        assertEquals(NIL, c.call("ZADD", "z", "NX", "INCR", "1", "a"));
        assertEquals(integer(0), c.call("ZADD", "z", "GT", "1", "a"));
        assertEquals(bulk("7"), c.call("ZSCORE", "z", "a"));
        assertEquals(err("ERR XX and NX options at the same time are not compatible"),
                c.call("ZADD", "z", "NX", "XX", "1", "m"));
        assertEquals(err("ERR GT, LT, and/or NX options at the same time are not compatible"),
                c.call("ZADD", "z", "GT", "NX", "1", "m"));
        assertEquals(err("ERR INCR option supports a single increment-element pair"),
                c.call("ZADD", "z", "INCR", "1", "a", "2", "b"));
        assertEquals(err("ERR value is not a valid float"), c.call("ZADD", "z", "nan", "m"));
        assertEquals(err("ERR syntax error"), c.call("ZADD", "z", "1", "a", "2"));
        assertEquals(err("ERR wrong number of arguments for 'zadd' command"), c.call("ZADD", "z", "1"));
        assertEquals(integer(2), c.call("ZADD", "inf", "inf", "i", "-inf", "j"));
        assertEquals(array(bulk("j"), bulk("-inf"), bulk("i"), bulk("inf")), c.call("ZRANGE", "inf", "0", "-1", "WITHSCORES"));
        assertEquals(err("ERR resulting score is not a number (NaN)"), c.call("ZADD", "inf", "INCR", "-inf", "i"));
        assertEquals(array(bulk("c"), bulk("0.10000000000000001")), c.call("ZPOPMIN", "z"));
        assertEquals(array(bulk("b"), bulk("2"), bulk("a"), bulk("7")), c.call("ZPOPMIN", "z", "5"));
        assertEquals(integer(0), c.call("EXISTS", "z"));
        assertEquals(array(), c.call("ZPOPMIN", "z"));
        assertEquals(err("ERR value is out of range, must be positive"), c.call("ZPOPMIN", "z", "-1"));
        c.call("SET", "str", "v");
        assertEquals(WRONGTYPE, c.call("ZADD", "str", "1", "m"));
        assertEquals(WRONGTYPE, c.call("ZRANGE", "str", "0", "1"));
    }

    @Test
    void serverCommands() throws Exception {
        c.call("SET", "a", "1");
        assertEquals(integer(1), c.call("DBSIZE"));
        assertEquals(err("ERR wrong number of arguments for 'dbsize' command"), c.call("DBSIZE", "x"));
        assertEquals(OK, c.call("SELECT", "1"));
        assertEquals(integer(0), c.call("DBSIZE"));
        assertEquals(NIL, c.call("GET", "a"));
        c.call("SET", "b", "2");
        assertEquals(err("ERR DB index is out of range"), c.call("SELECT", "16"));
        assertEquals(NOT_INT, c.call("SELECT", "a"));
        assertEquals(OK, c.call("SELECT", "0"));
        assertEquals(bulk("1"), c.call("GET", "a"));
        assertEquals(err("ERR syntax error"), c.call("FLUSHALL", "x"));
        assertEquals(OK, c.call("FLUSHALL"));
        assertEquals(integer(0), c.call("DBSIZE"));
        assertEquals(OK, c.call("SELECT", "1"));
        assertEquals(integer(0), c.call("DBSIZE"), "FLUSHALL empties every database");
        String info = c.call("INFO");
        for (String section : new String[] {"# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Keyspace"}) {
            assertTrue(info.contains(section + "\r\n"), section);
        }
        assertTrue(info.contains("redis_version:7.0.15\r\n"));
        assertTrue(info.contains("tcp_port:" + server.port() + "\r\n"));
        assertEquals("$0\r\n\r\n", c.call("INFO", "nosuchsection"));
        assertEquals(array(bulk("appendonly"), bulk("no")), c.call("CONFIG", "GET", "appendonly"));
        assertEquals(array(bulk("appendfsync"), bulk("everysec")), c.call("CONFIG", "GET", "appendf*c"));
        assertEquals(OK, c.call("CONFIG", "SET", "appendfsync", "always"));
        assertEquals(array(bulk("appendfsync"), bulk("always")), c.call("CONFIG", "GET", "appendfsync"));
        assertEquals(err("ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be"
                + " one of the following: everysec, always, no"), c.call("CONFIG", "SET", "appendfsync", "foo"));
        assertEquals(err("ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be"
                + " 'yes' or 'no'"), c.call("CONFIG", "SET", "appendonly", "maybe"));
        assertEquals(err("ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable"
                + " config"), c.call("CONFIG", "SET", "databases", "1"));
        assertEquals(err("ERR CONFIG SET failed (possibly related to argument 'appendfsync') - duplicate parameter"),
                c.call("CONFIG", "SET", "appendfsync", "no", "appendfsync", "no"));
        assertEquals(err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
                c.call("CONFIG", "SET", "foo", "1"));
        assertEquals(err("ERR wrong number of arguments for 'config|get' command"), c.call("CONFIG", "GET"));
        assertEquals(err("ERR wrong number of arguments for 'config|set' command"), c.call("CONFIG", "SET", "a"));
        assertEquals(err("ERR unknown subcommand 'foo'. Try CONFIG HELP."), c.call("CONFIG", "foo"));
        assertEquals(err("ERR wrong number of arguments for 'config' command"), c.call("CONFIG"));
        assertEquals(array(bulk("save"), bulk("")), c.call("CONFIG", "GET", "save"));
        assertEquals(err("ERR unknown subcommand 'foo'. Try COMMAND HELP."), c.call("COMMAND", "foo"));
        assertTrue(c.call("COMMAND", "COUNT").matches(":\\d+\r\n"));
        assertTrue(c.call("COMMAND", "DOCS", "get").startsWith("*2\r\n$3\r\nget\r\n*6\r\n"));
        assertTrue(c.call("COMMAND", "INFO", "get").startsWith("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n"));
        assertEquals(OK, c.call("QUIT"));
        assertTrue(c.closedByPeer(), "QUIT closes the connection after its reply");
    }

    @Test
    void keysMatchesGlobs() throws Exception {
        c.call("MSET", "user:1", "a", "user:2", "b", "other", "c");
        String reply = c.call("KEYS", "user:[0-9]");
        assertTrue(reply.startsWith("*2\r\n") && reply.contains("user:1") && reply.contains("user:2"), reply);
        assertEquals(array(bulk("other")), c.call("KEYS", "o*"));
    }
}

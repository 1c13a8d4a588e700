package io.arrakis.samples.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real Redis clients (Debian's redis-tools, installed by ./dev) against our server. */
class RedisToolsTest {
    @TempDir
    Path work;

    static Path tool(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
                return Path.of(dir, name);
            }
        }
        return null;
    }

    /** Runs a tool with output to a file (so a stuck tool cannot block a read); bounded in time. */
    private String run(int seconds, String... command) throws Exception {
        Path output = work.resolve("output-" + System.nanoTime() + ".txt");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            assertTrue(process.waitFor(seconds, TimeUnit.SECONDS), command[0] + " did not finish in " + seconds + " s");
            String text = Files.readString(output, StandardCharsets.ISO_8859_1);
            assertEquals(0, process.exitValue(), command[0] + " failed:\n" + text);
            return text;
        } finally {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void redisBenchmarkRunsEveryTestWithoutErrors() throws Exception {
        Path benchmark = tool("redis-benchmark");
        assertNotNull(benchmark, "redis-benchmark is not installed: ./dev installs it (apt-get install redis-tools)");
        try (RedisServer server = RedisServer.start(new RedisConfig().port(0))) {
            String output = run(120, benchmark.toString(), "-h", "127.0.0.1", "-p", Integer.toString(server.port()),
                    "-t", "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange,mset", "-q",
                    "-n", "2000", "-c", "10", "-r", "1000");
            // redis-benchmark 7 stops with a non-zero exit at the first error reply (checked by run).
            // -q prints one "NAME: N requests per second" per test (progress lines end in \r)
            List<String> finished = new ArrayList<>();
            for (String line : output.split("[\r\n]+")) {
                if (line.contains("requests per second") && !line.contains("rps=")) {
                    finished.add(line.substring(0, line.indexOf(':')).trim());
                }
            }
            for (String test : new String[] {"SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET",
                    "SPOP", "ZADD", "LRANGE_100 (first 100 elements)", "LRANGE_600 (first 600 elements)", "MSET (10 keys)"}) {
                assertTrue(finished.contains(test), test + " did not finish:\n" + output);
            }
            assertFalse(output.contains("Error from server"), output);
            assertFalse(output.contains("Could not fetch server CONFIG"), output);
            try (RespConnection c = new RespConnection(server.port())) {
                String info = c.call("INFO", "stats");
                long processed = Long.parseLong(info.replaceAll("(?s).*total_commands_processed:(\\d+).*", "$1"));
                assertTrue(processed >= 16 * 2000, "the server saw the requests: " + processed);
                assertEquals("+hash\r\n", c.call("TYPE", "myhash"));
                assertEquals("+zset\r\n", c.call("TYPE", "myzset"));
            }
        }
    }

    @Test
    void redisCliSeesRedisReplies() throws Exception {
        Path cli = tool("redis-cli");
        assertNotNull(cli, "redis-cli is not installed: ./dev installs it (apt-get install redis-tools)");
        try (RedisServer server = RedisServer.start(new RedisConfig().port(0))) {
            String port = Integer.toString(server.port());
            String c = cli.toString();
            assertEquals("OK\n", run(20, c, "-p", port, "SET", "greeting", "hello world"));
            assertEquals("\"hello world\"\n", run(20, c, "-p", port, "--no-raw", "GET", "greeting"));
            assertEquals("(integer) 2\n", run(20, c, "-p", port, "--no-raw", "ZADD", "z", "1.5", "a", "0.25", "b"));
            assertEquals("1) \"b\"\n2) \"0.25\"\n3) \"a\"\n4) \"1.5\"\n",
                    run(20, c, "-p", port, "--no-raw", "ZRANGE", "z", "0", "-1", "WITHSCORES"));
            assertEquals("(error) ERR unknown command 'nosuch', with args beginning with: 'x' \n",
                    run(20, c, "-p", port, "--no-raw", "nosuch", "x"));
            assertEquals("(error) WRONGTYPE Operation against a key holding the wrong kind of value\n",
                    run(20, c, "-p", port, "--no-raw", "LPUSH", "greeting", "x"));
            assertTrue(run(20, c, "-p", port, "INFO", "server").contains("redis_version:7.0.15"));
        }
    }
}

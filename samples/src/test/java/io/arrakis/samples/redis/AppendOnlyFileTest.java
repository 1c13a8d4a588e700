package io.arrakis.samples.redis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Persistence: the append-only file is written, replayed, and survives a crash mid-write. */
class AppendOnlyFileTest {
    @TempDir
    Path dir;

    private RedisServer start(String fsync) throws IOException {
        return RedisServer.start(new RedisConfig().port(0).appendOnly(true).appendFsync(fsync).dir(dir));
    }

    private Path file() {
        return dir.resolve(AppendOnlyFile.FILE_NAME);
    }

    @ParameterizedTest
    @ValueSource(strings = {"always", "everysec", "no"})
    void replaysEveryKindOfWriteAfterARestart(String fsync) throws Exception {
        try (RedisServer server = start(fsync); RespConnection c = new RespConnection(server.port())) {
            c.call("SET", "s", "v");
            c.call("SET", "volatile", "v", "EX", "1000");
            c.call("SET", "gone", "v", "PX", "1");
            c.call("INCRBY", "n", "41");
            c.call("INCR", "n");
            c.call("APPEND", "s", "w");
            c.call("RPUSH", "l", "a", "b", "c");
            c.call("LPOP", "l");
            c.call("SADD", "set", "x", "y", "z");
            c.call("SPOP", "set"); // random: must be logged as what it removed
            c.call("HSET", "h", "f", "1", "g", "2");
            c.call("HDEL", "h", "g");
            c.call("ZADD", "z", "1.5", "a", "2", "b", "0.1", "c");
            c.call("ZPOPMIN", "z");
            c.call("MSET", "m1", "1", "m2", "2");
            c.call("DEL", "m2");
            c.call("EXPIRE", "m1", "500");
            c.call("SELECT", "3");
            c.call("SET", "in3", "three");
            c.call("SELECT", "0");
            Thread.sleep(5);
            assertEquals("$-1\r\n", c.call("GET", "gone"));
            String snapshot = dump(c);
            c.call("SELECT", "3");
            String snapshot3 = dump(c);
            c.close();
            server.close();
            try (RedisServer again = start(fsync); RespConnection d = new RespConnection(again.port())) {
                assertEquals(snapshot, dump(d));
                d.call("SELECT", "3");
                assertEquals(snapshot3, dump(d));
            }
        }
    }

    /** Every key of the current database with its type, value and whether it has an expiry. */
    private static String dump(RespConnection c) throws IOException {
        String keys = c.call("KEYS", "*");
        List<String> names = new ArrayList<>();
        String[] lines = keys.split("\r\n");
        for (int i = 2; i < lines.length; i += 2) {
            names.add(lines[i]);
        }
        names.sort(null);
        StringBuilder out = new StringBuilder();
        for (String key : names) {
            String type = c.call("TYPE", key);
            out.append(key).append(' ').append(type);
            out.append(switch (type) {
                case "+string\r\n" -> c.call("GET", key);
                case "+list\r\n" -> c.call("LRANGE", key, "0", "-1");
                case "+set\r\n" -> sortedLines(c.call("SMEMBERS", key));
                case "+hash\r\n" -> sortedLines(c.call("HGETALL", key));
                case "+zset\r\n" -> c.call("ZRANGE", key, "0", "-1", "WITHSCORES");
                default -> "?";
            });
            out.append(c.call("TTL", key).equals(":-1\r\n") ? " persistent\n" : " volatile\n");
        }
        return out.toString();
    }

    private static String sortedLines(String reply) {
        String[] lines = reply.split("\r\n");
        Arrays.sort(lines);
        return String.join(",", lines);
    }

    @Test
    void cutsOffALastCommandTruncatedAtAnyByte() throws Exception {
        try (RedisServer server = start("always"); RespConnection c = new RespConnection(server.port())) {
            c.call("SET", "first", "1");
            c.call("RPUSH", "list", "a", "b");
            c.call("SET", "last", "value");
        }
        byte[] whole = Files.readAllBytes(file());
        byte[] last = RespConnection.encode("SET", "last", "value");
        int lastStart = whole.length - last.length;
        assertArrayEquals(last, Arrays.copyOfRange(whole, lastStart, whole.length), "the file ends with the last SET");
        for (int cut = lastStart; cut <= whole.length; cut++) {
            Files.write(file(), Arrays.copyOf(whole, cut));
            try (RedisServer server = start("always"); RespConnection c = new RespConnection(server.port())) {
                assertEquals("$1\r\n1\r\n", c.call("GET", "first"), "cut at " + cut);
                assertEquals("*2\r\n$1\r\na\r\n$1\r\nb\r\n", c.call("LRANGE", "list", "0", "-1"), "cut at " + cut);
                boolean complete = cut == whole.length;
                assertEquals(complete ? "$5\r\nvalue\r\n" : "$-1\r\n", c.call("GET", "last"), "cut at " + cut);
                assertEquals(complete ? whole.length : lastStart, Files.size(file()),
                        "the partial command is removed from the file (cut at " + cut + ")");
                c.call("SET", "after", Integer.toString(cut));
            }
            try (RedisServer server = start("always"); RespConnection c = new RespConnection(server.port())) {
                String value = Integer.toString(cut);
                assertEquals("$" + value.length() + "\r\n" + value + "\r\n", c.call("GET", "after"),
                        "a write after the repair replays too (cut at " + cut + ")");
            }
        }
    }

    @Test
    void refusesToStartOnAFileDamagedInTheMiddle() throws Exception {
        try (RedisServer server = start("always"); RespConnection c = new RespConnection(server.port())) {
            c.call("SET", "a", "1");
            c.call("SET", "b", "2");
        }
        byte[] whole = Files.readAllBytes(file());
        byte[] damaged = whole.clone();
        damaged[RespConnection.encode("SELECT", "0").length] = 'X'; // the '*' of the first SET
        Files.write(file(), damaged);
        IOException e = assertThrows(IOException.class, () -> start("always"));
        assertTrue(e.getMessage().contains("bad format at byte") && e.getMessage().contains("move it aside"),
                e.getMessage());
        assertArrayEquals(damaged, Files.readAllBytes(file()), "a damaged file is left as it was");
    }

    @Test
    void switchingAppendOnlyOnWritesTheDatasetFirst() throws Exception {
        try (RedisServer server = RedisServer.start(new RedisConfig().port(0).dir(dir));
                RespConnection c = new RespConnection(server.port())) {
            c.call("SET", "before", "1");
            c.call("ZADD", "z", "2.5", "m");
            c.call("SET", "ttl", "x", "EX", "1000");
            assertEquals("+OK\r\n", c.call("CONFIG", "SET", "appendonly", "yes"));
            assertEquals("*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n", c.call("CONFIG", "GET", "appendonly"));
            c.call("SET", "after", "2");
        }
        try (RedisServer server = start("everysec"); RespConnection c = new RespConnection(server.port())) {
            assertEquals("$1\r\n1\r\n", c.call("GET", "before"));
            assertEquals("$3\r\n2.5\r\n", c.call("ZSCORE", "z", "m"));
            assertTrue(c.call("TTL", "ttl").matches(":(999|1000)\r\n"));
            assertEquals("$1\r\n2\r\n", c.call("GET", "after"));
        }
    }

    @Test
    void everyAcknowledgedWriteSurvivesSigkillWithFsyncAlways() throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process process = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                RedisServer.class.getName(), "--port", "0", "--appendonly", "yes", "--appendfsync", "always",
                "--dir", dir.toString()).redirectErrorStream(true).start();
        int acknowledged = 0;
        try {
            BufferedReader log = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            int port = -1;
            for (String line; port < 0 && (line = log.readLine()) != null; ) {
                Matcher ready = Pattern.compile("ready on [^:]+:(\\d+)").matcher(line);
                if (ready.find()) {
                    port = Integer.parseInt(ready.group(1));
                }
            }
            assertTrue(port > 0, "the server process did not say it was ready");
            try (RespConnection c = new RespConnection(port)) {
                // Keep a window of unacknowledged writes in flight so the kill lands mid-stream.
                int sent = 0;
                for (; sent < 8; sent++) {
                    c.send(RespConnection.encode("SET", "k" + sent, "v" + sent));
                }
                while (acknowledged < 300) {
                    assertEquals("+OK\r\n", c.readReply());
                    acknowledged++;
                    c.send(RespConnection.encode("SET", "k" + sent, "v" + sent));
                    sent++;
                }
                process.destroyForcibly(); // SIGKILL: no shutdown hook, no final flush
                assertTrue(process.waitFor(10, TimeUnit.SECONDS));
            }
        } finally {
            process.destroyForcibly();
        }
        try (RedisServer server = start("always"); RespConnection c = new RespConnection(server.port())) {
            for (int i = 0; i < acknowledged; i++) {
                assertEquals("$" + ("v" + i).length() + "\r\nv" + i + "\r\n", c.call("GET", "k" + i), "key k" + i);
            }
        }
    }
}

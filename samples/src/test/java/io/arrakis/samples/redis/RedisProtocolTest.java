package io.arrakis.samples.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
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

/** The wire: pipelining, inline commands, partial reads, protocol errors, many clients, garbage. */
class RedisProtocolTest {
    private RedisServer server;

    @BeforeEach
    void start() throws Exception {
        server = RedisServer.start(new RedisConfig().port(0));
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void answersAPipelineInOrder() throws Exception {
        try (RespConnection c = new RespConnection(server.port())) {
            ByteArrayOutputStream pipeline = new ByteArrayOutputStream();
            for (int i = 0; i < 2000; i++) {
                pipeline.write(RespConnection.encode("SET", "k" + i, "v" + i));
                pipeline.write(RespConnection.encode("GET", "k" + i));
                pipeline.write(RespConnection.encode("INCR", "counter"));
            }
            c.send(pipeline.toByteArray());
            for (int i = 0; i < 2000; i++) {
                assertEquals("+OK\r\n", c.readReply());
                String value = "v" + i;
                assertEquals("$" + value.length() + "\r\n" + value + "\r\n", c.readReply());
                assertEquals(":" + (i + 1) + "\r\n", c.readReply());
            }
        }
    }

    @Test
    void acceptsInlineCommandsWithQuotes() throws Exception {
        try (RespConnection c = new RespConnection(server.port())) {
            c.send("SET \"a b\" \"c\\x41\\n\"\r\nGET 'a b'\r\n\r\n   \r\nPING\nECHO ''\r\n");
            assertEquals("+OK\r\n", c.readReply());
            assertEquals("$3\r\ncA\n\r\n", c.readReply());
            assertEquals("+PONG\r\n", c.readReply(), "blank lines are skipped, a bare LF ends a line");
            assertEquals("$0\r\n\r\n", c.readReply());
        }
    }

    @Test
    void handlesCommandsArrivingOneByteAtATime() throws Exception {
        byte[] stream = (new String(RespConnection.encode("SET", "split", "value"), StandardCharsets.ISO_8859_1)
                + "GET split\r\n").getBytes(StandardCharsets.ISO_8859_1);
        try (RespConnection c = new RespConnection(server.port())) {
            for (byte b : stream) {
                c.send(new byte[] {b});
                Thread.sleep(1); // give the server a read of each byte on its own
            }
            assertEquals("+OK\r\n", c.readReply());
            assertEquals("$5\r\nvalue\r\n", c.readReply());
        }
    }

    @Test
    void answersProtocolErrorsThenCloses() throws Exception {
        String[][] cases = {
            {"*1\r\n$4\r\nPING\r\n*x\r\n", "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"},
            {"*2\r\n:3\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
            {"*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
            {"SET \"a\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
        };
        for (String[] c : cases) {
            try (RespConnection conn = new RespConnection(server.port())) {
                conn.send(c[0]);
                StringBuilder replies = new StringBuilder();
                while (replies.length() < c[1].length()) {
                    replies.append(conn.readReply());
                }
                assertEquals(c[1], replies.toString());
                assertTrue(conn.closedByPeer(), "closed after: " + c[0]);
            }
        }
        try (RespConnection conn = new RespConnection(server.port())) {
            assertEquals("+PONG\r\n", conn.call("PING"), "the server goes on");
        }
    }

    @Test
    void servesManyClientsAtOnce() throws Exception {
        int clients = 50;
        int rounds = 200;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < clients; t++) {
                int id = t;
                done.add(pool.submit(() -> {
                    try (RespConnection c = new RespConnection(server.port())) {
                        for (int i = 0; i < rounds; i++) {
                            String value = id + ":" + i;
                            assertEquals("+OK\r\n", c.call("SET", "own:" + id, value));
                            assertEquals("$" + value.length() + "\r\n" + value + "\r\n", c.call("GET", "own:" + id));
                            assertTrue(c.call("INCR", "shared").startsWith(":"));
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
        try (RespConnection c = new RespConnection(server.port())) {
            assertEquals("$5\r\n10000\r\n", c.call("GET", "shared"));
            assertEquals(":51\r\n", c.call("DBSIZE"));
        }
    }

    @Test
    void survivesGarbage() throws Exception {
        SplittableRandom random = new SplittableRandom(42);
        byte[][] prefixes = {"*".getBytes(), "$".getBytes(), "*3\r\n$".getBytes(), "SET \"".getBytes(), new byte[0]};
        for (int round = 0; round < 60; round++) {
            try (RespConnection c = new RespConnection(server.port())) {
                c.timeout(200);
                byte[] garbage = new byte[random.nextInt(1, 3000)];
                random.nextBytes(garbage);
                c.send(prefixes[round % prefixes.length]);
                c.send(garbage);
                c.closedByPeer(); // whatever it answers, if anything
            }
        }
        try (RespConnection c = new RespConnection(server.port())) {
            assertEquals("+PONG\r\n", c.call("PING"));
        }
    }
}

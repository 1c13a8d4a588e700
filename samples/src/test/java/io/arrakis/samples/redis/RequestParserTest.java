package io.arrakis.samples.redis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RequestParserTest {
    private static final String STREAM = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"
            + "GET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n"
            + "*0\r\n"
            + "\r\n"
            + "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
            + "PING\n";

    private static List<String> expected() {
        return List.of("SET|key|va\r\nl", "GET|a b|c'd|A\n", "", "ECHO|", "PING");
    }

    private static String join(byte[][] args) {
        List<String> parts = new ArrayList<>();
        for (byte[] arg : args) {
            parts.add(new String(arg, StandardCharsets.ISO_8859_1));
        }
        return String.join("|", parts);
    }

    private static void drain(RequestParser parser, List<String> into) throws Exception {
        byte[][] args;
        while ((args = parser.next()) != null) {
            if (args.length > 0) {
                into.add(join(args));
            } else {
                into.add("");
            }
        }
    }

    @Test
    void parsesTheSameRequestsWhateverByteTheInputIsSplitAt() throws Exception {
        byte[] stream = STREAM.getBytes(StandardCharsets.ISO_8859_1);
        for (int split = 0; split <= stream.length; split++) {
            RequestParser parser = new RequestParser(16);
            List<String> parsed = new ArrayList<>();
            parser.feed(stream, 0, split);
            drain(parser, parsed);
            parser.feed(stream, split, stream.length - split);
            drain(parser, parsed);
            // Empty lines and *0 are empty requests, as in Redis; keep only the real ones and *0.
            parsed.removeIf(s -> s.isEmpty());
            List<String> wanted = new ArrayList<>(expected());
            wanted.removeIf(String::isEmpty);
            assertEquals(wanted, parsed, "split at byte " + split);
        }
    }

    @Test
    void parsesTheSameRequestsFedOneByteAtATime() throws Exception {
        byte[] stream = STREAM.getBytes(StandardCharsets.ISO_8859_1);
        RequestParser parser = new RequestParser(4);
        List<String> parsed = new ArrayList<>();
        for (int i = 0; i < stream.length; i++) {
            parser.feed(stream, i, 1);
            drain(parser, parsed);
        }
        parsed.removeIf(String::isEmpty);
        List<String> wanted = new ArrayList<>(expected());
        wanted.removeIf(String::isEmpty);
        assertEquals(wanted, parsed);
    }

    private static String errorFor(String input) {
        RequestParser parser = new RequestParser(64);
        byte[] bytes = input.getBytes(StandardCharsets.ISO_8859_1);
        parser.feed(bytes, 0, bytes.length);
        return assertThrows(RequestParser.ProtocolError.class, () -> {
            while (parser.next() != null) {
                // keep going until the error
            }
        }).getMessage();
    }

    @Test
    void reportsProtocolErrorsWithRedisWording() {
        assertEquals("Protocol error: invalid multibulk length", errorFor("*x\r\n"));
        assertEquals("Protocol error: invalid multibulk length", errorFor("*01\r\n"));
        assertEquals("Protocol error: invalid multibulk length", errorFor("*99999999999\r\n"));
        assertEquals("Protocol error: expected '$', got ':'", errorFor("*2\r\n:3\r\n"));
        assertEquals("Protocol error: invalid bulk length", errorFor("*1\r\n$-5\r\n"));
        assertEquals("Protocol error: invalid bulk length", errorFor("*1\r\n$536870913\r\n"));
        assertEquals("Protocol error: unbalanced quotes in request", errorFor("SET \"a\r\n"));
        assertEquals("Protocol error: unbalanced quotes in request", errorFor("SET \"a\"b x\r\n"));
        assertEquals("Protocol error: too big inline request", errorFor("x".repeat(70_000)));
        assertEquals("Protocol error: too big mbulk count string", errorFor("*" + "1".repeat(70_000)));
        assertEquals("Protocol error: too big bulk count string", errorFor("*1\r\n$" + "1".repeat(70_000)));
    }

    @Test
    void waitsForTheWholeBulkArgument() throws Exception {
        RequestParser parser = new RequestParser(8);
        byte[] head = "*1\r\n$100000\r\n".getBytes(StandardCharsets.ISO_8859_1);
        parser.feed(head, 0, head.length);
        assertNull(parser.next());
        byte[] body = new byte[100_002];
        body[100_000] = '\r';
        body[100_001] = '\n';
        parser.feed(body, 0, 50_000);
        assertNull(parser.next());
        parser.feed(body, 50_000, 50_002);
        byte[][] args = parser.next();
        assertEquals(1, args.length);
        assertArrayEquals(new byte[100_000], args[0]);
    }
}

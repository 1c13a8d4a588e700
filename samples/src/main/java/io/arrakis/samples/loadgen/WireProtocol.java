package io.arrakis.samples.loadgen;

import java.nio.charset.StandardCharsets;

/**
 * Encodes GET and SET requests for one protocol, finds where a reply ends in a stream of bytes,
 * and judges a complete reply against what was asked. Stateless apart from the key space.
 */
abstract class WireProtocol {
    /** What a reply turned out to be. */
    enum Outcome { STORED, HIT, MISS, ERROR }

    /** The reply stream cannot be parsed any further: the connection is unusable. */
    static final class Violation extends Exception {
        Violation(String message) {
            super(message, null, false, false);
        }
    }

    final KeySpace keySpace;

    WireProtocol(KeySpace keySpace) {
        this.keySpace = keySpace;
    }

    static WireProtocol of(LoadConfig.Protocol protocol, KeySpace keys) {
        return protocol == LoadConfig.Protocol.RESP ? new Resp(keys) : new MemcacheText(keys);
    }

    /** Upper bound of a request's encoded size. */
    int maxRequestSize() {
        return 96 + keySpace.keyLength() + keySpace.valueSize;
    }

    abstract int encodeGet(byte[] out, int offset, int key);

    abstract int encodeSet(byte[] out, int offset, int key);

    /** The end of the first complete reply in [from, to), or -1 when it has not all arrived. */
    abstract int replyEnd(byte[] in, int from, int to) throws Violation;

    abstract Outcome judge(byte[] in, int from, int end, boolean set, int key);

    static int ascii(byte[] out, int offset, String text) {
        for (int i = 0; i < text.length(); i++) {
            out[offset + i] = (byte) text.charAt(i);
        }
        return offset + text.length();
    }

    static int decimal(byte[] out, int offset, long value) {
        return ascii(out, offset, Long.toString(value));
    }

    static int lineEnd(byte[] in, int from, int to) throws Violation {
        for (int i = from; i + 1 < to; i++) {
            if (in[i] == '\r' && in[i + 1] == '\n') {
                return i;
            }
        }
        if (to - from > 64 * 1024) {
            throw new Violation("a reply line of more than 64 KiB without CRLF");
        }
        return -1;
    }

    static long parseDecimal(byte[] in, int from, int to) throws Violation {
        if (from >= to || to - from > 19) {
            throw new Violation("bad length field '" + new String(in, from, to - from, StandardCharsets.ISO_8859_1) + "'");
        }
        boolean negative = in[from] == '-';
        long value = 0;
        for (int i = negative ? from + 1 : from; i < to; i++) {
            if (in[i] < '0' || in[i] > '9') {
                throw new Violation("bad number '" + new String(in, from, to - from, StandardCharsets.ISO_8859_1) + "'");
            }
            value = value * 10 + (in[i] - '0');
        }
        return negative ? -value : value;
    }

    static boolean equalsAscii(byte[] in, int from, int to, String text) {
        if (to - from != text.length()) {
            return false;
        }
        for (int i = 0; i < text.length(); i++) {
            if (in[from + i] != text.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** RESP2: GET is {@code *2 $3 GET $n key}, a hit is a bulk string, a miss {@code $-1}. */
    static final class Resp extends WireProtocol {
        Resp(KeySpace keys) {
            super(keys);
        }

        @Override
        int encodeGet(byte[] out, int p, int key) {
            p = ascii(out, p, "*2\r\n$3\r\nGET\r\n$");
            p = decimal(out, p, keySpace.keyLength());
            p = ascii(out, p, "\r\n");
            p = keySpace.writeKey(out, p, key);
            return ascii(out, p, "\r\n");
        }

        @Override
        int encodeSet(byte[] out, int p, int key) {
            p = ascii(out, p, "*3\r\n$3\r\nSET\r\n$");
            p = decimal(out, p, keySpace.keyLength());
            p = ascii(out, p, "\r\n");
            p = keySpace.writeKey(out, p, key);
            p = ascii(out, p, "\r\n$");
            p = decimal(out, p, keySpace.valueSize);
            p = ascii(out, p, "\r\n");
            p = keySpace.writeValue(out, p, key);
            return ascii(out, p, "\r\n");
        }

        @Override
        int replyEnd(byte[] in, int from, int to) throws Violation {
            return valueEnd(in, from, to, 0);
        }

        private int valueEnd(byte[] in, int p, int to, int depth) throws Violation {
            if (p >= to) {
                return -1;
            }
            if (depth > 32) {
                throw new Violation("RESP arrays nested deeper than 32");
            }
            int line = lineEnd(in, p, to);
            if (line < 0) {
                return -1;
            }
            switch (in[p]) {
                case '+', '-', ':' -> {
                    return line + 2;
                }
                case '$' -> {
                    long n = parseDecimal(in, p + 1, line);
                    if (n < 0) {
                        return line + 2;
                    }
                    long end = line + 2 + n + 2;
                    if (end > to) {
                        return -1;
                    }
                    if (in[(int) end - 2] != '\r' || in[(int) end - 1] != '\n') {
                        throw new Violation("bulk string of " + n + " bytes not followed by CRLF");
                    }
                    return (int) end;
                }
                case '*' -> {
                    long n = parseDecimal(in, p + 1, line);
                    int q = line + 2;
                    for (long i = 0; i < n; i++) {
                        q = valueEnd(in, q, to, depth + 1);
                        if (q < 0) {
                            return -1;
                        }
                    }
                    return q;
                }
                default -> throw new Violation("a reply starting with byte " + (in[p] & 0xff) + " is not RESP");
            }
        }

        @Override
        Outcome judge(byte[] in, int from, int end, boolean set, int key) {
            if (set) {
                return equalsAscii(in, from, end, "+OK\r\n") ? Outcome.STORED : Outcome.ERROR;
            }
            if (equalsAscii(in, from, end, "$-1\r\n")) {
                return Outcome.MISS;
            }
            if (in[from] != '$') {
                return Outcome.ERROR;
            }
            int line;
            long length;
            try {
                line = lineEnd(in, from, end);
                length = parseDecimal(in, from + 1, line);
            } catch (Violation e) {
                return Outcome.ERROR;
            }
            return keySpace.valueMatches(in, line + 2, length, key) ? Outcome.HIT : Outcome.ERROR;
        }
    }

    /** memcached text: {@code get key}, a hit is {@code VALUE key flags n} + data + {@code END}. */
    static final class MemcacheText extends WireProtocol {
        MemcacheText(KeySpace keys) {
            super(keys);
        }

        @Override
        int encodeGet(byte[] out, int p, int key) {
            p = ascii(out, p, "get ");
            p = keySpace.writeKey(out, p, key);
            return ascii(out, p, "\r\n");
        }

        @Override
        int encodeSet(byte[] out, int p, int key) {
            p = ascii(out, p, "set ");
            p = keySpace.writeKey(out, p, key);
            p = ascii(out, p, " 0 0 ");
            p = decimal(out, p, keySpace.valueSize);
            p = ascii(out, p, "\r\n");
            p = keySpace.writeValue(out, p, key);
            return ascii(out, p, "\r\n");
        }

        @Override
        int replyEnd(byte[] in, int from, int to) throws Violation {
            int p = from;
            while (true) {
                int line = lineEnd(in, p, to);
                if (line < 0) {
                    return -1;
                }
                if (!(line - p > 6 && equalsAscii(in, p, p + 6, "VALUE "))) {
                    return line + 2; // END, STORED or an error line ends the reply
                }
                // VALUE <key> <flags> <bytes> [<cas>]: the fourth field is the length
                int lengthStart = -1;
                int lengthEnd = -1;
                int fields = 0;
                int q = p;
                while (q < line) {
                    while (q < line && in[q] == ' ') {
                        q++;
                    }
                    if (q >= line) {
                        break;
                    }
                    int fieldStart = q;
                    while (q < line && in[q] != ' ') {
                        q++;
                    }
                    if (fields++ == 3) {
                        lengthStart = fieldStart;
                        lengthEnd = q;
                    }
                }
                if (fields < 4) {
                    throw new Violation("VALUE line with fewer than 4 fields");
                }
                long n = parseDecimal(in, lengthStart, lengthEnd);
                long dataEnd = line + 2 + n + 2;
                if (n < 0) {
                    throw new Violation("negative VALUE length");
                }
                if (dataEnd > to) {
                    return -1;
                }
                if (in[(int) dataEnd - 2] != '\r' || in[(int) dataEnd - 1] != '\n') {
                    throw new Violation("VALUE data of " + n + " bytes not followed by CRLF");
                }
                p = (int) dataEnd;
            }
        }

        @Override
        Outcome judge(byte[] in, int from, int end, boolean set, int key) {
            if (set) {
                return equalsAscii(in, from, end, "STORED\r\n") ? Outcome.STORED : Outcome.ERROR;
            }
            if (equalsAscii(in, from, end, "END\r\n")) {
                return Outcome.MISS;
            }
            try {
                int line = lineEnd(in, from, end);
                int keyStart = from + 6;
                int keyEnd = keyStart;
                while (keyEnd < line && in[keyEnd] != ' ') {
                    keyEnd++;
                }
                if (!equalsAscii(in, from, keyStart, "VALUE ") || !keySpace.keyMatches(in, keyStart, keyEnd, key)) {
                    return Outcome.ERROR;
                }
                int lengthEnd = line;
                int lengthStart = keyEnd + 1;
                while (lengthStart < line && in[lengthStart] != ' ') {
                    lengthStart++; // skip the flags
                }
                lengthStart++;
                lengthEnd = lengthStart;
                while (lengthEnd < line && in[lengthEnd] != ' ') {
                    lengthEnd++;
                }
                long length = parseDecimal(in, lengthStart, lengthEnd);
                int dataStart = line + 2;
                if (!keySpace.valueMatches(in, dataStart, length, key)) {
                    return Outcome.ERROR;
                }
                int afterData = dataStart + (int) length + 2;
                return equalsAscii(in, afterData, end, "END\r\n") ? Outcome.HIT : Outcome.ERROR;
            } catch (Violation | RuntimeException e) {
                return Outcome.ERROR;
            }
        }
    }
}

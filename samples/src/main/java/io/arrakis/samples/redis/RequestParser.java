package io.arrakis.samples.redis;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;

/**
 * Incremental parser of client requests, in both of Redis's forms: RESP multi-bulk
 * ({@code *2\r\n$3\r\nGET\r\n$1\r\nk\r\n}) and inline ({@code GET k\r\n}, with Redis's quoting
 * rules). It owns the connection's input buffer and keeps its place between reads, so a request
 * may arrive split at any byte. Confined to the thread that reads the connection.
 */
final class RequestParser {
    /** Largest inline request or multi-bulk header line (Redis's PROTO_INLINE_MAX_SIZE). */
    static final int INLINE_MAX = 64 * 1024;
    /** Largest bulk argument (Redis's default proto-max-bulk-len, 512 MB). */
    static final long BULK_MAX = 512L * 1024 * 1024;
    private static final int MULTIBULK_MAX = Integer.MAX_VALUE;
    private static final byte[][] NO_ARGS = new byte[0][];

    /** Thrown for input Redis answers with "Protocol error" and a closed connection. */
    static final class ProtocolError extends Exception {
        ProtocolError(String message) {
            super(message, null, false, false);
        }
    }

    private byte[] data;
    private ByteBuffer view;
    private int readIndex;
    private int writeIndex;

    // State of a multi-bulk request in progress.
    private int argsWanted;
    private long bulkLength = -1;
    private byte[][] args = NO_ARGS;
    private int argCount;

    RequestParser(int initialCapacity) {
        data = new byte[initialCapacity];
        view = ByteBuffer.wrap(data);
    }

    /** A buffer positioned where the next socket read should go, with room for at least 1 KiB. */
    ByteBuffer readTarget() {
        int wanted = 1024;
        if (bulkLength >= 0) { // reading a known-length argument: make room for all of it
            wanted = (int) Math.min(bulkLength + 2, BULK_MAX + 2) - (writeIndex - readIndex);
        }
        makeRoom(Math.max(wanted, 1024));
        view.limit(data.length).position(writeIndex);
        return view;
    }

    /** Records that a read put {@code count} bytes into {@link #readTarget()}. */
    void received(int count) {
        writeIndex += count;
    }

    /** Appends bytes directly (for tests and for replaying a file). */
    void feed(byte[] bytes, int offset, int length) {
        makeRoom(length);
        System.arraycopy(bytes, offset, data, writeIndex, length);
        writeIndex += length;
    }

    /** The next unparsed byte, or -1 when none is buffered. */
    int peek() {
        return readIndex < writeIndex ? data[readIndex] & 0xff : -1;
    }

    int buffered() {
        return writeIndex - readIndex;
    }

    /** True while a request has begun but not ended: bytes buffered or a multi-bulk half read. */
    boolean inRequest() {
        return readIndex < writeIndex || argsWanted > 0;
    }

    private void makeRoom(int wanted) {
        int live = writeIndex - readIndex;
        if (live == 0) {
            readIndex = 0;
            writeIndex = 0;
            if (data.length > 1 << 20 && wanted <= 16 * 1024) {
                data = new byte[16 * 1024]; // give back the memory of one huge request
                view = ByteBuffer.wrap(data);
            }
        }
        if (data.length - writeIndex >= wanted) {
            return;
        }
        if (live + wanted <= data.length) {
            System.arraycopy(data, readIndex, data, 0, live);
        } else {
            long size = Math.max((long) data.length * 2, (long) live + wanted);
            byte[] grown = new byte[(int) Math.min(size, Integer.MAX_VALUE - 16)];
            System.arraycopy(data, readIndex, grown, 0, live);
            data = grown;
            view = ByteBuffer.wrap(data);
        }
        readIndex = 0;
        writeIndex = live;
    }

    /**
     * The next complete request's arguments, an empty array for an empty request (which Redis
     * skips silently), or null when more input is needed.
     */
    byte[][] next() throws ProtocolError {
        if (argsWanted == 0) {
            if (readIndex == writeIndex) {
                return null;
            }
            if (data[readIndex] != '*') {
                return nextInline();
            }
            int lineEnd = findCarriageReturn(readIndex);
            if (lineEnd < 0) {
                if (buffered() > INLINE_MAX) {
                    throw new ProtocolError("Protocol error: too big mbulk count string");
                }
                return null;
            }
            if (lineEnd + 1 >= writeIndex) {
                return null; // the \n has not arrived
            }
            long count;
            try {
                count = RedisNumbers.parseLong(data, readIndex + 1, lineEnd);
            } catch (RedisNumbers.NotANumber e) {
                throw new ProtocolError("Protocol error: invalid multibulk length");
            }
            if (count > MULTIBULK_MAX) {
                throw new ProtocolError("Protocol error: invalid multibulk length");
            }
            readIndex = lineEnd + 2;
            if (count <= 0) {
                return NO_ARGS;
            }
            argsWanted = (int) count;
            args = new byte[(int) Math.min(count, 1024)][];
            argCount = 0;
            bulkLength = -1;
        }
        while (argsWanted > 0) {
            if (bulkLength < 0) {
                if (readIndex == writeIndex) {
                    return null;
                }
                int lineEnd = findCarriageReturn(readIndex);
                if (lineEnd < 0) {
                    if (buffered() > INLINE_MAX) {
                        throw new ProtocolError("Protocol error: too big bulk count string");
                    }
                    return null;
                }
                if (lineEnd + 1 >= writeIndex) {
                    return null;
                }
                if (data[readIndex] != '$') {
                    throw new ProtocolError("Protocol error: expected '$', got '"
                            + (char) (data[readIndex] & 0xff) + "'");
                }
                long length;
                try {
                    length = RedisNumbers.parseLong(data, readIndex + 1, lineEnd);
                } catch (RedisNumbers.NotANumber e) {
                    throw new ProtocolError("Protocol error: invalid bulk length");
                }
                if (length < 0 || length > BULK_MAX) {
                    throw new ProtocolError("Protocol error: invalid bulk length");
                }
                readIndex = lineEnd + 2;
                bulkLength = length;
            }
            // Redis skips the two bytes after the data without checking that they are CRLF.
            if (writeIndex - readIndex < bulkLength + 2) {
                return null;
            }
            byte[] arg = Arrays.copyOfRange(data, readIndex, readIndex + (int) bulkLength);
            readIndex += (int) bulkLength + 2;
            bulkLength = -1;
            if (argCount == args.length) {
                args = Arrays.copyOf(args, Math.min(args.length * 2, argCount + argsWanted));
            }
            args[argCount++] = arg;
            argsWanted--;
        }
        byte[][] complete = argCount == args.length ? args : Arrays.copyOf(args, argCount);
        args = NO_ARGS;
        argCount = 0;
        return complete;
    }

    private int findCarriageReturn(int from) {
        for (int i = from; i < writeIndex; i++) {
            if (data[i] == '\r') {
                return i;
            }
        }
        return -1;
    }

    private byte[][] nextInline() throws ProtocolError {
        int newline = -1;
        for (int i = readIndex; i < writeIndex; i++) {
            if (data[i] == '\n') {
                newline = i;
                break;
            }
        }
        if (newline < 0) {
            if (buffered() > INLINE_MAX) {
                throw new ProtocolError("Protocol error: too big inline request");
            }
            return null;
        }
        int lineEnd = newline;
        if (lineEnd > readIndex && data[lineEnd - 1] == '\r') {
            lineEnd--;
        }
        // Redis splits the line as a C string: it ends at the first NUL byte.
        for (int i = readIndex; i < lineEnd; i++) {
            if (data[i] == 0) {
                lineEnd = i;
                break;
            }
        }
        byte[][] parsed = splitInline(data, readIndex, lineEnd);
        readIndex = newline + 1;
        if (parsed == null) {
            throw new ProtocolError("Protocol error: unbalanced quotes in request");
        }
        return parsed;
    }

    private static boolean isSpace(int c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0b || c == '\f';
    }

    private static int hexValue(int c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    }

    /**
     * Splits an inline request into arguments with Redis's rules: blanks separate, "double
     * quotes" take C escapes (\n \r \t \b \a \\ \" \xHH), 'single quotes' take only \', and a
     * closing quote must be followed by a blank or the end. Null when the quotes do not balance.
     */
    static byte[][] splitInline(byte[] line, int from, int to) {
        ArrayList<byte[]> result = new ArrayList<>();
        int p = from;
        byte[] current = new byte[Math.max(16, to - from)];
        while (true) {
            while (p < to && isSpace(line[p])) {
                p++;
            }
            if (p >= to) {
                return result.toArray(new byte[0][]);
            }
            int n = 0;
            boolean inDouble = false;
            boolean inSingle = false;
            boolean done = false;
            while (!done) {
                if (inDouble) {
                    if (p >= to) {
                        return null;
                    }
                    int c = line[p] & 0xff;
                    if (c == '\\' && p + 3 < to && line[p + 1] == 'x'
                            && hexValue(line[p + 2]) >= 0 && hexValue(line[p + 3]) >= 0) {
                        current[n++] = (byte) (hexValue(line[p + 2]) * 16 + hexValue(line[p + 3]));
                        p += 3;
                    } else if (c == '\\' && p + 1 < to) {
                        p++;
                        current[n++] = switch (line[p]) {
                            case 'n' -> '\n';
                            case 'r' -> '\r';
                            case 't' -> '\t';
                            case 'b' -> '\b';
                            case 'a' -> 7;
                            default -> line[p];
                        };
                    } else if (c == '"') {
                        if (p + 1 < to && !isSpace(line[p + 1])) {
                            return null; // closing quote must be followed by a space
                        }
                        done = true;
                    } else {
                        current[n++] = (byte) c;
                    }
                } else if (inSingle) {
                    if (p >= to) {
                        return null;
                    }
                    int c = line[p] & 0xff;
                    if (c == '\\' && p + 1 < to && line[p + 1] == '\'') {
                        p++;
                        current[n++] = '\'';
                    } else if (c == '\'') {
                        if (p + 1 < to && !isSpace(line[p + 1])) {
                            return null;
                        }
                        done = true;
                    } else {
                        current[n++] = (byte) c;
                    }
                } else {
                    if (p >= to) {
                        break;
                    }
                    int c = line[p] & 0xff;
                    if (isSpace(c)) {
                        done = true;
                    } else if (c == '"') {
                        inDouble = true;
                    } else if (c == '\'') {
                        inSingle = true;
                    } else {
                        current[n++] = (byte) c;
                    }
                }
                if (p < to) {
                    p++;
                }
            }
            result.add(Arrays.copyOf(current, n));
        }
    }
}

package io.arrakis.samples.redis;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A client's pending output in RESP2, appended by command handlers and drained to the socket by
 * the event loop. Confined to the event-loop thread.
 */
final class ReplyBuffer {
    private static final byte[] CRLF = {'\r', '\n'};
    private static final byte[] NULL_BULK = "$-1\r\n".getBytes(StandardCharsets.ISO_8859_1);
    private static final byte[] NULL_ARRAY = "*-1\r\n".getBytes(StandardCharsets.ISO_8859_1);
    private static final byte[] OK = "+OK\r\n".getBytes(StandardCharsets.ISO_8859_1);
    private static final byte[][] SMALL_INTEGERS = new byte[64][];

    static {
        for (int i = 0; i < SMALL_INTEGERS.length; i++) {
            SMALL_INTEGERS[i] = (":" + i + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
        }
    }

    private byte[] data;
    private int start;
    private int end;
    private ByteBuffer view;

    ReplyBuffer(int initialCapacity) {
        data = new byte[initialCapacity];
        view = ByteBuffer.wrap(data);
    }

    boolean isEmpty() {
        return start == end;
    }

    int pending() {
        return end - start;
    }

    /** The unsent bytes as a buffer to write from; call {@link #consumed} with what was written. */
    ByteBuffer unsent() {
        view.limit(end).position(start);
        return view;
    }

    void consumed(int count) {
        start += count;
        if (start == end) {
            start = 0;
            end = 0;
            if (data.length > 1 << 20) { // give back the memory of one huge reply
                data = new byte[16 * 1024];
                view = ByteBuffer.wrap(data);
            }
        }
    }

    private void ensure(int more) {
        if (end + more <= data.length) {
            return;
        }
        int live = end - start;
        if (start > 0 && live + more <= data.length && start >= data.length / 2) {
            System.arraycopy(data, start, data, 0, live);
        } else {
            long wanted = Math.max((long) data.length * 2, (long) live + more);
            if (wanted > Integer.MAX_VALUE - 16) {
                throw new IllegalStateException("reply buffer would exceed 2 GiB");
            }
            byte[] grown = new byte[(int) wanted];
            System.arraycopy(data, start, grown, 0, live);
            data = grown;
            view = ByteBuffer.wrap(data);
        }
        start = 0;
        end = live;
    }

    private void raw(byte[] bytes) {
        ensure(bytes.length);
        System.arraycopy(bytes, 0, data, end, bytes.length);
        end += bytes.length;
    }

    private void ascii(String text) {
        int n = text.length();
        ensure(n);
        for (int i = 0; i < n; i++) {
            data[end++] = (byte) text.charAt(i);
        }
    }

    private void decimal(long value) {
        if (value >= 0 && value < 10) {
            ensure(1);
            data[end++] = (byte) ('0' + value);
            return;
        }
        ascii(Long.toString(value));
    }

    void ok() {
        raw(OK);
    }

    void simple(String text) {
        ensure(text.length() + 3);
        data[end++] = '+';
        ascii(text);
        raw(CRLF);
    }

    /**
     * An error reply; {@code message} starts with its code ("ERR ...", "WRONGTYPE ..."). CR and LF
     * become spaces, as Redis does, since arguments quoted in a message come from the client.
     */
    void error(String message) {
        ensure(message.length() + 3);
        data[end++] = '-';
        int n = message.length();
        ensure(n);
        for (int i = 0; i < n; i++) {
            char c = message.charAt(i);
            data[end++] = (byte) (c == '\r' || c == '\n' ? ' ' : c);
        }
        raw(CRLF);
    }

    void integer(long value) {
        if (value >= 0 && value < SMALL_INTEGERS.length) {
            raw(SMALL_INTEGERS[(int) value]);
            return;
        }
        ensure(1);
        data[end++] = ':';
        decimal(value);
        raw(CRLF);
    }

    void bulk(byte[] value) {
        ensure(value.length + 16);
        data[end++] = '$';
        decimal(value.length);
        raw(CRLF);
        raw(value);
        raw(CRLF);
    }

    void bulk(String ascii) {
        bulk(ascii.getBytes(StandardCharsets.ISO_8859_1));
    }

    void nullBulk() {
        raw(NULL_BULK);
    }

    void nullArray() {
        raw(NULL_ARRAY);
    }

    void arrayHeader(long count) {
        ensure(1);
        data[end++] = '*';
        decimal(count);
        raw(CRLF);
    }

    void doubleBulk(double value) {
        bulk(RedisNumbers.formatDouble(value));
    }

    @Override
    public String toString() {
        return new String(Arrays.copyOfRange(data, start, end), StandardCharsets.ISO_8859_1);
    }
}

package io.arrakis.samples.memcached;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** A connection's pending replies, drained to the socket by its worker. Confined to that worker. */
final class OutputBuffer {
    private byte[] data;
    private int start;
    private int end;
    private ByteBuffer view;

    OutputBuffer(int capacity) {
        data = new byte[capacity];
        view = ByteBuffer.wrap(data);
    }

    boolean isEmpty() {
        return start == end;
    }

    int pending() {
        return end - start;
    }

    /** The current end, to {@link #truncate} back to when a command's reply must be discarded. */
    int mark() {
        return end;
    }

    void truncate(int mark) {
        end = mark;
    }

    ByteBuffer unsent() {
        view.limit(end).position(start);
        return view;
    }

    void consumed(int count) {
        start += count;
        if (start == end) {
            start = 0;
            end = 0;
            if (data.length > 4 << 20) {
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
        byte[] target = live + more <= data.length / 2 ? data : new byte[Math.max(data.length * 2, live + more)];
        System.arraycopy(data, start, target, 0, live);
        if (target != data) {
            data = target;
            view = ByteBuffer.wrap(data);
        }
        start = 0;
        end = live;
    }

    void bytes(byte[] bytes) {
        ensure(bytes.length);
        System.arraycopy(bytes, 0, data, end, bytes.length);
        end += bytes.length;
    }

    void ascii(String text) {
        int n = text.length();
        ensure(n);
        for (int i = 0; i < n; i++) {
            data[end++] = (byte) text.charAt(i);
        }
    }

    void unsignedDecimal(long value) {
        ascii(Long.toUnsignedString(value));
    }

    /** A whole reply line: the text and CRLF. */
    void line(String text) {
        ascii(text);
        ensure(2);
        data[end++] = '\r';
        data[end++] = '\n';
    }

    @Override
    public String toString() {
        return new String(data, start, end - start, StandardCharsets.ISO_8859_1);
    }
}

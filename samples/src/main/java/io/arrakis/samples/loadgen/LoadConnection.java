package io.arrakis.samples.loadgen;

import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * One connection of a load worker: the bytes waiting to be sent, the bytes received and not yet
 * parsed, and the requests in flight (in order, with their intended send times). Confined to
 * its worker thread.
 */
final class LoadConnection {
    final SocketChannel channel;
    SelectionKey key;
    final int index;

    byte[] out;
    int outStart;
    int outEnd;
    ByteBuffer outView;

    byte[] in = new byte[64 * 1024];
    int inStart;
    int inEnd;
    ByteBuffer inView = ByteBuffer.wrap(in);

    // requests in flight, a ring of pipeline-depth slots
    final int[] keys;
    final boolean[] sets;
    final long[] intendedNanos;
    int head;
    int inFlight;

    /** Open loop: when this connection's next request is due. */
    long nextIntendedNanos;
    boolean failed;

    LoadConnection(SocketChannel channel, int index, int pipeline, int maxRequestSize) {
        this.channel = channel;
        this.index = index;
        this.keys = new int[pipeline];
        this.sets = new boolean[pipeline];
        this.intendedNanos = new long[pipeline];
        this.out = new byte[Math.max(4096, pipeline * maxRequestSize)];
        this.outView = ByteBuffer.wrap(out);
    }

    boolean hasOutput() {
        return outEnd > outStart;
    }

    /** Makes room for one more request of at most {@code size} bytes. */
    void reserve(int size) {
        if (out.length - outEnd >= size) {
            return;
        }
        int live = outEnd - outStart;
        byte[] target = live + size <= out.length ? out : new byte[Math.max(out.length * 2, live + size)];
        System.arraycopy(out, outStart, target, 0, live);
        if (target != out) {
            out = target;
            outView = ByteBuffer.wrap(out);
        }
        outStart = 0;
        outEnd = live;
    }

    void push(int key, boolean set, long intended) {
        int slot = (head + inFlight) % keys.length;
        keys[slot] = key;
        sets[slot] = set;
        intendedNanos[slot] = intended;
        inFlight++;
    }

    void pop() {
        head = (head + 1) % keys.length;
        inFlight--;
    }

    /** Where the next read goes, compacting or growing the input buffer as needed. */
    ByteBuffer readTarget() {
        if (inStart == inEnd) {
            inStart = 0;
            inEnd = 0;
        } else if (in.length - inEnd < 4096) {
            int live = inEnd - inStart;
            byte[] target = live + 4096 <= in.length / 2 ? in : new byte[Math.max(in.length * 2, live + 4096)];
            System.arraycopy(in, inStart, target, 0, live);
            if (target != in) {
                in = target;
                inView = ByteBuffer.wrap(in);
            }
            inStart = 0;
            inEnd = live;
        }
        inView.limit(in.length).position(inEnd);
        return inView;
    }
}

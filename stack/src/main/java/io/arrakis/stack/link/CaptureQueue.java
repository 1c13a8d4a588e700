package io.arrakis.stack.link;

import io.arrakis.device.Counters;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A queue of a {@link CaptureVnic}: passes every call to the wrapped queue and gives the frames
 * that crossed it to the sink, while the sink wants them. Allocation-free once its descriptor scratch has grown to the
 * largest batch transmitted. Owned by the wrapped queue's thread.
 */
final class CaptureQueue implements VnicQueue {
    private final VnicQueue inner;
    private final FrameSink sink;
    private final Clock clock;
    // Descriptors of the batch being transmitted, kept because an accepted frame leaves the batch.
    private int[] buffers = new int[64];
    private int[] offsets = new int[64];
    private int[] lengths = new int[64];

    CaptureQueue(VnicQueue inner, FrameSink sink, Clock clock) {
        this.inner = inner;
        this.sink = sink;
        this.clock = clock;
    }

    @Override
    public int index() {
        return inner.index();
    }

    @Override
    public MemorySegment memory() {
        return inner.memory();
    }

    @Override
    public int bufferSize() {
        return inner.bufferSize();
    }

    @Override
    public int headroom() {
        return inner.headroom();
    }

    @Override
    public int receive(PacketBatch batch) throws IOException {
        int first = batch.size();
        int received = inner.receive(batch);
        if (received > 0 && sink.wanted()) {
            long now = clock.nanos();
            MemorySegment memory = inner.memory();
            long bufferSize = inner.bufferSize();
            for (int i = first; i < first + received; i++) {
                sink.frame(now, memory, batch.buffer(i) * bufferSize + batch.offset(i), batch.length(i));
            }
        }
        return received;
    }

    @Override
    public int transmit(PacketBatch batch) throws IOException {
        if (!sink.wanted()) {
            return inner.transmit(batch);
        }
        int size = batch.size();
        if (size > buffers.length) {
            int capacity = Math.max(size, 2 * buffers.length);
            buffers = Arrays.copyOf(buffers, capacity);
            offsets = Arrays.copyOf(offsets, capacity);
            lengths = Arrays.copyOf(lengths, capacity);
        }
        for (int i = 0; i < size; i++) {
            buffers[i] = batch.buffer(i);
            offsets[i] = batch.offset(i);
            lengths[i] = batch.length(i);
        }
        int accepted = inner.transmit(batch);
        if (accepted > 0) {
            long now = clock.nanos();
            MemorySegment memory = inner.memory();
            long bufferSize = inner.bufferSize();
            for (int i = 0; i < accepted; i++) {
                sink.frame(now, memory, buffers[i] * bufferSize + offsets[i], lengths[i]);
            }
        }
        return accepted;
    }

    @Override
    public int allocate(PacketBatch batch, int n) {
        return inner.allocate(batch, n);
    }

    @Override
    public void release(PacketBatch batch) {
        inner.release(batch);
    }

    @Override
    public boolean awaitReceive(long timeoutNanos) throws IOException {
        return inner.awaitReceive(timeoutNanos);
    }

    @Override
    public void wakeup() throws IOException {
        inner.wakeup();
    }

    @Override
    public int readinessFd() {
        return inner.readinessFd();
    }

    @Override
    public boolean armReadiness() throws IOException {
        return inner.armReadiness();
    }

    @Override
    public boolean readinessSignalled() {
        return inner.readinessSignalled();
    }

    @Override
    public Counters<VnicCounter> counters() {
        return inner.counters();
    }
}

package io.arrakis.provider;

import io.arrakis.control.stats.StatsPublisher;
import io.arrakis.device.Counters;
import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Set;

/**
 * The stack's VNIC as seen through the stats file's capture ring: while a tool
 * ({@code arrakis capture}) asks, every frame queue 0 receives or the device accepts for
 * transmission is copied into the ring; otherwise each batch costs one read of the ring's
 * "wanted" word. Identity, control and closing are the wrapped VNIC's.
 *
 * <p>Queue 0 is used by one thread at a time (the stack's lock), as is the publisher.
 */
final class MirroredVnic implements Vnic {
    private final Vnic inner;
    private final MirroredQueue queue;

    MirroredVnic(Vnic inner, StatsPublisher publisher) {
        this.inner = inner;
        this.queue = new MirroredQueue(inner.queue(0), publisher);
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public String backend() {
        return inner.backend();
    }

    @Override
    public MacAddress mac() {
        return inner.mac();
    }

    @Override
    public int mtu() {
        return inner.mtu();
    }

    @Override
    public Set<Offload> offloads() {
        return inner.offloads();
    }

    @Override
    public int queueCount() {
        return inner.queueCount();
    }

    @Override
    public VnicQueue queue(int index) {
        return index == 0 ? queue : inner.queue(index);
    }

    @Override
    public VnicControl control() {
        return inner.control();
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }

    /** Queue 0, mirrored while asked. Allocation-free once its descriptor scratch fits the largest batch. */
    private static final class MirroredQueue implements VnicQueue {
        private final VnicQueue inner;
        private final StatsPublisher publisher;
        /** System.nanoTime() + this = nanoseconds since the epoch (pcap's clock). */
        private final long epochOffset = System.currentTimeMillis() * 1_000_000L - System.nanoTime();
        private int[] buffers = new int[64];
        private int[] offsets = new int[64];
        private int[] lengths = new int[64];

        MirroredQueue(VnicQueue inner, StatsPublisher publisher) {
            this.inner = inner;
            this.publisher = publisher;
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
            if (received > 0 && publisher.captureWanted()) {
                long now = System.nanoTime() + epochOffset;
                MemorySegment memory = inner.memory();
                long bufferSize = inner.bufferSize();
                for (int i = first; i < first + received; i++) {
                    publisher.capture(now, memory, batch.buffer(i) * bufferSize + batch.offset(i), batch.length(i));
                }
            }
            return received;
        }

        @Override
        public int transmit(PacketBatch batch) throws IOException {
            if (!publisher.captureWanted()) {
                return inner.transmit(batch);
            }
            // An accepted frame leaves the batch: keep its descriptor to copy it afterwards (the
            // buffer cannot be reused before this thread takes it back).
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
                long now = System.nanoTime() + epochOffset;
                MemorySegment memory = inner.memory();
                long bufferSize = inner.bufferSize();
                for (int i = 0; i < accepted; i++) {
                    publisher.capture(now, memory, buffers[i] * bufferSize + offsets[i], lengths[i]);
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
}

package io.arrakis.storage;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.Counters;
import io.arrakis.device.Vsic;
import io.arrakis.device.VsicCounter;
import io.arrakis.device.VsicQueue;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A disk with a volatile write cache, for power-cut tests: writes land in the cache, a flush
 * moves the cache to the media, and {@link #powerCut} keeps only the media plus, at random, some
 * of the cached writes, in any order, whole or torn (a prefix of their blocks, the last one
 * half-written). Reads see the cache, as a real disk's do. One store on it at a time; its queues may
 * be used from different threads at once (the disk's state is guarded by the disk).
 */
public final class SimulatedDisk {
    private final int blockSize;
    private final long blocks;
    private final byte[] media;
    /** Cached writes not yet flushed, oldest first. */
    private final List<Map.Entry<Long, byte[]>> cached = new ArrayList<>();
    private final Map<Long, byte[]> cachedLatest = new HashMap<>();

    public SimulatedDisk(int blockSize, long blocks) {
        this(blockSize, blocks, new byte[Math.toIntExact(blockSize * blocks)]);
    }

    private SimulatedDisk(int blockSize, long blocks, byte[] media) {
        this.blockSize = blockSize;
        this.blocks = blocks;
        this.media = media;
    }

    /**
     * The disk after the power came back: the media, plus each cached write with probability
     * {@code keep}, a quarter of those torn; applied in random order.
     */
    public synchronized SimulatedDisk powerCut(Random random, double keep) {
        byte[] after = media.clone();
        List<Map.Entry<Long, byte[]>> survivors = new ArrayList<>();
        for (Map.Entry<Long, byte[]> write : cached) {
            if (random.nextDouble() < keep) {
                survivors.add(write);
            }
        }
        java.util.Collections.shuffle(survivors, random);
        for (Map.Entry<Long, byte[]> write : survivors) {
            byte[] data = write.getValue();
            int length = data.length;
            if (random.nextInt(4) == 0) {
                length = random.nextInt(length / blockSize) * blockSize + blockSize / 2; // torn mid-block
            }
            System.arraycopy(data, 0, after, Math.toIntExact(write.getKey() * blockSize), length);
        }
        return new SimulatedDisk(blockSize, blocks, after);
    }

    /** Bytes of cached (unflushed) writes. */
    public synchronized long cachedBytes() {
        long sum = 0;
        for (Map.Entry<Long, byte[]> write : cached) {
            sum += write.getValue().length;
        }
        return sum;
    }

    /** A VSIC onto this disk with {@code queues} queues of {@code memoryBytes} each. */
    public Vsic attach(String name, int queues, long memoryBytes) {
        return new SimulatedVsic(name, queues, memoryBytes);
    }

    private synchronized void write(long block, byte[] data) {
        cached.add(Map.entry(block, data));
        for (int i = 0; i < data.length / blockSize; i++) {
            cachedLatest.put(block + i, java.util.Arrays.copyOfRange(data, i * blockSize, (i + 1) * blockSize));
        }
    }

    private synchronized void flush() {
        for (Map.Entry<Long, byte[]> write : cached) {
            System.arraycopy(write.getValue(), 0, media, Math.toIntExact(write.getKey() * blockSize),
                    write.getValue().length);
        }
        cached.clear();
        cachedLatest.clear();
    }

    private synchronized byte[] read(long block) {
        byte[] cachedBlock = cachedLatest.get(block);
        if (cachedBlock != null) {
            return cachedBlock;
        }
        return java.util.Arrays.copyOfRange(media, Math.toIntExact(block * blockSize),
                Math.toIntExact((block + 1) * blockSize));
    }

    private final class SimulatedVsic implements Vsic {
        private final String name;
        private final Arena arena = Arena.ofShared();
        private final List<SimulatedQueue> queues = new ArrayList<>();

        SimulatedVsic(String name, int count, long memoryBytes) {
            this.name = name;
            for (int i = 0; i < count; i++) {
                queues.add(new SimulatedQueue(i, arena.allocate(memoryBytes, 4096)));
            }
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public String backend() {
            return "simulated";
        }

        @Override
        public int blockSize() {
            return blockSize;
        }

        @Override
        public long capacityBlocks() {
            return blocks;
        }

        @Override
        public boolean hasVolatileWriteCache() {
            return true;
        }

        @Override
        public int queueCount() {
            return queues.size();
        }

        @Override
        public VsicQueue queue(int index) {
            return queues.get(index);
        }

        @Override
        public void close() {
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }

    private final class SimulatedQueue implements VsicQueue {
        private final int index;
        private final MemorySegment memory;
        private final Counters<VsicCounter> counters = Counters.onHeap(VsicCounter.class);
        private final List<long[]> staged = new ArrayList<>();
        private final List<long[]> done = new ArrayList<>();

        SimulatedQueue(int index, MemorySegment memory) {
            this.index = index;
            this.memory = memory;
        }

        @Override
        public int index() {
            return index;
        }

        @Override
        public MemorySegment memory() {
            return memory;
        }

        @Override
        public int depth() {
            return 8;
        }

        private boolean stage(long kind, long block, int count, long offset, long tag) {
            if (kind != 2 && (block < 0 || count <= 0 || block + count > blocks
                    || offset + (long) count * blockSize > memory.byteSize())) {
                throw new IllegalArgumentException("simulated disk: blocks " + block + "+" + count + " out of range");
            }
            staged.add(new long[] {kind, block, count, offset, tag});
            return true;
        }

        @Override
        public boolean submitRead(long block, int count, long offset, long tag) {
            return stage(0, block, count, offset, tag);
        }

        @Override
        public boolean submitWrite(long block, int count, long offset, long tag) {
            return stage(1, block, count, offset, tag);
        }

        @Override
        public boolean submitFlush(long tag) {
            return stage(2, 0, 0, 0, tag);
        }

        @Override
        public boolean submitWriteThenFlush(long block, int count, long offset, long tag) {
            return stage(3, block, count, offset, tag);
        }

        @Override
        public int ring() {
            int count = staged.size();
            for (long[] command : staged) {
                long kind = command[0];
                long block = command[1];
                int n = (int) command[2];
                long offset = command[3];
                if (kind == 0) {
                    for (int i = 0; i < n; i++) {
                        MemorySegment.copy(MemorySegment.ofArray(read(block + i)), 0, memory,
                                offset + (long) i * blockSize, blockSize);
                    }
                    counters.increment(VsicCounter.READS);
                }
                if (kind == 1 || kind == 3) {
                    write(block, memory.asSlice(offset, (long) n * blockSize).toArray(ValueLayout.JAVA_BYTE));
                    counters.increment(VsicCounter.WRITES);
                }
                if (kind == 2 || kind == 3) {
                    flush();
                    counters.increment(VsicCounter.FLUSHES);
                }
                done.add(new long[] {command[4]});
            }
            staged.clear();
            return count;
        }

        @Override
        public int poll(CompletionBatch completions) {
            int moved = 0;
            while (!done.isEmpty() && !completions.isFull()) {
                completions.add(done.removeFirst()[0], 0);
                moved++;
            }
            return moved;
        }

        @Override
        public boolean awaitCompletion(long timeoutNanos) {
            return !done.isEmpty();
        }

        @Override
        public Counters<VsicCounter> counters() {
            return counters;
        }
    }
}

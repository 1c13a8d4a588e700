package io.arrakis.nvme;

import io.arrakis.device.Vsic;
import io.arrakis.device.VsicConfig;
import io.arrakis.device.VsicQueue;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A VSA on an NVMe namespace: {@code capacityBlocks} blocks mapped onto the LBA range the control
 * plane assigned ({@link LbaRange}), with one NVMe I/O queue pair per {@link VsicQueue}. A VSIC
 * block is one or more LBAs (4 KiB blocks on a 512-byte format are 8 LBAs each). Identity is
 * thread-safe; each queue belongs to one thread; {@link #close} runs once.
 */
public final class NvmeVsic implements Vsic {
    private final String name;
    private final NvmeController controller;
    private final IdentifyNamespace namespace;
    private final LbaRange range;
    private final int blockSize;
    private final long capacityBlocks;
    private final Arena arena = Arena.ofShared();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final List<NvmeQueue> queues = new ArrayList<>();

    private NvmeVsic(String name, NvmeController controller, IdentifyNamespace namespace, LbaRange range,
            int blockSize, long capacityBlocks) {
        this.name = name;
        this.controller = controller;
        this.namespace = namespace;
        this.range = range;
        this.blockSize = blockSize;
        this.capacityBlocks = capacityBlocks;
    }

    /**
     * Opens {@code config.capacityBlocks()} blocks of {@code blockSize} bytes starting at LBA
     * {@code firstLba} of namespace {@code namespaceId} on {@code controller} (already acquired;
     * released when this VSIC closes or fails to open).
     */
    static NvmeVsic open(VsicConfig config, NvmeController controller, int namespaceId, long firstLba,
            int blockSizeOption) throws IOException {
        try {
            IdentifyNamespace namespace = controller.namespace(namespaceId);
            int lbaSize = namespace.blockSize();
            if (namespace.format().metadataSize() != 0) {
                throw new IOException("VSA " + config.name() + ": namespace " + namespaceId + " of "
                        + controller.address() + " uses an LBA format with " + namespace.format().metadataSize()
                        + " bytes of metadata per block, which this driver does not transfer; format it without"
                        + " metadata or use another namespace");
            }
            int blockSize = blockSizeOption > 0 ? blockSizeOption : Math.max(4096, lbaSize);
            if (blockSize < lbaSize || blockSize % lbaSize != 0) {
                throw new IllegalArgumentException("VSA " + config.name() + ": block size " + blockSize
                        + " is not a multiple of namespace " + namespaceId + "'s LBA size " + lbaSize);
            }
            long lbas = config.capacityBlocks() * (blockSize / lbaSize);
            LbaRange range = new LbaRange(config.name(), namespaceId, firstLba, lbas);
            if (range.end() > namespace.sizeBlocks()) {
                throw new IOException("VSA " + config.name() + ": " + range + " runs past the end of namespace "
                        + namespaceId + " of " + controller.address() + " (" + namespace.sizeBlocks() + " LBAs of "
                        + lbaSize + " bytes); ask the control plane for a range that fits");
            }
            NvmeVsic vsic = new NvmeVsic(config.name(), controller, namespace, range, blockSize,
                    config.capacityBlocks());
            try {
                for (int i = 0; i < config.queues(); i++) {
                    vsic.queues.add(new NvmeQueue(vsic, controller, i, range, blockSize, config.queueDepth(),
                            config.ioMemoryBytes(), vsic.arena));
                }
            } catch (IOException | RuntimeException e) {
                try {
                    vsic.closeQueues();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                vsic.arena.close();
                throw e;
            }
            return vsic;
        } catch (IOException | RuntimeException e) {
            try {
                controller.release();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return NvmeVsicBackend.NAME;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public long capacityBlocks() {
        return capacityBlocks;
    }

    /** What IDENTIFY CONTROLLER says (VWC): without a volatile cache a completed write is durable. */
    @Override
    public boolean hasVolatileWriteCache() {
        return controller.identity().volatileWriteCache();
    }

    @Override
    public int queueCount() {
        return queues.size();
    }

    @Override
    public VsicQueue queue(int index) {
        if (index < 0 || index >= queues.size()) {
            throw new IndexOutOfBoundsException("VSA " + name + " has queues 0.." + (queues.size() - 1) + ", not "
                    + index);
        }
        return queues.get(index);
    }

    /** The device range this VSA may touch. */
    public LbaRange range() {
        return range;
    }

    public NvmeController controller() {
        return controller;
    }

    public IdentifyNamespace namespace() {
        return namespace;
    }

    /** The last failed NVMe command of queue {@code index}, in words (status type and code), or null. */
    public String lastFailure(int index) {
        return ((NvmeQueue) queue(index)).lastFailure();
    }

    private void closeQueues() throws IOException {
        IOException failure = null;
        for (NvmeQueue queue : queues) {
            try {
                queue.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            closeQueues();
            arena.close();
        } finally {
            controller.release();
        }
    }

    @Override
    public String toString() {
        return "nvme VSIC " + name + " on " + controller.address() + " " + range + " (" + capacityBlocks
                + " blocks of " + blockSize + ", " + queues.size() + " queue(s))";
    }
}

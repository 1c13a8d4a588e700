package io.arrakis.storage;

import io.arrakis.device.Vsic;
import io.arrakis.device.VsicQueue;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What the file and io_uring backends share: a {@link VsaFile} and queues whose I/O memory comes
 * from one shared arena. Identity is thread-safe; each queue belongs to one thread at a time;
 * {@link #close} runs once however many threads call it.
 */
public abstract class BlockVsic implements Vsic {
    protected final VsaFile area;
    protected final Arena memory = Arena.ofShared();
    private final String backend;
    private final AtomicBoolean closed = new AtomicBoolean();
    private List<? extends BlockQueue> queues = List.of();

    protected BlockVsic(VsaFile area, String backend) {
        this.area = area;
        this.backend = backend;
    }

    /** Called once by the subclass's factory after the queues exist. */
    protected final void setQueues(List<? extends BlockQueue> queues) {
        this.queues = List.copyOf(queues);
    }

    @Override
    public String name() {
        return area.vsaName();
    }

    @Override
    public String backend() {
        return backend;
    }

    @Override
    public int blockSize() {
        return area.blockSize();
    }

    @Override
    public long capacityBlocks() {
        return area.capacityBlocks();
    }

    /** Neither a file's page cache nor a disk's cache is durable before a flush. */
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
        if (index < 0 || index >= queues.size()) {
            throw new IndexOutOfBoundsException("VSA " + name() + " has queues 0.." + (queues.size() - 1) + ", not " + index);
        }
        return queues.get(index);
    }

    /** The storage area (path or descriptor, O_DIRECT or not). */
    public VsaFile area() {
        return area;
    }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        IOException failure = null;
        for (BlockQueue queue : queues) {
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
        // Only once no command can still touch it. A queue that could not drain its commands
        // failed; its memory stays allocated (a leak) rather than freed under a device's feet.
        if (failure == null) {
            memory.close();
        }
        try {
            area.close();
        } catch (IOException e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return backend + " VSIC " + area + ", " + queues.size() + " queue(s)";
    }
}

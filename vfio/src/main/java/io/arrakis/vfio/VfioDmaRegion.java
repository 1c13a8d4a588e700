package io.arrakis.vfio;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A DMA mapping of a {@link VfioPciFunction}. Thread-safe: immutable until closed, and closing is
 * idempotent (the function's lock orders it against the function's own close).
 */
final class VfioDmaRegion implements DmaRegion {
    private final VfioPciFunction function;
    private final MemorySegment memory;
    private final long iova;
    private final long mappedSize;
    /** The arena that frees the memory when this module allocated it; null for the caller's memory. */
    private final Arena owner;
    private boolean closed;

    VfioDmaRegion(VfioPciFunction function, MemorySegment memory, long iova, long mappedSize, Arena owner) {
        this.function = function;
        this.memory = memory;
        this.iova = iova;
        this.mappedSize = mappedSize;
        this.owner = owner;
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }

    @Override
    public long iova() {
        return iova;
    }

    long mappedSize() {
        return mappedSize;
    }

    @Override
    public void close() throws IOException {
        synchronized (function) {
            if (closed) {
                return;
            }
            closed = true;
            try {
                function.unmap(this);
            } finally {
                // Unmapped from the IOMMU first: the device must not write into freed pages.
                if (owner != null) {
                    owner.close();
                }
            }
        }
    }

    @Override
    public String toString() {
        return "DmaRegion[iova=0x" + Long.toHexString(iova) + ", " + memory.byteSize() + " bytes, " + function.address()
                + "]";
    }
}

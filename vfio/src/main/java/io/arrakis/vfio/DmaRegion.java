package io.arrakis.vfio;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Memory a PCI function may reach by DMA: the process sees {@link #memory()}, the device sees the
 * same bytes at I/O virtual addresses starting at {@link #iova()}. Thread-safe (immutable until
 * closed); closing unmaps it from the IOMMU, after which the device faults instead of writing.
 */
public interface DmaRegion extends AutoCloseable {
    MemorySegment memory();

    /** The I/O virtual address of the first byte, as the device is told it. */
    long iova();

    default long size() {
        return memory().byteSize();
    }

    /** The device's address of byte {@code offset} of this region. */
    default long iova(long offset) {
        if (offset < 0 || offset >= size()) {
            throw new IndexOutOfBoundsException("offset " + offset + " outside a DMA region of " + size() + " bytes");
        }
        return iova() + offset;
    }

    /** Unmaps the region from the IOMMU and, when this module allocated it, frees it; idempotent. */
    @Override
    void close() throws IOException;
}

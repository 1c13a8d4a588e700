package io.arrakis.vfio;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * One PCI function as a user-level driver sees it: its configuration space, its memory BARs mapped
 * into the process, memory the device may reach by DMA (through the IOMMU, so only that memory),
 * and its MSI-X vectors delivered to eventfds. What VFIO gives a process; the virtio-net and NVMe
 * drivers are written against this interface alone, so their pure logic is tested without a
 * device and the whole is proven in the emulated-hardware lab.
 *
 * <p>Configuration, mapping and interrupt set-up are the control path and thread-safe. A BAR
 * segment may be read and written by any thread; which thread touches which register is the
 * driver's contract (a queue's doorbell belongs to the queue's owner).
 */
public interface PciFunction extends AutoCloseable {
    /** The function's address in domain:bus:device.function form: {@code "0000:00:04.0"}. */
    String address();

    int vendorId();

    int deviceId();

    /** Reads {@code bytes} (1, 2 or 4) of configuration space at {@code offset}, little-endian. */
    int readConfig(int offset, int bytes) throws IOException;

    /** Writes the low {@code bytes} (1, 2 or 4) of {@code value} to configuration space at {@code offset}. */
    void writeConfig(int offset, int bytes, int value) throws IOException;

    /**
     * BAR {@code index} (0..5) mapped into the process, as many bytes as the BAR decodes.
     *
     * @throws IOException when the BAR is absent, is an I/O-port BAR, or cannot be mapped
     */
    MemorySegment bar(int index) throws IOException;

    /** Lets the function master the bus (its DMA); drivers call this after reset, before queues. */
    void enableBusMastering() throws IOException;

    /**
     * Allocates {@code bytes} (rounded up to pages) of zeroed, pinned memory and maps it for the
     * function's DMA. The region is released by {@link DmaRegion#close()} or with the function.
     */
    DmaRegion allocateDma(long bytes) throws IOException;

    /**
     * Maps memory the process already has (a buffer pool's segment, page-aligned and a whole
     * number of pages) for the function's DMA, so frames are never copied into driver memory.
     */
    DmaRegion mapForDma(MemorySegment memory) throws IOException;

    /** How many MSI-X vectors the function offers (0 when it has no MSI-X capability). */
    int msixVectorCount();

    /**
     * Enables MSI-X vectors {@code 0..count-1}, each signalling its own eventfd (non-blocking,
     * close-on-exec), which a queue's poller sleeps on when idle. Index {@code i} of the result is
     * vector {@code i}'s eventfd; they stay owned by this function and close with it.
     */
    int[] enableMsix(int count) throws IOException;

    /** Resets the function (function-level reset where the device supports one). */
    void reset() throws IOException;

    /** Disables interrupts, unmaps DMA and BARs and releases the device; idempotent. */
    @Override
    void close() throws IOException;
}

package io.arrakis.vfio.virtio;

import io.arrakis.vfio.PciFunction;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The modern virtio PCI transport of one device: its common configuration registers
 * ({@code struct virtio_pci_common_cfg}), its doorbells and its device-specific configuration,
 * in the BARs {@link VirtioPciCapabilities} named. Every register access is a volatile access of
 * its exact width, as memory-mapped I/O needs.
 *
 * <p>The control path (reset, features, queue set-up, status) belongs to whoever opens or closes
 * the device; {@link #notifyQueue} is called by the owner of the queue it rings; {@link #status}
 * by any thread.
 */
final class VirtioPciTransport {
    /** Offsets in {@code struct virtio_pci_common_cfg}. */
    static final int DEVICE_FEATURE_SELECT = 0x00, DEVICE_FEATURE = 0x04, DRIVER_FEATURE_SELECT = 0x08,
            DRIVER_FEATURE = 0x0C, CONFIG_MSIX_VECTOR = 0x10, NUM_QUEUES = 0x12, DEVICE_STATUS = 0x14,
            CONFIG_GENERATION = 0x15, QUEUE_SELECT = 0x16, QUEUE_SIZE = 0x18, QUEUE_MSIX_VECTOR = 0x1A,
            QUEUE_ENABLE = 0x1C, QUEUE_NOTIFY_OFF = 0x1E, QUEUE_DESC = 0x20, QUEUE_DRIVER = 0x28,
            QUEUE_DEVICE = 0x30;
    static final int COMMON_CONFIG_LENGTH = 0x38;
    /** Device status bits. */
    static final int ACKNOWLEDGE = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8, DEVICE_NEEDS_RESET = 64,
            FAILED = 128;
    /** "No vector", for a queue or the configuration that should not interrupt. */
    static final int NO_VECTOR = 0xFFFF;
    private static final long RESET_TIMEOUT_NANOS = 1_000_000_000L;

    private static final VarHandle U8 = ValueLayout.JAVA_BYTE.varHandle();
    private static final VarHandle LE16 = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle LE32 = ValueLayout.JAVA_INT.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    private final String device;
    private final VirtioPciCapabilities capabilities;
    private final MemorySegment common;
    private final MemorySegment notify;
    private final MemorySegment deviceConfig;

    VirtioPciTransport(PciFunction pci, VirtioPciCapabilities capabilities, String device) throws IOException {
        this.device = device;
        this.capabilities = capabilities;
        this.common = slice(pci, capabilities.common(), "common configuration");
        this.notify = pci.bar(capabilities.notification().bar());
        slice(pci, capabilities.notification(), "notify area"); // checks it fits its BAR
        this.deviceConfig = slice(pci, capabilities.device(), "device configuration");
    }

    private MemorySegment slice(PciFunction pci, VirtioPciCapabilities.Region region, String what) throws IOException {
        MemorySegment bar = pci.bar(region.bar());
        if (region.offset() + region.length() > bar.byteSize()) {
            throw new IOException(device + ": its " + what + " (" + region.length() + " bytes at 0x"
                    + Long.toHexString(region.offset()) + " of BAR " + region.bar() + ") lies beyond the BAR's "
                    + bar.byteSize() + " bytes");
        }
        return bar.asSlice(region.offset(), region.length());
    }

    int status() {
        return (byte) U8.getVolatile(common, (long) DEVICE_STATUS) & 0xFF;
    }

    void setStatus(int status) {
        U8.setVolatile(common, (long) DEVICE_STATUS, (byte) status);
    }

    /** Sets {@code bits} in the status, keeping those already set (callers read back what must stick). */
    void addStatus(int bits) throws IOException {
        setStatus(status() | bits);
    }

    /** Writes 0 to the status and waits (bounded) until the device reads back 0: reset done. */
    void reset() throws IOException {
        setStatus(0);
        long deadline = System.nanoTime() + RESET_TIMEOUT_NANOS;
        while (status() != 0) {
            if (System.nanoTime() - deadline > 0) {
                throw new IOException(device + ": the device did not finish its reset within 1 s (status 0x"
                        + Integer.toHexString(status()) + "); it may be wedged: reset the PCI function or the machine");
            }
            Thread.onSpinWait();
        }
    }

    long deviceFeatures() {
        write32(DEVICE_FEATURE_SELECT, 0);
        long low = Integer.toUnsignedLong(read32(DEVICE_FEATURE));
        write32(DEVICE_FEATURE_SELECT, 1);
        long high = Integer.toUnsignedLong(read32(DEVICE_FEATURE));
        return high << 32 | low;
    }

    void setDriverFeatures(long features) {
        write32(DRIVER_FEATURE_SELECT, 0);
        write32(DRIVER_FEATURE, (int) features);
        write32(DRIVER_FEATURE_SELECT, 1);
        write32(DRIVER_FEATURE, (int) (features >>> 32));
    }

    int numQueues() {
        return read16(NUM_QUEUES);
    }

    /** Routes configuration-change interrupts to MSI-X {@code vector}; checks the device took it. */
    void setConfigVector(int vector) throws IOException {
        write16(CONFIG_MSIX_VECTOR, vector);
        int back = read16(CONFIG_MSIX_VECTOR);
        if (back != vector) {
            throw new IOException(device + ": the device refused MSI-X vector " + vector + " for configuration"
                    + " changes (read back 0x" + Integer.toHexString(back) + ")");
        }
    }

    /** The largest size of queue {@code index} (0: no such queue). */
    int maxQueueSize(int index) {
        write16(QUEUE_SELECT, index);
        return read16(QUEUE_SIZE);
    }

    /**
     * Sets queue {@code index} up (size, vector, the three ring addresses) and enables it;
     * returns the offset of its doorbell in the notify BAR.
     */
    long setUpQueue(int index, SplitVirtqueue queue, int vector) throws IOException {
        write16(QUEUE_SELECT, index);
        write16(QUEUE_SIZE, queue.size());
        write16(QUEUE_MSIX_VECTOR, vector);
        int back = read16(QUEUE_MSIX_VECTOR);
        if (back != vector) {
            throw new IOException(device + ": the device refused MSI-X vector " + vector + " for queue " + index
                    + " (read back 0x" + Integer.toHexString(back) + "): it ran out of vectors");
        }
        write64(QUEUE_DESC, queue.descriptorTableIova());
        write64(QUEUE_DRIVER, queue.availIova());
        write64(QUEUE_DEVICE, queue.usedIova());
        long doorbell = capabilities.doorbellOffset(read16(QUEUE_NOTIFY_OFF), device);
        write16(QUEUE_ENABLE, 1);
        return doorbell;
    }

    /** Rings queue {@code index}'s doorbell at {@code doorbell} (from {@link #setUpQueue}). */
    void notifyQueue(long doorbell, int index) {
        LE16.setVolatile(notify, doorbell, (short) index);
    }

    /**
     * Reads {@code bytes} (1, 2 or 4) of the device configuration at {@code offset}. Callers
     * reading several fields repeat the read until {@link #configGeneration()} is unchanged.
     */
    int readDeviceConfig(int offset, int bytes) throws IOException {
        if (offset < 0 || offset + bytes > deviceConfig.byteSize()) {
            throw new IOException(device + ": its device configuration has " + deviceConfig.byteSize()
                    + " bytes; field at " + offset + " of " + bytes + " is beyond it");
        }
        return switch (bytes) {
            case 1 -> (byte) U8.getVolatile(deviceConfig, (long) offset) & 0xFF;
            case 2 -> (short) LE16.getVolatile(deviceConfig, (long) offset) & 0xFFFF;
            case 4 -> (int) LE32.getVolatile(deviceConfig, (long) offset);
            default -> throw new IllegalArgumentException("config reads are 1, 2 or 4 bytes: " + bytes);
        };
    }

    long deviceConfigLength() {
        return deviceConfig.byteSize();
    }

    int configGeneration() {
        return (byte) U8.getVolatile(common, (long) CONFIG_GENERATION) & 0xFF;
    }

    private int read16(int offset) {
        return (short) LE16.getVolatile(common, (long) offset) & 0xFFFF;
    }

    private void write16(int offset, int value) {
        LE16.setVolatile(common, (long) offset, (short) value);
    }

    private int read32(int offset) {
        return (int) LE32.getVolatile(common, (long) offset);
    }

    private void write32(int offset, int value) {
        LE32.setVolatile(common, (long) offset, value);
    }

    /** A 64-bit register as two 32-bit writes, low half first, as the specification allows. */
    private void write64(int offset, long value) {
        write32(offset, (int) value);
        write32(offset + 4, (int) (value >>> 32));
    }
}

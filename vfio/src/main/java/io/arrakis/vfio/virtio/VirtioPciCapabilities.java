package io.arrakis.vfio.virtio;

import java.io.IOException;

/**
 * Where a modern virtio PCI device keeps its structures: the vendor-specific capabilities
 * (PCI capability ID 0x09) in its configuration space, each naming a BAR, an offset and a
 * length, for the common configuration, the notification area (with its
 * {@code notify_off_multiplier}), the ISR status and the device-specific configuration. Parsed
 * from the configuration space alone (pure logic, tested on images). Immutable.
 *
 * @param common the {@code virtio_pci_common_cfg} structure
 * @param notification the notification area; a queue's doorbell is at
 *        {@code notification.offset + queue_notify_off * notifyOffMultiplier}
 * @param notifyOffMultiplier bytes between the doorbells of consecutive notify offsets (0: one
 *        doorbell for every queue)
 * @param isr the ISR status byte (unused with MSI-X, parsed for completeness)
 * @param device the device-specific configuration (for a network device: MAC, status, queue pairs, MTU)
 */
public record VirtioPciCapabilities(Region common, Region notification, int notifyOffMultiplier, Region isr, Region device) {
    static final int PCI_STATUS = 0x06;
    static final int PCI_STATUS_CAPABILITIES = 0x10;
    static final int PCI_CAPABILITY_POINTER = 0x34;
    static final int CAP_ID_VENDOR = 0x09;
    static final int TYPE_COMMON = 1;
    static final int TYPE_NOTIFY = 2;
    static final int TYPE_ISR = 3;
    static final int TYPE_DEVICE = 4;
    /** Offsets in {@code struct virtio_pci_cap}. */
    static final int CAP_TYPE = 3, CAP_BAR = 4, CAP_OFFSET = 8, CAP_LENGTH = 12, CAP_NOTIFY_MULTIPLIER = 16;
    /** A configuration space of 256 bytes holds at most this many 4-byte-aligned capabilities. */
    private static final int MAX_CAPABILITIES = 48;

    /** {@code length} bytes at {@code offset} of memory BAR {@code bar}. */
    public record Region(int bar, long offset, long length) {}

    /** Reads configuration space: {@code bytes} (1, 2 or 4) at {@code offset}, little-endian. */
    @FunctionalInterface
    public interface ConfigSpace {
        int read(int offset, int bytes) throws IOException;
    }

    /**
     * Walks the capability list of {@code config} and keeps the first capability of each virtio
     * type whose BAR is a memory BAR this driver can use (0..5), as the specification asks.
     *
     * @param device how messages name the device
     * @throws IOException when reading fails, or the list is malformed or lacks a structure
     */
    public static VirtioPciCapabilities parse(ConfigSpace config, String device) throws IOException {
        if ((config.read(PCI_STATUS, 2) & PCI_STATUS_CAPABILITIES) == 0) {
            throw new IOException(device + " has no PCI capability list, so it is no modern virtio device (a legacy"
                    + " one keeps its registers in an I/O BAR): use a virtio 1.x device");
        }
        Region common = null, notify = null, isr = null, deviceConfig = null;
        int multiplier = 0;
        int at = config.read(PCI_CAPABILITY_POINTER, 1) & 0xFC;
        int seen = 0;
        while (at != 0) {
            if (at < 0x40 || at > 0xFC) {
                throw new IOException(device + ": capability pointer 0x" + Integer.toHexString(at)
                        + " lies outside the capability area (0x40..0xfc): the configuration space is corrupt");
            }
            if (++seen > MAX_CAPABILITIES) {
                throw new IOException(device + ": the capability list does not end (a loop through 0x"
                        + Integer.toHexString(at) + "): the configuration space is corrupt");
            }
            int id = config.read(at, 1) & 0xFF;
            int next = config.read(at + 1, 1) & 0xFC;
            if (id == CAP_ID_VENDOR) {
                int length = config.read(at + 2, 1) & 0xFF;
                int type = config.read(at + CAP_TYPE, 1) & 0xFF;
                int bar = config.read(at + CAP_BAR, 1) & 0xFF;
                if (length >= 16 && bar <= 5) {
                    Region region = new Region(bar, Integer.toUnsignedLong(config.read(at + CAP_OFFSET, 4)),
                            Integer.toUnsignedLong(config.read(at + CAP_LENGTH, 4)));
                    switch (type) {
                        case TYPE_COMMON -> common = common == null ? region : common;
                        case TYPE_NOTIFY -> {
                            if (notify == null && length >= 20) {
                                notify = region;
                                multiplier = config.read(at + CAP_NOTIFY_MULTIPLIER, 4);
                            }
                        }
                        case TYPE_ISR -> isr = isr == null ? region : isr;
                        case TYPE_DEVICE -> deviceConfig = deviceConfig == null ? region : deviceConfig;
                        default -> { } // PCI access window, shared memory, vendor data: not used
                    }
                }
            }
            at = next;
        }
        String missing = (common == null ? " common" : "") + (notify == null ? " notify" : "")
                + (isr == null ? " isr" : "") + (deviceConfig == null ? " device" : "");
        if (!missing.isEmpty()) {
            throw new IOException(device + " lacks the virtio capabilities" + missing + " (a modern virtio PCI"
                    + " device has all four): is it a virtio 1.x device?");
        }
        if (common.length() < VirtioPciTransport.COMMON_CONFIG_LENGTH) {
            throw new IOException(device + ": its common configuration is " + common.length() + " bytes, fewer than"
                    + " the " + VirtioPciTransport.COMMON_CONFIG_LENGTH + " of virtio 1.0");
        }
        if (multiplier < 0 || (multiplier != 0 && multiplier % 2 != 0)) {
            throw new IOException(device + ": notify_off_multiplier " + Integer.toUnsignedString(multiplier)
                    + " is neither 0 nor an even number: the configuration space is corrupt");
        }
        return new VirtioPciCapabilities(common, notify, multiplier, isr, deviceConfig);
    }

    /**
     * The offset in {@link #notification}'s BAR of the doorbell of a queue whose {@code queue_notify_off}
     * is {@code queueNotifyOff}, checked against the notify region (a device that names a doorbell
     * outside it is refused, not written to).
     */
    public long doorbellOffset(int queueNotifyOff, String device) throws IOException {
        long within = (long) (queueNotifyOff & 0xFFFF) * Integer.toUnsignedLong(notifyOffMultiplier);
        if (within + 2 > notification.length()) {
            throw new IOException(device + ": queue_notify_off " + queueNotifyOff + " x multiplier "
                    + notifyOffMultiplier + " lies outside its " + notification.length() + "-byte notify area");
        }
        return notification.offset() + within;
    }
}

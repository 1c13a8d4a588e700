package io.arrakis.vfio.virtio;

import java.util.ArrayList;
import java.util.List;

/**
 * The feature bits of a virtio 1.x network device this driver knows, and the negotiation: which
 * of the device's offered features the driver accepts, and why a device is refused. Pure logic
 * (no device), so it is tested on its own. Immutable; thread-safe.
 *
 * <p>What the driver accepts when offered: {@link #VERSION_1} (required: the modern interface
 * only), {@link #ACCESS_PLATFORM} (required: the device must reach memory through the IOMMU, or
 * the I/O virtual addresses VFIO hands out mean nothing to it), {@link #MAC}, {@link #STATUS},
 * {@link #MTU}, {@link #MRG_RXBUF} (its header is the 12 bytes every 1.x device uses anyway; frames
 * still fit one buffer, see {@link VirtioNetQueue}), {@link #CSUM} and {@link #GUEST_CSUM},
 * {@link #EVENT_IDX} (interrupt and notification suppression by index) and
 * {@link #ORDER_PLATFORM}; {@link #MQ} with {@link #CTRL_VQ} only when more than one queue pair is
 * asked for. Segmentation offloads (TSO, UFO), packed rings, indirect descriptors and in-order
 * completion are not negotiated.
 */
public final class VirtioFeatures {
    public static final int CSUM = 0;
    public static final int GUEST_CSUM = 1;
    public static final int MTU = 3;
    public static final int MAC = 5;
    public static final int MRG_RXBUF = 15;
    public static final int STATUS = 16;
    public static final int CTRL_VQ = 17;
    public static final int MQ = 22;
    public static final int INDIRECT_DESC = 28;
    public static final int EVENT_IDX = 29;
    public static final int VERSION_1 = 32;
    public static final int ACCESS_PLATFORM = 33;
    public static final int RING_PACKED = 34;
    public static final int IN_ORDER = 35;
    public static final int ORDER_PLATFORM = 36;

    private static final long ALWAYS_WANTED = bits(VERSION_1, ACCESS_PLATFORM, MAC, STATUS, MTU, MRG_RXBUF, CSUM,
            GUEST_CSUM, EVENT_IDX, ORDER_PLATFORM);
    private static final long MULTI_QUEUE = bits(MQ, CTRL_VQ);

    private VirtioFeatures() {}

    public static long bit(int feature) {
        return 1L << feature;
    }

    public static boolean has(long features, int feature) {
        return (features & bit(feature)) != 0;
    }

    static long bits(int... features) {
        long bits = 0;
        for (int feature : features) {
            bits |= bit(feature);
        }
        return bits;
    }

    /**
     * The features to accept from {@code offered} for a VNIC of {@code queuePairs} queue pairs.
     *
     * @param device how messages name the device, e.g. {@code "virtio-net 0000:00:03.0"}
     * @throws IllegalStateException when the device cannot be driven: legacy only, no IOMMU
     *         translation, or more queue pairs asked than it can give
     */
    public static long negotiate(long offered, int queuePairs, String device) {
        if (!has(offered, VERSION_1)) {
            throw new IllegalStateException(device + " does not offer VIRTIO_F_VERSION_1 (it is a legacy or"
                    + " transitional device driven the legacy way); this driver speaks virtio 1.x only: use a modern"
                    + " device (QEMU: -device virtio-net-pci,disable-legacy=on)");
        }
        if (!has(offered, ACCESS_PLATFORM)) {
            throw new IllegalStateException(device + " does not offer VIRTIO_F_ACCESS_PLATFORM, so it bypasses the"
                    + " IOMMU and would take our I/O virtual addresses for physical ones; give it IOMMU translation"
                    + " (QEMU: -device virtio-net-pci,iommu_platform=on with an emulated IOMMU)");
        }
        long wanted = ALWAYS_WANTED;
        if (queuePairs > 1) {
            if ((offered & MULTI_QUEUE) != MULTI_QUEUE) {
                throw new IllegalStateException(device + " offers " + (has(offered, MQ) ? "VIRTIO_NET_F_MQ without"
                        + " VIRTIO_NET_F_CTRL_VQ" : "no VIRTIO_NET_F_MQ") + ", so it has one queue pair, and "
                        + queuePairs + " were asked for: ask for one (QEMU: -device virtio-net-pci,mq=on,vectors=N"
                        + " with -netdev tap,queues=M offers more)");
            }
            wanted |= MULTI_QUEUE;
        }
        return offered & wanted;
    }

    /** The names of the bits set in {@code features}, for messages and tools. */
    public static String describe(long features) {
        List<String> names = new ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            if (has(features, bit)) {
                names.add(name(bit));
            }
        }
        return String.join(",", names);
    }

    static String name(int bit) {
        return switch (bit) {
            case CSUM -> "CSUM";
            case GUEST_CSUM -> "GUEST_CSUM";
            case 2 -> "CTRL_GUEST_OFFLOADS";
            case MTU -> "MTU";
            case MAC -> "MAC";
            case 7 -> "GUEST_TSO4";
            case 8 -> "GUEST_TSO6";
            case 9 -> "GUEST_ECN";
            case 10 -> "GUEST_UFO";
            case 11 -> "HOST_TSO4";
            case 12 -> "HOST_TSO6";
            case 13 -> "HOST_ECN";
            case 14 -> "HOST_UFO";
            case MRG_RXBUF -> "MRG_RXBUF";
            case STATUS -> "STATUS";
            case CTRL_VQ -> "CTRL_VQ";
            case 18 -> "CTRL_RX";
            case 19 -> "CTRL_VLAN";
            case 21 -> "GUEST_ANNOUNCE";
            case MQ -> "MQ";
            case 23 -> "CTRL_MAC_ADDR";
            case INDIRECT_DESC -> "RING_INDIRECT_DESC";
            case EVENT_IDX -> "RING_EVENT_IDX";
            case VERSION_1 -> "VERSION_1";
            case ACCESS_PLATFORM -> "ACCESS_PLATFORM";
            case RING_PACKED -> "RING_PACKED";
            case IN_ORDER -> "IN_ORDER";
            case ORDER_PLATFORM -> "ORDER_PLATFORM";
            case 37 -> "SR_IOV";
            case 38 -> "NOTIFICATION_DATA";
            default -> "bit" + bit;
        };
    }
}

package io.arrakis.control;

import io.arrakis.device.Ipv4Text;
import java.nio.file.Path;

/**
 * How a control plane is set up: where it listens, which subnet it assigns addresses from (the
 * first host address, {@code .1}, is reserved for a gateway), the MTU of its VNICs, and the
 * geometry of every channel (descriptors per channel, bytes per frame slot).
 */
public record ControlPlaneConfig(Path socket, int subnet, int prefixLength, int mtu, int channelCapacity,
        int frameSlotSize) {
    public static final String DEFAULT_SUBNET = "198.18.0.0/24";
    public static final int DEFAULT_MTU = 1500;
    public static final int DEFAULT_CHANNEL_CAPACITY = 256;

    public ControlPlaneConfig {
        if (socket == null) {
            throw new IllegalArgumentException("the control plane needs a socket path");
        }
        if (prefixLength < 8 || prefixLength > 30) {
            throw new IllegalArgumentException("subnet prefix length must be 8..30 (room for hosts), not "
                    + prefixLength);
        }
        int mask = -1 << (32 - prefixLength);
        if ((subnet & ~mask) != 0) {
            throw new IllegalArgumentException("subnet " + Ipv4Text.format(subnet) + "/" + prefixLength
                    + " has host bits set; did you mean " + Ipv4Text.format(subnet & mask) + "/" + prefixLength + "?");
        }
        if (mtu < 576 || mtu > 9000) {
            throw new IllegalArgumentException("MTU must be 576..9000, not " + mtu);
        }
        ChannelLayout.checkGeometry(channelCapacity, frameSlotSize);
        if (frameSlotSize < maxFrame(mtu)) {
            throw new IllegalArgumentException("frame slot of " + frameSlotSize + " bytes cannot hold a frame of MTU "
                    + mtu + " (" + maxFrame(mtu) + " bytes with Ethernet header and VLAN tag)");
        }
    }

    /** Defaults (subnet 198.18.0.0/24, MTU 1500, 256 descriptors of 2 KiB slots per channel) at {@code socket}. */
    public static ControlPlaneConfig defaults(Path socket) {
        return withSubnet(socket, DEFAULT_SUBNET);
    }

    /** Defaults with the subnet given as {@code a.b.c.d/n}. */
    public static ControlPlaneConfig withSubnet(Path socket, String cidr) {
        int slash = cidr.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("subnet must be written a.b.c.d/n, not " + cidr);
        }
        int prefix;
        try {
            prefix = Integer.parseInt(cidr.substring(slash + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("subnet must be written a.b.c.d/n, not " + cidr, e);
        }
        return new ControlPlaneConfig(socket, Ipv4Text.parse(cidr.substring(0, slash)), prefix, DEFAULT_MTU,
                DEFAULT_CHANNEL_CAPACITY, 2048);
    }

    public ControlPlaneConfig withMtu(int newMtu) {
        int slot = Math.max(frameSlotSize, (maxFrame(newMtu) + 63) & -64);
        return new ControlPlaneConfig(socket, subnet, prefixLength, newMtu, channelCapacity, slot);
    }

    public ControlPlaneConfig withChannelCapacity(int capacity) {
        return new ControlPlaneConfig(socket, subnet, prefixLength, mtu, capacity, frameSlotSize);
    }

    /** The longest frame an MTU allows: the IP packet, the Ethernet header and a VLAN tag. */
    public static int maxFrame(int mtu) {
        return mtu + 18;
    }

    public String subnetText() {
        return Ipv4Text.format(subnet) + "/" + prefixLength;
    }
}

package io.arrakis.stack;

import io.arrakis.device.Ipv4Text;

/**
 * How one stack instance is addressed and tuned. Addresses are IPv4 ints in host order;
 * {@code gateway} 0 means "no route beyond the subnet". Times are nanoseconds.
 */
public record StackConfig(int address, int prefixLength, int gateway, int mtu, long arpReachableNanos,
        long arpRetryNanos, int arpMaxRequests, long reassemblyTimeoutNanos, int defaultTtl) {

    public StackConfig {
        if (prefixLength < 0 || prefixLength > 32) {
            throw new IllegalArgumentException("prefix length must be 0..32: " + prefixLength);
        }
        if (mtu < 576 || mtu > 9000) {
            throw new IllegalArgumentException("MTU must be 576..9000 bytes: " + mtu);
        }
        if (gateway != 0 && !sameSubnet(address, gateway, prefixLength)) {
            throw new IllegalArgumentException("gateway " + Ipv4Text.format(gateway) + " is not in "
                    + Ipv4Text.format(address) + "/" + prefixLength);
        }
    }

    /** Defaults close to Linux's: ARP entries reachable 30 s, requests 1 s apart, 3 tries; reassembly 30 s. */
    public static StackConfig of(String address, int prefixLength, String gateway) {
        return new StackConfig(Ipv4Text.parse(address), prefixLength, gateway == null ? 0 : Ipv4Text.parse(gateway),
                1500, 30_000_000_000L, 1_000_000_000L, 3, 30_000_000_000L, 64);
    }

    public StackConfig withMtu(int newMtu) {
        return new StackConfig(address, prefixLength, gateway, newMtu, arpReachableNanos, arpRetryNanos,
                arpMaxRequests, reassemblyTimeoutNanos, defaultTtl);
    }

    public int netmask() {
        return prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
    }

    public boolean onLink(int destination) {
        return sameSubnet(address, destination, prefixLength);
    }

    /** The directed broadcast address of our subnet. */
    public int subnetBroadcast() {
        return address | ~netmask();
    }

    private static boolean sameSubnet(int a, int b, int prefixLength) {
        int mask = prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
        return (a & mask) == (b & mask);
    }
}

package io.arrakis.device;

import java.io.IOException;
import java.util.Set;

/**
 * A virtual network interface: what Arrakis gets from an SR-IOV virtual function, and what every
 * backend (shared-memory switch, TAP, AF_XDP, virtio-net over VFIO) gives the stack.
 *
 * <p>The data path is per queue ({@link #queue}): each queue pair is polled by one thread, which
 * owns it. Identity and {@link #control()} are the control path and are thread-safe.
 */
public interface Vnic extends AutoCloseable {
    /** A short name unique on this host, as tools show it: {@code "vf3"}, {@code "tap0"}. */
    String name();

    /** The backend that made this VNIC, as registered: {@code "shm"}, {@code "tap"}, {@code "loopback"}. */
    String backend();

    MacAddress mac();

    /** Largest IP packet the link carries, in bytes (the Ethernet payload, not the frame). */
    int mtu();

    Set<Offload> offloads();

    int queueCount();

    /** Queue pair {@code index}, {@code 0 <= index < queueCount()}. */
    VnicQueue queue(int index);

    /**
     * Filters and rate limits: operations of the control plane, which enforces them where the
     * application cannot bypass them (in the switch, the XDP program, or the NIC).
     */
    VnicControl control();

    /** Releases the queues, their memory and doorbells; idempotent. */
    @Override
    void close() throws IOException;
}

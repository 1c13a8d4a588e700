package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;

/**
 * An Ethernet II frame header viewed in place: destination MAC, source MAC, EtherType. MACs
 * are the low 48 bits of a long. Stateless; thread-safe.
 */
public final class Ethernet {
    public static final int HEADER_LENGTH = 14;
    public static final int TYPE_IPV4 = 0x0800;
    public static final int TYPE_ARP = 0x0806;
    public static final int TYPE_VLAN = 0x8100;
    public static final int TYPE_IPV6 = 0x86DD;

    private static final int DESTINATION = 0;
    private static final int SOURCE = 6;
    private static final int TYPE = 12;

    private Ethernet() {}

    public static long destination(MemorySegment frame, long at) {
        return NetworkOrder.u48(frame, at + DESTINATION);
    }

    public static void setDestination(MemorySegment frame, long at, long mac) {
        NetworkOrder.setU48(frame, at + DESTINATION, mac);
    }

    public static long source(MemorySegment frame, long at) {
        return NetworkOrder.u48(frame, at + SOURCE);
    }

    public static void setSource(MemorySegment frame, long at, long mac) {
        NetworkOrder.setU48(frame, at + SOURCE, mac);
    }

    public static int etherType(MemorySegment frame, long at) {
        return NetworkOrder.u16(frame, at + TYPE);
    }

    public static void setEtherType(MemorySegment frame, long at, int type) {
        NetworkOrder.setU16(frame, at + TYPE, type);
    }

    /** Writes a whole header. */
    public static void write(MemorySegment frame, long at, long destination, long source, int etherType) {
        setDestination(frame, at, destination);
        setSource(frame, at, source);
        setEtherType(frame, at, etherType);
    }
}

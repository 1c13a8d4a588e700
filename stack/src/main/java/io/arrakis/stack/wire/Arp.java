package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;

/**
 * An ARP packet for IPv4 over Ethernet (RFC 826) viewed in place: 28 bytes after the Ethernet
 * header. MACs are the low 48 bits of a long; addresses are ints in host order. Stateless.
 */
public final class Arp {
    public static final int LENGTH = 28;
    public static final int OPERATION_REQUEST = 1;
    public static final int OPERATION_REPLY = 2;

    private static final int HARDWARE_TYPE = 0;
    private static final int PROTOCOL_TYPE = 2;
    private static final int HARDWARE_LENGTH = 4;
    private static final int PROTOCOL_LENGTH = 5;
    private static final int OPERATION = 6;
    private static final int SENDER_MAC = 8;
    private static final int SENDER_ADDRESS = 14;
    private static final int TARGET_MAC = 18;
    private static final int TARGET_ADDRESS = 24;
    private static final int HARDWARE_ETHERNET = 1;

    private Arp() {}

    /** Whether this is an Ethernet/IPv4 ARP packet we understand (of {@code available} bytes). */
    public static boolean isEthernetIpv4(MemorySegment p, long at, int available) {
        return available >= LENGTH
                && NetworkOrder.u16(p, at + HARDWARE_TYPE) == HARDWARE_ETHERNET
                && NetworkOrder.u16(p, at + PROTOCOL_TYPE) == Ethernet.TYPE_IPV4
                && NetworkOrder.u8(p, at + HARDWARE_LENGTH) == 6
                && NetworkOrder.u8(p, at + PROTOCOL_LENGTH) == 4;
    }

    public static int operation(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + OPERATION);
    }

    public static long senderMac(MemorySegment p, long at) {
        return NetworkOrder.u48(p, at + SENDER_MAC);
    }

    public static int senderAddress(MemorySegment p, long at) {
        return NetworkOrder.u32(p, at + SENDER_ADDRESS);
    }

    public static long targetMac(MemorySegment p, long at) {
        return NetworkOrder.u48(p, at + TARGET_MAC);
    }

    public static int targetAddress(MemorySegment p, long at) {
        return NetworkOrder.u32(p, at + TARGET_ADDRESS);
    }

    /** Writes a whole Ethernet/IPv4 ARP packet. */
    public static void write(MemorySegment p, long at, int operation, long senderMac, int senderAddress,
            long targetMac, int targetAddress) {
        NetworkOrder.setU16(p, at + HARDWARE_TYPE, HARDWARE_ETHERNET);
        NetworkOrder.setU16(p, at + PROTOCOL_TYPE, Ethernet.TYPE_IPV4);
        NetworkOrder.setU8(p, at + HARDWARE_LENGTH, 6);
        NetworkOrder.setU8(p, at + PROTOCOL_LENGTH, 4);
        NetworkOrder.setU16(p, at + OPERATION, operation);
        NetworkOrder.setU48(p, at + SENDER_MAC, senderMac);
        NetworkOrder.setU32(p, at + SENDER_ADDRESS, senderAddress);
        NetworkOrder.setU48(p, at + TARGET_MAC, targetMac);
        NetworkOrder.setU32(p, at + TARGET_ADDRESS, targetAddress);
    }
}

package io.arrakis.device.tap;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Hand-built Ethernet frames for the TAP tests, written and read with plain {@link MemorySegment}
 * accesses (the stack's wire classes live in a module the platform cannot use). Offsets are from
 * the start of the frame; multi-byte fields are big-endian, as on the wire.
 */
final class Frames {
    static final int ETHERNET_HEADER = 14;
    static final int ETHERTYPE_IPV4 = 0x0800;
    static final int ETHERTYPE_ARP = 0x0806;
    static final int ARP_LENGTH = ETHERNET_HEADER + 28;
    static final int IPV4_HEADER = 20;
    static final int ICMP_HEADER = 8;
    static final int UDP_HEADER = 8;
    static final int PROTOCOL_ICMP = 1;
    static final int PROTOCOL_UDP = 17;
    static final int ARP_REQUEST = 1;
    static final int ARP_REPLY = 2;
    static final int ICMP_ECHO_REPLY = 0;
    static final int ICMP_ECHO_REQUEST = 8;

    static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private Frames() {}

    static void writeMac(MemorySegment frame, long at, long mac) {
        frame.set(U16, at, (short) (mac >>> 32));
        frame.set(U32, at + 2, (int) mac);
    }

    static long readMac(MemorySegment frame, long at) {
        return ((long) (frame.get(U16, at) & 0xFFFF) << 32) | (frame.get(U32, at + 2) & 0xFFFF_FFFFL);
    }

    static void writeEthernet(MemorySegment frame, long destination, long source, int ethertype) {
        writeMac(frame, 0, destination);
        writeMac(frame, 6, source);
        frame.set(U16, 12, (short) ethertype);
    }

    /** An ARP request, broadcast: who has {@code targetAddress}? Tell {@code senderAddress}. Returns its length. */
    static int writeArpRequest(MemorySegment frame, long senderMac, int senderAddress, int targetAddress) {
        writeEthernet(frame, 0xFFFF_FFFF_FFFFL, senderMac, ETHERTYPE_ARP);
        long arp = ETHERNET_HEADER;
        frame.set(U16, arp, (short) 1); // hardware type: Ethernet
        frame.set(U16, arp + 2, (short) ETHERTYPE_IPV4);
        frame.set(U8, arp + 4, (byte) 6);
        frame.set(U8, arp + 5, (byte) 4);
        frame.set(U16, arp + 6, (short) ARP_REQUEST);
        writeMac(frame, arp + 8, senderMac);
        frame.set(U32, arp + 14, senderAddress);
        writeMac(frame, arp + 18, 0);
        frame.set(U32, arp + 24, targetAddress);
        return ARP_LENGTH;
    }

    /** An IPv4 ICMP echo request with both checksums filled in; returns its length. */
    static int writeEchoRequest(MemorySegment frame, long destinationMac, long sourceMac, int source, int destination,
            int identifier, int sequence, byte[] payload) {
        writeEthernet(frame, destinationMac, sourceMac, ETHERTYPE_IPV4);
        int icmpLength = ICMP_HEADER + payload.length;
        writeIpv4(frame, source, destination, PROTOCOL_ICMP, icmpLength);
        long icmp = ETHERNET_HEADER + IPV4_HEADER;
        frame.set(U8, icmp, (byte) ICMP_ECHO_REQUEST);
        frame.set(U8, icmp + 1, (byte) 0);
        frame.set(U16, icmp + 2, (short) 0);
        frame.set(U16, icmp + 4, (short) identifier);
        frame.set(U16, icmp + 6, (short) sequence);
        MemorySegment.copy(payload, 0, frame, U8, icmp + ICMP_HEADER, payload.length);
        frame.set(U16, icmp + 2, (short) checksum(frame, icmp, icmpLength));
        return ETHERNET_HEADER + IPV4_HEADER + icmpLength;
    }

    /** A 20-byte IPv4 header (no options, DF, TTL 64) with its checksum, at the Ethernet payload. */
    static void writeIpv4(MemorySegment frame, int source, int destination, int protocol, int payloadLength) {
        long ip = ETHERNET_HEADER;
        frame.set(U8, ip, (byte) 0x45);
        frame.set(U8, ip + 1, (byte) 0);
        frame.set(U16, ip + 2, (short) (IPV4_HEADER + payloadLength));
        frame.set(U16, ip + 4, (short) 0x1234);
        frame.set(U16, ip + 6, (short) 0x4000);
        frame.set(U8, ip + 8, (byte) 64);
        frame.set(U8, ip + 9, (byte) protocol);
        frame.set(U16, ip + 10, (short) 0);
        frame.set(U32, ip + 12, source);
        frame.set(U32, ip + 16, destination);
        frame.set(U16, ip + 10, (short) checksum(frame, ip, IPV4_HEADER));
    }

    /** The Internet checksum (RFC 1071) of {@code length} bytes at {@code at}. */
    static int checksum(MemorySegment frame, long at, int length) {
        long sum = 0;
        int i = 0;
        for (; i + 1 < length; i += 2) {
            sum += frame.get(U16, at + i) & 0xFFFF;
        }
        if (i < length) {
            sum += (frame.get(U8, at + i) & 0xFF) << 8;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) (~sum & 0xFFFF);
    }

    static int ethertype(MemorySegment frame) {
        return frame.get(U16, 12) & 0xFFFF;
    }

    static boolean isArp(MemorySegment frame, int operation) {
        return frame.byteSize() >= ARP_LENGTH && ethertype(frame) == ETHERTYPE_ARP
                && (frame.get(U16, ETHERNET_HEADER + 6) & 0xFFFF) == operation;
    }

    static boolean isIpv4(MemorySegment frame, int protocol) {
        return frame.byteSize() >= ETHERNET_HEADER + IPV4_HEADER && ethertype(frame) == ETHERTYPE_IPV4
                && (frame.get(U8, ETHERNET_HEADER + 9) & 0xFF) == protocol;
    }

    static boolean isEchoReply(MemorySegment frame, int identifier) {
        long icmp = ETHERNET_HEADER + IPV4_HEADER;
        return isIpv4(frame, PROTOCOL_ICMP) && frame.byteSize() >= icmp + ICMP_HEADER
                && (frame.get(U8, icmp) & 0xFF) == ICMP_ECHO_REPLY
                && (frame.get(U16, icmp + 4) & 0xFFFF) == identifier;
    }

    static boolean isUdpTo(MemorySegment frame, int port) {
        long udp = ETHERNET_HEADER + IPV4_HEADER;
        return isIpv4(frame, PROTOCOL_UDP) && frame.byteSize() >= udp + UDP_HEADER
                && (frame.get(U16, udp + 2) & 0xFFFF) == port;
    }

    static int ipv4Source(MemorySegment frame) {
        return frame.get(U32, ETHERNET_HEADER + 12);
    }

    static int ipv4Destination(MemorySegment frame) {
        return frame.get(U32, ETHERNET_HEADER + 16);
    }
}

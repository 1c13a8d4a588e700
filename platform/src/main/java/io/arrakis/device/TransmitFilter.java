package io.arrakis.device;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * What a VNIC may send: frames whose source MAC is {@code mac} and, for IPv4, whose source
 * address is {@code address} (host order). Anything else is spoofing and is dropped.
 * {@link #ANY} allows everything (a VNIC the kernel owns, or a test).
 */
public record TransmitFilter(MacAddress mac, int address) {
    public static final TransmitFilter ANY = new TransmitFilter(null, 0);

    private static final int ETHERNET_HEADER = 14;
    private static final int ETHERTYPE_IPV4 = 0x0800;
    private static final int ETHERTYPE_ARP = 0x0806;
    private static final int IPV4_MIN_HEADER = 20;
    private static final int ARP_IPV4_LENGTH = 28;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    public boolean allows(long sourceMac, int sourceAddress) {
        return (mac == null || mac.bits() == sourceMac) && (address == 0 || address == sourceAddress);
    }

    /**
     * Whether the Ethernet frame of {@code length} bytes at {@code memory[frame]} may be sent: its
     * source MAC, and for IPv4 its source address, and for ARP the sender's MAC and address too
     * (a spoofed ARP reply poisons caches as well as a spoofed IP packet does). Backends call
     * this on their transmit path; allocation-free.
     */
    public boolean allowsFrame(MemorySegment memory, long frame, int length) {
        if (this == ANY) {
            return true;
        }
        long sourceMac = mac(memory, frame + 6);
        int etherType = memory.get(U16, frame + 12) & 0xFFFF;
        if (etherType == ETHERTYPE_ARP && length >= ETHERNET_HEADER + ARP_IPV4_LENGTH) {
            long senderMac = mac(memory, frame + ETHERNET_HEADER + 8);
            int senderAddress = memory.get(U32, frame + ETHERNET_HEADER + 14);
            return allows(sourceMac, senderAddress) && allows(senderMac, senderAddress);
        }
        int sourceAddress = 0;
        if (etherType == ETHERTYPE_IPV4 && length >= ETHERNET_HEADER + IPV4_MIN_HEADER) {
            sourceAddress = memory.get(U32, frame + ETHERNET_HEADER + 12);
        }
        return allows(sourceMac, sourceAddress);
    }

    private static long mac(MemorySegment memory, long at) {
        return ((long) (memory.get(U16, at) & 0xFFFF) << 32) | (memory.get(U32, at + 2) & 0xFFFF_FFFFL);
    }
}

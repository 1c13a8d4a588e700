package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;

/** A UDP header (RFC 768) viewed in place. Stateless; thread-safe. */
public final class Udp {
    public static final int HEADER_LENGTH = 8;

    private static final int SOURCE_PORT = 0;
    private static final int DESTINATION_PORT = 2;
    private static final int LENGTH = 4;
    private static final int CHECKSUM = 6;

    private Udp() {}

    public static int sourcePort(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + SOURCE_PORT);
    }

    public static int destinationPort(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + DESTINATION_PORT);
    }

    /** Length of header plus payload. */
    public static int length(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + LENGTH);
    }

    public static int checksum(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + CHECKSUM);
    }

    /**
     * Writes the header for {@code payloadLength} bytes that already follow it, with the
     * checksum over the pseudo-header, header and payload (0 is sent as 0xFFFF: RFC 768).
     */
    public static void write(MemorySegment p, long at, int sourcePort, int destinationPort, int payloadLength,
            int sourceAddress, int destinationAddress) {
        int length = HEADER_LENGTH + payloadLength;
        NetworkOrder.setU16(p, at + SOURCE_PORT, sourcePort);
        NetworkOrder.setU16(p, at + DESTINATION_PORT, destinationPort);
        NetworkOrder.setU16(p, at + LENGTH, length);
        NetworkOrder.setU16(p, at + CHECKSUM, 0);
        long sum = InternetChecksum.pseudoHeaderSum(sourceAddress, destinationAddress, Ipv4.PROTOCOL_UDP, length);
        int checksum = InternetChecksum.finish(InternetChecksum.sum(p, at, length, sum));
        NetworkOrder.setU16(p, at + CHECKSUM, checksum == 0 ? 0xFFFF : checksum);
    }

    /**
     * Whether the datagram of {@code length} bytes (header included) carries a right checksum;
     * a zero checksum means the sender did not compute one, which IPv4 allows.
     */
    public static boolean checksumValid(MemorySegment p, long at, int length, int sourceAddress,
            int destinationAddress) {
        if (checksum(p, at) == 0) {
            return true;
        }
        long sum = InternetChecksum.pseudoHeaderSum(sourceAddress, destinationAddress, Ipv4.PROTOCOL_UDP, length);
        return InternetChecksum.finish(InternetChecksum.sum(p, at, length, sum)) == 0;
    }
}

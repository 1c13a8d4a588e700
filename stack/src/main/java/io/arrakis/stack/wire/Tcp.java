package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;

/**
 * A TCP header (RFC 9293 §3.1) viewed in place. Sequence numbers are ints compared modulo 2³²
 * (see {@link #seqLessThan}). Options are read and written with {@link TcpOptions}. Stateless;
 * thread-safe.
 */
public final class Tcp {
    public static final int MIN_HEADER_LENGTH = 20;
    public static final int MAX_HEADER_LENGTH = 60;

    public static final int FIN = 0x01;
    public static final int SYN = 0x02;
    public static final int RST = 0x04;
    public static final int PSH = 0x08;
    public static final int ACK = 0x10;
    public static final int URG = 0x20;
    public static final int ECE = 0x40;
    public static final int CWR = 0x80;

    private static final int SOURCE_PORT = 0;
    private static final int DESTINATION_PORT = 2;
    private static final int SEQUENCE = 4;
    private static final int ACKNOWLEDGMENT = 8;
    private static final int DATA_OFFSET = 12;
    private static final int FLAGS = 13;
    private static final int WINDOW = 14;
    private static final int CHECKSUM = 16;
    private static final int URGENT_POINTER = 18;

    private Tcp() {}

    public static int sourcePort(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + SOURCE_PORT);
    }

    public static int destinationPort(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + DESTINATION_PORT);
    }

    public static int sequence(MemorySegment p, long at) {
        return NetworkOrder.u32(p, at + SEQUENCE);
    }

    public static int acknowledgment(MemorySegment p, long at) {
        return NetworkOrder.u32(p, at + ACKNOWLEDGMENT);
    }

    /** Header length in bytes, options included (data offset × 4). */
    public static int headerLength(MemorySegment p, long at) {
        return (NetworkOrder.u8(p, at + DATA_OFFSET) >>> 4) * 4;
    }

    public static int flags(MemorySegment p, long at) {
        return NetworkOrder.u8(p, at + FLAGS);
    }

    public static int window(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + WINDOW);
    }

    public static void setWindow(MemorySegment p, long at, int window) {
        NetworkOrder.setU16(p, at + WINDOW, window);
    }

    public static int checksum(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + CHECKSUM);
    }

    public static int urgentPointer(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + URGENT_POINTER);
    }

    /**
     * Writes the fixed header; {@code headerLength} (20 plus the options already written, or
     * about to be, at {@code at + 20}) must be a multiple of 4. The checksum is left 0: fill it
     * with {@link #fillChecksum} once the options and payload are in place.
     */
    public static void write(MemorySegment p, long at, int sourcePort, int destinationPort, int sequence,
            int acknowledgment, int headerLength, int flags, int window) {
        NetworkOrder.setU16(p, at + SOURCE_PORT, sourcePort);
        NetworkOrder.setU16(p, at + DESTINATION_PORT, destinationPort);
        NetworkOrder.setU32(p, at + SEQUENCE, sequence);
        NetworkOrder.setU32(p, at + ACKNOWLEDGMENT, acknowledgment);
        NetworkOrder.setU8(p, at + DATA_OFFSET, (headerLength / 4) << 4);
        NetworkOrder.setU8(p, at + FLAGS, flags);
        NetworkOrder.setU16(p, at + WINDOW, window);
        NetworkOrder.setU16(p, at + CHECKSUM, 0);
        NetworkOrder.setU16(p, at + URGENT_POINTER, 0);
    }

    /** Computes the checksum over pseudo-header, header and payload ({@code length} bytes) and stores it. */
    public static void fillChecksum(MemorySegment p, long at, int length, int sourceAddress, int destinationAddress) {
        NetworkOrder.setU16(p, at + CHECKSUM, 0);
        long sum = InternetChecksum.pseudoHeaderSum(sourceAddress, destinationAddress, Ipv4.PROTOCOL_TCP, length);
        NetworkOrder.setU16(p, at + CHECKSUM, InternetChecksum.finish(InternetChecksum.sum(p, at, length, sum)));
    }

    public static boolean checksumValid(MemorySegment p, long at, int length, int sourceAddress,
            int destinationAddress) {
        long sum = InternetChecksum.pseudoHeaderSum(sourceAddress, destinationAddress, Ipv4.PROTOCOL_TCP, length);
        return InternetChecksum.finish(InternetChecksum.sum(p, at, length, sum)) == 0;
    }

    /** {@code a < b} in sequence space (RFC 9293 §3.4: modulo 2³²). */
    public static boolean seqLessThan(int a, int b) {
        return a - b < 0;
    }

    public static boolean seqLessOrEqual(int a, int b) {
        return a - b <= 0;
    }
}

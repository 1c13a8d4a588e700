package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;

/**
 * An IPv4 header (RFC 791) viewed in place. Addresses are ints in host order. Options are not
 * interpreted, only skipped: {@link #headerLength} says where the payload starts. Stateless;
 * thread-safe.
 */
public final class Ipv4 {
    public static final int MIN_HEADER_LENGTH = 20;
    public static final int PROTOCOL_ICMP = 1;
    public static final int PROTOCOL_TCP = 6;
    public static final int PROTOCOL_UDP = 17;
    /** Flags in the fragment field: don't fragment, more fragments. */
    public static final int FLAG_DF = 0x4000;
    public static final int FLAG_MF = 0x2000;
    private static final int FRAGMENT_OFFSET_MASK = 0x1FFF;

    private static final int VERSION_IHL = 0;
    private static final int TOS = 1;
    private static final int TOTAL_LENGTH = 2;
    private static final int IDENTIFICATION = 4;
    private static final int FRAGMENT = 6;
    private static final int TTL = 8;
    private static final int PROTOCOL = 9;
    private static final int CHECKSUM = 10;
    private static final int SOURCE = 12;
    private static final int DESTINATION = 16;

    private Ipv4() {}

    public static int version(MemorySegment p, long at) {
        return NetworkOrder.u8(p, at + VERSION_IHL) >>> 4;
    }

    /** Header length in bytes, options included (IHL × 4). */
    public static int headerLength(MemorySegment p, long at) {
        return (NetworkOrder.u8(p, at + VERSION_IHL) & 0x0F) * 4;
    }

    public static int tos(MemorySegment p, long at) {
        return NetworkOrder.u8(p, at + TOS);
    }

    public static void setTos(MemorySegment p, long at, int tos) {
        NetworkOrder.setU8(p, at + TOS, tos);
    }

    /** Length of the datagram, header included. */
    public static int totalLength(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + TOTAL_LENGTH);
    }

    public static void setTotalLength(MemorySegment p, long at, int length) {
        NetworkOrder.setU16(p, at + TOTAL_LENGTH, length);
    }

    public static int identification(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + IDENTIFICATION);
    }

    public static void setIdentification(MemorySegment p, long at, int id) {
        NetworkOrder.setU16(p, at + IDENTIFICATION, id);
    }

    /** The flags and fragment offset field as on the wire; see {@link #FLAG_DF}, {@link #FLAG_MF}. */
    public static int fragmentField(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + FRAGMENT);
    }

    public static void setFragmentField(MemorySegment p, long at, int field) {
        NetworkOrder.setU16(p, at + FRAGMENT, field);
    }

    public static boolean dontFragment(MemorySegment p, long at) {
        return (fragmentField(p, at) & FLAG_DF) != 0;
    }

    public static boolean moreFragments(MemorySegment p, long at) {
        return (fragmentField(p, at) & FLAG_MF) != 0;
    }

    /** Offset of this fragment's payload in the original datagram, in bytes. */
    public static int fragmentOffset(MemorySegment p, long at) {
        return (fragmentField(p, at) & FRAGMENT_OFFSET_MASK) * 8;
    }

    /** Whether this datagram is a fragment (more to come, or not the first). */
    public static boolean isFragment(MemorySegment p, long at) {
        return (fragmentField(p, at) & (FLAG_MF | FRAGMENT_OFFSET_MASK)) != 0;
    }

    public static int ttl(MemorySegment p, long at) {
        return NetworkOrder.u8(p, at + TTL);
    }

    public static void setTtl(MemorySegment p, long at, int ttl) {
        NetworkOrder.setU8(p, at + TTL, ttl);
    }

    public static int protocol(MemorySegment p, long at) {
        return NetworkOrder.u8(p, at + PROTOCOL);
    }

    public static void setProtocol(MemorySegment p, long at, int protocol) {
        NetworkOrder.setU8(p, at + PROTOCOL, protocol);
    }

    public static int checksum(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + CHECKSUM);
    }

    public static int source(MemorySegment p, long at) {
        return NetworkOrder.u32(p, at + SOURCE);
    }

    public static void setSource(MemorySegment p, long at, int address) {
        NetworkOrder.setU32(p, at + SOURCE, address);
    }

    public static int destination(MemorySegment p, long at) {
        return NetworkOrder.u32(p, at + DESTINATION);
    }

    public static void setDestination(MemorySegment p, long at, int address) {
        NetworkOrder.setU32(p, at + DESTINATION, address);
    }

    /**
     * Writes a 20-byte header without options, checksum included. {@code fragmentField} carries
     * the flags and fragment offset as on the wire ({@link #FLAG_DF} for a normal TCP segment).
     */
    public static void write(MemorySegment p, long at, int tos, int totalLength, int identification,
            int fragmentField, int ttl, int protocol, int source, int destination) {
        NetworkOrder.setU8(p, at + VERSION_IHL, 0x45);
        setTos(p, at, tos);
        setTotalLength(p, at, totalLength);
        setIdentification(p, at, identification);
        setFragmentField(p, at, fragmentField);
        setTtl(p, at, ttl);
        setProtocol(p, at, protocol);
        setSource(p, at, source);
        setDestination(p, at, destination);
        fillChecksum(p, at);
    }

    /** Computes the header checksum and stores it. */
    public static void fillChecksum(MemorySegment p, long at) {
        NetworkOrder.setU16(p, at + CHECKSUM, 0);
        NetworkOrder.setU16(p, at + CHECKSUM, InternetChecksum.of(p, at, headerLength(p, at)));
    }

    /** Whether the header checksum is right (a correct header sums to zero). */
    public static boolean checksumValid(MemorySegment p, long at) {
        return InternetChecksum.of(p, at, headerLength(p, at)) == 0;
    }

    /**
     * Why a received datagram of {@code available} bytes at {@code at} cannot be processed, or
     * {@code null} when it can: version 4, a header length of at least 20 within the datagram,
     * a total length within what arrived, and a correct checksum. Allocation-free when valid.
     */
    public static String validate(MemorySegment p, long at, int available) {
        if (available < MIN_HEADER_LENGTH) {
            return "IPv4 datagram shorter than a header";
        }
        if (version(p, at) != 4) {
            return "IP version is not 4";
        }
        int headerLength = headerLength(p, at);
        int totalLength = totalLength(p, at);
        if (headerLength < MIN_HEADER_LENGTH || headerLength > totalLength) {
            return "IPv4 header length out of range";
        }
        if (totalLength > available) {
            return "IPv4 total length beyond the frame";
        }
        if (!checksumValid(p, at)) {
            return "IPv4 header checksum wrong";
        }
        return null;
    }
}

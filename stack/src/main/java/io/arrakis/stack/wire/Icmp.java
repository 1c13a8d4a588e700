package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;

/**
 * An ICMPv4 message (RFC 792, RFC 1191) viewed in place: type, code, checksum and the four
 * bytes that depend on the type (echo identifier and sequence; next-hop MTU of "fragmentation
 * needed"). Stateless; thread-safe.
 */
public final class Icmp {
    public static final int HEADER_LENGTH = 8;
    public static final int TYPE_ECHO_REPLY = 0;
    public static final int TYPE_DESTINATION_UNREACHABLE = 3;
    public static final int TYPE_ECHO_REQUEST = 8;
    public static final int TYPE_TIME_EXCEEDED = 11;
    public static final int CODE_NET_UNREACHABLE = 0;
    public static final int CODE_HOST_UNREACHABLE = 1;
    public static final int CODE_PROTOCOL_UNREACHABLE = 2;
    public static final int CODE_PORT_UNREACHABLE = 3;
    public static final int CODE_FRAGMENTATION_NEEDED = 4;

    private static final int TYPE = 0;
    private static final int CODE = 1;
    private static final int CHECKSUM = 2;
    private static final int IDENTIFIER = 4;
    private static final int SEQUENCE = 6;
    private static final int NEXT_HOP_MTU = 6;

    private Icmp() {}

    public static int type(MemorySegment p, long at) {
        return NetworkOrder.u8(p, at + TYPE);
    }

    public static int code(MemorySegment p, long at) {
        return NetworkOrder.u8(p, at + CODE);
    }

    public static void setTypeAndCode(MemorySegment p, long at, int type, int code) {
        NetworkOrder.setU8(p, at + TYPE, type);
        NetworkOrder.setU8(p, at + CODE, code);
    }

    public static int echoIdentifier(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + IDENTIFIER);
    }

    public static int echoSequence(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + SEQUENCE);
    }

    public static void setEcho(MemorySegment p, long at, int identifier, int sequence) {
        NetworkOrder.setU16(p, at + IDENTIFIER, identifier);
        NetworkOrder.setU16(p, at + SEQUENCE, sequence);
    }

    /** The next-hop MTU of a "fragmentation needed" message (RFC 1191); 0 from old routers. */
    public static int nextHopMtu(MemorySegment p, long at) {
        return NetworkOrder.u16(p, at + NEXT_HOP_MTU);
    }

    /** Writes the "rest of header" word of an error message: unused, or the next-hop MTU. */
    public static void setRestOfHeader(MemorySegment p, long at, int value) {
        NetworkOrder.setU32(p, at + IDENTIFIER, value);
    }

    /** Computes the checksum over the {@code length} bytes of the message and stores it. */
    public static void fillChecksum(MemorySegment p, long at, int length) {
        NetworkOrder.setU16(p, at + CHECKSUM, 0);
        NetworkOrder.setU16(p, at + CHECKSUM, InternetChecksum.of(p, at, length));
    }

    public static boolean checksumValid(MemorySegment p, long at, int length) {
        return InternetChecksum.of(p, at, length) == 0;
    }
}

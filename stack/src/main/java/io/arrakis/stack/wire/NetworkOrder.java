package io.arrakis.stack.wire;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Unaligned big-endian ("network order") field access over a {@link MemorySegment}: the
 * primitives every wire view is written with. Stateless; thread-safe.
 */
public final class NetworkOrder {
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private NetworkOrder() {}

    public static int u8(MemorySegment s, long at) {
        return s.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }

    public static void setU8(MemorySegment s, long at, int value) {
        s.set(ValueLayout.JAVA_BYTE, at, (byte) value);
    }

    public static int u16(MemorySegment s, long at) {
        return s.get(U16, at) & 0xFFFF;
    }

    public static void setU16(MemorySegment s, long at, int value) {
        s.set(U16, at, (short) value);
    }

    /** An unsigned 32-bit field, as an int (compare with {@link Integer#compareUnsigned} if needed). */
    public static int u32(MemorySegment s, long at) {
        return s.get(U32, at);
    }

    public static void setU32(MemorySegment s, long at, int value) {
        s.set(U32, at, value);
    }

    /** A 48-bit field (a MAC address) in the low bits of a long. */
    public static long u48(MemorySegment s, long at) {
        return ((long) u16(s, at) << 32) | (u32(s, at + 2) & 0xFFFF_FFFFL);
    }

    public static void setU48(MemorySegment s, long at, long value) {
        setU16(s, at, (int) (value >>> 32));
        setU32(s, at + 2, (int) value);
    }
}

package io.arrakis.vfio.virtio;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * {@code struct virtio_net_hdr} as a view over packet memory: the 12 bytes a virtio 1.x network
 * device puts before every received frame and expects before every transmitted one (u8 flags,
 * u8 gso_type, le16 hdr_len, le16 gso_size, le16 csum_start, le16 csum_offset, le16 num_buffers).
 * Static accessors at an offset, so the packet path allocates nothing. Stateless; thread-safe.
 */
final class VirtioNetHeader {
    static final int BYTES = 12;
    static final int FLAGS = 0;
    static final int GSO_TYPE = 1;
    static final int HDR_LEN = 2;
    static final int GSO_SIZE = 4;
    static final int CSUM_START = 6;
    static final int CSUM_OFFSET = 8;
    static final int NUM_BUFFERS = 10;
    /** The checksum from csum_start to the end still has to be completed (the field holds the pseudo-header sum). */
    static final int F_NEEDS_CSUM = 1;
    /** The device checked the frame's checksums. */
    static final int F_DATA_VALID = 2;
    static final int GSO_NONE = 0;

    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private VirtioNetHeader() {}

    static int flags(MemorySegment memory, long header) {
        return memory.get(ValueLayout.JAVA_BYTE, header + FLAGS) & 0xFF;
    }

    static int gsoType(MemorySegment memory, long header) {
        return memory.get(ValueLayout.JAVA_BYTE, header + GSO_TYPE) & 0xFF;
    }

    static int checksumStart(MemorySegment memory, long header) {
        return memory.get(LE16, header + CSUM_START) & 0xFFFF;
    }

    static int checksumOffset(MemorySegment memory, long header) {
        return memory.get(LE16, header + CSUM_OFFSET) & 0xFFFF;
    }

    static int numBuffers(MemorySegment memory, long header) {
        return memory.get(LE16, header + NUM_BUFFERS) & 0xFFFF;
    }

    /** A header asking nothing of the device: no checksum to complete, no segmentation. */
    static void writePlain(MemorySegment memory, long header) {
        memory.set(LE64, header, 0L);
        memory.set(LE32, header + 8, 0);
    }

    /**
     * Completes a partial checksum ({@link #F_NEEDS_CSUM}) of a frame of {@code length} bytes at
     * {@code frame}: the one's-complement sum of bytes {@code start..length} (the checksum field
     * at {@code start + offset} already holds the pseudo-header's sum), folded, complemented, and
     * stored there; a zero result is stored as 0xFFFF (the same value in one's complement, and
     * UDP's "no checksum" must not appear by accident). Returns {@code false}, changing nothing,
     * when start and offset do not fit the frame.
     */
    static boolean completeChecksum(MemorySegment memory, long frame, int length, int start, int offset) {
        if (start >= length || (long) start + offset + 2 > length) {
            return false;
        }
        long sum = 0;
        long at = frame + start;
        long end = frame + length;
        for (; at + 1 < end; at += 2) {
            sum += memory.get(BE16, at) & 0xFFFF;
        }
        if (at < end) {
            sum += (memory.get(ValueLayout.JAVA_BYTE, at) & 0xFF) << 8;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        int checksum = ~(int) sum & 0xFFFF;
        memory.set(BE16, frame + start + offset, (short) (checksum == 0 ? 0xFFFF : checksum));
        return true;
    }
}

package io.arrakis.storage.log;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The on-device layout of the log (see docs/storage-layout.md): two superblock slots, two
 * regions, and checksummed records, little-endian. Static accessors over a {@link MemorySegment};
 * stateless and thread-safe.
 */
final class LogFormat {
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    // Superblock (one block each in blocks 0 and 1; generation g lives in slot g % 2)
    static final long SUPER_MAGIC = 0x474f4c4b41525241L; // "ARRAKLOG" read little-endian
    static final int SUPER_VERSION = 1;
    static final long SB_MAGIC = 0;
    static final long SB_VERSION = 8;
    static final long SB_BLOCK_SIZE = 12;
    static final long SB_GENERATION = 16;
    static final long SB_REGION_START = 24;
    static final long SB_REGION_END = 32;
    static final long SB_OTHER_START = 40;
    static final long SB_OTHER_END = 48;
    static final long SB_CREATED = 56;
    static final long SB_CRC = 64;
    static final int SB_CHECKED_BYTES = 64;

    // Record header (32 bytes); records start on 8-byte boundaries
    static final int HEADER = 32;
    static final long R_CRC = 0;
    static final long R_MAGIC = 4;
    static final long R_TYPE = 6;
    static final long R_PAYLOAD_LENGTH = 8;
    static final long R_PREVIOUS_CRC = 12;
    static final long R_SEQUENCE = 16;
    static final long R_GENERATION = 24;
    static final short RECORD_MAGIC = 0x4c52; // "RL"

    // Record types and their payloads
    /** int fileId, int nameLength, name (UTF-8). */
    static final byte CREATE = 1;
    /** int fileId, int pad, long fileOffset, data. */
    static final byte DATA = 2;
    /** int fileId, int pad, long size: the file's size from now on (shrinks or grows with a hole). */
    static final byte SET_SIZE = 3;
    /** int fileId. */
    static final byte DELETE = 4;
    /** int fileId, int nameLength, name. */
    static final byte RENAME = 5;
    static final int DATA_PREFIX = 16;

    private LogFormat() {}

    static long align8(long value) {
        return (value + 7) & ~7L;
    }

    static long roundUp(long value, long unit) {
        return (value + unit - 1) / unit * unit;
    }

    /** Bytes a record with {@code payloadLength} bytes of payload occupies, padding included. */
    static long recordBytes(long payloadLength) {
        return align8(HEADER + payloadLength);
    }

    /** The chain value the first record of a generation names as its predecessor. */
    static int chainSeed(long generation) {
        return (int) ((generation * 0x9E3779B97F4A7C15L) >>> 32);
    }

    static int crc(MemorySegment segment, long offset, long length) {
        CRC32C crc = new CRC32C();
        crc.update(segment.asSlice(offset, length).asByteBuffer());
        return (int) crc.getValue();
    }

    static String typeName(int type) {
        return switch (type) {
            case CREATE -> "CREATE";
            case DATA -> "DATA";
            case SET_SIZE -> "SET_SIZE";
            case DELETE -> "DELETE";
            case RENAME -> "RENAME";
            default -> "type " + type;
        };
    }
}

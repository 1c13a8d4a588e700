package io.arrakis.nvme;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The fields of the IDENTIFY CONTROLLER data structure (CNS 01h; NVMe base specification 2.0,
 * figure 275) the driver uses. {@code maxTransferBytes} is MDTS in bytes (2^MDTS minimum pages),
 * 0 when the controller sets no limit. Immutable.
 */
public record IdentifyController(int vendorId, String serialNumber, String model, String firmware,
        int mdts, long maxTransferBytes, int controllerId, int version, int namespaceCount,
        boolean volatileWriteCache, int submissionEntrySizes, int completionEntrySizes) {

    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Parses the 4096-byte structure; {@code minPageSize} is CAP.MPSMIN in bytes (MDTS's unit). */
    public static IdentifyController parse(MemorySegment data, int minPageSize) {
        if (data.byteSize() < 4096) {
            throw new IllegalArgumentException("IDENTIFY CONTROLLER data is 4096 bytes, not " + data.byteSize());
        }
        int mdts = data.get(ValueLayout.JAVA_BYTE, 77) & 0xff;
        long maxTransfer = mdts == 0 ? 0 : (long) minPageSize << Math.min(mdts, 40);
        return new IdentifyController(data.get(SHORT, 0) & 0xffff, ascii(data, 4, 20), ascii(data, 24, 40),
                ascii(data, 64, 8), mdts, maxTransfer, data.get(SHORT, 78) & 0xffff, data.get(INT, 80),
                data.get(INT, 516), (data.get(ValueLayout.JAVA_BYTE, 525) & 1) != 0,
                data.get(ValueLayout.JAVA_BYTE, 512) & 0xff, data.get(ValueLayout.JAVA_BYTE, 513) & 0xff);
    }

    /** An ASCII field, space-padded on the right as the specification says: trimmed. */
    static String ascii(MemorySegment data, long offset, int length) {
        byte[] bytes = data.asSlice(offset, length).toArray(ValueLayout.JAVA_BYTE);
        int end = length;
        while (end > 0 && (bytes[end - 1] == ' ' || bytes[end - 1] == 0)) {
            end--;
        }
        return new String(bytes, 0, end, StandardCharsets.US_ASCII);
    }

    /** "1.4.0" from VER. */
    public String versionText() {
        return (version >>> 16) + "." + ((version >>> 8) & 0xff) + "." + (version & 0xff);
    }
}

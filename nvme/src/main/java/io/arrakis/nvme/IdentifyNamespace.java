package io.arrakis.nvme;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The fields of the IDENTIFY NAMESPACE data structure (CNS 00h; NVM command set specification
 * 1.0, figure 97) the driver uses: size, capacity and utilisation in logical blocks, the LBA
 * formats and the one in use. Immutable.
 */
public record IdentifyNamespace(int namespaceId, long sizeBlocks, long capacityBlocks, long utilizationBlocks,
        List<LbaFormat> formats, int formatIndex) {

    /** One LBA format: data size in bytes (2^LBADS), metadata bytes per block, relative performance. */
    public record LbaFormat(int dataSize, int metadataSize, int relativePerformance) {}

    public IdentifyNamespace {
        formats = List.copyOf(formats);
    }

    public static IdentifyNamespace parse(int namespaceId, MemorySegment data) {
        if (data.byteSize() < 4096) {
            throw new IllegalArgumentException("IDENTIFY NAMESPACE data is 4096 bytes, not " + data.byteSize());
        }
        int count = (data.get(ValueLayout.JAVA_BYTE, 25) & 0xff) + 1;
        int flbas = data.get(ValueLayout.JAVA_BYTE, 26) & 0xff;
        // Bits 3:0 the format, bits 6:5 its high bits when there are more than 16 (NVMe 2.0).
        int index = (flbas & 0xf) | (count > 16 ? ((flbas >>> 5) & 3) << 4 : 0);
        List<LbaFormat> formats = new ArrayList<>(count);
        for (int i = 0; i < Math.min(count, 64); i++) {
            int entry = data.get(IdentifyController.INT, 128 + 4L * i);
            int lbads = (entry >>> 16) & 0xff;
            formats.add(new LbaFormat(lbads == 0 ? 0 : 1 << lbads, entry & 0xffff, (entry >>> 24) & 3));
        }
        return new IdentifyNamespace(namespaceId, data.get(IdentifyController.LONG, 0),
                data.get(IdentifyController.LONG, 8), data.get(IdentifyController.LONG, 16), formats, index);
    }

    /** The format in use. */
    public LbaFormat format() {
        if (formatIndex >= formats.size()) {
            throw new IllegalStateException("namespace " + namespaceId + " uses LBA format " + formatIndex + " of "
                    + formats.size());
        }
        return formats.get(formatIndex);
    }

    public int blockSize() {
        return format().dataSize();
    }

    public long sizeBytes() {
        return sizeBlocks * blockSize();
    }
}

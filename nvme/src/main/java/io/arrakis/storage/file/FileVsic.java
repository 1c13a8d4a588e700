package io.arrakis.storage.file;

import io.arrakis.device.VsicConfig;
import io.arrakis.storage.BlockVsic;
import io.arrakis.storage.VsaFile;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** A VSIC whose queues run their commands with synchronous system calls. Thread-safety as {@link BlockVsic}. */
public final class FileVsic extends BlockVsic {
    private FileVsic(VsaFile area) {
        super(area, FileVsicBackend.NAME);
    }

    static FileVsic open(VsicConfig config) throws IOException {
        VsaFile area = VsaFile.open(config, false);
        FileVsic vsic = new FileVsic(area);
        try {
            List<FileQueue> queues = new ArrayList<>();
            long bytes = roundUp(config.ioMemoryBytes(), area.blockSize());
            for (int i = 0; i < config.queues(); i++) {
                queues.add(new FileQueue(area, i, vsic.memory.allocate(bytes, area.memoryAlignment()),
                        config.queueDepth()));
            }
            vsic.setQueues(queues);
            return vsic;
        } catch (RuntimeException e) {
            vsic.close();
            throw e;
        }
    }

    private static long roundUp(long value, int unit) {
        return (value + unit - 1) / unit * unit;
    }
}

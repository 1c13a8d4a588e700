package io.arrakis.storage.uring;

import io.arrakis.device.VsicConfig;
import io.arrakis.storage.BlockVsic;
import io.arrakis.storage.VsaFile;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** A VSIC with one io_uring per queue. Thread-safety as {@link BlockVsic}. */
public final class UringVsic extends BlockVsic {
    private final boolean sqPolling;

    private UringVsic(VsaFile area, boolean sqPolling) {
        super(area, UringVsicBackend.NAME);
        this.sqPolling = sqPolling;
    }

    static UringVsic open(VsicConfig config) throws IOException {
        boolean sqPoll = Boolean.parseBoolean(config.option(UringVsicBackend.OPTION_SQPOLL, "false"));
        VsaFile area = VsaFile.open(config, true);
        UringVsic vsic = new UringVsic(area, sqPoll);
        List<UringQueue> queues = new ArrayList<>();
        try {
            long bytes = (config.ioMemoryBytes() + area.blockSize() - 1) / area.blockSize() * area.blockSize();
            for (int i = 0; i < config.queues(); i++) {
                queues.add(new UringQueue(area, i, vsic.memory.allocate(bytes, area.memoryAlignment()),
                        config.queueDepth(), sqPoll));
                vsic.setQueues(queues);
            }
            return vsic;
        } catch (IOException | RuntimeException e) {
            vsic.setQueues(queues);
            try {
                vsic.close();
            } catch (IOException closeFailure) {
                e.addSuppressed(closeFailure);
            }
            throw e;
        }
    }

    /** Whether the queues' rings have kernel submission-polling threads (option {@code sqpoll}). */
    public boolean sqPolling() {
        return sqPolling;
    }

    @Override
    public String toString() {
        return super.toString() + (sqPolling ? ", SQPOLL" : "");
    }
}

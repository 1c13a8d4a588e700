package io.arrakis.storage;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.storage.log.LogStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** Opens stores for the persistent log's tests and reads logs back. */
final class PersistentLogs {
    private PersistentLogs() {}

    static LogStore format(String backend, Path image, long blocks) throws IOException {
        try (Vsic vsic = vsic(backend, image, blocks)) {
            LogStore.format(vsic);
        }
        return open(backend, image, blocks);
    }

    static LogStore open(String backend, Path image, long blocks) throws IOException {
        Vsic vsic = vsic(backend, image, blocks);
        try {
            return LogStore.open(vsic);
        } catch (IOException | RuntimeException e) {
            vsic.close();
            throw e;
        }
    }

    private static Vsic vsic(String backend, Path image, long blocks) throws IOException {
        return DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig("plog-" + backend, blocks,
                Map.of(VsaFile.OPTION_PATH, image.toString())));
    }

    static List<PersistentLog.Entry> all(PersistentLog log, long from) throws IOException {
        List<PersistentLog.Entry> entries = new ArrayList<>();
        for (Iterator<PersistentLog.Entry> it = log.iterate(from); it.hasNext(); ) {
            entries.add(it.next());
        }
        return entries;
    }

    static byte[] bytes(PersistentLog.Entry entry) {
        byte[] bytes = new byte[entry.data().remaining()];
        entry.data().duplicate().get(bytes);
        return bytes;
    }
}

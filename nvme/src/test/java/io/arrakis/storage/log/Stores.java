package io.arrakis.storage.log;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.storage.VsaFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;

/** Opens stores on VSA files in tests. */
final class Stores {
    static final int BLOCK = 4096;

    private Stores() {}

    /** A VSIC with two commit lanes, so that every test on it can overlap commits (the store's riskier mode). */
    static Vsic vsic(String backend, Path image, long blocks) throws IOException {
        return DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig("log-" + backend, blocks,
                Map.of(VsaFile.OPTION_PATH, image.toString(), LogStore.OPTION_COMMIT_LANES, "2")));
    }

    static LogStore format(String backend, Path image, long blocks) throws IOException {
        try (Vsic vsic = vsic(backend, image, blocks)) {
            LogStore.format(vsic);
        }
        return open(backend, image, blocks);
    }

    /** A freshly formatted image's VSIC behind a {@link GatedVsic} that can hold its commits at the device. */
    static GatedVsic formattedGated(String backend, Path image, long blocks) throws IOException {
        try (Vsic vsic = vsic(backend, image, blocks)) {
            LogStore.format(vsic);
        }
        return GatedVsic.onCommits(vsic(backend, image, blocks));
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

    static byte[] readAll(LogFile file) throws IOException {
        byte[] bytes = new byte[Math.toIntExact(file.size())];
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        while (buffer.hasRemaining()) {
            if (file.read(buffer, buffer.position()) < 0) {
                throw new AssertionError("end of file before its size");
            }
        }
        return bytes;
    }

    static byte[] pattern(int length, int seed) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (seed * 31 + i * 7);
        }
        return bytes;
    }
}

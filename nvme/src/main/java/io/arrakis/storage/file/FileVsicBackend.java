package io.arrakis.storage.file;

import io.arrakis.device.Vsic;
import io.arrakis.device.VsicBackend;
import io.arrakis.device.VsicConfig;
import io.arrakis.storage.VsaFile;
import java.io.IOException;
import java.util.Optional;

/**
 * The {@code "file"} backend: {@code pread}/{@code pwrite}/{@code fdatasync} on a preallocated
 * file or a block device, for any file system and kernel. Options: those of {@link VsaFile}
 * ({@code direct} defaults to {@code false} here: through the page cache). Thread-safe.
 */
public final class FileVsicBackend implements VsicBackend {
    public static final String NAME = "file";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Optional.empty();
    }

    @Override
    public Vsic open(VsicConfig config) throws IOException {
        return FileVsic.open(config);
    }
}

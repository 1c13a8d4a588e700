package io.arrakis.device;

import java.io.IOException;
import java.util.Optional;

/**
 * A way to get {@link Vsic}s: implemented by each storage backend and registered with
 * {@link java.util.ServiceLoader} ({@code META-INF/services/io.arrakis.device.VsicBackend}).
 * Thread-safe.
 */
public interface VsicBackend {
    /** The name users configure and tools show: {@code "io_uring"}, {@code "file"}, {@code "nvme"}. */
    String name();

    /** Empty when usable here; otherwise why not and what to do. */
    Optional<String> unavailableReason();

    Vsic open(VsicConfig config) throws IOException;
}

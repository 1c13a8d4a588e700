package io.arrakis.device;

import java.io.IOException;
import java.util.Optional;

/**
 * A way to get {@link Vnic}s: implemented by each network backend and registered with
 * {@link java.util.ServiceLoader} ({@code META-INF/services/io.arrakis.device.VnicBackend}), so
 * the stack and the provider never name a concrete device. Thread-safe.
 */
public interface VnicBackend {
    /** The name users configure and tools show: {@code "shm"}, {@code "tap"}, {@code "af_xdp"}. */
    String name();

    /**
     * Empty when this backend can open VNICs on this machine now; otherwise the reason it cannot
     * and what to do, e.g. {@code "needs /dev/net/tun: load the tun module or run as root"}.
     */
    Optional<String> unavailableReason();

    Vnic open(VnicConfig config) throws IOException;
}

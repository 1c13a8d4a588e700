package io.arrakis.device.loopback;

import io.arrakis.device.Vnic;
import io.arrakis.device.VnicBackend;
import io.arrakis.device.VnicConfig;
import java.util.Optional;

/**
 * The {@code "loopback"} backend: VNICs whose every queue receives what it transmits, in
 * process, with no kernel and no peer. For tests of anything above the SPI, and the baseline
 * a stack's per-packet cost is measured on. Thread-safe.
 */
public final class LoopbackVnicBackend implements VnicBackend {
    public static final String NAME = "loopback";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Optional.empty();
    }

    @Override
    public Vnic open(VnicConfig config) {
        return new LoopbackVnic(config);
    }
}

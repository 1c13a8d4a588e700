package io.arrakis.device.tap;

import io.arrakis.device.VnicConfig;

/**
 * Run in a child JVM by {@link TapVnicBackendTest} with capabilities dropped: prints what the
 * backend says about itself, then what opening a VNIC says, one line each.
 */
final class TapProbe {
    private TapProbe() {}

    public static void main(String[] args) {
        TapVnicBackend backend = new TapVnicBackend();
        System.out.println("reason: " + backend.unavailableReason().orElse("(available)"));
        try (var vnic = backend.open(VnicConfig.of("probe"))) {
            System.out.println("open: succeeded on " + ((TapVnic) vnic).interfaceName());
        } catch (Exception e) {
            System.out.println("open: " + e.getMessage());
        }
    }
}

package io.arrakis.nvme;

import io.arrakis.device.Vsic;
import io.arrakis.device.VsicBackend;
import io.arrakis.device.VsicConfig;
import io.arrakis.vfio.Vfio;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The {@code "nvme"} backend: a VSA on an NVMe namespace driven from user space over VFIO.
 * Options: {@value #OPTION_PCI} (the function's address, bound to vfio-pci; required),
 * {@value #OPTION_NAMESPACE} (default 1), {@value #OPTION_FIRST_LBA} (where the VSA starts, as
 * the control plane assigned it; default 0) and {@value #OPTION_BLOCK_SIZE} (the VSIC block, a
 * multiple of the LBA size; default 4096 or the LBA size if larger). The VSA is
 * {@code capacityBlocks} blocks from there, and no command outside it reaches the device.
 * Thread-safe.
 */
public final class NvmeVsicBackend implements VsicBackend {
    public static final String NAME = "nvme";
    public static final String OPTION_PCI = "pci";
    public static final String OPTION_NAMESPACE = "namespace";
    public static final String OPTION_FIRST_LBA = "firstLba";
    public static final String OPTION_BLOCK_SIZE = "blockSize";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> unavailableReason() {
        if (!Files.exists(Path.of("/dev/vfio/vfio"))) {
            return Optional.of("no VFIO on this machine (/dev/vfio/vfio is missing): load vfio-pci, bind an NVMe"
                    + " function to it (driver_override) and run as a user who may open its /dev/vfio/<group>");
        }
        return Optional.empty();
    }

    @Override
    public Vsic open(VsicConfig config) throws IOException {
        String pci = config.options().get(OPTION_PCI);
        if (pci == null || pci.isBlank()) {
            throw new IllegalArgumentException("VSA " + config.name() + ": the nvme backend needs option " + OPTION_PCI
                    + "=<domain:bus:device.function> of an NVMe function bound to vfio-pci");
        }
        int namespace = parseInt(config, OPTION_NAMESPACE, "1");
        long firstLba = parseLong(config, OPTION_FIRST_LBA, "0");
        int blockSize = parseInt(config, OPTION_BLOCK_SIZE, "0");
        return NvmeVsic.open(config, NvmeController.acquire(pci, Vfio::open), namespace, firstLba,
                blockSize);
    }

    private static int parseInt(VsicConfig config, String option, String defaultValue) {
        long value = parseLong(config, option, defaultValue);
        if (value > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("VSA " + config.name() + ": option " + option + "=" + value
                    + " is too large");
        }
        return (int) value;
    }

    private static long parseLong(VsicConfig config, String option, String defaultValue) {
        String text = config.option(option, defaultValue);
        try {
            long value = Long.parseLong(text.trim());
            if (value < 0) {
                throw new NumberFormatException();
            }
            return value;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("VSA " + config.name() + ": option " + option + "=" + text
                    + " is not a non-negative number");
        }
    }
}

package io.arrakis.vfio.virtio;

import io.arrakis.device.Vnic;
import io.arrakis.device.VnicBackend;
import io.arrakis.device.VnicConfig;
import io.arrakis.vfio.PciFunction;
import io.arrakis.vfio.Vfio;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The {@code "virtio"} backend: each VNIC is a modern virtio-net PCI function bound to
 * {@code vfio-pci}, driven from this process ({@link VirtioNetVnic}). Options of
 * {@link VnicConfig#options()}:
 * <ul>
 * <li>{@value #OPTION_PCI} (required): the function's address, {@code 0000:00:03.0}.
 * <li>{@value #OPTION_MAC}: our MAC when the device has none (with {@code VIRTIO_NET_F_MAC} the
 *     device's is used, and a different one is refused).
 * <li>{@value #OPTION_MTU}: the MTU (default 1500, at most the device's when it offers one).
 * <li>{@value #OPTION_ADDRESS} ({@code A.B.C.D/len}) and {@value #OPTION_GATEWAY}: the IPv4
 *     address the stack on this VNIC answers as, and its router, which ride with the VNIC's
 *     configuration for the provider, as with the tap backend.
 * </ul>
 * Needs {@code /dev/vfio/vfio} and the function bound to {@code vfio-pci}. Thread-safe.
 */
public final class VirtioNetVnicBackend implements VnicBackend {
    public static final String NAME = "virtio";
    public static final String OPTION_PCI = "pci";
    public static final String OPTION_MAC = "mac";
    public static final String OPTION_MTU = "mtu";
    public static final String OPTION_ADDRESS = "address";
    public static final String OPTION_GATEWAY = "gateway";
    static final String VFIO_CONTAINER = "/dev/vfio/vfio";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> unavailableReason() {
        if (!Files.exists(Path.of(VFIO_CONTAINER))) {
            return Optional.of("needs " + VFIO_CONTAINER + ", which is absent: load vfio-pci (modprobe vfio-pci"
                    + " vfio_iommu_type1) on a machine with an IOMMU, and bind the virtio-net function to it");
        }
        return Optional.empty();
    }

    @Override
    public Vnic open(VnicConfig config) throws IOException {
        String address = config.option(OPTION_PCI, null);
        if (address == null || address.isBlank()) {
            throw new IllegalArgumentException("virtio VNIC " + config.name() + ": option " + OPTION_PCI
                    + " is required: the PCI address of a virtio-net function bound to vfio-pci, e.g. 0000:00:03.0"
                    + " (lspci -D -d 1af4:1041 lists them)");
        }
        PciFunction pci = Vfio.open(address.strip());
        return VirtioNetVnic.open(pci, config, true);
    }
}

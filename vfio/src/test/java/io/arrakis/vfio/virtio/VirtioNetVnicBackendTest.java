package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.VnicConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class VirtioNetVnicBackendTest {
    @Test
    void isRegisteredAsVirtioAndSaysWhyItCannotRunWithoutVfio() {
        VirtioNetVnicBackend backend = (VirtioNetVnicBackend) DeviceBackends.vnicBackends().stream()
                .filter(b -> b.name().equals("virtio")).findFirst().orElseThrow();
        if (Files.exists(Path.of(VirtioNetVnicBackend.VFIO_CONTAINER))) {
            assertTrue(backend.unavailableReason().isEmpty());
        } else {
            String reason = backend.unavailableReason().orElseThrow();
            assertTrue(reason.contains("/dev/vfio/vfio") && reason.contains("modprobe vfio-pci"), reason);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DeviceBackends.vnicBackend("virtio"));
            assertTrue(e.getMessage().contains("cannot run here"), e.getMessage());
        }
    }

    @Test
    void thePciAddressIsRequiredAndTheMessageSaysHowToFindIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new VirtioNetVnicBackend().open(new VnicConfig("v0", 1, 256, 2048, Map.of("address", "198.18.0.2/24"))));
        assertTrue(e.getMessage().contains("option pci is required") && e.getMessage().contains("lspci"), e.getMessage());
    }

    @Test
    void offloadsFollowTheNegotiatedChecksumFeatures() {
        assertEquals(java.util.Set.of(io.arrakis.device.Offload.RX_CHECKSUM, io.arrakis.device.Offload.TX_CHECKSUM),
                VirtioNetVnic.offloads(VirtioFeatures.bits(VirtioFeatures.CSUM, VirtioFeatures.GUEST_CSUM,
                        VirtioFeatures.VERSION_1)));
        assertEquals(java.util.Set.of(), VirtioNetVnic.offloads(VirtioFeatures.bits(VirtioFeatures.VERSION_1,
                VirtioFeatures.MRG_RXBUF)));
    }
}

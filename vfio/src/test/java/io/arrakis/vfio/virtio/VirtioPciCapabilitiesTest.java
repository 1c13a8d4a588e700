package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.vfio.virtio.VirtioPciCapabilities.Region;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Configuration-space images written byte by byte as the PCI and virtio specifications lay them
 * out (and as QEMU's modern virtio-net-pci fills them: capabilities in BAR 4, MSI-X in BAR 1).
 */
class VirtioPciCapabilitiesTest {
    private final byte[] image = new byte[256];

    private void put8(int at, int v) {
        image[at] = (byte) v;
    }

    private void put32(int at, int v) {
        for (int i = 0; i < 4; i++) {
            image[at + i] = (byte) (v >>> (8 * i));
        }
    }

    /** struct virtio_pci_cap at {@code at}: vndr 0x09, next, len, cfg_type, bar, id, pad, offset, length. */
    private void virtioCap(int at, int next, int length, int type, int bar, int offset, int size) {
        put8(at, 0x09);
        put8(at + 1, next);
        put8(at + 2, length);
        put8(at + 3, type);
        put8(at + 4, bar);
        put32(at + 8, offset);
        put32(at + 12, size);
    }

    private VirtioPciCapabilities parse() throws IOException {
        return VirtioPciCapabilities.parse((offset, bytes) -> {
            int v = 0;
            for (int i = bytes - 1; i >= 0; i--) {
                v = v << 8 | (image[offset + i] & 0xFF);
            }
            return v;
        }, "virtio-net 0000:00:03.0");
    }

    /** QEMU's order: MSI-X at 0x98 first, then the vendor capabilities down to 0x40. */
    private void qemuLayout() {
        put8(0x06, 0x10); // status: capability list
        put8(0x34, 0x98);
        put8(0x98, 0x11); // MSI-X
        put8(0x99, 0x84);
        virtioCap(0x84, 0x70, 20, 5, 0, 0, 0); // PCI configuration access window: not used, skipped
        virtioCap(0x70, 0x60, 20, 2, 4, 0x2000, 0x1000); // notify, 20 bytes: notify_off_multiplier follows
        put32(0x70 + 16, 4);
        virtioCap(0x60, 0x50, 16, 3, 4, 0x1000, 0x1000); // ISR
        virtioCap(0x50, 0x40, 16, 4, 4, 0x3000, 0x1000); // device configuration
        virtioCap(0x40, 0x00, 16, 1, 4, 0x0000, 0x1000); // common configuration
    }

    @Test
    void qemusLayoutParsesToBar4Regions() throws IOException {
        qemuLayout();
        VirtioPciCapabilities caps = parse();
        assertEquals(new Region(4, 0x0000, 0x1000), caps.common());
        assertEquals(new Region(4, 0x2000, 0x1000), caps.notification());
        assertEquals(4, caps.notifyOffMultiplier());
        assertEquals(new Region(4, 0x1000, 0x1000), caps.isr());
        assertEquals(new Region(4, 0x3000, 0x1000), caps.device());
        assertEquals(0x2000 + 3 * 4, caps.doorbellOffset(3, "dev"));
    }

    @Test
    void theFirstCapabilityOfATypeWins() throws IOException {
        qemuLayout();
        // A second common configuration, later in the list, in another BAR: ignored.
        put8(0x40 + 1, 0xC0);
        virtioCap(0xC0, 0x00, 16, 1, 2, 0x8000, 0x1000);
        assertEquals(new Region(4, 0, 0x1000), parse().common());
    }

    @Test
    void aDoorbellOutsideTheNotifyAreaIsRefused() throws IOException {
        qemuLayout();
        VirtioPciCapabilities caps = parse();
        IOException e = assertThrows(IOException.class, () -> caps.doorbellOffset(0x400, "dev"));
        assertTrue(e.getMessage().contains("outside its 4096-byte notify area"), e.getMessage());
    }

    @Test
    void aMissingStructureIsNamed() {
        qemuLayout();
        put8(0x60 + 1, 0x40); // skip the device capability at 0x50
        IOException e = assertThrows(IOException.class, this::parse);
        assertTrue(e.getMessage().contains("lacks the virtio capabilities device"), e.getMessage());
    }

    @Test
    void aLoopInTheListIsCaughtNotFollowedForever() {
        qemuLayout();
        put8(0x40 + 1, 0x84); // the last points back to an earlier one
        IOException e = assertThrows(IOException.class, this::parse);
        assertTrue(e.getMessage().contains("does not end"), e.getMessage());
    }

    @Test
    void aDeviceWithoutCapabilitiesIsNoModernVirtioDevice() {
        IOException e = assertThrows(IOException.class, this::parse);
        assertTrue(e.getMessage().contains("no PCI capability list"), e.getMessage());
    }

    @Test
    void aCapabilityInAnInvalidBarIsSkipped() {
        qemuLayout();
        put8(0x40 + 4, 7); // common configuration in "BAR 7"
        IOException e = assertThrows(IOException.class, this::parse);
        assertTrue(e.getMessage().contains("lacks the virtio capabilities common"), e.getMessage());
    }
}

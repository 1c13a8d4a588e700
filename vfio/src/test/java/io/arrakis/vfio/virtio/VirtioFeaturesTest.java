package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class VirtioFeaturesTest {
    /** What QEMU 7/8's virtio-net-pci,disable-legacy=on,iommu_platform=on offers with a tap netdev (bit numbers of the spec). */
    private static final long QEMU_OFFER = bits(0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
            21, 23, 28, 29, 32, 33, 34);

    private static long bits(int... numbers) {
        long b = 0;
        for (int n : numbers) {
            b |= 1L << n;
        }
        return b;
    }

    @Test
    void fromQemusOfferAcceptsWhatTheDriverHandlesAndNoOffloadItCannot() {
        long accepted = VirtioFeatures.negotiate(QEMU_OFFER, 1, "dev");
        assertEquals(bits(0, 1, 3, 5, 15, 16, 29, 32, 33), accepted, VirtioFeatures.describe(accepted));
        assertEquals("CSUM,GUEST_CSUM,MTU,MAC,MRG_RXBUF,STATUS,RING_EVENT_IDX,VERSION_1,ACCESS_PLATFORM",
                VirtioFeatures.describe(accepted));
    }

    @Test
    void aLegacyDeviceIsRefusedNamingTheFix() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> VirtioFeatures.negotiate(QEMU_OFFER & ~bits(32), 1, "virtio-net 0000:00:03.0"));
        assertTrue(e.getMessage().contains("virtio-net 0000:00:03.0") && e.getMessage().contains("VERSION_1")
                && e.getMessage().contains("disable-legacy=on"), e.getMessage());
    }

    @Test
    void aDeviceBypassingTheIommuIsRefusedNamingTheFix() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> VirtioFeatures.negotiate(QEMU_OFFER & ~bits(33), 1, "dev"));
        assertTrue(e.getMessage().contains("ACCESS_PLATFORM") && e.getMessage().contains("iommu_platform=on"),
                e.getMessage());
    }

    @Test
    void multiQueueNeedsMqAndTheControlQueueAndTakesBoth() {
        long offer = QEMU_OFFER | bits(22);
        long accepted = VirtioFeatures.negotiate(offer, 2, "dev");
        assertTrue(VirtioFeatures.has(accepted, VirtioFeatures.MQ) && VirtioFeatures.has(accepted, VirtioFeatures.CTRL_VQ));
        // One pair asked: neither is taken, so the device keeps its single-queue behaviour.
        long single = VirtioFeatures.negotiate(offer, 1, "dev");
        assertTrue(!VirtioFeatures.has(single, VirtioFeatures.MQ) && !VirtioFeatures.has(single, VirtioFeatures.CTRL_VQ));
        IllegalStateException noMq = assertThrows(IllegalStateException.class,
                () -> VirtioFeatures.negotiate(QEMU_OFFER, 2, "dev"));
        assertTrue(noMq.getMessage().contains("no VIRTIO_NET_F_MQ"), noMq.getMessage());
        IllegalStateException noCtrl = assertThrows(IllegalStateException.class,
                () -> VirtioFeatures.negotiate(offer & ~bits(17), 2, "dev"));
        assertTrue(noCtrl.getMessage().contains("without VIRTIO_NET_F_CTRL_VQ"), noCtrl.getMessage());
    }

    @Property
    void theDriverNeverAcceptsWhatWasNotOfferedNorARingFormatOrOffloadItDoesNotImplement(@ForAll long offered,
            @ForAll @IntRange(min = 1, max = 4) int pairs) {
        long offer = offered | bits(32, 33) | (pairs > 1 ? bits(17, 22) : 0);
        long accepted = VirtioFeatures.negotiate(offer, pairs, "dev");
        assertEquals(0, accepted & ~offer);
        assertTrue(VirtioFeatures.has(accepted, VirtioFeatures.VERSION_1));
        long neverTaken = bits(VirtioFeatures.RING_PACKED, VirtioFeatures.IN_ORDER, VirtioFeatures.INDIRECT_DESC, 7, 8,
                9, 10, 11, 12, 13, 14, 38);
        assertEquals(0, accepted & neverTaken, VirtioFeatures.describe(accepted));
    }
}

package io.arrakis.vfio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.arrakis.linux.EventFd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * VFIO on the lab's emulated NVMe function (QEMU {@code -device nvme}, 1b36:0010, bound to
 * vfio-pci) and its e1000e left to the kernel driver. Runs only in the lab ({@code ./dev lab}).
 */
@Tag("lab")
class VfioLabTest {
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static String nvme;

    @BeforeAll
    static void inTheLab() {
        nvme = System.getProperty("arrakis.lab.nvme");
        assumeTrue(nvme != null, "outside the lab: no arrakis.lab.nvme");
    }

    @Test
    void theNvmeFunctionOpensWithQemusIdsAndClassCode() throws Exception {
        try (PciFunction function = Vfio.open(nvme)) {
            assertEquals(nvme, function.address());
            assertEquals(0x1b36, function.vendorId());
            assertEquals(0x0010, function.deviceId());
            assertEquals(0x1b36, function.readConfig(0x00, 2), "config space agrees with the cached id");
            // Class code at 0x09..0x0b: mass storage (01), non-volatile memory (08), NVMe (02).
            assertEquals(0x010802, function.readConfig(0x08, 4) >>> 8);
        }
    }

    @Test
    void bar0MapsAndTheNvmeCapabilityAndVersionRegistersAreSane() throws Exception {
        try (PciFunction function = Vfio.open(nvme)) {
            MemorySegment bar0 = function.bar(0);
            assertTrue(bar0.byteSize() >= 0x1000, "BAR0 is " + bar0.byteSize() + " bytes");
            long cap = bar0.get(LONG, 0x00);
            int version = bar0.get(INT, 0x08);
            int maxQueueEntries = (int) (cap & 0xffff) + 1;
            assertTrue(maxQueueEntries >= 2, "CAP.MQES+1 = " + maxQueueEntries);
            assertTrue((cap >>> 37 & 1) == 1, "CAP.CSS advertises the NVM command set: CAP=0x" + Long.toHexString(cap));
            assertTrue((cap >>> 24 & 0xff) > 0, "CAP.TO (ready timeout) is set: CAP=0x" + Long.toHexString(cap));
            assertEquals(1, version >>> 16, "VS major: VS=0x" + Integer.toHexString(version));
            assertTrue(function.bar(0) == bar0, "a BAR is mapped once");
        }
    }

    @Test
    void dmaRegionsMapAtDistinctAlignedIovasAndUnmap() throws Exception {
        try (VfioPciFunction function = (VfioPciFunction) Vfio.open(nvme);
                Arena arena = Arena.ofConfined()) {
            DmaRegion allocated = function.allocateDma(10_000);
            assertEquals(12_288, allocated.size(), "rounded up to pages");
            assertEquals(0, allocated.iova() % 4096);
            assertEquals(0L, allocated.memory().get(LONG, 8192), "zeroed");
            allocated.memory().set(LONG, 8192, 0x1122334455667788L);
            assertEquals(allocated.iova() + 8192, allocated.iova(8192));

            MemorySegment pool = arena.allocate(8 * 4096, 4096);
            DmaRegion mapped = function.mapForDma(pool);
            assertEquals(pool.address(), mapped.memory().address(), "the caller's memory itself, not a copy");
            assertTrue(mapped.iova() >= allocated.iova() + allocated.size() || mapped.iova() + mapped.size()
                    <= allocated.iova(), "IOVAs do not overlap");
            assertEquals(2, function.dmaRegionCount());

            allocated.close();
            allocated.close();
            assertThrows(IllegalStateException.class, () -> allocated.memory().get(LONG, 0),
                    "freed memory is not reachable after close");
            mapped.close();
            assertEquals(0, function.dmaRegionCount());
            DmaRegion again = function.allocateDma(4096);
            assertEquals(IovaAllocator.FLOOR, again.iova(), "unmapped IOVAs are handed out again");
        }
    }

    @Test
    void msixVectorsEnableAndEachSignalsItsOwnEventfd() throws Exception {
        try (VfioPciFunction function = (VfioPciFunction) Vfio.open(nvme)) {
            assertTrue(function.msixVectorCount() >= 4, "QEMU's NVMe offers " + function.msixVectorCount());
            int[] fds = function.enableMsix(4);
            assertEquals(4, fds.length);
            function.loopbackMsix(2);
            assertEquals(1, EventFd.drain(fds[2]), "vector 2 signalled its eventfd");
            assertEquals(0, EventFd.drain(fds[1]), "vector 1 did not fire");
            // MSI-X enable is visible in the capability's message control (bit 15).
            assertTrue(msixEnabled(function), "MSI-X Enable set in config space");
            assertThrows(IllegalArgumentException.class, () -> function.enableMsix(function.msixVectorCount() + 1));
        }
    }

    private static boolean msixEnabled(PciFunction function) throws Exception {
        int pointer = function.readConfig(0x34, 1);
        for (int hops = 0; pointer != 0 && hops < 48; hops++) {
            if (function.readConfig(pointer, 1) == 0x11) {
                return (function.readConfig(pointer + 2, 2) & 0x8000) != 0;
            }
            pointer = function.readConfig(pointer + 1, 1);
        }
        return false;
    }

    @Test
    void busMasteringSetsTheCommandRegisterAndResetKeepsTheFunctionUsable() throws Exception {
        try (PciFunction function = Vfio.open(nvme)) {
            function.enableBusMastering();
            assertEquals(0x6, function.readConfig(0x04, 2) & 0x6, "memory space and bus master enabled");
            function.reset();
            assertEquals(0x1b36, function.readConfig(0x00, 2));
            assertNotEquals(0L, function.bar(0).get(LONG, 0x00), "CAP readable after the reset");
        }
    }

    @Test
    void aSecondOpenOfTheSameFunctionSaysTheGroupIsTaken() throws Exception {
        try (PciFunction first = Vfio.open(nvme)) {
            VfioException e = assertThrows(VfioException.class, () -> Vfio.open(nvme));
            assertTrue(e.getMessage().contains("already open"), e.getMessage());
        }
        Vfio.open(nvme).close();
    }

    @Test
    void aFunctionStillBoundToItsKernelDriverIsRefusedWithTheBindCommands() {
        String bound = System.getProperty("arrakis.lab.kernel-bound", "");
        assumeTrue(!bound.isEmpty(), "the lab has no function left to a kernel driver");
        VfioException e = assertThrows(VfioException.class, () -> Vfio.open(bound));
        assertTrue(e.getMessage().contains("still bound to the kernel driver e1000e"), e.getMessage());
        assertTrue(e.getMessage().contains("echo vfio-pci > /sys/bus/pci/devices/" + bound + "/driver_override"),
                e.getMessage());
    }
}

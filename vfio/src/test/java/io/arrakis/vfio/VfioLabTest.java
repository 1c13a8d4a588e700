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
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
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
            DmaRegion large = function.allocateDma(4L << 20);
            assertEquals(0, large.iova() % (2 << 20), "a 4 MiB region is 2 MiB-aligned for the IOMMU's large pages");
            large.memory().set(LONG, large.size() - 8, 42L);
        }
    }

    /**
     * The end-to-end proof that DMA goes through the IOMMU at our IOVAs: the smallest NVMe admin
     * exchange (enable the controller with an admin queue pair in one DMA region, IDENTIFY
     * CONTROLLER into the same region). The device's writes must land in our memory, its
     * completion must raise MSI-X vector 0 on our eventfd, and an IDENTIFY aimed at an IOVA we
     * never mapped must be stopped by the IOMMU (a DMAR fault) and leave our memory alone.
     * This is a probe of VFIO, not a driver: io.arrakis.nvme is that.
     */
    @Test
    void theDeviceWritesThroughTheIommuIntoMappedMemoryRaisesMsixAndCannotReachUnmappedIovas() throws Exception {
        try (PciFunction function = Vfio.open(nvme)) {
            function.enableBusMastering();
            MemorySegment bar = function.bar(0);
            long cap = bar.get(LONG, 0x00);
            long readyTimeoutMillis = (cap >>> 24 & 0xff) * 500;
            int doorbellStride = 4 << (int) (cap >>> 32 & 0xf);
            setEnabled(bar, false, readyTimeoutMillis);
            int[] vectors = function.enableMsix(1);

            DmaRegion region = function.allocateDma(3 * 4096);
            MemorySegment submissions = region.memory().asSlice(0, 4096);
            MemorySegment completions = region.memory().asSlice(4096, 4096);
            MemorySegment data = region.memory().asSlice(8192, 4096);
            bar.set(INT, 0x24, (2 - 1) << 16 | (2 - 1)); // AQA: 2-entry admin queues
            bar.set(LONG, 0x28, region.iova(0)); // ASQ
            bar.set(LONG, 0x30, region.iova(4096)); // ACQ
            bar.set(INT, 0x14, 6 << 16 | 4 << 20); // CC: IOSQES 64 B, IOCQES 16 B, 4 KiB pages
            setEnabled(bar, true, readyTimeoutMillis);

            // IDENTIFY CONTROLLER (opcode 06h, CNS 1) into the data page.
            identify(submissions, 0, 1, region.iova(8192));
            VarHandle.fullFence();
            bar.set(INT, 0x1000, 1); // admin SQ tail
            int status = awaitCompletion(completions, 0, 1);
            assertEquals(0, status, "IDENTIFY status");
            assertEquals(0x1b36, Short.toUnsignedInt(data.get(ValueLayout.JAVA_SHORT, 0)), "VID written by the device");
            // SN: 20 ASCII bytes padded with spaces, no terminator.
            String serial = new String(data.asSlice(4, 20).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII)
                    .trim();
            assertEquals("lab01", serial, "SN as QEMU was told (-device nvme,serial=lab01)");
            assertTrue(awaitEventfd(vectors[0]), "the completion raised MSI-X vector 0 on its eventfd");
            bar.set(INT, 0x1000 + doorbellStride, 1); // admin CQ head

            // The same command aimed at an IOVA that maps nothing.
            data.fill((byte) 0);
            identify(submissions, 1, 2, 0x40_0000_0000L);
            VarHandle.fullFence();
            bar.set(INT, 0x1000, 0);
            // QEMU's NVMe completes the command as if it had worked (real controllers report a data
            // transfer error): what proves the IOMMU is our untouched memory and the fault the
            // guest kernel's DMAR driver logs for this function at exactly that address.
            awaitCompletion(completions, 1, 1);
            assertEquals(-1, data.mismatch(MemorySegment.ofArray(new byte[4096])), "nothing landed in our memory");
            String fault = "Request device [" + nvme.substring(5) + "] fault addr 0x4000000000";
            assertTrue(awaitKernelLog(fault), "the kernel logged a DMAR fault: \"" + fault + "\"");
            setEnabled(bar, false, readyTimeoutMillis);
            region.close();
        }
    }

    private static void identify(MemorySegment submissions, int slot, int commandId, long prp1) {
        MemorySegment entry = submissions.asSlice(slot * 64L, 64);
        entry.fill((byte) 0);
        entry.set(INT, 0, 0x06 | commandId << 16);
        entry.set(LONG, 24, prp1);
        entry.set(INT, 40, 1);
    }

    /** Waits for completion-queue entry {@code slot} to carry {@code phase}; returns its status field. */
    private static int awaitCompletion(MemorySegment completions, int slot, int phase) throws InterruptedException {
        VarHandle statusWord = ValueLayout.JAVA_SHORT.varHandle();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            int word = Short.toUnsignedInt((short) statusWord.getVolatile(completions, slot * 16L + 14));
            if ((word & 1) == phase) {
                return word >>> 1;
            }
            Thread.sleep(1);
        }
        throw new AssertionError("no completion in slot " + slot + " within 10 s");
    }

    /** Whether the kernel log gets a line containing {@code text} within 5 s (fault reports are interrupts). */
    private static boolean awaitKernelLog(String text) throws Exception {
        for (int i = 0; i < 50; i++) {
            Process dmesg = new ProcessBuilder("dmesg").redirectErrorStream(true).start();
            String log = new String(dmesg.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            dmesg.waitFor();
            if (log.contains(text)) {
                return true;
            }
            Thread.sleep(100);
        }
        return false;
    }

    private static boolean awaitEventfd(int fd) throws Exception {
        for (int i = 0; i < 2000; i++) {
            if (EventFd.drain(fd) > 0) {
                return true;
            }
            Thread.sleep(1);
        }
        return false;
    }

    private static void setEnabled(MemorySegment bar, boolean enabled, long timeoutMillis) throws InterruptedException {
        int cc = bar.get(INT, 0x14);
        bar.set(INT, 0x14, enabled ? cc | 1 : cc & ~1);
        long deadline = System.nanoTime() + Math.max(timeoutMillis, 1000) * 1_000_000;
        while ((bar.get(INT, 0x1c) & 1) != (enabled ? 1 : 0)) {
            assertTrue(System.nanoTime() < deadline, "CSTS.RDY did not become " + enabled);
            assertEquals(0, bar.get(INT, 0x1c) & 2, "controller fatal status");
            Thread.sleep(1);
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
    void theModernVirtioNetFunctionOpensWithItsCapabilitiesInBar4AndNoBar0() throws Exception {
        String virtioNet = System.getProperty("arrakis.lab.virtio-net");
        assumeTrue(virtioNet != null, "outside the lab: no arrakis.lab.virtio-net");
        try (PciFunction function = Vfio.open(virtioNet)) {
            assertEquals(0x1af4, function.vendorId());
            assertEquals(0x1041, function.deviceId(), "modern (virtio 1.x) network device");
            assertTrue(function.bar(4).byteSize() >= 0x4000, "BAR4 holds the virtio capabilities' structures");
            VfioException noBar0 = assertThrows(VfioException.class, () -> function.bar(0));
            assertTrue(noBar0.getMessage().contains("has no BAR 0"), noBar0.getMessage());
            VfioException upperHalf = assertThrows(VfioException.class, () -> function.bar(5));
            assertTrue(upperHalf.getMessage().contains("upper half of 64-bit BAR 4"), upperHalf.getMessage());
            assertTrue(function.msixVectorCount() >= 3, "a vector per queue and one for configuration changes: "
                    + function.msixVectorCount());
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

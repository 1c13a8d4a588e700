package io.arrakis.nvme;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.device.VsicConfig;
import io.arrakis.device.VsicCounter;
import io.arrakis.device.VsicQueue;
import io.arrakis.storage.TestAreas;
import io.arrakis.storage.log.InProcessCrash;
import io.arrakis.storage.log.LogStore;
import io.arrakis.vfio.Vfio;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The NVMe driver on QEMU's emulated controller ({@code -device nvme,serial=lab01}) through VFIO,
 * in the emulated-hardware lab (docs: LAB-CONTRACT). Skipped unless {@code arrakis.lab.nvme}
 * names the function. The 64 MiB drive is shared out by LBA range: 0–32 MiB random writes,
 * 32–36 MiB the crash check, 40–42 MiB large transfers and flushes, 48 MiB on the VSA-boundary test.
 */
@Tag("lab")
@Timeout(value = 600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NvmeLabTest {
    private static final int BLOCK = 4096;
    private static final long MIB = 1 << 20;

    private static String pci() {
        String address = System.getProperty("arrakis.lab.nvme");
        assumeTrue(address != null && !address.isBlank(), "not in the lab: arrakis.lab.nvme is not set");
        return address;
    }

    /** The drive's size: 64 MiB unless the lab says otherwise ({@code arrakis.lab.nvme-bytes}). */
    private static long driveBytes() {
        return Long.getLong("arrakis.lab.nvme-bytes", 64 * MIB);
    }

    private static int lbaSize;

    /** The LBA that byte {@code offset} of namespace 1 starts, whatever the LBA format QEMU was given. */
    private static synchronized long lba(String pci, long offset) throws IOException {
        if (lbaSize == 0) {
            NvmeController controller = NvmeController.acquire(pci, Vfio::open);
            try {
                lbaSize = controller.namespace(1).blockSize();
            } finally {
                controller.release();
            }
        }
        return offset / lbaSize;
    }

    private static Vsic open(String pci, String name, long firstByte, long blocks, int queues, int depth,
            long memory) throws IOException {
        return open(pci, name, firstByte, blocks, queues, depth, memory, "1");
    }

    private static Vsic open(String pci, String name, long firstByte, long blocks, int queues, int depth,
            long memory, String namespace) throws IOException {
        return DeviceBackends.vsicBackend("nvme").open(new VsicConfig(name, blocks, queues, depth, memory,
                Map.of(NvmeVsicBackend.OPTION_PCI, pci, NvmeVsicBackend.OPTION_FIRST_LBA,
                        String.valueOf(lba(pci, firstByte)), NvmeVsicBackend.OPTION_NAMESPACE, namespace)));
    }

    @Test
    void identifyGivesWhatQemuWasConfiguredWith() throws IOException {
        String pci = pci();
        NvmeController controller = NvmeController.acquire(pci, Vfio::open);
        try {
            IdentifyController identity = controller.identity();
            assertEquals("lab01", identity.serialNumber());
            assertEquals("QEMU NVMe Ctrl", identity.model());
            assertEquals(0x1b36, identity.vendorId(), "Red Hat's PCI vendor id (QEMU)");
            assertFalse(identity.firmware().isEmpty());
            assertTrue(identity.namespaceCount() >= 1);
            IdentifyNamespace namespace = controller.namespace(1);
            assertEquals(driveBytes(), namespace.sizeBytes(), "namespace size is the drive's size");
            assertTrue(namespace.blockSize() == 512 || namespace.blockSize() == 4096, namespace.toString());
            assertTrue(controller.ioQueuePairs() >= 2, "QEMU grants many I/O queue pairs: " + controller.ioQueuePairs());
            System.out.println("lab NVMe: " + controller + ", MDTS " + identity.maxTransferBytes() + " bytes, "
                    + identity.namespaceCount() + " namespace(s), namespace 1 " + namespace.sizeBlocks() + " LBAs of "
                    + namespace.blockSize() + ", volatile write cache " + identity.volatileWriteCache()
                    + ", interrupts " + controller.interrupts() + ", " + controller.ioQueuePairs() + " I/O queue pairs");
        } finally {
            controller.release();
        }
    }

    @Test
    void aFailedCommandNamesTheCommandAndTheControllersStatus() throws IOException {
        String pci = pci();
        NvmeController controller = NvmeController.acquire(pci, Vfio::open);
        try {
            // Queue id 65535 is beyond what any controller grants: QEMU answers "invalid queue identifier".
            IOException refused = assertThrows(IOException.class,
                    () -> controller.createQueuePair(0xffff, 16, 0x1000, 0x2000));
            assertTrue(refused.getMessage().contains("admin command CREATE I/O COMPLETION QUEUE 65535")
                    && refused.getMessage().contains("status type 1 (command specific), code 0x1 (invalid queue"
                    + " identifier)"), refused.getMessage());
            // The controller still works after a refused command.
            assertEquals(controller.namespace(1).sizeBytes(), driveBytes());
            IOException inactive = assertThrows(IOException.class,
                    () -> open(pci, "nowhere", 0, 16, 1, 4, 4 * BLOCK, "2"));
            // QEMU answers IDENTIFY of an unattached namespace with zeros (or, in other versions, an error).
            assertTrue(inactive.getMessage().contains("namespace 2 is not active")
                    || inactive.getMessage().contains("IDENTIFY NAMESPACE 2 failed: status"), inactive.getMessage());
            System.out.println("lab NVMe: " + refused.getMessage());
        } finally {
            controller.release();
        }
    }

    /** Block {@code block}'s content after its {@code version}-th write. */
    private static void fill(MemorySegment memory, long offset, long block, int version) {
        long seed = block * 1_000_003L + version * 7919L;
        for (int i = 0; i < BLOCK; i += 8) {
            memory.set(ValueLayout.JAVA_LONG_UNALIGNED, offset + i, seed * 0x9E3779B97F4A7C15L + i);
        }
    }

    private static String firstDifference(MemorySegment memory, long offset, long block, int version) {
        long seed = block * 1_000_003L + version * 7919L;
        for (int i = 0; i < BLOCK; i += 8) {
            if (memory.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + i) != seed * 0x9E3779B97F4A7C15L + i) {
                return "block " + block + " (version " + version + ") differs at byte " + i;
            }
        }
        return null;
    }

    @Test
    void tenThousandRandomWritesReadBackByteExact() throws IOException {
        String pci = pci();
        int depth = 32;
        long blocks = 32 * MIB / BLOCK;
        try (Vsic vsic = open(pci, "random", 0, blocks, 2, depth, depth * BLOCK)) {
            VsicQueue writer = vsic.queue(0);
            VsicQueue reader = vsic.queue(1);
            Random random = new Random(9);
            int[] versions = new int[(int) blocks];
            long[] batchBlocks = new long[depth];
            int written = 0;
            while (written < 10_000) {
                int batch = Math.min(depth, 10_000 - written);
                Set<Long> inBatch = new HashSet<>();
                for (int i = 0; i < batch; i++) {
                    long block;
                    do {
                        block = random.nextLong(blocks);
                    } while (!inBatch.add(block)); // two writes of one block in flight have no order
                    batchBlocks[i] = block;
                    fill(writer.memory(), (long) i * BLOCK, block, ++versions[(int) block]);
                    assertTrue(writer.submitWrite(block, 1, (long) i * BLOCK, i));
                }
                CompletionBatch done = TestAreas.complete(writer, batch);
                for (int i = 0; i < done.size(); i++) {
                    assertEquals(0, done.status(i), "write of block " + batchBlocks[(int) done.tag(i)] + ": "
                            + ((NvmeVsic) vsic).lastFailure(0));
                }
                written += batch;
            }
            assertTrue(writer.submitFlush(1));
            TestAreas.expectSuccess(writer);
            assertEquals(10_000, writer.counters().get(VsicCounter.WRITES));

            int verified = 0;
            long[] pending = new long[depth];
            int count = 0;
            for (long block = 0; block <= blocks; block++) {
                if (block < blocks && versions[(int) block] > 0) {
                    assertTrue(reader.submitRead(block, 1, (long) count * BLOCK, count));
                    pending[count++] = block;
                }
                if (count == depth || block == blocks && count > 0) {
                    CompletionBatch done = TestAreas.complete(reader, count);
                    for (int i = 0; i < done.size(); i++) {
                        assertEquals(0, done.status(i));
                    }
                    for (int i = 0; i < count; i++) {
                        String problem = firstDifference(reader.memory(), (long) i * BLOCK, pending[i],
                                versions[(int) pending[i]]);
                        assertEquals(null, problem, "read back after 10,000 random writes");
                        verified++;
                    }
                    count = 0;
                }
            }
            System.out.println("lab NVMe: 10,000 random 4 KiB writes to " + verified + " distinct blocks read back"
                    + " byte-exact; idle waits " + writer.counters().get(VsicCounter.IDLE_WAITS));
        }
    }

    @Test
    void aTransferLongerThanMdtsIsSplitAndCrossesPrpListsIntact() throws IOException {
        String pci = pci();
        try (Vsic vsic = open(pci, "large", 40 * MIB, 2 * MIB / BLOCK, 1, 4, 4 * MIB)) {
            VsicQueue queue = vsic.queue(0);
            int blocks = (int) (MIB / BLOCK) + 3; // 1 MiB + 12 KiB: past QEMU's 512 KiB MDTS, PRP lists each
            for (int b = 0; b < blocks; b++) {
                fill(queue.memory(), (long) b * BLOCK, 7000 + b, 1);
            }
            assertTrue(queue.submitWrite(5, blocks, 0, 1));
            TestAreas.expectSuccess(queue);
            queue.memory().asSlice(2 * MIB, (long) blocks * BLOCK).fill((byte) 0);
            assertTrue(queue.submitRead(5, blocks, 2 * MIB, 2));
            TestAreas.expectSuccess(queue);
            for (int b = 0; b < blocks; b++) {
                assertEquals(null, firstDifference(queue.memory(), 2 * MIB + (long) b * BLOCK, 7000 + b, 1));
            }
            assertEquals(1, queue.counters().get(VsicCounter.WRITES), "one VSIC command, however many NVMe commands");
            System.out.println("lab NVMe: " + blocks + "-block transfer split into commands of at most "
                    + ((NvmeQueue) queue).maxBlocksPerCommand() + " blocks, read back intact");
        }
    }

    @Test
    void flushAndWriteThenFlushCompleteOnceEach() throws IOException {
        String pci = pci();
        try (Vsic vsic = open(pci, "flush", 41 * MIB, 64, 1, 4, 16 * BLOCK)) {
            VsicQueue queue = vsic.queue(0);
            assertTrue(queue.submitFlush(41));
            CompletionBatch flushed = TestAreas.complete(queue, 1);
            assertEquals(41, flushed.tag(0));
            assertEquals(0, flushed.status(0));
            fill(queue.memory(), 0, 99, 1);
            fill(queue.memory(), BLOCK, 100, 1);
            assertTrue(queue.submitWriteThenFlush(10, 2, 0, 77));
            CompletionBatch durable = TestAreas.complete(queue, 1);
            assertEquals(77, durable.tag(0));
            assertEquals(0, durable.status(0));
            CompletionBatch nothingMore = new CompletionBatch(4);
            assertEquals(0, queue.poll(nothingMore), "the write and its flush report one completion");
            assertFalse(queue.awaitCompletion(1_000_000), "nothing is in flight any more");
            assertEquals(2, queue.counters().get(VsicCounter.FLUSHES));
            assertEquals(1, queue.counters().get(VsicCounter.WRITES));
            queue.memory().fill((byte) 0);
            assertTrue(queue.submitRead(10, 2, 4 * BLOCK, 3));
            TestAreas.expectSuccess(queue);
            assertEquals(null, firstDifference(queue.memory(), 4 * BLOCK, 99, 1));
            assertEquals(null, firstDifference(queue.memory(), 5 * BLOCK, 100, 1));
        }
    }

    @Test
    void aWriteOutsideTheVsaIsRefusedBeforeItReachesTheDevice() throws IOException {
        String pci = pci();
        long innerStart = 48 * MIB + 16 * BLOCK;
        try (Vsic outer = open(pci, "outer", 48 * MIB, 64, 1, 4, 64 * BLOCK);
                Vsic inner = open(pci, "inner", innerStart, 16, 1, 4, 16 * BLOCK)) {
            VsicQueue around = outer.queue(0);
            for (int b = 0; b < 64; b++) {
                fill(around.memory(), (long) b * BLOCK, 5000 + b, 1);
            }
            assertTrue(around.submitWrite(0, 64, 0, 1));
            TestAreas.expectSuccess(around);

            VsicQueue queue = inner.queue(0);
            queue.memory().fill((byte) 0xEE);
            IllegalArgumentException after = assertThrows(IllegalArgumentException.class,
                    () -> queue.submitWrite(16, 1, 0, 1));
            assertTrue(after.getMessage().contains("VSA inner") && after.getMessage().contains("refused before it"
                    + " reached the device") && after.getMessage().contains("LBAs"), after.getMessage());
            assertThrows(IllegalArgumentException.class, () -> queue.submitWrite(15, 2, 0, 2), "straddling the end");
            assertThrows(IllegalArgumentException.class, () -> queue.submitWrite(-1, 1, 0, 3), "before the start");
            assertThrows(IllegalArgumentException.class, () -> queue.submitWriteThenFlush(Long.MAX_VALUE / 2, 1, 0, 4));
            assertEquals(0, queue.ring(), "nothing was staged");
            assertFalse(queue.awaitCompletion(1_000_000), "nothing is in flight");
            assertEquals(0, queue.counters().get(VsicCounter.WRITES));

            // Inside is fine; around it, the neighbours' blocks are untouched.
            assertTrue(queue.submitWrite(0, 16, 0, 5));
            TestAreas.expectSuccess(queue);
            around.memory().fill((byte) 0);
            assertTrue(around.submitRead(0, 64, 0, 6));
            TestAreas.expectSuccess(around);
            for (int b = 0; b < 64; b++) {
                if (b >= 16 && b < 32) {
                    assertEquals((byte) 0xEE, around.memory().get(ValueLayout.JAVA_BYTE, (long) b * BLOCK + 17));
                } else {
                    assertEquals(null, firstDifference(around.memory(), (long) b * BLOCK, 5000 + b, 1),
                            "a block outside VSA inner");
                }
            }
            assertTrue(((NvmeVsic) inner).range().toString().contains("LBAs"));
        }
    }

    @Test
    void theLogStoreKeepsEveryAcknowledgedAppendAcrossCrashesOnNvme() throws Exception {
        String pci = pci();
        // Hold a reference so that the controller is not reset between rounds (a process that
        // dies does not reset the device either).
        NvmeController held = NvmeController.acquire(pci, Vfio::open);
        try {
            String summary = InProcessCrash.run(() -> DeviceBackends.vsicBackend("nvme").open(LogStore.vsicConfig(
                    "crash", 1024, Map.of(NvmeVsicBackend.OPTION_PCI, pci, NvmeVsicBackend.OPTION_FIRST_LBA,
                            String.valueOf(lba(pci, 32 * MIB))))), 30, 33);
            System.out.println("lab NVMe: " + summary);
        } finally {
            held.release();
        }
    }
}

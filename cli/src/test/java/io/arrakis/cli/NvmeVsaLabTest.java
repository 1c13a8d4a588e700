package io.arrakis.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlPlaneConfig;
import io.arrakis.control.VsaLease;
import io.arrakis.control.VsaRegistry;
import io.arrakis.device.CompletionBatch;
import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.device.VsicConfig;
import io.arrakis.device.VsicCounter;
import io.arrakis.device.VsicQueue;
import io.arrakis.nvme.IdentifyNamespace;
import io.arrakis.nvme.NvmeController;
import io.arrakis.vfio.Vfio;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * In the emulated-hardware lab: the control plane hands out LBA ranges of the NVMe namespace as
 * VSAs, and the driver keeps each VSA inside its own range. Skipped unless {@code arrakis.lab.nvme}
 * names the function.
 */
@Tag("lab")
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NvmeVsaLabTest {
    private static final int BLOCK = 4096;

    @TempDir
    Path directory;

    private static Vsic open(VsaLease lease) throws IOException {
        return DeviceBackends.vsicBackend("nvme").open(new VsicConfig(lease.name(), lease.bytes() / BLOCK, 1, 8,
                64L * BLOCK, lease.vsicOptions()));
    }

    @Test
    void controlPlaneVsasGetDisjointRangesAndTheDriverKeepsEachInsideItsOwn() throws Exception {
        String pci = System.getProperty("arrakis.lab.nvme");
        assumeTrue(pci != null && !pci.isBlank(), "not in the lab: arrakis.lab.nvme is not set");
        NvmeController controller = NvmeController.acquire(pci, Vfio::open);
        try {
            IdentifyNamespace namespace = controller.namespace(1);
            VsaRegistry.NvmeDevice device = new VsaRegistry.NvmeDevice(pci, 1, namespace.sizeBlocks(),
                    namespace.blockSize());
            try (ControlPlane plane = ControlPlane.startEmbedded(
                    ControlPlaneConfig.defaults(directory.resolve("control.sock")),
                    new VsaRegistry.Settings(directory.resolve("vsa"), device));
                    VsaLease a = VsaLease.acquire(plane.socketPath(), "a", 256 * 1024, VsaRegistry.KIND_NVME);
                    VsaLease b = VsaLease.acquire(plane.socketPath(), "b", 256 * 1024, VsaRegistry.KIND_NVME);
                    Vsic first = open(a);
                    Vsic second = open(b)) {
                assertTrue(a.firstLba() + a.lbaCount() <= b.firstLba() || b.firstLba() + b.lbaCount() <= a.firstLba(),
                        a + " and " + b + " overlap");
                IOException taken = assertThrows(IOException.class,
                        () -> VsaLease.acquire(plane.socketPath(), "a", 256 * 1024, VsaRegistry.KIND_NVME));
                assertTrue(taken.getMessage().contains("attached to process"), taken.getMessage());

                fillAll(first, (byte) 0xA1);
                fillAll(second, (byte) 0xB2);
                expectAll(first, (byte) 0xA1);
                expectAll(second, (byte) 0xB2);

                VsicQueue queue = first.queue(0);
                long capacity = first.capacityBlocks();
                IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                        () -> queue.submitWrite(capacity, 1, 0, 9));
                assertTrue(refused.getMessage().contains("VSA a") && refused.getMessage().contains("refused before it"
                        + " reached the device"), refused.getMessage());
                assertEquals(0, queue.ring());
                expectAll(second, (byte) 0xB2);
                System.out.println("lab NVMe: control plane granted " + a + " and " + b);
            }
        } finally {
            controller.release();
        }
    }

    private static void fillAll(Vsic vsic, byte value) throws IOException {
        VsicQueue queue = vsic.queue(0);
        int perCommand = (int) (queue.memory().byteSize() / BLOCK);
        queue.memory().fill(value);
        for (long block = 0; block < vsic.capacityBlocks(); block += perCommand) {
            int blocks = (int) Math.min(perCommand, vsic.capacityBlocks() - block);
            assertTrue(queue.submitWrite(block, blocks, 0, block));
            complete(queue);
        }
        assertTrue(queue.counters().get(VsicCounter.WRITES) > 0);
    }

    private static void expectAll(Vsic vsic, byte value) throws IOException {
        VsicQueue queue = vsic.queue(0);
        int perCommand = (int) (queue.memory().byteSize() / BLOCK);
        for (long block = 0; block < vsic.capacityBlocks(); block += perCommand) {
            int blocks = (int) Math.min(perCommand, vsic.capacityBlocks() - block);
            queue.memory().fill((byte) 0);
            assertTrue(queue.submitRead(block, blocks, 0, block));
            complete(queue);
            for (long i = 0; i < (long) blocks * BLOCK; i += 509) {
                assertEquals(value, queue.memory().get(ValueLayout.JAVA_BYTE, i), "VSA " + vsic.name() + " block "
                        + (block + i / BLOCK));
            }
        }
    }

    private static void complete(VsicQueue queue) throws IOException {
        queue.ring();
        CompletionBatch batch = new CompletionBatch(1);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (queue.poll(batch) == 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no completion within 10 s");
            }
            queue.awaitCompletion(100_000_000L);
        }
        assertEquals(0, batch.status(0));
    }
}

package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.linux.FileIo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** VSAs allocated by a real control plane (embedded in this JVM) and attached over its socket. */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class VsaRegistryTest {
    private static final long MIB = 1 << 20;

    @TempDir
    Path directory;

    private ControlPlane start(VsaRegistry.NvmeDevice nvme) throws IOException {
        return ControlPlane.startEmbedded(ControlPlaneConfig.defaults(directory.resolve("control.sock")),
                new VsaRegistry.Settings(directory.resolve("vsa"), nvme));
    }

    private static int uid() {
        return ControlPlane.currentUid();
    }

    @Test
    void aFileVsaIsCreatedPrivatelyAndHandedOverAsADescriptor() throws Exception {
        try (ControlPlane plane = start(null)) {
            Path file = directory.resolve("vsa").resolve(Integer.toString(uid())).resolve("db.vsa");
            try (VsaLease lease = VsaLease.acquire(plane.socketPath(), "db", MIB, VsaRegistry.KIND_FILE)) {
                assertTrue(lease.fresh());
                assertEquals(MIB, lease.bytes());
                assertEquals(file.toString(), lease.where());
                assertTrue(lease.fd() >= 0);
                assertEquals(MIB, Files.size(file), "preallocated to the size asked for");
                assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
                assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                        file.getParent())));
                assertEquals(MIB, FileIo.stat(lease.fd()).size(), "the descriptor is the file's");
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment data = arena.allocateFrom(ValueLayout.JAVA_BYTE, "kept".getBytes());
                    assertEquals(4, FileIo.pwrite(lease.fd(), data, 4096));
                }
                assertEquals(Map.of("fd", Integer.toString(lease.fd())), lease.vsicOptions());
            }
            try (VsaLease again = VsaLease.acquire(plane.socketPath(), "db", MIB / 2, VsaRegistry.KIND_FILE)) {
                assertFalse(again.fresh(), "it exists: same area, its data kept");
                assertEquals(MIB, again.bytes(), "an existing VSA keeps its size");
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment data = arena.allocate(4);
                    assertEquals(4, FileIo.pread(again.fd(), data, 4096));
                    assertEquals("kept", new String(data.toArray(ValueLayout.JAVA_BYTE)));
                }
            }
        }
    }

    @Test
    void aVsaHeldByALiveProcessIsRefusedAndFreedWhenItCloses() throws Exception {
        try (ControlPlane plane = start(null)) {
            try (VsaLease first = VsaLease.acquire(plane.socketPath(), "shared", MIB, VsaRegistry.KIND_FILE)) {
                IOException refused = assertThrows(IOException.class,
                        () -> VsaLease.acquire(plane.socketPath(), "shared", MIB, VsaRegistry.KIND_FILE));
                assertTrue(refused.getMessage().contains("VSA shared") && refused.getMessage().contains("attached to"
                        + " process " + ProcessHandle.current().pid()) && refused.getMessage().contains("alive"),
                        refused.getMessage());
                try (VsaLease other = VsaLease.acquire(plane.socketPath(), "other", MIB, VsaRegistry.KIND_FILE)) {
                    assertTrue(other.fresh(), "another name is another area");
                }
            }
            awaitAttachable(plane, "shared");
        }
    }

    @Test
    void theStatusListsEveryVsaWithItsHolderOrFree() throws Exception {
        VsaRegistry.NvmeDevice device = new VsaRegistry.NvmeDevice("0000:00:04.0", 1, 131072, 512);
        try (ControlPlane plane = start(device)) {
            int pid = (int) ProcessHandle.current().pid();
            try (VsaLease file = VsaLease.acquire(plane.socketPath(), "db", MIB, VsaRegistry.KIND_FILE);
                    VsaLease nvme = VsaLease.acquire(plane.socketPath(), "fast", 2 * MIB, VsaRegistry.KIND_NVME);
                    ControlClient client = ControlClient.connect(plane.socketPath())) {
                ControlStatus status = client.status();
                assertEquals(new ControlStatus.VsaStatus("db", VsaRegistry.KIND_FILE, uid(), MIB, 0, 0, pid),
                        status.vsa(VsaRegistry.KIND_FILE, "db"), status.format());
                assertEquals(new ControlStatus.VsaStatus("fast", VsaRegistry.KIND_NVME, uid(), 2 * MIB,
                        nvme.firstLba(), nvme.lbaCount(), pid), status.vsa(VsaRegistry.KIND_NVME, "fast"));
                assertEquals(2, status.vsas().size(), status.format());
                assertTrue(status.format().contains("held by pid " + pid), status.format());
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            ControlStatus status;
            do {
                Thread.sleep(20);
                status = plane.status();
            } while (!status.vsas().stream().allMatch(ControlStatus.VsaStatus::free) && System.nanoTime() < deadline);
            assertEquals(2, status.vsas().size(), "free VSAs stay listed: " + status.format());
            assertTrue(status.vsas().stream().allMatch(v -> v.free() && v.pid() == 0), status.format());
        }
        try (ControlPlane restarted = start(device)) {
            ControlStatus status = restarted.status();
            assertEquals(2 * MIB, status.vsa(VsaRegistry.KIND_NVME, "fast").bytes(),
                    "a new control plane lists what its predecessor allocated: " + status.format());
            assertTrue(status.vsa(VsaRegistry.KIND_FILE, "db").free());
        }
    }

    @Test
    void aDeadOwnersVsaCanBeReattachedWithItsData() throws Exception {
        try (ControlPlane plane = start(null)) {
            try (Child holder = Child.startMain(VsaHolder.class.getName(), plane.socketPath().toString(), "orphan",
                    Long.toString(MIB))) {
                String held = holder.awaitLine("HELD ", Duration.ofSeconds(30));
                Path file = Path.of(held.substring("HELD ".length()));
                Files.write(file, "from the first process".getBytes(), java.nio.file.StandardOpenOption.WRITE);
                IOException refused = assertThrows(IOException.class,
                        () -> VsaLease.acquire(plane.socketPath(), "orphan", MIB, VsaRegistry.KIND_FILE));
                assertTrue(refused.getMessage().contains("process " + holder.pid()), refused.getMessage());
                holder.kill();
            }
            try (VsaLease lease = awaitAttachable(plane, "orphan")) {
                assertFalse(lease.fresh());
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment data = arena.allocate(22);
                    FileIo.pread(lease.fd(), data, 0);
                    assertEquals("from the first process", new String(data.toArray(ValueLayout.JAVA_BYTE)));
                }
            }
        }
    }

    /** The control plane reaps a closed connection on its own thread: retry (bounded) until it has. */
    private static VsaLease awaitAttachable(ControlPlane plane, String name) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            try {
                return VsaLease.acquire(plane.socketPath(), name, MIB, VsaRegistry.KIND_FILE);
            } catch (IOException e) {
                if (System.nanoTime() > deadline || !e.getMessage().contains("attached to")) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    @Test
    void badRequestsAreRefusedSayingWhy() throws Exception {
        try (ControlPlane plane = start(null)) {
            assertRefused(plane, "../escape", MIB, VsaRegistry.KIND_FILE, "must be 1..64 letters");
            assertRefused(plane, ".hidden", MIB, VsaRegistry.KIND_FILE, "not starting with '.'");
            assertRefused(plane, "small", 4096, VsaRegistry.KIND_FILE, "at least 65536");
            assertRefused(plane, "odd", MIB + 1, VsaRegistry.KIND_FILE, "multiple of 4096");
            assertRefused(plane, "disk", MIB, "tape", "neither file");
            assertRefused(plane, "fast", MIB, VsaRegistry.KIND_NVME, "no NVMe namespace to hand out");
            assertRefused(plane, "huge", 1L << 50, VsaRegistry.KIND_FILE, "cannot preallocate");
            assertFalse(Files.exists(directory.resolve("vsa").resolve(Integer.toString(uid())).resolve("huge.vsa")),
                    "a file that could not be preallocated is removed");
            try (VsaLease grown = VsaLease.acquire(plane.socketPath(), "grow", MIB, VsaRegistry.KIND_FILE)) {
                assertTrue(grown.fresh());
            }
            assertRefused(plane, "grow", 2 * MIB, VsaRegistry.KIND_FILE, "exists with 1048576 bytes");
        }
    }

    private static void assertRefused(ControlPlane plane, String name, long bytes, String kind, String why) {
        IOException refused = assertThrows(IOException.class, () -> VsaLease.acquire(plane.socketPath(), name, bytes,
                kind));
        assertTrue(refused.getMessage().contains(why), refused.getMessage());
    }

    @Test
    void nvmeVsasGetDisjointRangesThatTheirNamesKeepAcrossRestarts() throws Exception {
        // 64 MiB of 512-byte LBAs, as the lab's drive.
        VsaRegistry.NvmeDevice device = new VsaRegistry.NvmeDevice("0000:00:04.0", 1, 131072, 512);
        long firstA;
        long firstB;
        try (ControlPlane plane = start(device)) {
            try (VsaLease a = VsaLease.acquire(plane.socketPath(), "a", 3 * MIB + 4096, VsaRegistry.KIND_NVME);
                    VsaLease b = VsaLease.acquire(plane.socketPath(), "b", MIB, VsaRegistry.KIND_NVME)) {
                assertEquals(-1, a.fd(), "an NVMe VSA has no file");
                assertEquals("0000:00:04.0", a.where());
                assertEquals(1, a.namespace());
                assertEquals(512, a.lbaSize());
                assertEquals(0, a.firstLba());
                assertEquals(4 * MIB / 512, a.lbaCount(), "rounded up to 1 MiB");
                assertEquals(4 * MIB / 512, b.firstLba(), "first fit after a");
                assertEquals(MIB / 512, b.lbaCount());
                assertEquals(Map.of("pci", "0000:00:04.0", "namespace", "1", "firstLba",
                        Long.toString(b.firstLba())), b.vsicOptions());
                firstA = a.firstLba();
                firstB = b.firstLba();
                assertRefused(plane, "c", 60 * MIB, VsaRegistry.KIND_NVME, "no free range");
                assertRefused(plane, "a", MIB, VsaRegistry.KIND_NVME, "attached to process");
            }
        }
        try (ControlPlane plane = start(device);
                VsaLease b = VsaLease.acquire(plane.socketPath(), "b", MIB, VsaRegistry.KIND_NVME);
                VsaLease c = VsaLease.acquire(plane.socketPath(), "c", 59 * MIB, VsaRegistry.KIND_NVME);
                VsaLease a = VsaLease.acquire(plane.socketPath(), "a", MIB, VsaRegistry.KIND_NVME)) {
            assertFalse(b.fresh());
            assertEquals(firstB, b.firstLba(), "a name keeps its range across control plane restarts");
            assertEquals(firstA, a.firstLba());
            assertEquals(5 * MIB / 512, c.firstLba(), "a new VSA goes where nobody is");
            assertTrue(c.fresh());
        }
    }
}

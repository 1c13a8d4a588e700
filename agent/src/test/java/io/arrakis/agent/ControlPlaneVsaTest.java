package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlPlaneConfig;
import io.arrakis.control.VsaRegistry;
import io.arrakis.storage.fs.StorageMount;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code storage.vsa=control:<socket>#<name>}: a mount's VSA allocated by a real control plane
 * (embedded here) and handed over as a descriptor, on the file and io_uring backends.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ControlPlaneVsaTest {
    @TempDir
    Path directory;

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aMountOnAControlPlaneVsaKeepsItsFilesAcrossRemountsAndIsExclusive(String backend) throws IOException {
        Path socket = directory.resolve("control.sock");
        Path vsas = directory.resolve("vsas");
        Path mountPoint = directory.resolve("data");
        Files.createDirectories(mountPoint);
        String entry = "control:" + socket + "#appdata";
        assertEquals("appdata", ControlPlaneVsa.nameOf(entry));
        assertEquals(socket, ControlPlaneVsa.socketOf(entry));
        assertEquals(null, ControlPlaneVsa.nameOf("/var/lib/app.vsa"));
        try (ControlPlane plane = ControlPlane.startEmbedded(ControlPlaneConfig.defaults(socket),
                new VsaRegistry.Settings(vsas, null))) {
            try (StorageMount mount = ControlPlaneVsa.mount(mountPoint, entry, backend, 1 << 20)) {
                try (FileChannel channel = mount.newFileChannel(mountPoint.resolve("journal"),
                        Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE))) {
                    channel.write(ByteBuffer.wrap("acknowledged".getBytes(StandardCharsets.UTF_8)));
                    channel.force(false);
                }
                IOException second = assertThrows(IOException.class,
                        () -> ControlPlaneVsa.mount(directory.resolve("other"), entry, backend, 1 << 20));
                assertTrue(second.getMessage().contains("VSA appdata") && second.getMessage().contains("alive"),
                        second.getMessage());
            }
            Path file = vsas.resolve(Integer.toString((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")))
                    .resolve("appdata.vsa");
            assertEquals(1 << 20, Files.size(file), "the control plane's file is the VSA");
            StorageMount again = null;
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (again == null) {
                try {
                    again = ControlPlaneVsa.mount(mountPoint, entry, backend, 1 << 20);
                } catch (IOException e) {
                    // The control plane frees the VSA when it has seen the connection close.
                    if (System.nanoTime() > deadline || !e.getMessage().contains("alive")) {
                        throw e;
                    }
                }
            }
            try (StorageMount mount = again; FileChannel channel = mount.newFileChannel(
                    mountPoint.resolve("journal"), Set.of(StandardOpenOption.READ))) {
                ByteBuffer back = ByteBuffer.allocate(64);
                channel.read(back);
                assertEquals("acknowledged", new String(back.array(), 0, back.position(), StandardCharsets.UTF_8));
            }
        }
    }
}

package io.arrakis.control;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.VnicConfig;
import io.arrakis.stack.StackConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Shared helpers of the control module's tests. */
final class ShmTesting {
    private ShmTesting() {}

    /** Opens an shm VNIC through the registered backend, attached to the control plane at {@code socket}. */
    static ShmVnic open(Path socket, String name) throws IOException {
        return open(socket, name, 1024);
    }

    static ShmVnic open(Path socket, String name, int buffers) throws IOException {
        return open(socket, name, buffers, 1);
    }

    /** A VNIC with {@code queues} queue pairs, each with {@code buffers} buffers. */
    static ShmVnic open(Path socket, String name, int buffers, int queues) throws IOException {
        return (ShmVnic) DeviceBackends.vnicBackend("shm").open(new VnicConfig(name, queues, buffers, 2048,
                Map.of(ShmVnicBackend.OPTION_SOCKET, socket.toString(), ShmVnicBackend.OPTION_EMBEDDED, "false")));
    }

    /** The stack configuration for the address the control plane gave {@code vnic}. */
    static StackConfig stackConfig(ShmVnic vnic) {
        return StackConfig.of(Ipv4Text.format(vnic.address()), vnic.prefixLength(), null);
    }

    /** Waits (bounded, 10 s) until the control plane reports {@code count} VNICs; returns its last status. */
    static ControlStatus awaitVnics(ControlPlane plane, int count) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        ControlStatus status = plane.status();
        while (status.vnics().size() != count) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the control plane still has " + status.vnics().size() + " VNICs, not "
                        + count + ":\n" + status.format());
            }
            Thread.sleep(5);
            status = plane.status();
        }
        return status;
    }

    /** Open descriptors of this process. */
    static long openFds() throws IOException {
        try (var list = Files.list(Path.of("/proc/self/fd"))) {
            return list.count();
        }
    }

    /** Mappings of this process whose file is one of ours (a memfd named arrakis-...). */
    static long arrakisMappings() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(l -> l.contains("memfd:arrakis-"))
                .count();
    }
}

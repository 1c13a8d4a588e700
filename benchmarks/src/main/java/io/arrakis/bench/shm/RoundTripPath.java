package io.arrakis.bench.shm;

import io.arrakis.control.ShmVnic;
import io.arrakis.control.ShmVnicBackend;
import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.VnicConfig;
import io.arrakis.stack.StackConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * One way of sending a 64-byte message to an {@link EchoPeer} in another JVM and waiting for it
 * to come back: through the foundation's raw ring (the physical limit), through the shared-memory switch (raw frames at the queue, or UDP and TCP through
 * our stack), or through the kernel's loopback with JDK channels. The benchmark
 * ({@link ShmSwitchVsLoopback}) and the demo measure them side by side. Owned by one thread.
 */
public interface RoundTripPath extends AutoCloseable {
    /** Bytes of every message; the first four carry a sequence number the echo must return. */
    int PAYLOAD = 64;
    int UDP_ECHO_PORT = 7;
    int TCP_ECHO_PORT = 9;
    /** Longest wait for one echo before the path is declared broken. */
    long ECHO_PATIENCE_NANOS = 2_000_000_000L;

    /** Sends message {@code sequence} and waits for its echo; throws if another comes back or none does. */
    void roundTrip(int sequence) throws IOException;

    /** Stops the peer and frees everything. */
    @Override
    void close() throws IOException;

    /** The paths compared. */
    enum Kind {
        /**
         * The foundation's raw cross-process SPSC ring (no switch, no frames): the physical
         * limit issue 4's UDP goal is stated against ("within 4x of the raw ring").
         */
        RAW_RING("raw shared-memory SPSC ring (foundation)"),
        /** Frames at the shm queue, no stack: the physical limit of the switch. */
        SHM_RAW("shm switch, raw frames at the queue"),
        /**
         * The same on queue 1 of two-queue VNICs on both sides, each steering the flow there by a
         * receive filter: the cost of steering by the receiver's filters and re-checking them.
         */
        SHM_RAW_STEERED("shm switch, raw frames, steered to queue 1"),
        /** UDP ping-pong, our stack on both sides, over the shm switch. */
        SHM_UDP("shm switch + our stack, UDP"),
        /** TCP request/response (Nagle off), our stack on both sides, over the shm switch. */
        SHM_TCP("shm switch + our stack, TCP"),
        /** Kernel loopback, blocking JDK {@code DatagramChannel}s: what an ordinary program does. */
        KERNEL_UDP("kernel loopback, JDK UDP, blocking"),
        /** Kernel loopback, blocking JDK {@code SocketChannel}s with TCP_NODELAY. */
        KERNEL_TCP("kernel loopback, JDK TCP, blocking"),
        /** Kernel loopback, non-blocking channels, both sides busy-polling: the kernel path at its fastest. */
        KERNEL_UDP_SPIN("kernel loopback, JDK UDP, busy-polling"),
        KERNEL_TCP_SPIN("kernel loopback, JDK TCP, busy-polling");

        public final String description;

        Kind(String description) {
            this.description = description;
        }
    }

    static RoundTripPath open(Kind kind) throws IOException {
        return switch (kind) {
            case RAW_RING -> RingPath.open();
            case SHM_RAW -> RawFramePath.open(false);
            case SHM_RAW_STEERED -> RawFramePath.open(true);
            case SHM_UDP -> StackPath.open(false);
            case SHM_TCP -> StackPath.open(true);
            case KERNEL_UDP -> KernelPath.open(false, false);
            case KERNEL_TCP -> KernelPath.open(true, false);
            case KERNEL_UDP_SPIN -> KernelPath.open(false, true);
            case KERNEL_TCP_SPIN -> KernelPath.open(true, true);
        };
    }

    /** Opens an shm VNIC attached to the control plane at {@code socket} (never starting one). */
    static ShmVnic openVnic(Path socket, String name) throws IOException {
        return openVnic(socket, name, 1);
    }

    /** The same with {@code queues} queue pairs. */
    static ShmVnic openVnic(Path socket, String name, int queues) throws IOException {
        return (ShmVnic) DeviceBackends.vnicBackend(ShmVnicBackend.NAME).open(new VnicConfig(name, queues, 1024, 2048,
                Map.of(ShmVnicBackend.OPTION_SOCKET, socket.toString(), ShmVnicBackend.OPTION_EMBEDDED, "false")));
    }

    /** The stack configuration for the address the control plane gave {@code vnic}. */
    static StackConfig stackConfig(ShmVnic vnic) {
        return StackConfig.of(Ipv4Text.format(vnic.address()), vnic.prefixLength(), null);
    }
}

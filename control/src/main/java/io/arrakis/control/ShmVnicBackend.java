package io.arrakis.control;

import io.arrakis.device.Vnic;
import io.arrakis.device.VnicBackend;
import io.arrakis.device.VnicConfig;
import io.arrakis.linux.LinuxException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The {@code "shm"} backend: VNICs from the control plane, joined by direct shared-memory
 * channels (see {@link ShmVnic}). Options of {@link VnicConfig#options()}:
 * <ul>
 * <li>{@value #OPTION_SOCKET}: the control plane's socket (default
 *     {@link ControlPlane#defaultSocketPath()});
 * <li>{@value #OPTION_EMBEDDED}: {@code true} (default) to start a control plane in this JVM
 *     when none answers on the socket (the zero-configuration default: the first process that
 *     needs one runs it, until the VNIC that started it closes, which stops it: its thread,
 *     socket and descriptors go, and VNICs still attached keep their channels but can no longer
 *     join or leave); {@code false} to fail instead;
 * <li>{@value #OPTION_SUBNET}: the subnet of a control plane started here (default
 *     {@value ControlPlaneConfig#DEFAULT_SUBNET}).
 * </ul>
 * {@link VnicConfig#queues()} queue pairs per VNIC (1..{@value ChannelLayout#MAX_QUEUES}), steered
 * by receive filters. Thread-safe.
 */
public final class ShmVnicBackend implements VnicBackend {
    public static final String NAME = "shm";
    public static final String OPTION_SOCKET = "socket";
    public static final String OPTION_EMBEDDED = "embedded";
    public static final String OPTION_SUBNET = "subnet";
    private static final long START_PATIENCE_NANOS = 10_000_000_000L;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> unavailableReason() {
        if (!Files.isDirectory(Path.of("/proc/self/fd"))) {
            return Optional.of("needs Linux with /proc mounted (memfd descriptors are reopened read-only through"
                    + " /proc/self/fd)");
        }
        return Optional.empty();
    }

    @Override
    public Vnic open(VnicConfig config) throws IOException {
        if (config.queues() > ChannelLayout.MAX_QUEUES) {
            throw new IllegalArgumentException("shm VNIC " + config.name() + ": at most " + ChannelLayout.MAX_QUEUES
                    + " queues per VNIC, not " + config.queues());
        }
        Path socket = Path.of(config.option(OPTION_SOCKET, ControlPlane.defaultSocketPath().toString()));
        boolean embedded = Boolean.parseBoolean(config.option(OPTION_EMBEDDED, "true"));
        String subnet = config.option(OPTION_SUBNET, ControlPlaneConfig.DEFAULT_SUBNET);
        Connected connected = connect(socket, embedded, subnet);
        return ShmVnic.attach(config, connected.connection(), connected.startedHere());
    }

    /** A connection to the control plane, and the control plane this JVM started for it (or null). */
    record Connected(ControlConnection connection, ControlPlane startedHere) {}

    /**
     * Connects to the control plane at {@code socket}; when none answers and {@code embedded},
     * starts one in this JVM (or waits for the process that is starting one). The caller owns a
     * control plane started here, and stops it when done.
     */
    static Connected connect(Path socket, boolean embedded, String subnet) throws IOException {
        ControlPlane[] started = {null};
        try {
            return new Connected(connect(socket, embedded, subnet, started), started[0]);
        } catch (IOException | RuntimeException e) {
            if (started[0] != null) {
                try {
                    started[0].close();
                } catch (IOException | RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static ControlConnection connect(Path socket, boolean embedded, String subnet, ControlPlane[] started)
            throws IOException {
        long deadline = System.nanoTime() + START_PATIENCE_NANOS;
        while (true) {
            try {
                return ControlConnection.connect(socket);
            } catch (LinuxException e) {
                if (!ControlConnection.nobodyListens(e)) {
                    throw new IOException("cannot reach the control plane at " + socket + ": " + e.getMessage(), e);
                }
                if (!embedded) {
                    throw new IOException("no control plane answers on " + socket + " (" + e.errnoName()
                            + "): start one (arrakis control start, or java io.arrakis.control.ControlPlane --socket "
                            + socket + "), or allow option " + OPTION_EMBEDDED + "=true", e);
                }
                try {
                    if (started[0] == null) {
                        started[0] = ControlPlane.startEmbedded(ControlPlaneConfig.withSubnet(socket, subnet));
                    }
                } catch (ControlPlane.AlreadyRunningException busy) {
                    // Another process (or thread) owns the socket and is starting: retry the connect.
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new IOException("no control plane answered on " + socket + " within "
                            + START_PATIENCE_NANOS / 1_000_000_000L + " s, and none could be started here", e);
                }
                try {
                    Thread.sleep(5);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while connecting to the control plane at " + socket, e);
                }
            }
        }
    }
}

package io.arrakis.bench.shm;

import io.arrakis.control.ControlPlane;
import io.arrakis.control.ShmVnic;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * What every shm path stands on: a control plane embedded in this JVM (its socket in a fresh
 * temporary directory), an {@link EchoPeer} attached to it in a second JVM, and our own VNIC,
 * once each side knows the other. Not thread-safe.
 */
final class ShmFixture implements AutoCloseable {
    final Path directory;
    final ControlPlane plane;
    final EchoPeerProcess peer;
    final ShmVnic vnic;
    final long peerMac;
    final int peerAddress;

    private ShmFixture(Path directory, ControlPlane plane, EchoPeerProcess peer, ShmVnic vnic) {
        this.directory = directory;
        this.plane = plane;
        this.peer = peer;
        this.vnic = vnic;
        this.peerMac = Long.parseLong(peer.field("mac"));
        this.peerAddress = Integer.parseInt(peer.field("ip"));
    }

    /** Starts everything, the peer in {@code peerMode} ("shm-raw" or "shm-stack"). */
    static ShmFixture open(String peerMode, String ownName) throws IOException {
        return open(peerMode, ownName, 1);
    }

    /** The same with a VNIC of {@code queues} queue pairs on our side. */
    static ShmFixture open(String peerMode, String ownName, int queues) throws IOException {
        Path directory = Files.createTempDirectory("arrakis-bench-shm");
        // If JMH ends the fork on a failure without a tear-down, the JVM still removes these (in reverse order).
        directory.toFile().deleteOnExit();
        directory.resolve("control.sock.lock").toFile().deleteOnExit();
        directory.resolve("control.sock").toFile().deleteOnExit();
        ControlPlane plane = null;
        EchoPeerProcess peer = null;
        ShmVnic vnic = null;
        try {
            plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
            peer = EchoPeerProcess.start(peerMode, plane.socketPath().toString());
            vnic = RoundTripPath.openVnic(plane.socketPath(), ownName, queues);
            if (!vnic.awaitPeers(1, Duration.ofSeconds(10))) {
                throw new IOException("the echo peer's VNIC did not appear to " + vnic + " within 10 s: " + vnic.peers());
            }
            return new ShmFixture(directory, plane, peer, vnic);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closeAll(directory, plane, peer, vnic);
            throw new IOException("interrupted while starting the shm fixture", e);
        } catch (IOException | RuntimeException e) {
            closeAll(directory, plane, peer, vnic);
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        closeAll(directory, plane, peer, vnic);
    }

    private static void closeAll(Path directory, ControlPlane plane, EchoPeerProcess peer, ShmVnic vnic)
            throws IOException {
        try {
            if (vnic != null) {
                vnic.close();
            }
        } finally {
            try {
                if (peer != null) {
                    peer.close();
                }
            } finally {
                try {
                    if (plane != null) {
                        plane.close();
                    }
                } finally {
                    try (var leftovers = Files.list(directory)) {
                        for (Path file : leftovers.toList()) {
                            Files.deleteIfExists(file);
                        }
                    }
                    Files.deleteIfExists(directory);
                }
            }
        }
    }
}

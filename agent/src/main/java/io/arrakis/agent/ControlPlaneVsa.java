package io.arrakis.agent;

import io.arrakis.control.ControlPlane;
import io.arrakis.control.VsaLease;
import io.arrakis.control.VsaRegistry;
import io.arrakis.storage.fs.StorageMount;
import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code storage.vsa=control:<name>} (or {@code control:<socket>#<name>}): the mount's VSA comes
 * from the control plane (a file it allocated, handed over as a descriptor) instead of a path the
 * process opens itself. Stateless.
 */
final class ControlPlaneVsa {
    static final String PREFIX = "control:";

    private ControlPlaneVsa() {}

    /** The VSA name in a {@code storage.vsa} entry, or null when the entry is a path. */
    static String nameOf(String entry) {
        if (!entry.startsWith(PREFIX)) {
            return null;
        }
        String rest = entry.substring(PREFIX.length());
        int hash = rest.lastIndexOf('#');
        return hash >= 0 ? rest.substring(hash + 1) : rest;
    }

    /** The control plane's socket in a {@code storage.vsa} entry: before '#', else the default. */
    static Path socketOf(String entry) {
        String rest = entry.substring(PREFIX.length());
        int hash = rest.lastIndexOf('#');
        return hash >= 0 ? Path.of(rest.substring(0, hash)) : ControlPlane.defaultSocketPath();
    }

    /** Asks the control plane for the VSA and mounts {@code directory} on it. */
    static StorageMount mount(Path directory, String entry, String backend, long size) throws IOException {
        String name = nameOf(entry);
        VsaLease lease = VsaLease.acquire(socketOf(entry), name, size, VsaRegistry.KIND_FILE);
        return StorageMount.openGranted(directory, "control:" + name, lease.fd(), lease.bytes(), lease.fresh(),
                backend, lease);
    }
}

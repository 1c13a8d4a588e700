package io.arrakis.control;

import java.nio.file.Path;

/**
 * A child process for {@link VsaRegistryTest}: attaches a file VSA (socket, name, bytes), prints
 * {@code HELD <path>}, then waits to be killed.
 */
public final class VsaHolder {
    private VsaHolder() {}

    public static void main(String[] args) throws Exception {
        VsaLease lease = VsaLease.acquire(Path.of(args[0]), args[1], Long.parseLong(args[2]), VsaRegistry.KIND_FILE);
        System.out.println("HELD " + lease.where());
        System.out.flush();
        Thread.sleep(120_000);
        lease.close();
    }
}

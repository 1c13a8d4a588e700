package io.arrakis.vfio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Why VFIO_IOMMU_MAP_DMA may fail with ENOMEM: the type1 IOMMU driver pins every mapped page and
 * charges it to RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK. Reads the limit and the
 * capability from {@code /proc/self}, parses them with pure code (tested on sample text), and
 * says what to change. Stateless.
 */
final class LockedMemory {
    /** CAP_IPC_LOCK's bit in the capability sets (linux/capability.h). */
    static final int CAP_IPC_LOCK = 14;

    private LockedMemory() {}

    /** The soft RLIMIT_MEMLOCK in bytes from {@code /proc/<pid>/limits} text; -1 = unlimited, -2 = not found. */
    static long softLimit(String limits) {
        for (String line : limits.split("\n")) {
            if (line.startsWith("Max locked memory")) {
                String[] fields = line.substring("Max locked memory".length()).trim().split("\\s+");
                return fields[0].equals("unlimited") ? -1 : Long.parseLong(fields[0]);
            }
        }
        return -2;
    }

    /** Whether the effective capabilities in {@code /proc/<pid>/status} text include CAP_IPC_LOCK. */
    static boolean hasIpcLock(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("CapEff:")) {
                long capabilities = Long.parseUnsignedLong(line.substring("CapEff:".length()).trim(), 16);
                return (capabilities >>> CAP_IPC_LOCK & 1) != 0;
            }
        }
        return false;
    }

    /** The message for a DMA mapping of {@code bytes} refused with ENOMEM, given the process's limits and status. */
    static String explain(long bytes, long alreadyMapped, String limits, String status) {
        long limit = softLimit(limits);
        String held = "mapping " + bytes + " bytes for DMA (with " + alreadyMapped + " already mapped) failed: ";
        if (hasIpcLock(status) || limit == -1) {
            return held + "the kernel could not pin the memory (ENOMEM) although locked memory is not limited for this"
                    + " process; the machine may be short of memory, or the IOMMU's DMA mapping count is exhausted";
        }
        return held + "the IOMMU pins mapped memory and counts it against RLIMIT_MEMLOCK, which is "
                + (limit < 0 ? "unknown" : limit + " bytes") + " for this process; raise it (ulimit -l unlimited,"
                + " LimitMEMLOCK=infinity in a systemd unit, memlock in /etc/security/limits.conf) or run with"
                + " CAP_IPC_LOCK";
    }

    /** {@link #explain} for this process. */
    static String explainForThisProcess(long bytes, long alreadyMapped) {
        return explain(bytes, alreadyMapped, read("/proc/self/limits"), read("/proc/self/status"));
    }

    private static String read(String file) {
        try {
            return Files.readString(Path.of(file));
        } catch (IOException e) {
            return "";
        }
    }
}

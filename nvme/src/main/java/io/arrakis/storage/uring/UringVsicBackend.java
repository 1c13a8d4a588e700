package io.arrakis.storage.uring;

import io.arrakis.device.Vsic;
import io.arrakis.device.VsicBackend;
import io.arrakis.device.VsicConfig;
import io.arrakis.linux.IoUring;
import io.arrakis.linux.LinuxException;
import io.arrakis.storage.VsaFile;
import java.io.IOException;
import java.util.Optional;

/**
 * The {@code "io_uring"} backend: one io_uring per queue over a preallocated file or a block
 * device, O_DIRECT by default (the VSA bypasses the page cache as a device would), with the
 * queue's I/O memory and the VSA's descriptor registered with the ring. Options: those of
 * {@link VsaFile}, plus {@value #OPTION_SQPOLL}{@code =true} for a kernel thread that polls the
 * submission queue (saves the submit syscall, costs a core while busy: off by default on small
 * machines). Thread-safe.
 */
public final class UringVsicBackend implements VsicBackend {
    public static final String NAME = "io_uring";
    public static final String OPTION_SQPOLL = "sqpoll";

    @Override
    public String name() {
        return NAME;
    }

    /** Asks the kernel for a tiny ring: io_uring may be compiled out or disabled by sysctl. */
    @Override
    public Optional<String> unavailableReason() {
        try (IoUring ring = IoUring.open(2, 0)) {
            if ((ring.features() & IoUring.IORING_FEAT_EXT_ARG) == 0) {
                return Optional.of("this kernel's io_uring lacks timed waits (IORING_FEAT_EXT_ARG, Linux 5.11+);"
                        + " use the 'file' backend");
            }
            return Optional.empty();
        } catch (LinuxException e) {
            return Optional.of("io_uring_setup failed (" + e.getMessage() + "): io_uring is missing or disabled"
                    + " (see /proc/sys/kernel/io_uring_disabled); use the 'file' backend");
        }
    }

    @Override
    public Vsic open(VsicConfig config) throws IOException {
        return UringVsic.open(config);
    }
}

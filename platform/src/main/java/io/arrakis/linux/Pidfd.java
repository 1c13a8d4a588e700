package io.arrakis.linux;

/**
 * Process descriptors: {@code pidfd_open(2)} and {@code pidfd_getfd(2)} (syscalls 434 and 438 on
 * every architecture, from the asm-generic range). {@code pidfd_getfd} duplicates a descriptor of
 * another process into ours; it needs ptrace rights over it (same user, or CAP_SYS_PTRACE), which
 * is how a privileged control plane takes the AF_XDP socket a process made. Thread-safe.
 */
public final class Pidfd {
    private static final long PIDFD_OPEN = 434;
    private static final long PIDFD_GETFD = 438;

    private Pidfd() {}

    /** A descriptor referring to process {@code pid}; close it with {@link Unistd#close}. */
    public static int open(long pid) throws LinuxException {
        long fd = Syscall.raw2(PIDFD_OPEN, pid, 0);
        if (fd < 0) {
            throw new LinuxException("pidfd_open(pid=" + pid + ")", Native.errno());
        }
        return (int) fd;
    }

    /** A duplicate, in this process (close-on-exec), of descriptor {@code targetFd} of the process of {@code pidfd}. */
    public static int getfd(int pidfd, int targetFd) throws LinuxException {
        long fd = Syscall.raw3(PIDFD_GETFD, pidfd, targetFd, 0);
        if (fd < 0) {
            throw new LinuxException("pidfd_getfd(pidfd=" + pidfd + ", targetfd=" + targetFd + ")", Native.errno());
        }
        return (int) fd;
    }
}

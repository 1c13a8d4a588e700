package io.arrakis.device.xdp;

import io.arrakis.linux.Epoll;
import io.arrakis.linux.Errno;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import io.arrakis.linux.Xsk;
import io.arrakis.memory.BufferPool;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The setup of one AF_XDP socket, in the order the kernel requires: socket, UMEM registration
 * over the queue's packet memory, ring sizes, ring mappings, bind to (interface, queue). Also
 * the socket's epoll set (the socket and a wakeup eventfd), which is the queue's readiness
 * descriptor. Immutable once made; closed by its {@link AfXdpVnic}.
 */
record AfXdpSocket(int hardwareQueue, int fd, int epollFd, int wakeupFd, BufferPool pool, boolean zeroCopy,
        XskRing fill, XskRing completion, XskRing rx, XskRing tx, int bindAttempts) {

    /** Socket mode as configured. */
    enum CopyMode {
        /** Zero-copy if the driver offers it, copy otherwise (the kernel decides; we report). */
        AUTO(0),
        COPY(Xsk.XDP_COPY),
        ZEROCOPY(Xsk.XDP_ZEROCOPY);

        final int bindFlags;

        CopyMode(int bindFlags) {
            this.bindFlags = bindFlags;
        }

        static CopyMode parse(String text) {
            return switch (text) {
                case "auto" -> AUTO;
                case "copy" -> COPY;
                case "zerocopy", "zero-copy" -> ZEROCOPY;
                default -> throw new IllegalArgumentException("af_xdp copy mode must be auto, copy or zerocopy, not '"
                        + text + "'");
            };
        }
    }

    /**
     * Opens a socket on {@code hardwareQueue} of {@code ifindex}; must run in the interface's
     * network namespace. {@code EBUSY} from bind (the queue's previous socket is still being torn
     * down, or another process holds it) is retried with doubling back-off for {@code busyWindow}.
     */
    static AfXdpSocket open(String what, int ifindex, int hardwareQueue, MemorySegment memory, int bufferSize,
            int ringSize, CopyMode mode, Duration busyWindow) throws IOException {
        List<Integer> fds = new ArrayList<>();
        List<XskRing> rings = new ArrayList<>();
        try {
            int fd;
            try {
                fd = Xsk.socket();
            } catch (LinuxException e) {
                throw new IOException(what + ": cannot create an AF_XDP socket" + (e.errno() == Errno.EPERM
                        || e.errno() == Errno.EACCES ? " (needs CAP_NET_RAW: run as root)" : "") + ": "
                        + e.getMessage(), e);
            }
            fds.add(fd);
            Xsk.registerUmem(fd, memory, bufferSize, 0);
            Xsk.setRingSize(fd, Xsk.Ring.FILL, ringSize);
            Xsk.setRingSize(fd, Xsk.Ring.COMPLETION, ringSize);
            Xsk.setRingSize(fd, Xsk.Ring.RX, ringSize);
            Xsk.setRingSize(fd, Xsk.Ring.TX, ringSize);
            XskRing fill = XskRing.map(fd, Xsk.Ring.FILL, ringSize);
            rings.add(fill);
            XskRing completion = XskRing.map(fd, Xsk.Ring.COMPLETION, ringSize);
            rings.add(completion);
            XskRing rx = XskRing.map(fd, Xsk.Ring.RX, ringSize);
            rings.add(rx);
            XskRing tx = XskRing.map(fd, Xsk.Ring.TX, ringSize);
            rings.add(tx);
            int attempts = bindRetryingBusy(what, fd, ifindex, hardwareQueue, mode.bindFlags | Xsk.XDP_USE_NEED_WAKEUP,
                    busyWindow);
            boolean zeroCopy = Xsk.isZeroCopy(fd);
            int epollFd = Epoll.create(Epoll.EPOLL_CLOEXEC);
            fds.add(epollFd);
            int wakeupFd = EventFd.create(0, EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
            fds.add(wakeupFd);
            Epoll.add(epollFd, fd, Epoll.EPOLLIN, AfXdpQueue.XSK_TAG);
            Epoll.add(epollFd, wakeupFd, Epoll.EPOLLIN, AfXdpQueue.WAKEUP_TAG);
            return new AfXdpSocket(hardwareQueue, fd, epollFd, wakeupFd, new BufferPool(memory, bufferSize), zeroCopy,
                    fill, completion, rx, tx, attempts);
        } catch (IOException | RuntimeException | Error e) {
            for (XskRing ring : rings) {
                try {
                    ring.unmap();
                } catch (LinuxException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            for (int fd : fds) {
                try {
                    Unistd.close(fd);
                } catch (LinuxException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /** Binds; returns how many attempts it took (more than 1: the queue was busy for a while). */
    private static int bindRetryingBusy(String what, int fd, int ifindex, int queue, int flags, Duration window)
            throws IOException {
        long deadline = System.nanoTime() + window.toNanos();
        long pauseMillis = 5;
        int attempts = 0;
        while (true) {
            attempts++;
            try {
                Xsk.bind(fd, ifindex, queue, flags);
                return attempts;
            } catch (LinuxException e) {
                if (e.errno() != Errno.EBUSY || System.nanoTime() - deadline > 0) {
                    String why = switch (e.errno()) {
                        case Errno.EBUSY -> "queue " + queue + " still has another AF_XDP socket after " + attempts
                                + " attempts over " + window.toMillis() + " ms (is another process attached?)";
                        case Errno.EOPNOTSUPP -> "the driver does not support zero-copy on this queue (use mode copy"
                                + " or auto)";
                        case Errno.EINVAL -> "no queue " + queue + " on this interface, or flags it refuses";
                        case Errno.ENODEV -> "the interface is gone";
                        default -> "bind failed";
                    };
                    throw new IOException(what + ": " + why + ": " + e.getMessage(), e);
                }
            }
            try {
                Thread.sleep(pauseMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException(what + ": interrupted while waiting for queue " + queue);
            }
            pauseMillis = Math.min(pauseMillis * 2, 200);
        }
    }

    void close() throws IOException {
        IOException failure = null;
        for (XskRing ring : new XskRing[] {fill, completion, rx, tx}) {
            try {
                ring.unmap();
            } catch (LinuxException e) {
                failure = keep(failure, e);
            }
        }
        for (int descriptor : new int[] {epollFd, wakeupFd, fd}) {
            try {
                Unistd.close(descriptor);
            } catch (LinuxException e) {
                failure = keep(failure, e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static IOException keep(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }
}

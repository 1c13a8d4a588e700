package io.arrakis.control;

import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A VSA the control plane granted this process ({@link VsaRegistry}): held as long as this lease
 * (its control connection) is open, and by nobody else meanwhile. For a file VSA it carries the
 * file's descriptor (open it with the {@code file} or {@code io_uring} backend through
 * {@link #vsicOptions()}); for NVMe, the function and the LBA range the driver may touch.
 * Closing it closes the descriptor and the connection; the control plane then lets another
 * process attach the VSA. Thread-safe (immutable but for {@link #close}).
 */
public final class VsaLease implements AutoCloseable {
    private final ControlConnection connection;
    private final Protocol.VsaGranted grant;
    private final int fd;
    private boolean closed;

    private VsaLease(ControlConnection connection, Protocol.VsaGranted grant, int fd) {
        this.connection = connection;
        this.grant = grant;
        this.fd = fd;
    }

    /**
     * Asks the control plane at {@code socket} for VSA {@code name} of at least {@code bytes} on a
     * {@code kind} device ({@link VsaRegistry#KIND_FILE} or {@link VsaRegistry#KIND_NVME}).
     *
     * @throws IOException naming the VSA and the reason when the control plane refuses (another
     *     live process holds it, the size does not fit, no such device) or cannot be reached
     */
    public static VsaLease acquire(Path socket, String name, long bytes, String kind) throws IOException {
        ControlConnection connection;
        try {
            connection = ControlConnection.connect(socket);
        } catch (LinuxException e) {
            throw new IOException("VSA " + name + ": cannot reach the control plane at " + socket + " ("
                    + e.getMessage() + ")" + (ControlConnection.nobodyListens(e) ? "; start one (arrakis control start)"
                    : ""), e);
        }
        try {
            connection.start(null, "arrakis-vsa-" + name);
            CompletableFuture<ControlConnection.Reply> future = connection.request(new Protocol.VsaAttach(name, bytes,
                    kind));
            ControlConnection.Reply reply;
            try {
                reply = future.get(ControlConnection.REPLY_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("VSA " + name + ": interrupted waiting for the control plane", e);
            } catch (ExecutionException e) {
                throw new IOException("VSA " + name + ": " + e.getCause().getMessage(), e.getCause());
            } catch (TimeoutException e) {
                throw new IOException("VSA " + name + ": the control plane at " + socket + " did not answer within "
                        + ControlConnection.REPLY_TIMEOUT, e);
            }
            if (reply.message() instanceof Protocol.VsaGranted granted) {
                int[] fds = reply.fds();
                return new VsaLease(connection, granted, fds.length == 1 ? fds[0] : -1);
            }
            ControlConnection.closeAll(reply.fds());
            if (reply.message() instanceof Protocol.Failure failure) {
                throw new IOException(failure.message());
            }
            throw new IOException("VSA " + name + ": the control plane answered " + reply.message());
        } catch (IOException | RuntimeException e) {
            try {
                connection.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    public String name() {
        return grant.name();
    }

    /** {@link VsaRegistry#KIND_FILE} or {@link VsaRegistry#KIND_NVME}. */
    public String kind() {
        return grant.kind();
    }

    /** The VSA's size in bytes (at least what was asked for; an existing VSA keeps its size). */
    public long bytes() {
        return grant.bytes();
    }

    /** Whether the control plane created it for this request: nothing is stored on it yet. */
    public boolean fresh() {
        return grant.fresh();
    }

    /** The file's path (file VSAs; for messages: the process cannot open it) or the NVMe function's address. */
    public String where() {
        return grant.where();
    }

    /** The file's descriptor (owned by the lease), or -1 for NVMe. */
    public int fd() {
        return fd;
    }

    public int namespace() {
        return grant.namespace();
    }

    public long firstLba() {
        return grant.firstLba();
    }

    public long lbaCount() {
        return grant.lbaCount();
    }

    public int lbaSize() {
        return grant.lbaSize();
    }

    /**
     * The options a VSIC backend needs to open this VSA: {@code fd=N} for a file (the backend
     * duplicates it), {@code pci=…, namespace=…, firstLba=…} for NVMe.
     */
    public Map<String, String> vsicOptions() {
        if (VsaRegistry.KIND_FILE.equals(grant.kind())) {
            return Map.of("fd", Integer.toString(fd));
        }
        return Map.of("pci", grant.where(), "namespace", Integer.toString(grant.namespace()), "firstLba",
                Long.toString(grant.firstLba()));
    }

    /** Gives the VSA back: closes the descriptor and the connection. Idempotent. */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (fd >= 0) {
                Unistd.close(fd);
            }
        } catch (LinuxException e) {
            if (e.errno() != Errno.EBADF) {
                throw e;
            }
        } finally {
            connection.close();
        }
    }

    @Override
    public String toString() {
        return "VSA " + grant.name() + " (" + grant.kind() + ", " + grant.bytes() + " bytes, " + (VsaRegistry.KIND_FILE
                .equals(grant.kind()) ? grant.where() : grant.where() + " namespace " + grant.namespace() + " LBAs "
                + grant.firstLba() + ".." + (grant.firstLba() + grant.lbaCount() - 1)) + ")";
    }
}

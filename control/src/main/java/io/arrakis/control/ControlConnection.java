package io.arrakis.control;

import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Sockets;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.ProtocolException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A process's end of its control socket: sends requests (any thread) and runs one reader thread
 * that blocks in {@code recvmsg} (it never spins), hands pushes (with their descriptors) to a
 * {@link Listener} in arrival order, and completes the futures of replies. Thread-safe.
 */
final class ControlConnection implements AutoCloseable {
    static final Duration REPLY_TIMEOUT = Duration.ofSeconds(10);

    /** Receives pushes and the ATTACHED reply on the reader thread; owns the descriptors it is given. */
    interface Listener {
        void onMessage(int requestId, Protocol.Message message, int[] fds) throws IOException;

        /** The control plane closed the connection (or it failed); no more messages will come. */
        void onClosed(Throwable why);
    }

    /** A reply and the descriptors that came with it (owned by whoever takes it). */
    record Reply(Protocol.Message message, int[] fds) {}

    private final int fd;
    private final Path socket;
    private final Map<Integer, CompletableFuture<Reply>> pending = new ConcurrentHashMap<>();
    private final AtomicInteger nextRequest = new AtomicInteger(1);
    private volatile Listener listener;
    private volatile boolean closed;
    private volatile boolean lost;
    private Thread reader;

    private ControlConnection(int fd, Path socket) {
        this.fd = fd;
        this.socket = socket;
    }

    /**
     * Connects to the control plane at {@code socket}.
     *
     * @throws LinuxException ENOENT or ECONNREFUSED when none listens there
     */
    static ControlConnection connect(Path socket) throws IOException {
        int fd = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_SEQPACKET | Sockets.SOCK_CLOEXEC, 0);
        try {
            Sockets.connect(fd, Sockets.UnixAddress.path(socket.toString()));
            return new ControlConnection(fd, socket);
        } catch (IOException | RuntimeException e) {
            try {
                Unistd.close(fd);
            } catch (LinuxException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** True when {@code e} means "nobody listens on that path". */
    static boolean nobodyListens(LinuxException e) {
        return e.errno() == Errno.ENOENT || e.errno() == Errno.ECONNREFUSED;
    }

    /** Starts the reader thread; {@code listener} may be null (pushes are then ignored). */
    void start(Listener listener, String threadName) {
        this.listener = listener;
        reader = Thread.ofPlatform().name(threadName).daemon().start(this::readLoop);
    }

    /** Sends a request and returns its reply's future. */
    CompletableFuture<Reply> request(Protocol.Message message) throws IOException {
        int id = nextRequest.getAndIncrement();
        CompletableFuture<Reply> reply = new CompletableFuture<>();
        pending.put(id, reply);
        try {
            send(id, message);
        } catch (IOException | RuntimeException e) {
            pending.remove(id);
            throw e;
        }
        if (lost) {
            reply.completeExceptionally(new IOException("the control plane at " + socket + " closed the connection"));
        }
        return reply;
    }

    /** Sends a request and waits (bounded) for its reply; a FAILURE reply becomes an IOException. */
    Protocol.Message call(Protocol.Message message) throws IOException {
        CompletableFuture<Reply> future = request(message);
        Reply reply;
        try {
            reply = future.get(REPLY_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for the control plane at " + socket, e);
        } catch (ExecutionException e) {
            throw new IOException("control plane at " + socket + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("the control plane at " + socket + " did not answer "
                    + message.getClass().getSimpleName() + " within " + REPLY_TIMEOUT, e);
        }
        closeAll(reply.fds());
        if (reply.message() instanceof Protocol.Failure failure) {
            throw new IOException("control plane at " + socket + " refused " + message.getClass().getSimpleName()
                    + ": " + failure.message());
        }
        return reply.message();
    }

    private void send(int requestId, Protocol.Message message) throws IOException {
        byte[] bytes = Protocol.encode(requestId, message);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes);
            if (Sockets.sendWithFds(fd, data) < 0) {
                throw new IOException("control socket to " + socket + " is full");
            }
        }
    }

    private void readLoop() {
        Throwable why = null;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(Protocol.MAX_MESSAGE);
            while (!closed) {
                Sockets.ReceivedMessage received;
                try {
                    received = Sockets.recvWithFds(fd, buffer, Protocol.MAX_FDS, 0);
                } catch (Sockets.ControlTruncatedException e) {
                    why = e;
                    break;
                }
                if (received.bytes() <= 0) {
                    break;
                }
                int[] fds = received.fds();
                Protocol.Envelope envelope;
                try {
                    envelope = Protocol.decode(buffer.asSlice(0, received.bytes()).asByteBuffer());
                    if (fds.length != Protocol.fdsFor(envelope.message())) {
                        throw new ProtocolException(envelope.message().getClass().getSimpleName() + " came with "
                                + fds.length + " descriptors, expected " + Protocol.fdsFor(envelope.message()));
                    }
                } catch (ProtocolException e) {
                    closeAll(fds);
                    why = e;
                    break;
                }
                dispatch(envelope, fds);
            }
        } catch (Throwable t) {
            why = t;
        } finally {
            lost = true;
            IOException gone = new IOException("the control plane at " + socket + " closed the connection"
                    + (why != null ? ": " + why : ""), why);
            pending.values().forEach(f -> f.completeExceptionally(gone));
            pending.clear();
            Listener current = listener;
            if (current != null && !closed) {
                current.onClosed(gone);
            }
        }
    }

    private void dispatch(Protocol.Envelope envelope, int[] fds) {
        Protocol.Message message = envelope.message();
        boolean forListener = switch (message) {
            case Protocol.Attached _, Protocol.PeerAdded _, Protocol.PeerRemoved _, Protocol.RateLimitChanged _,
                    Protocol.Filters _ -> true;
            default -> false;
        };
        if (forListener) {
            Listener current = listener;
            if (current == null) {
                closeAll(fds);
            } else {
                try {
                    current.onMessage(envelope.requestId(), message, fds);
                } catch (IOException | RuntimeException e) {
                    CompletableFuture<Reply> waiting = pending.remove(envelope.requestId());
                    if (waiting != null) {
                        waiting.completeExceptionally(e);
                    } else {
                        System.err.println("arrakis: control message " + message + " could not be applied: " + e);
                    }
                    return;
                }
                fds = new int[0];
            }
        }
        CompletableFuture<Reply> waiting = envelope.requestId() != 0 ? pending.remove(envelope.requestId()) : null;
        if (waiting != null) {
            waiting.complete(new Reply(message, fds));
        } else {
            closeAll(fds);
        }
    }

    /** Whether the control plane has gone (closed the socket, or spoke nonsense). */
    boolean isLost() {
        return lost;
    }

    static void closeAll(int[] fds) {
        for (int descriptor : fds) {
            try {
                Unistd.close(descriptor);
            } catch (LinuxException ignored) {
                // Just received; nothing else refers to it.
            }
        }
    }

    /**
     * Shuts the socket down (the control plane sees the close and reclaims), waits (bounded) for
     * the reader thread to leave {@code recvmsg}, then closes the descriptor. Idempotent.
     */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Sockets.shutdown(fd, Sockets.SHUT_RDWR);
        } catch (LinuxException e) {
            // ENOTCONN: the control plane went first; the reader has left or is leaving.
        }
        if (reader != null) {
            try {
                reader.join(REPLY_TIMEOUT);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (reader.isAlive()) {
                throw new IOException("the control connection's reader thread did not stop within " + REPLY_TIMEOUT
                        + "; its socket stays open");
            }
        }
        Unistd.close(fd);
    }
}

package io.arrakis.linux;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * {@code setns(2)} into a named network namespace ({@code /run/netns/<name>}, as
 * {@code ip netns add} makes them), for the calls whose meaning depends on the caller's network
 * namespace: creating a socket (it stays in the namespace it was created in), looking up an
 * interface index, attaching an XDP program to an interface by index.
 *
 * <p>{@link #callIn} runs the work on a fresh platform thread that enters the namespace and then
 * ends, so no thread of the application ever changes namespace. Thread-safe.
 */
public final class Setns {
    /** sched.h: CLONE_NEWNET, the namespace type setns checks the descriptor against. */
    public static final int CLONE_NEWNET = 0x40000000;
    /** Where {@code ip netns add} keeps its named namespaces. */
    public static final String NETNS_DIRECTORY = "/run/netns/";

    private static final MethodHandle SETNS = Native.function("setns",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT));

    private Setns() {}

    /** Moves the calling thread into the network namespace of {@code fd}. */
    public static void setns(int fd, int nsType) throws LinuxException {
        int result;
        try {
            result = (int) SETNS.invokeExact(Native.errnoState(), fd, nsType);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("setns(fd=" + fd + ", nstype=0x" + Integer.toHexString(nsType) + ")",
                    Native.errno());
        }
    }

    /**
     * Runs {@code work} in the network namespace called {@code namespace} (null or empty: in
     * this thread's own, directly) and returns its result.
     */
    public static <T> T callIn(String namespace, Callable<T> work) throws IOException {
        if (namespace == null || namespace.isEmpty()) {
            try {
                return work.call();
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IOException(e);
            }
        }
        if (namespace.contains("/") || namespace.equals(".") || namespace.equals("..")) {
            throw new IllegalArgumentException("network namespace name must be a plain name as in 'ip netns list',"
                    + " not a path: " + namespace);
        }
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread thread = Thread.ofPlatform().name("setns-" + namespace).unstarted(() -> {
            try {
                int fd;
                try {
                    fd = Unistd.open(NETNS_DIRECTORY + namespace, Unistd.O_RDONLY | Unistd.O_CLOEXEC, 0);
                } catch (LinuxException e) {
                    throw new IOException("network namespace '" + namespace + "' not found (" + e.errnoName()
                            + " opening " + NETNS_DIRECTORY + namespace + "): create it with 'ip netns add "
                            + namespace + "' or check the name", e);
                }
                try {
                    setns(fd, CLONE_NEWNET);
                } catch (LinuxException e) {
                    throw new IOException("cannot enter network namespace '" + namespace + "': " + e.getMessage()
                            + (e.errno() == Errno.EPERM ? " (needs CAP_SYS_ADMIN: run as root)" : ""), e);
                } finally {
                    Unistd.close(fd);
                }
                result.complete(work.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        thread.start();
        try {
            return result.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while working in network namespace " + namespace);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new IOException(cause);
        }
    }
}

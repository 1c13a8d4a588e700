package io.arrakis.control;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.RateLimit;
import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.OptionalInt;

/**
 * A tool's connection to a control plane (what {@code arrakis control status} and
 * {@code arrakis control rate} use): asks for status, looks up listeners, sets rate limits and
 * stops the control plane. It attaches no VNIC. Thread-safe; every call waits a bounded time.
 */
public final class ControlClient implements AutoCloseable {
    private final ControlConnection connection;

    private final Path socket;

    private ControlClient(ControlConnection connection, Path socket) {
        this.connection = connection;
        this.socket = socket;
    }

    /**
     * One request; a connection the control plane reset or closed (it is stopping) becomes a
     * {@link NotRunningException}.
     */
    private Protocol.Message call(Protocol.Message message) throws IOException {
        try {
            return connection.call(message);
        } catch (LinuxException e) {
            if (e.errno() == Errno.ECONNRESET || e.errno() == Errno.EPIPE) {
                throw new NotRunningException(socket, e);
            }
            throw e;
        } catch (IOException e) {
            if (connection.isLost()) {
                throw new NotRunningException(socket, e);
            }
            throw e;
        }
    }

    /** Nothing listens on the control plane's socket: none is running there. */
    public static final class NotRunningException extends IOException {
        private static final long serialVersionUID = 1L;

        NotRunningException(Path socket, LinuxException cause) {
            super("no control plane answers on " + socket + " (" + cause.errnoName() + ")", cause);
        }

        NotRunningException(Path socket, IOException cause) {
            super("the control plane on " + socket + " went away (it is stopping or has stopped)", cause);
        }
    }

    /**
     * Connects to the control plane at {@code socket}.
     *
     * @throws NotRunningException if none answers there
     */
    public static ControlClient connect(Path socket) throws IOException {
        ControlConnection connection;
        try {
            connection = ControlConnection.connect(socket);
        } catch (LinuxException e) {
            if (ControlConnection.nobodyListens(e)) {
                throw new NotRunningException(socket, e);
            }
            throw new IOException("cannot reach the control plane at " + socket + ": " + e.getMessage(), e);
        }
        connection.start(null, "arrakis-control-client");
        return new ControlClient(connection, socket);
    }

    /** Connects to the control plane at {@link ControlPlane#defaultSocketPath()}. */
    public static ControlClient connect() throws IOException {
        return connect(ControlPlane.defaultSocketPath());
    }

    public ControlStatus status() throws IOException {
        Protocol.Message reply = call(new Protocol.StatusRequest());
        if (reply instanceof Protocol.StatusReply(ControlStatus status)) {
            return status;
        }
        throw new IOException("the control plane answered STATUS with " + reply);
    }

    /**
     * Sets the rate limit of the VNIC called {@code vnic} ({@link RateLimit#UNLIMITED} lifts it).
     * When this returns, the owner and the VNIC's peers have been sent the new limit. Needs root
     * or the control plane's uid.
     */
    public void setRateLimit(String vnic, RateLimit limit) throws IOException {
        call(new Protocol.SetRateLimit(vnic, limit));
    }

    /**
     * The address of the VNIC that announced {@code protocol} port {@code port}, or empty (see
     * {@link ShmVnic#lookupListener}).
     */
    public OptionalInt lookupListener(FlowFilter.Protocol protocol, int port) throws IOException {
        return lookup(connection, protocol, port);
    }

    static OptionalInt lookup(ControlConnection connection, FlowFilter.Protocol protocol, int port) throws IOException {
        Protocol.checkListener(protocol, port);
        Protocol.Message reply = connection.call(new Protocol.LookupListener(protocol, port));
        if (reply instanceof Protocol.ListenerInfo info && info.protocol() == protocol && info.port() == port) {
            return info.vnic() == 0 ? OptionalInt.empty() : OptionalInt.of(info.address());
        }
        throw new IOException("the control plane answered the lookup of " + protocol + " port " + port + " with "
                + reply);
    }

    /**
     * Stops the control plane: it answers, then closes every connection and removes its socket
     * (a daemon's process then exits; an embedded one's host keeps running). Attached processes
     * keep their channels, but nobody can join until a control plane starts again. Needs root or
     * the control plane's uid.
     */
    public void shutdown() throws IOException {
        Protocol.Message reply = call(new Protocol.Shutdown());
        if (!(reply instanceof Protocol.Ok)) {
            throw new IOException("the control plane answered SHUTDOWN with " + reply);
        }
    }

    @Override
    public void close() throws IOException {
        connection.close();
    }
}

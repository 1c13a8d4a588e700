package io.arrakis.provider;

import io.arrakis.stack.tcp.TcpConnection;
import java.io.IOException;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.nio.channels.NetworkChannel;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The socket options of one user-level channel: validated as the JDK validates them, remembered
 * (so they can be replayed on a kernel socket if the channel's route turns out to be the
 * kernel's), and applied to the engine where they mean something there (TCP_NODELAY,
 * SO_KEEPALIVE and the keep-alive timings, SO_LINGER, buffer sizes at connect). Options the
 * engine has no use for (IP_TOS, SO_REUSEADDR, ...) are kept and reported back, as a socket keeps
 * them. Guarded by the owning channel's state lock.
 */
final class SocketOptionValues {
    private static final Set<SocketOption<?>> SOCKET = supportedLike(Kind.SOCKET);
    private static final Set<SocketOption<?>> SERVER = supportedLike(Kind.SERVER);

    private enum Kind { SOCKET, SERVER }

    private final Set<SocketOption<?>> supported;
    private final Map<SocketOption<?>, Object> values = new HashMap<>();
    /** What the application set, in order: replayed on a kernel socket. */
    private final Map<SocketOption<?>, Object> explicitlySet = new LinkedHashMap<>();

    private SocketOptionValues(Set<SocketOption<?>> supported) {
        this.supported = supported;
        values.put(StandardSocketOptions.SO_SNDBUF, UserStack.DEFAULT_BUFFER);
        values.put(StandardSocketOptions.SO_RCVBUF, UserStack.DEFAULT_BUFFER);
        values.put(StandardSocketOptions.SO_REUSEADDR, supported == SERVER);
        values.put(StandardSocketOptions.SO_REUSEPORT, false);
        if (supported == SOCKET) {
            values.put(StandardSocketOptions.SO_KEEPALIVE, false);
            values.put(StandardSocketOptions.SO_LINGER, -1);
            values.put(StandardSocketOptions.TCP_NODELAY, false);
            values.put(StandardSocketOptions.IP_TOS, 0);
        }
    }

    static SocketOptionValues forSocket() {
        return new SocketOptionValues(SOCKET);
    }

    static SocketOptionValues forServer() {
        return new SocketOptionValues(SERVER);
    }

    /** An accepted socket inherits the listener's buffer sizes (as in Linux); the rest start at their defaults. */
    SocketOptionValues copyForAccepted() {
        SocketOptionValues accepted = forSocket();
        accepted.values.put(StandardSocketOptions.SO_SNDBUF, values.get(StandardSocketOptions.SO_SNDBUF));
        accepted.values.put(StandardSocketOptions.SO_RCVBUF, values.get(StandardSocketOptions.SO_RCVBUF));
        return accepted;
    }

    Set<SocketOption<?>> supported() {
        return supported;
    }

    void checkSupported(SocketOption<?> name) {
        Objects.requireNonNull(name);
        if (!supported.contains(name)) {
            throw new UnsupportedOperationException("'" + name + "' not supported");
        }
    }

    /** The JDK's checks, in its order: null name, unsupported, wrong type, null value, range. */
    void check(SocketOption<?> name, Object value) {
        checkSupported(name);
        if (!name.type().isInstance(value)) {
            throw new IllegalArgumentException("Invalid value '" + value + "'");
        }
        if (name == StandardSocketOptions.SO_RCVBUF || name == StandardSocketOptions.SO_SNDBUF) {
            if ((Integer) value < 0) {
                throw new IllegalArgumentException("Invalid send/receive buffer size");
            }
        }
        if (name == StandardSocketOptions.IP_TOS) {
            int tos = (Integer) value;
            if (tos < 0 || tos > 255) {
                throw new IllegalArgumentException("Invalid IP_TOS value");
            }
        }
    }

    void set(SocketOption<?> name, Object value) {
        Object stored = value;
        if (name == StandardSocketOptions.SO_LINGER) {
            int seconds = (Integer) value;
            stored = seconds < 0 ? -1 : Math.min(seconds, 65_535);
        }
        if ((name == StandardSocketOptions.SO_RCVBUF || name == StandardSocketOptions.SO_SNDBUF)
                && (Integer) value < 1024) {
            stored = 1024; // the engine's floor, as Linux keeps a floor (it reports doubled values)
        }
        values.put(name, stored);
        explicitlySet.put(name, value);
    }

    @SuppressWarnings("unchecked")
    <T> T get(SocketOption<T> name) {
        Object value = values.get(name);
        if (value == null) {
            value = defaultOf(name);
        }
        return (T) value;
    }

    private static Object defaultOf(SocketOption<?> name) {
        if (name.type() == Boolean.class) {
            return false;
        }
        if (name.type() == Integer.class) {
            return 0;
        }
        return null;
    }

    int sendBufferSize() {
        return (Integer) values.get(StandardSocketOptions.SO_SNDBUF);
    }

    int receiveBufferSize() {
        return (Integer) values.get(StandardSocketOptions.SO_RCVBUF);
    }

    /** Under the stack lock: what the engine understands. */
    void applyTo(TcpConnection connection) {
        connection.setNoDelay(Boolean.TRUE.equals(values.get(StandardSocketOptions.TCP_NODELAY)));
        connection.setKeepAlive(Boolean.TRUE.equals(values.get(StandardSocketOptions.SO_KEEPALIVE)));
        Object linger = values.get(StandardSocketOptions.SO_LINGER);
        connection.setLinger(linger == null ? -1 : (Integer) linger);
    }

    /** Sets on a kernel channel what the application set on us, in the same order. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    void replayOn(NetworkChannel kernel) throws IOException {
        for (Map.Entry<SocketOption<?>, Object> option : explicitlySet.entrySet()) {
            if (kernel.supportedOptions().contains(option.getKey())) {
                kernel.setOption((SocketOption) option.getKey(), option.getValue());
            }
        }
    }

    /**
     * The JDK's own set for this kind of channel when its provider is reachable (so
     * {@code supportedOptions()} answers exactly as the JDK's would), the standard options otherwise.
     */
    private static Set<SocketOption<?>> supportedLike(Kind kind) {
        if (JdkProvider.reachable()) {
            try (NetworkChannel template = kind == Kind.SOCKET ? JdkProvider.get().openSocketChannel()
                    : JdkProvider.get().openServerSocketChannel()) {
                return Collections.unmodifiableSet(new LinkedHashSet<>(template.supportedOptions()));
            } catch (IOException | RuntimeException e) {
                // fall through to the standard set
            }
        }
        Set<SocketOption<?>> set = new LinkedHashSet<>();
        set.add(StandardSocketOptions.SO_RCVBUF);
        set.add(StandardSocketOptions.SO_REUSEADDR);
        set.add(StandardSocketOptions.SO_REUSEPORT);
        if (kind == Kind.SOCKET) {
            set.add(StandardSocketOptions.SO_SNDBUF);
            set.add(StandardSocketOptions.SO_KEEPALIVE);
            set.add(StandardSocketOptions.SO_LINGER);
            set.add(StandardSocketOptions.TCP_NODELAY);
            set.add(StandardSocketOptions.IP_TOS);
        }
        return Collections.unmodifiableSet(set);
    }
}

package io.arrakis.provider;

import java.io.IOException;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The socket options of one datagram channel as its user-level side sees them: validated in the
 * order and with the exceptions of the JDK's {@code DatagramChannelImpl}, remembered (and replayed,
 * in the order they were set, on a kernel socket the channel opens later) and reported back.
 *
 * <p>What they mean user-level: SO_RCVBUF sizes the port's receive ring when the port opens (later
 * changes are reported, not applied: the ring is not resized under queued datagrams); SO_BROADCAST
 * is enforced (a broadcast without it fails as Linux fails it); IP_DONTFRAGMENT refuses datagrams
 * the MTU cannot carry whole. SO_SNDBUF (datagrams go to the device at once, there is no send
 * buffer), SO_REUSEADDR/SO_REUSEPORT (a user-level port has one owner), IP_TOS, IP_MULTICAST_TTL
 * (the stack sends multicast with TTL 1: one switch, one hop), IP_MULTICAST_IF and
 * IP_MULTICAST_LOOP (the switch does not send a frame back to its sender) are kept and reported
 * only. Guarded by the owning channel's state lock.
 */
final class DatagramOptions {
    /** The UDP socket's smallest ring ({@code UdpSocket}): a smaller SO_RCVBUF/SO_SNDBUF reports this. */
    static final int MINIMUM_BUFFER = 2048;
    private static final Set<SocketOption<?>> SUPPORTED = supportedLikeTheJdk();
    /** jdk.net.ExtendedSocketOptions, found by name so this class does not need the jdk.net module. */
    private static final SocketOption<?> DONT_FRAGMENT = named("IP_DONTFRAGMENT");
    private static final SocketOption<?> INCOMING_NAPI_ID = named("SO_INCOMING_NAPI_ID");

    private final Map<SocketOption<?>, Object> values = new HashMap<>();
    /** What the application set, in order: replayed on a kernel socket. */
    private final Map<SocketOption<?>, Object> explicitlySet = new LinkedHashMap<>();

    DatagramOptions() {
        values.put(StandardSocketOptions.SO_SNDBUF, UserStack.DEFAULT_BUFFER);
        values.put(StandardSocketOptions.SO_RCVBUF, UserStack.DEFAULT_BUFFER);
        values.put(StandardSocketOptions.SO_REUSEADDR, false);
        values.put(StandardSocketOptions.SO_REUSEPORT, false);
        values.put(StandardSocketOptions.SO_BROADCAST, false);
        values.put(StandardSocketOptions.IP_TOS, 0);
        values.put(StandardSocketOptions.IP_MULTICAST_TTL, 1);
        values.put(StandardSocketOptions.IP_MULTICAST_LOOP, true);
        if (DONT_FRAGMENT != null) {
            values.put(DONT_FRAGMENT, false);
        }
        if (INCOMING_NAPI_ID != null) {
            values.put(INCOMING_NAPI_ID, 0);
        }
    }

    static Set<SocketOption<?>> supported() {
        return SUPPORTED;
    }

    /** The JDK's first checks, before it looks at the channel's state: null name, unsupported. */
    static void checkSupported(SocketOption<?> name) {
        Objects.requireNonNull(name);
        if (!SUPPORTED.contains(name)) {
            throw new UnsupportedOperationException("'" + name + "' not supported");
        }
    }

    /** The JDK's checks that precede its closed check: null name, unsupported, wrong type or null value. */
    static void checkType(SocketOption<?> name, Object value) {
        checkSupported(name);
        if (!name.type().isInstance(value)) {
            throw new IllegalArgumentException("Invalid value '" + value + "'");
        }
    }

    /** The checks the JDK makes once the channel is known to be open: ranges, read-only options. */
    static void checkValue(SocketOption<?> name, Object value) throws IOException {
        if (name == INCOMING_NAPI_ID) {
            throw new SocketException("Attempt to set read only option " + name);
        }
        if (name == StandardSocketOptions.SO_RCVBUF || name == StandardSocketOptions.SO_SNDBUF) {
            if ((Integer) value < 0) {
                throw new IllegalArgumentException("Invalid send/receive buffer size");
            }
        } else if (name == StandardSocketOptions.IP_TOS) {
            int tos = (Integer) value;
            if (tos < 0 || tos > 255) {
                throw new IllegalArgumentException("Invalid IP_TOS value");
            }
        } else if (name == StandardSocketOptions.IP_MULTICAST_TTL) {
            int ttl = (Integer) value;
            if (ttl < 0 || ttl > 255) {
                throw new IllegalArgumentException("Invalid TTL/hop value");
            }
        }
    }

    void set(SocketOption<?> name, Object value) {
        Object stored = value;
        if ((name == StandardSocketOptions.SO_RCVBUF || name == StandardSocketOptions.SO_SNDBUF)
                && (Integer) value < MINIMUM_BUFFER) {
            stored = MINIMUM_BUFFER;
        }
        values.put(name, stored);
        explicitlySet.put(name, value);
    }

    @SuppressWarnings("unchecked")
    <T> T get(SocketOption<T> name) {
        return (T) values.get(name); // IP_MULTICAST_IF: null until set, as the JDK reports "the default"
    }

    int receiveBufferSize() {
        return (Integer) values.get(StandardSocketOptions.SO_RCVBUF);
    }

    boolean broadcast() {
        return Boolean.TRUE.equals(values.get(StandardSocketOptions.SO_BROADCAST));
    }

    boolean dontFragment() {
        return DONT_FRAGMENT != null && Boolean.TRUE.equals(values.get(DONT_FRAGMENT));
    }

    NetworkInterface multicastInterface() {
        return (NetworkInterface) values.get(StandardSocketOptions.IP_MULTICAST_IF);
    }

    /** Sets on a kernel channel what the application set on us, in the same order. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    void replayOn(DatagramChannel kernel) throws IOException {
        for (Map.Entry<SocketOption<?>, Object> option : explicitlySet.entrySet()) {
            if (option.getKey() != INCOMING_NAPI_ID && kernel.supportedOptions().contains(option.getKey())) {
                kernel.setOption((SocketOption) option.getKey(), option.getValue());
            }
        }
    }

    private static SocketOption<?> named(String name) {
        for (SocketOption<?> option : SUPPORTED) {
            if (option.name().equals(name)) {
                return option;
            }
        }
        return null;
    }

    /**
     * The JDK's own set when its provider is reachable (so {@code supportedOptions()} answers
     * exactly as the JDK's would, extended options included), the standard options otherwise.
     */
    private static Set<SocketOption<?>> supportedLikeTheJdk() {
        if (JdkProvider.reachable()) {
            try (DatagramChannel template = JdkProvider.get().openDatagramChannel()) {
                return Collections.unmodifiableSet(new LinkedHashSet<>(template.supportedOptions()));
            } catch (IOException | RuntimeException e) {
                // fall through to the standard set
            }
        }
        Set<SocketOption<?>> set = new LinkedHashSet<>();
        set.add(StandardSocketOptions.SO_SNDBUF);
        set.add(StandardSocketOptions.SO_RCVBUF);
        set.add(StandardSocketOptions.SO_REUSEADDR);
        set.add(StandardSocketOptions.SO_REUSEPORT);
        set.add(StandardSocketOptions.SO_BROADCAST);
        set.add(StandardSocketOptions.IP_TOS);
        set.add(StandardSocketOptions.IP_MULTICAST_IF);
        set.add(StandardSocketOptions.IP_MULTICAST_TTL);
        set.add(StandardSocketOptions.IP_MULTICAST_LOOP);
        return Collections.unmodifiableSet(set);
    }
}

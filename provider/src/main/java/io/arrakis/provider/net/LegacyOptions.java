package io.arrakis.provider.net;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketOption;
import java.net.SocketOptions;
import java.net.StandardSocketOptions;
import java.nio.channels.NetworkChannel;
import java.util.HashSet;
import java.util.Set;

/**
 * The integer option ids of {@link SocketOptions} (what {@code Socket.setTcpNoDelay} and the
 * other legacy setters pass to a {@code SocketImpl}) mapped onto a channel's
 * {@link SocketOption}s, with the JDK's checks and messages. The ids a socket keeps itself
 * ({@code SO_TIMEOUT}) or treats specially are handled by the socket implementations.
 * Stateless.
 */
final class LegacyOptions {
    /** The channel option behind {@link SocketOptions#SO_OOBINLINE}: the JDK's is not public, so it is found by name. */
    static final String OOB_INLINE = "SO_OOBINLINE";

    private LegacyOptions() {}

    static void set(NetworkChannel channel, int id, Object value) throws IOException {
        switch (id) {
            case SocketOptions.IP_TOS -> channel.setOption(StandardSocketOptions.IP_TOS, intValue(value, "IP_TOS"));
            case SocketOptions.TCP_NODELAY ->
                    channel.setOption(StandardSocketOptions.TCP_NODELAY, booleanValue(value, "TCP_NODELAY"));
            case SocketOptions.SO_KEEPALIVE ->
                    channel.setOption(StandardSocketOptions.SO_KEEPALIVE, booleanValue(value, "SO_KEEPALIVE"));
            case SocketOptions.SO_REUSEADDR ->
                    channel.setOption(StandardSocketOptions.SO_REUSEADDR, booleanValue(value, "SO_REUSEADDR"));
            case SocketOptions.SO_REUSEPORT -> {
                requireReusePort(channel);
                channel.setOption(StandardSocketOptions.SO_REUSEPORT, booleanValue(value, "SO_REUSEPORT"));
            }
            case SocketOptions.SO_SNDBUF ->
                    channel.setOption(StandardSocketOptions.SO_SNDBUF, positive(value, "SO_SNDBUF"));
            case SocketOptions.SO_RCVBUF ->
                    channel.setOption(StandardSocketOptions.SO_RCVBUF, positive(value, "SO_RCVBUF"));
            default -> throw new SocketException("Unknown option " + id);
        }
    }

    static Object get(NetworkChannel channel, int id) throws IOException {
        return switch (id) {
            case SocketOptions.IP_TOS -> channel.getOption(StandardSocketOptions.IP_TOS);
            case SocketOptions.TCP_NODELAY -> channel.getOption(StandardSocketOptions.TCP_NODELAY);
            case SocketOptions.SO_KEEPALIVE -> channel.getOption(StandardSocketOptions.SO_KEEPALIVE);
            case SocketOptions.SO_REUSEADDR -> channel.getOption(StandardSocketOptions.SO_REUSEADDR);
            case SocketOptions.SO_REUSEPORT -> {
                requireReusePort(channel);
                yield channel.getOption(StandardSocketOptions.SO_REUSEPORT);
            }
            case SocketOptions.SO_SNDBUF -> channel.getOption(StandardSocketOptions.SO_SNDBUF);
            case SocketOptions.SO_RCVBUF -> channel.getOption(StandardSocketOptions.SO_RCVBUF);
            case SocketOptions.SO_BINDADDR -> boundAddress(channel.getLocalAddress());
            default -> throw new SocketException("Unknown option " + id);
        };
    }

    private static void requireReusePort(NetworkChannel channel) throws SocketException {
        if (!channel.supportedOptions().contains(StandardSocketOptions.SO_REUSEPORT)) {
            throw new SocketException("SO_REUSEPORT not supported");
        }
    }

    /** The address of {@code local}, or the wildcard when unbound (what an unbound kernel socket reports). */
    static InetAddress boundAddress(SocketAddress local) {
        if (local instanceof InetSocketAddress inet) {
            return inet.getAddress();
        }
        return new InetSocketAddress(0).getAddress();
    }

    /** The channel's {@code SO_OOBINLINE}; {@code SocketException} when it has none. */
    @SuppressWarnings("unchecked")
    static SocketOption<Boolean> oobInline(NetworkChannel channel) throws SocketException {
        for (SocketOption<?> option : channel.supportedOptions()) {
            if (option.name().equals(OOB_INLINE) && option.type() == Boolean.class) {
                return (SocketOption<Boolean>) option;
            }
        }
        throw new SocketException(OOB_INLINE + " not supported by " + channel.getClass().getName());
    }

    static Set<SocketOption<?>> without(Set<SocketOption<?>> options, String name) {
        Set<SocketOption<?>> kept = new HashSet<>(options);
        kept.removeIf(option -> option.name().equals(name));
        return Set.copyOf(kept);
    }

    static Set<SocketOption<?>> with(Set<SocketOption<?>> options, SocketOption<?> extra) {
        Set<SocketOption<?>> all = new HashSet<>(options);
        all.add(extra);
        return Set.copyOf(all);
    }

    static int intValue(Object value, String name) throws SocketException {
        if (!(value instanceof Integer i)) {
            throw new SocketException("Bad value for " + name);
        }
        return i;
    }

    static boolean booleanValue(Object value, String name) throws SocketException {
        if (!(value instanceof Boolean b)) {
            throw new SocketException("Bad value for " + name);
        }
        return b;
    }

    static int positive(Object value, String name) throws SocketException {
        int i = intValue(value, name);
        if (i <= 0) {
            throw new SocketException(name + " <= 0");
        }
        return i;
    }
}

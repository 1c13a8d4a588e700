package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.ephemeral;
import static java.net.StandardSocketOptions.IP_MULTICAST_IF;
import static java.net.StandardSocketOptions.IP_MULTICAST_LOOP;
import static java.net.StandardSocketOptions.IP_MULTICAST_TTL;
import static java.net.StandardSocketOptions.IP_TOS;
import static java.net.StandardSocketOptions.SO_BROADCAST;
import static java.net.StandardSocketOptions.SO_KEEPALIVE;
import static java.net.StandardSocketOptions.SO_LINGER;
import static java.net.StandardSocketOptions.SO_RCVBUF;
import static java.net.StandardSocketOptions.SO_REUSEADDR;
import static java.net.StandardSocketOptions.SO_REUSEPORT;
import static java.net.StandardSocketOptions.SO_SNDBUF;
import static java.net.StandardSocketOptions.TCP_NODELAY;

import java.net.DatagramSocket;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketOption;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Socket options on the three channel types and their socket adaptors: which are supported, defaults,
 * round trips, the values the JDK clamps or rejects, and unsupported options rejected as the JDK does.
 * Buffer sizes the OS rounds are recorded as "at least what was asked".
 */
final class SocketOptionCases {
    private SocketOptionCases() {
    }

    /** The options StandardSocketOptions defines that this suite knows, by name. */
    static final List<SocketOption<?>> STANDARD = List.of(SO_RCVBUF, SO_SNDBUF, TCP_NODELAY, SO_KEEPALIVE, SO_REUSEADDR,
            SO_REUSEPORT, SO_LINGER, IP_TOS, SO_BROADCAST, IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP);

    /** The standard options a channel supports, sorted by name. */
    static Set<String> standardSupported(NetworkChannel ch) {
        Set<String> names = new TreeSet<>();
        for (SocketOption<?> option : ch.supportedOptions()) {
            if (STANDARD.contains(option)) {
                names.add(option.name());
            }
        }
        return names;
    }

    /** Every supported option by name, standard or extended (jdk.net), sorted. */
    static Set<String> allSupported(NetworkChannel ch) {
        Set<String> names = new TreeSet<>();
        ch.supportedOptions().forEach(option -> names.add(option.name()));
        return names;
    }

    /** Sets an option ignoring its declared type, to pass a value of the wrong type as an untyped caller could. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static void setUntyped(NetworkChannel ch, SocketOption option, Object value) throws Exception {
        ch.setOption(option, value);
    }

    /** Records {@code set} then {@code get} of one option. */
    static <T> void roundTrip(Trace t, NetworkChannel ch, SocketOption<T> option, T value) {
        t.run("set " + option.name() + " " + value, () -> ch.setOption(option, value));
        t.call("get " + option.name(), () -> ch.getOption(option));
    }

    /** Records whether the buffer-size option reads back at least what was asked (the OS may round or double it). */
    static void bufferAtLeast(Trace t, NetworkChannel ch, SocketOption<Integer> option, int requested) {
        t.run("set " + option.name() + " " + requested, () -> ch.setOption(option, requested));
        t.call(option.name() + " >= requested", () -> ch.getOption(option) >= requested);
    }

    static List<Case> cases() {
        Catalog c = new Catalog("SocketOptions");

        c.add("socketChannelSupportsTheStandardStreamOptions", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.note("standard options supported", standardSupported(ch));
                t.note("socket().supportedOptions is the channel's", ch.socket().supportedOptions().equals(ch.supportedOptions()));
            }
        }, "standard options supported = [IP_TOS, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF, TCP_NODELAY]",
                "socket().supportedOptions is the channel's = true");

        c.add("socketChannelSupportedOptionsInFull", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.note("all options supported", allSupported(ch));
            }
        });

        c.add("socketChannelOptionDefaults", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                for (SocketOption<?> option : List.of(TCP_NODELAY, SO_KEEPALIVE, SO_LINGER, SO_REUSEADDR, SO_REUSEPORT, IP_TOS)) {
                    t.call(option.name(), () -> ch.getOption(option));
                }
                t.call("SO_RCVBUF > 0", () -> ch.getOption(SO_RCVBUF) > 0);
                t.call("SO_SNDBUF > 0", () -> ch.getOption(SO_SNDBUF) > 0);
            }
        }, "TCP_NODELAY -> false", "SO_KEEPALIVE -> false", "SO_LINGER -> -1", "SO_REUSEADDR -> false", "SO_REUSEPORT -> false",
                "IP_TOS -> 0", "SO_RCVBUF > 0 -> true", "SO_SNDBUF > 0 -> true");

        c.add("socketChannelBooleanOptionsRoundTrip", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                for (SocketOption<Boolean> option : List.of(TCP_NODELAY, SO_KEEPALIVE, SO_REUSEADDR, SO_REUSEPORT)) {
                    roundTrip(t, ch, option, true);
                    roundTrip(t, ch, option, false);
                }
            }
        }, "set TCP_NODELAY true -> ok", "get TCP_NODELAY -> true", "set TCP_NODELAY false -> ok", "get TCP_NODELAY -> false",
                "get SO_KEEPALIVE -> true", "get SO_REUSEADDR -> true", "get SO_REUSEPORT -> true", "get SO_REUSEPORT -> false");

        c.add("soLingerIsClampedAndNegativeMeansOff", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                roundTrip(t, ch, SO_LINGER, 5);
                roundTrip(t, ch, SO_LINGER, 0);
                roundTrip(t, ch, SO_LINGER, -7);
                roundTrip(t, ch, SO_LINGER, 70_000);
            }
        }, "get SO_LINGER -> 5", "get SO_LINGER -> 0", "set SO_LINGER -7 -> ok", "get SO_LINGER -> -1", "set SO_LINGER 70000 -> ok",
                "get SO_LINGER -> 65535");

        c.add("ipTosRoundTripsAndRejectsOutOfRangeValues", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                roundTrip(t, ch, IP_TOS, 0x10);
                roundTrip(t, ch, IP_TOS, 256);
                roundTrip(t, ch, IP_TOS, -1);
            }
        }, "set IP_TOS 16 -> ok", "set IP_TOS 256 -> threw IllegalArgumentException: Invalid IP_TOS value",
                "set IP_TOS -1 -> threw IllegalArgumentException: Invalid IP_TOS value");

        c.add("socketBufferSizesAreAtLeastWhatWasAsked", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                bufferAtLeast(t, ch, SO_RCVBUF, 65_536);
                bufferAtLeast(t, ch, SO_SNDBUF, 65_536);
                bufferAtLeast(t, ch, SO_RCVBUF, 8_192);
                bufferAtLeast(t, ch, SO_SNDBUF, 8_192);
            }
        }, "SO_RCVBUF >= requested -> true", "SO_SNDBUF >= requested -> true", "SO_RCVBUF >= requested -> true",
                "SO_SNDBUF >= requested -> true");

        c.add("bufferSizesRejectNegativeAndAcceptZero", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("SO_RCVBUF -1", () -> ch.setOption(SO_RCVBUF, -1));
                t.run("SO_SNDBUF -1", () -> ch.setOption(SO_SNDBUF, -1));
                t.run("SO_RCVBUF 0", () -> ch.setOption(SO_RCVBUF, 0));
                t.call("SO_RCVBUF after 0 is positive", () -> ch.getOption(SO_RCVBUF) > 0);
            }
        }, "SO_RCVBUF -1 -> threw IllegalArgumentException: Invalid send/receive buffer size",
                "SO_SNDBUF -1 -> threw IllegalArgumentException: Invalid send/receive buffer size", "SO_RCVBUF 0 -> ok",
                "SO_RCVBUF after 0 is positive -> true");

        c.add("nullOptionValuesAndNamesAreRejected", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("set TCP_NODELAY null", () -> ch.setOption(TCP_NODELAY, null));
                t.run("set SO_LINGER null", () -> ch.setOption(SO_LINGER, null));
                t.run("set null option", () -> ch.setOption(null, true));
                t.call("get null option", () -> ch.getOption(null));
            }
        }, "set TCP_NODELAY null -> threw IllegalArgumentException: Invalid value 'null'",
                "set SO_LINGER null -> threw IllegalArgumentException: Invalid value 'null'",
                "set null option -> threw NullPointerException", "get null option -> threw NullPointerException");

        c.add("wronglyTypedOptionValueIsRejected", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("set TCP_NODELAY \"yes\"", () -> setUntyped(ch, TCP_NODELAY, "yes"));
                t.run("set SO_LINGER true", () -> setUntyped(ch, SO_LINGER, true));
            }
        }, "set TCP_NODELAY \"yes\" -> threw IllegalArgumentException: Invalid value 'yes'",
                "set SO_LINGER true -> threw IllegalArgumentException: Invalid value 'true'");

        c.add("socketChannelRejectsDatagramOptions", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("set SO_BROADCAST", () -> ch.setOption(SO_BROADCAST, true));
                t.call("get SO_BROADCAST", () -> ch.getOption(SO_BROADCAST));
                t.call("get IP_MULTICAST_TTL", () -> ch.getOption(IP_MULTICAST_TTL));
                t.call("get IP_MULTICAST_LOOP", () -> ch.getOption(IP_MULTICAST_LOOP));
                t.call("get IP_MULTICAST_IF", () -> ch.getOption(IP_MULTICAST_IF));
                t.run("set IP_MULTICAST_TTL", () -> ch.setOption(IP_MULTICAST_TTL, 2));
            }
        }, "set SO_BROADCAST -> threw UnsupportedOperationException: 'SO_BROADCAST' not supported",
                "get SO_BROADCAST -> threw UnsupportedOperationException: 'SO_BROADCAST' not supported",
                "get IP_MULTICAST_TTL -> threw UnsupportedOperationException: 'IP_MULTICAST_TTL' not supported",
                "get IP_MULTICAST_LOOP -> threw UnsupportedOperationException: 'IP_MULTICAST_LOOP' not supported",
                "get IP_MULTICAST_IF -> threw UnsupportedOperationException: 'IP_MULTICAST_IF' not supported",
                "set IP_MULTICAST_TTL -> threw UnsupportedOperationException: 'IP_MULTICAST_TTL' not supported");

        c.add("unsupportedOptionIsRejectedBeforeItsValueIsChecked", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("set SO_BROADCAST null", () -> ch.setOption(SO_BROADCAST, null));
            }
        }, "set SO_BROADCAST null -> threw UnsupportedOperationException: 'SO_BROADCAST' not supported");

        c.add("optionsSetBeforeConnectPersistAfterIt", (net, t) -> {
            try (java.nio.channels.ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                ch.setOption(TCP_NODELAY, true);
                ch.setOption(SO_KEEPALIVE, true);
                ch.setOption(SO_LINGER, 3);
                ch.connect(listener.getLocalAddress());
                t.call("TCP_NODELAY", () -> ch.getOption(TCP_NODELAY));
                t.call("SO_KEEPALIVE", () -> ch.getOption(SO_KEEPALIVE));
                t.call("SO_LINGER", () -> ch.getOption(SO_LINGER));
                listener.accept().close();
            }
        }, "TCP_NODELAY -> true", "SO_KEEPALIVE -> true", "SO_LINGER -> 3");

        c.add("optionsOnAConnectedChannelRoundTrip", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                roundTrip(t, pair.server(), TCP_NODELAY, true);
                roundTrip(t, pair.server(), SO_KEEPALIVE, true);
                bufferAtLeast(t, pair.server(), SO_SNDBUF, 32_768);
            }
        }, "get TCP_NODELAY -> true", "get SO_KEEPALIVE -> true", "SO_SNDBUF >= requested -> true");

        c.add("acceptedChannelHasDefaultStreamOptions", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                for (SocketOption<?> option : List.of(TCP_NODELAY, SO_KEEPALIVE, SO_LINGER, IP_TOS)) {
                    t.call(option.name(), () -> pair.server().getOption(option));
                }
            }
        }, "TCP_NODELAY -> false", "SO_KEEPALIVE -> false", "SO_LINGER -> -1", "IP_TOS -> 0");

        c.add("acceptedChannelInheritsTheListenersReceiveBuffer", (net, t) -> {
            try (ServerSocketChannel listener = net.provider().openServerSocketChannel()) {
                listener.setOption(SO_RCVBUF, 16_384);
                listener.bind(ephemeral(net));
                try (SocketChannel client = net.provider().openSocketChannel()) {
                    client.connect(listener.getLocalAddress());
                    try (SocketChannel accepted = listener.accept()) {
                        t.note("accepted SO_RCVBUF equals the listener's", accepted.getOption(SO_RCVBUF).equals(listener.getOption(SO_RCVBUF)));
                    }
                }
            }
        }, "accepted SO_RCVBUF equals the listener's = true");

        c.add("serverSocketChannelSupportsOnlyListenerOptions", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.note("standard options supported", standardSupported(ch));
                t.note("socket().supportedOptions is the channel's", ch.socket().supportedOptions().equals(ch.supportedOptions()));
            }
        }, "standard options supported = [SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT]", "socket().supportedOptions is the channel's = true");

        c.add("serverSocketChannelSupportedOptionsInFull", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.note("all options supported", allSupported(ch));
            }
        });

        c.add("serverSocketChannelRejectsStreamOptions", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.run("set TCP_NODELAY", () -> ch.setOption(TCP_NODELAY, true));
                t.call("get SO_SNDBUF", () -> ch.getOption(SO_SNDBUF));
                t.call("get SO_KEEPALIVE", () -> ch.getOption(SO_KEEPALIVE));
                t.call("get SO_LINGER", () -> ch.getOption(SO_LINGER));
                t.call("get IP_TOS", () -> ch.getOption(IP_TOS));
                t.call("get SO_BROADCAST", () -> ch.getOption(SO_BROADCAST));
            }
        }, "set TCP_NODELAY -> threw UnsupportedOperationException: 'TCP_NODELAY' not supported",
                "get SO_SNDBUF -> threw UnsupportedOperationException: 'SO_SNDBUF' not supported",
                "get SO_KEEPALIVE -> threw UnsupportedOperationException: 'SO_KEEPALIVE' not supported",
                "get SO_LINGER -> threw UnsupportedOperationException: 'SO_LINGER' not supported",
                "get IP_TOS -> threw UnsupportedOperationException: 'IP_TOS' not supported",
                "get SO_BROADCAST -> threw UnsupportedOperationException: 'SO_BROADCAST' not supported");

        c.add("serverSocketChannelOptionsRoundTrip", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.call("SO_REUSEPORT default", () -> ch.getOption(SO_REUSEPORT));
                roundTrip(t, ch, SO_REUSEADDR, false);
                roundTrip(t, ch, SO_REUSEPORT, true);
                bufferAtLeast(t, ch, SO_RCVBUF, 65_536);
                t.run("SO_RCVBUF -1", () -> ch.setOption(SO_RCVBUF, -1));
            }
        }, "SO_REUSEPORT default -> false", "get SO_REUSEADDR -> false", "get SO_REUSEPORT -> true", "SO_RCVBUF >= requested -> true",
                "SO_RCVBUF -1 -> threw IllegalArgumentException: Invalid send/receive buffer size");

        c.add("twoListenersWithReusePortShareAPort", (net, t) -> {
            try (ServerSocketChannel first = net.provider().openServerSocketChannel();
                    ServerSocketChannel second = net.provider().openServerSocketChannel()) {
                first.setOption(SO_REUSEPORT, true);
                second.setOption(SO_REUSEPORT, true);
                first.bind(ephemeral(net));
                t.run("second bind to the same address", () -> second.bind(first.getLocalAddress()));
                t.note("same port", second.getLocalAddress().equals(first.getLocalAddress()));
            }
        }, "second bind to the same address -> ok", "same port = true");

        c.add("optionsOnClosedListenerAndDatagramChannelThrowClosedChannel", (net, t) -> {
            ServerSocketChannel listener = net.provider().openServerSocketChannel();
            listener.close();
            DatagramChannel datagram = net.provider().openDatagramChannel();
            datagram.close();
            t.call("listener get SO_RCVBUF", () -> listener.getOption(SO_RCVBUF));
            t.run("listener set SO_REUSEADDR", () -> listener.setOption(SO_REUSEADDR, true));
            t.call("datagram get SO_BROADCAST", () -> datagram.getOption(SO_BROADCAST));
            t.run("datagram set IP_MULTICAST_TTL", () -> datagram.setOption(IP_MULTICAST_TTL, 3));
            t.call("unsupported option on a closed listener", () -> listener.getOption(TCP_NODELAY));
        }, "listener get SO_RCVBUF -> threw ClosedChannelException", "listener set SO_REUSEADDR -> threw ClosedChannelException",
                "datagram get SO_BROADCAST -> threw ClosedChannelException", "datagram set IP_MULTICAST_TTL -> threw ClosedChannelException",
                "unsupported option on a closed listener -> threw UnsupportedOperationException: 'TCP_NODELAY' not supported");

        c.add("datagramChannelSupportsTheStandardDatagramOptions", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                t.note("standard options supported", standardSupported(ch));
                t.note("socket().supportedOptions is the channel's", ch.socket().supportedOptions().equals(ch.supportedOptions()));
            }
        }, "standard options supported = [IP_MULTICAST_IF, IP_MULTICAST_LOOP, IP_MULTICAST_TTL, IP_TOS, SO_BROADCAST, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF]",
                "socket().supportedOptions is the channel's = true");

        c.add("datagramChannelSupportedOptionsInFull", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                t.note("all options supported", allSupported(ch));
            }
        });

        c.add("datagramOptionDefaults", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                for (SocketOption<?> option : List.of(SO_BROADCAST, IP_MULTICAST_TTL, IP_MULTICAST_LOOP, IP_MULTICAST_IF, SO_REUSEADDR, SO_REUSEPORT, IP_TOS)) {
                    t.call(option.name(), () -> ch.getOption(option));
                }
                t.call("SO_RCVBUF > 0", () -> ch.getOption(SO_RCVBUF) > 0);
                t.call("SO_SNDBUF > 0", () -> ch.getOption(SO_SNDBUF) > 0);
            }
        }, "SO_BROADCAST -> false", "IP_MULTICAST_TTL -> 1", "IP_MULTICAST_LOOP -> true", "IP_MULTICAST_IF -> null",
                "SO_REUSEADDR -> false", "SO_REUSEPORT -> false", "IP_TOS -> 0", "SO_RCVBUF > 0 -> true", "SO_SNDBUF > 0 -> true");

        c.add("datagramBooleanOptionsRoundTrip", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                for (SocketOption<Boolean> option : List.of(SO_BROADCAST, IP_MULTICAST_LOOP, SO_REUSEADDR, SO_REUSEPORT)) {
                    roundTrip(t, ch, option, !ch.getOption(option));
                }
            }
        }, "get SO_BROADCAST -> true", "get IP_MULTICAST_LOOP -> false", "get SO_REUSEADDR -> true", "get SO_REUSEPORT -> true");

        c.add("multicastTtlRoundTripsAndRejectsOutOfRangeValues", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                roundTrip(t, ch, IP_MULTICAST_TTL, 0);
                roundTrip(t, ch, IP_MULTICAST_TTL, 255);
                roundTrip(t, ch, IP_MULTICAST_TTL, 256);
                roundTrip(t, ch, IP_MULTICAST_TTL, -1);
            }
        }, "get IP_MULTICAST_TTL -> 0", "get IP_MULTICAST_TTL -> 255",
                "set IP_MULTICAST_TTL 256 -> threw IllegalArgumentException: Invalid TTL/hop value",
                "set IP_MULTICAST_TTL -1 -> threw IllegalArgumentException: Invalid TTL/hop value");

        c.add("multicastInterfaceRoundTrips", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel(java.net.StandardProtocolFamily.INET)) {
                java.net.NetworkInterface nif = net.multicastInterface();
                t.run("set IP_MULTICAST_IF", () -> ch.setOption(IP_MULTICAST_IF, nif));
                t.call("get IP_MULTICAST_IF is the one set", () -> nif.equals(ch.getOption(IP_MULTICAST_IF)));
                t.run("set IP_MULTICAST_IF null", () -> ch.setOption(IP_MULTICAST_IF, null));
            }
        }, "set IP_MULTICAST_IF -> ok", "get IP_MULTICAST_IF is the one set -> true",
                "set IP_MULTICAST_IF null -> threw IllegalArgumentException: Invalid value 'null'");

        c.add("datagramIpTosAndBuffers", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                roundTrip(t, ch, IP_TOS, 0x20);
                t.run("IP_TOS 300", () -> ch.setOption(IP_TOS, 300));
                bufferAtLeast(t, ch, SO_RCVBUF, 65_536);
                bufferAtLeast(t, ch, SO_SNDBUF, 65_536);
            }
        }, "set IP_TOS 32 -> ok", "IP_TOS 300 -> threw IllegalArgumentException: Invalid IP_TOS value",
                "SO_RCVBUF >= requested -> true", "SO_SNDBUF >= requested -> true");

        c.add("datagramChannelRejectsStreamOptions", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                t.run("set TCP_NODELAY", () -> ch.setOption(TCP_NODELAY, true));
                t.call("get SO_KEEPALIVE", () -> ch.getOption(SO_KEEPALIVE));
                t.call("get SO_LINGER", () -> ch.getOption(SO_LINGER));
            }
        }, "set TCP_NODELAY -> threw UnsupportedOperationException: 'TCP_NODELAY' not supported",
                "get SO_KEEPALIVE -> threw UnsupportedOperationException: 'SO_KEEPALIVE' not supported",
                "get SO_LINGER -> threw UnsupportedOperationException: 'SO_LINGER' not supported");

        c.add("twoDatagramChannelsWithReusePortShareAPort", (net, t) -> {
            try (DatagramChannel first = net.provider().openDatagramChannel(); DatagramChannel second = net.provider().openDatagramChannel()) {
                first.setOption(SO_REUSEPORT, true);
                second.setOption(SO_REUSEPORT, true);
                first.bind(ephemeral(net));
                t.run("second bind to the same address", () -> second.bind(first.getLocalAddress()));
            }
        }, "second bind to the same address -> ok");

        c.add("twoDatagramChannelsWithReuseAddressShareAPort", (net, t) -> {
            try (DatagramChannel first = net.provider().openDatagramChannel(); DatagramChannel second = net.provider().openDatagramChannel()) {
                first.setOption(SO_REUSEADDR, true);
                second.setOption(SO_REUSEADDR, true);
                first.bind(ephemeral(net));
                t.run("second bind to the same address", () -> second.bind(first.getLocalAddress()));
            }
        }, "second bind to the same address -> ok");

        c.add("socketAdaptorOptionAccessorsMapToTheChannelsOptions", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Socket s = pair.client().socket();
                s.setTcpNoDelay(true);
                s.setKeepAlive(true);
                s.setReuseAddress(true);
                s.setTrafficClass(0x08);
                t.call("channel TCP_NODELAY", () -> pair.client().getOption(TCP_NODELAY));
                t.call("channel SO_KEEPALIVE", () -> pair.client().getOption(SO_KEEPALIVE));
                t.call("channel SO_REUSEADDR", () -> pair.client().getOption(SO_REUSEADDR));
                t.call("getTrafficClass", s::getTrafficClass);
                t.call("getOOBInline", s::getOOBInline);
                t.run("setOOBInline(true)", () -> s.setOOBInline(true));
                t.call("getOOBInline after", s::getOOBInline);
                t.call("setOption through the socket", () -> s.setOption(TCP_NODELAY, false) == s);
                t.call("channel sees it", () -> pair.client().getOption(TCP_NODELAY));
            }
        }, "channel TCP_NODELAY -> true", "channel SO_KEEPALIVE -> true", "channel SO_REUSEADDR -> true",
                "getOOBInline -> false", "setOOBInline(true) -> ok", "getOOBInline after -> true",
                "setOption through the socket -> true", "channel sees it -> false");

        c.add("socketAdaptorSoLingerAndBufferSizes", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Socket s = pair.client().socket();
                t.call("getSoLinger default", s::getSoLinger);
                t.run("setSoLinger(true, 10)", () -> s.setSoLinger(true, 10));
                t.call("getSoLinger", s::getSoLinger);
                t.run("setSoLinger(false, 10)", () -> s.setSoLinger(false, 10));
                t.call("getSoLinger after off", s::getSoLinger);
                t.run("setSendBufferSize(0)", () -> s.setSendBufferSize(0));
                t.run("setReceiveBufferSize(0)", () -> s.setReceiveBufferSize(0));
                t.run("setReceiveBufferSize(-5)", () -> s.setReceiveBufferSize(-5));
                t.run("setSendBufferSize(65536)", () -> s.setSendBufferSize(65_536));
                t.call("getSendBufferSize >= 65536", () -> s.getSendBufferSize() >= 65_536);
            }
        }, "getSoLinger default -> -1", "setSoLinger(true, 10) -> ok", "getSoLinger -> 10", "getSoLinger after off -> -1",
                "setSendBufferSize(0) -> threw IllegalArgumentException: Invalid send size",
                "setReceiveBufferSize(0) -> threw IllegalArgumentException: Invalid receive size",
                "setReceiveBufferSize(-5) -> threw IllegalArgumentException: Invalid receive size",
                "getSendBufferSize >= 65536 -> true");

        c.add("socketAdaptorOptionsOnAClosedSocketThrowSocketClosed", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Socket s = pair.client().socket();
                s.close();
                t.call("getTcpNoDelay", s::getTcpNoDelay);
                t.run("setKeepAlive", () -> s.setKeepAlive(true));
                t.call("getSoLinger", s::getSoLinger);
                t.call("getReceiveBufferSize", s::getReceiveBufferSize);
                t.call("getSoTimeout", s::getSoTimeout);
                t.run("setSoTimeout", () -> s.setSoTimeout(10));
                t.call("getOption", () -> s.getOption(TCP_NODELAY));
            }
        }, "getTcpNoDelay -> threw SocketException: Socket is closed", "setKeepAlive -> threw SocketException: Socket is closed",
                "getSoLinger -> threw SocketException: Socket is closed", "getReceiveBufferSize -> threw SocketException: Socket is closed",
                "getSoTimeout -> threw SocketException: Socket is closed", "setSoTimeout -> threw SocketException: Socket is closed",
                "getOption -> threw ClosedChannelException");

        c.add("socketAdaptorRejectsUnsupportedOptions", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                Socket s = ch.socket();
                t.call("setOption SO_BROADCAST", () -> s.setOption(SO_BROADCAST, true));
                t.call("getOption IP_MULTICAST_LOOP", () -> s.getOption(IP_MULTICAST_LOOP));
            }
        }, "setOption SO_BROADCAST -> threw UnsupportedOperationException: 'SO_BROADCAST' not supported",
                "getOption IP_MULTICAST_LOOP -> threw UnsupportedOperationException: 'IP_MULTICAST_LOOP' not supported");

        c.add("serverSocketAdaptorOptions", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                ServerSocket s = ch.socket();
                t.call("getReuseAddress", s::getReuseAddress);
                t.run("setReuseAddress(false)", () -> s.setReuseAddress(false));
                t.call("channel SO_REUSEADDR", () -> ch.getOption(SO_REUSEADDR));
                t.run("setReceiveBufferSize(0)", () -> s.setReceiveBufferSize(0));
                t.run("setReceiveBufferSize(65536)", () -> s.setReceiveBufferSize(65_536));
                t.call("getReceiveBufferSize >= 65536", () -> s.getReceiveBufferSize() >= 65_536);
                t.call("setOption TCP_NODELAY", () -> s.setOption(TCP_NODELAY, true));
                s.close();
                t.call("getReuseAddress when closed", s::getReuseAddress);
                t.call("getReceiveBufferSize when closed", s::getReceiveBufferSize);
            }
        }, "getReuseAddress -> true", "setReuseAddress(false) -> ok", "channel SO_REUSEADDR -> false",
                "setReceiveBufferSize(0) -> threw IllegalArgumentException: size cannot be 0 or negative",
                "getReceiveBufferSize >= 65536 -> true",
                "setOption TCP_NODELAY -> threw UnsupportedOperationException: 'TCP_NODELAY' not supported",
                "getReuseAddress when closed -> threw SocketException: Socket is closed",
                "getReceiveBufferSize when closed -> threw SocketException: Socket is closed");

        c.add("datagramSocketAdaptorOptions", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                DatagramSocket s = ch.socket();
                t.call("getBroadcast", s::getBroadcast);
                t.run("setBroadcast(true)", () -> s.setBroadcast(true));
                t.call("channel SO_BROADCAST", () -> ch.getOption(SO_BROADCAST));
                t.run("setTrafficClass(16)", () -> s.setTrafficClass(16));
                t.run("setReuseAddress(true)", () -> s.setReuseAddress(true));
                t.call("getReuseAddress", s::getReuseAddress);
                t.run("setSendBufferSize(0)", () -> s.setSendBufferSize(0));
                t.run("setReceiveBufferSize(0)", () -> s.setReceiveBufferSize(0));
                t.call("getSendBufferSize > 0", () -> s.getSendBufferSize() > 0);
                s.close();
                t.call("getBroadcast when closed", s::getBroadcast);
                t.run("setTrafficClass when closed", () -> s.setTrafficClass(8));
            }
        }, "getBroadcast -> false", "setBroadcast(true) -> ok", "channel SO_BROADCAST -> true", "setTrafficClass(16) -> ok",
                "getReuseAddress -> true", "setSendBufferSize(0) -> threw IllegalArgumentException: Invalid send size",
                "setReceiveBufferSize(0) -> threw IllegalArgumentException: Invalid receive size", "getSendBufferSize > 0 -> true",
                "getBroadcast when closed -> threw SocketException: Socket is closed",
                "setTrafficClass when closed -> threw SocketException: Socket is closed");

        c.add("multicastSocketAdaptorTtlAndLoopback", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                DatagramSocket s = ch.socket();
                t.note("the adaptor is a MulticastSocket", s instanceof java.net.MulticastSocket);
                if (s instanceof java.net.MulticastSocket m) {
                    t.call("getTimeToLive", m::getTimeToLive);
                    t.run("setTimeToLive(4)", () -> m.setTimeToLive(4));
                    t.call("channel IP_MULTICAST_TTL", () -> ch.getOption(IP_MULTICAST_TTL));
                    t.run("setTimeToLive(300)", () -> m.setTimeToLive(300));
                }
            }
        }, "the adaptor is a MulticastSocket = true", "getTimeToLive -> 1", "setTimeToLive(4) -> ok", "channel IP_MULTICAST_TTL -> 4",
                "setTimeToLive(300) -> threw IllegalArgumentException: Invalid TTL/hop value");

        return c.cases();
    }
}

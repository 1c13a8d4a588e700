package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.bytes;
import static io.arrakis.provider.conformance.SocketChannelCases.ephemeral;
import static io.arrakis.provider.conformance.SocketChannelCases.unresolved;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.MembershipKey;
import java.util.Arrays;
import java.util.List;

/** DatagramChannel: bind, send/receive, connect/disconnect, read/write, truncation, unreachable ports, multicast membership. */
final class DatagramChannelCases {
    private DatagramChannelCases() {
    }

    /** A datagram channel bound to an ephemeral port of the server address. */
    static DatagramChannel bound(Resources r, Network net) throws Exception {
        DatagramChannel ch = r.add(net.provider().openDatagramChannel());
        ch.bind(ephemeral(net));
        return ch;
    }

    /** Receives one datagram: polls a non-blocking channel, bounds a blocking receive with a {@link Watchdog}. */
    static SocketAddress receiveWithin(DatagramChannel ch, ByteBuffer into) throws Exception {
        if (!ch.isBlocking()) {
            SocketAddress[] from = new SocketAddress[1];
            Await.until("a datagram", () -> (from[0] = ch.receive(into)) != null);
            return from[0];
        }
        try (Watchdog _ = Watchdog.closeAfterLimit(ch)) {
            return ch.receive(into);
        }
    }

    static List<Case> cases() {
        Catalog c = new Catalog("DatagramChannel");

        c.add("newDatagramChannelIsOpenBlockingUnboundUnconnected", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                t.state("new channel", ch);
                t.call("getLocalAddress", ch::getLocalAddress);
                t.call("getRemoteAddress", ch::getRemoteAddress);
                t.note("validOps", Trace.ops(ch.validOps()));
                t.note("provider is the network's", ch.provider() == net.provider());
                t.note("socket() returns one adaptor", ch.socket() == ch.socket());
            }
        }, "new channel: open=true blocking=true registered=false connected=false", "getLocalAddress -> null",
                "getRemoteAddress -> null", "validOps = READ|WRITE", "provider is the network's = true",
                "socket() returns one adaptor = true");

        c.add("sendAndReceiveCarryTheSenderAddress", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                t.call("send", () -> b.send(ByteBuffer.wrap(bytes(5)), a.getLocalAddress()));
                ByteBuffer into = ByteBuffer.allocate(16);
                SocketAddress from = t.call("receive", () -> receiveWithin(a, into));
                t.note("sender is b", b.getLocalAddress().equals(from));
                t.note("buffer", into);
                t.note("payload", Arrays.equals(Arrays.copyOf(into.array(), 5), bytes(5)));
            }
        }, "send -> 5", "receive -> server:port", "sender is b = true", "buffer = ByteBuffer[pos=5 lim=16 cap=16]", "payload = true");

        c.add("nonBlockingReceiveWithoutDatagramReturnsNull", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                a.configureBlocking(false);
                ByteBuffer into = ByteBuffer.allocate(8);
                t.call("receive", () -> a.receive(into));
                t.note("buffer", into);
            }
        }, "receive -> null", "buffer = ByteBuffer[pos=0 lim=8 cap=8]");

        c.add("nonBlockingReceiveOnUnboundChannelBindsIt", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                ch.configureBlocking(false);
                t.call("receive", () -> ch.receive(ByteBuffer.allocate(8)));
                t.call("getLocalAddress", ch::getLocalAddress);
            }
        }, "receive -> null");

        c.add("sendFromUnboundChannelBindsItImplicitly", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = r.add(net.provider().openDatagramChannel());
                t.call("send", () -> b.send(ByteBuffer.wrap(bytes(2)), a.getLocalAddress()));
                t.call("sender's local address", b::getLocalAddress);
                t.note("socket().isBound", b.socket().isBound());
                SocketAddress from = receiveWithin(a, ByteBuffer.allocate(4));
                t.note("received from the sender's port", ((InetSocketAddress) from).getPort() == ((InetSocketAddress) b.getLocalAddress()).getPort());
            }
        }, "send -> 2", "socket().isBound = true", "received from the sender's port = true");

        c.add("receiveTruncatesToTheBufferAndDiscardsTheRest", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                b.send(ByteBuffer.wrap(bytes(10)), a.getLocalAddress());
                b.send(ByteBuffer.wrap(bytes(3)), a.getLocalAddress());
                ByteBuffer small = ByteBuffer.allocate(4);
                t.call("receive into 4 bytes", () -> receiveWithin(a, small) != null);
                t.note("buffer", small);
                ByteBuffer next = ByteBuffer.allocate(16);
                t.call("next receive gets the next datagram", () -> receiveWithin(a, next) != null);
                t.note("next buffer", next);
            }
        }, "receive into 4 bytes -> true", "buffer = ByteBuffer[pos=4 lim=4 cap=4]",
                "next receive gets the next datagram -> true", "next buffer = ByteBuffer[pos=3 lim=16 cap=16]");

        c.add("emptyDatagramIsReceivedAsEmpty", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                t.call("send empty", () -> b.send(ByteBuffer.allocate(0), a.getLocalAddress()));
                ByteBuffer into = ByteBuffer.allocate(8);
                t.call("receive", () -> receiveWithin(a, into) != null);
                t.note("buffer", into);
            }
        }, "send empty -> 0", "receive -> true", "buffer = ByteBuffer[pos=0 lim=8 cap=8]");

        c.add("receiveIntoFullBufferConsumesTheDatagram", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                b.send(ByteBuffer.wrap(bytes(6)), a.getLocalAddress());
                ByteBuffer full = ByteBuffer.allocate(4).position(4);
                t.call("receive into a buffer with no room", () -> receiveWithin(a, full) != null);
                t.note("buffer", full);
                a.configureBlocking(false);
                t.call("the datagram is gone", () -> a.receive(ByteBuffer.allocate(8)));
            }
        }, "receive into a buffer with no room -> true", "buffer = ByteBuffer[pos=4 lim=4 cap=4]", "the datagram is gone -> null");

        c.add("receiveIntoReadOnlyBufferThrowsIllegalArgument", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                t.call("receive", () -> a.receive(ByteBuffer.allocate(4).asReadOnlyBuffer()));
            }
        }, "receive -> threw IllegalArgumentException: Read-only buffer");

        c.add("readAndWriteOnUnconnectedChannelThrowNotYetConnected", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                t.call("read", () -> a.read(ByteBuffer.allocate(4)));
                t.call("write", () -> a.write(ByteBuffer.allocate(4)));
                t.call("scattering read", () -> a.read(new ByteBuffer[] {ByteBuffer.allocate(4)}));
                t.call("gathering write", () -> a.write(new ByteBuffer[] {ByteBuffer.allocate(4)}));
            }
        }, "read -> threw NotYetConnectedException", "write -> threw NotYetConnectedException",
                "scattering read -> threw NotYetConnectedException", "gathering write -> threw NotYetConnectedException");

        c.add("connectSetsTheRemoteAddressAndBindsImplicitly", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = r.add(net.provider().openDatagramChannel());
                t.call("connect", () -> b.connect(a.getLocalAddress()) == b);
                t.state("connected", b);
                t.call("getRemoteAddress", b::getRemoteAddress);
                t.call("getLocalAddress", b::getLocalAddress);
                t.note("socket().isConnected", b.socket().isConnected());
                t.note("socket().getPort is a's port", b.socket().getPort() == ((InetSocketAddress) a.getLocalAddress()).getPort());
            }
        }, "connect -> true", "connected: open=true blocking=true registered=false connected=true",
                "getRemoteAddress -> server:port", "getLocalAddress -> server:port", "socket().isConnected = true",
                "socket().getPort is a's port = true");

        c.add("connectTwiceThrowsAlreadyConnected", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                b.connect(a.getLocalAddress());
                t.call("connect again", () -> b.connect(a.getLocalAddress()));
            }
        }, "connect again -> threw AlreadyConnectedException");

        c.add("connectOrSendToPortZeroThrowsSocketException", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                t.call("send to port 0", () -> a.send(ByteBuffer.allocate(1), new InetSocketAddress(net.serverAddress(), 0)));
                t.call("connect to port 0", () -> a.connect(new InetSocketAddress(net.serverAddress(), 0)));
                t.state("after", a);
            }
        }, "send to port 0 -> threw SocketException: Can't send to port 0",
                "connect to port 0 -> threw SocketException: Can't connect to port 0",
                "after: open=true blocking=true registered=false connected=false");

        c.add("connectedChannelsReadAndWrite", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                a.connect(b.getLocalAddress());
                b.connect(a.getLocalAddress());
                t.call("write", () -> a.write(ByteBuffer.wrap(bytes(7))));
                ByteBuffer into = ByteBuffer.allocate(16);
                t.call("read", () -> b.read(into));
                t.note("payload", Arrays.equals(Arrays.copyOf(into.array(), 7), bytes(7)));
            }
        }, "write -> 7", "read -> 7", "payload = true");

        c.add("connectedChannelScattersAndGathersOneDatagram", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                a.connect(b.getLocalAddress());
                b.connect(a.getLocalAddress());
                t.call("gathering write", () -> a.write(new ByteBuffer[] {ByteBuffer.wrap(bytes(3)), ByteBuffer.wrap(bytes(4))}));
                ByteBuffer[] into = {ByteBuffer.allocate(2), ByteBuffer.allocate(8)};
                t.call("scattering read", () -> b.read(into));
                t.note("buffers", List.of(into));
                b.configureBlocking(false);
                t.call("one datagram only", () -> b.read(ByteBuffer.allocate(8)));
            }
        }, "gathering write -> 7", "scattering read -> 7",
                "buffers = [ByteBuffer[pos=2 lim=2 cap=2], ByteBuffer[pos=5 lim=8 cap=8]]", "one datagram only -> 0");

        c.add("connectedSendToAnotherAddressThrowsAlreadyConnected", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                DatagramChannel other = bound(r, net);
                a.connect(b.getLocalAddress());
                t.call("send to the peer", () -> a.send(ByteBuffer.wrap(bytes(2)), b.getLocalAddress()));
                t.call("send elsewhere", () -> a.send(ByteBuffer.wrap(bytes(2)), other.getLocalAddress()));
            }
        }, "send to the peer -> 2", "send elsewhere -> threw AlreadyConnectedException");

        c.add("connectedChannelReceivesOnlyFromItsPeer", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel peer = bound(r, net);
                DatagramChannel stranger = bound(r, net);
                a.connect(peer.getLocalAddress());
                stranger.send(ByteBuffer.wrap(new byte[] {9}), a.getLocalAddress());
                peer.send(ByteBuffer.wrap(new byte[] {1}), a.getLocalAddress());
                ByteBuffer into = ByteBuffer.allocate(4);
                SocketAddress from = receiveWithin(a, into);
                t.note("first datagram is the peer's", peer.getLocalAddress().equals(from) && into.get(0) == 1);
                a.configureBlocking(false);
                t.call("nothing else", () -> a.receive(ByteBuffer.allocate(4)));
            }
        }, "first datagram is the peer's = true", "nothing else -> null");

        c.add("connectDiscardsDatagramsQueuedBeforeIt", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                b.send(ByteBuffer.wrap(new byte[] {1}), a.getLocalAddress());
                // the datagram is queued at a once a non-blocking peek would see it; wait for it with a second channel's readiness
                try (java.nio.channels.Selector selector = net.provider().openSelector()) {
                    a.configureBlocking(false);
                    a.register(selector, java.nio.channels.SelectionKey.OP_READ);
                    t.call("select sees it queued", () -> selector.select(Await.LIMIT.toMillis()));
                    a.keyFor(selector).cancel();
                    selector.selectNow();
                }
                a.connect(b.getLocalAddress());
                t.call("after connect, receive", () -> a.receive(ByteBuffer.allocate(4)));
            }
        }, "select sees it queued -> 1", "after connect, receive -> null");

        c.add("disconnectReturnsToUnconnectedKeepingTheLocalPort", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                SocketAddress local = a.getLocalAddress();
                a.connect(b.getLocalAddress());
                t.call("disconnect", () -> a.disconnect() == a);
                t.state("disconnected", a);
                t.call("getRemoteAddress", a::getRemoteAddress);
                t.note("local address unchanged", local.equals(a.getLocalAddress()));
                t.call("read", () -> a.read(ByteBuffer.allocate(4)));
            }
        }, "disconnect -> true", "disconnected: open=true blocking=true registered=false connected=false",
                "getRemoteAddress -> null", "local address unchanged = true", "read -> threw NotYetConnectedException");

        c.add("disconnectWhenUnconnectedOrClosedDoesNothing", (net, t) -> {
            DatagramChannel ch = net.provider().openDatagramChannel();
            t.call("disconnect unconnected", () -> ch.disconnect() == ch);
            ch.close();
            t.call("disconnect closed", () -> ch.disconnect() == ch);
        }, "disconnect unconnected -> true", "disconnect closed -> true");

        c.add("operationsOnClosedDatagramChannelThrowClosedChannel", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                a.close();
                t.state("closed", a);
                t.call("send", () -> a.send(ByteBuffer.wrap(bytes(1)), b.getLocalAddress()));
                t.call("receive", () -> a.receive(ByteBuffer.allocate(4)));
                t.call("read", () -> a.read(ByteBuffer.allocate(4)));
                t.call("write", () -> a.write(ByteBuffer.allocate(4)));
                t.call("connect", () -> a.connect(b.getLocalAddress()));
                t.call("bind", () -> a.bind(null));
                t.call("getLocalAddress", a::getLocalAddress);
                t.call("getRemoteAddress", a::getRemoteAddress);
            }
        }, "closed: open=false blocking=true registered=false connected=false",
                "send -> threw ClosedChannelException", "receive -> threw ClosedChannelException",
                "read -> threw ClosedChannelException", "write -> threw ClosedChannelException",
                "connect -> threw ClosedChannelException", "bind -> threw ClosedChannelException",
                "getLocalAddress -> threw ClosedChannelException", "getRemoteAddress -> threw ClosedChannelException");

        c.add("datagramBindTwiceThrowsAlreadyBound", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                t.call("bind again", () -> a.bind(ephemeral(net)));
            }
        }, "bind again -> threw AlreadyBoundException");

        c.add("datagramBindToAPortInUseThrowsAddressInUse", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = r.add(net.provider().openDatagramChannel());
                t.call("bind to a's address", () -> b.bind(a.getLocalAddress()));
                t.call("b still unbound", b::getLocalAddress);
            }
        }, "bind to a's address -> threw BindException: Address already in use", "b still unbound -> null");

        c.add("datagramBindNullBindsTheWildcard", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                t.call("bind(null)", () -> ch.bind(null).getLocalAddress());
            }
        });

        c.add("sendRejectsBadAddresses", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                t.call("send to unresolved", () -> a.send(ByteBuffer.allocate(1), unresolved()));
                t.call("send to foreign address type", () -> a.send(ByteBuffer.allocate(1), new SocketChannelCases.ForeignAddress()));
                t.call("send to null", () -> a.send(ByteBuffer.allocate(1), null));
                t.call("send null buffer", () -> a.send(null, a.getLocalAddress()));
                t.call("connect to unresolved", () -> a.connect(unresolved()));
                t.state("after", a);
            }
        }, "send to unresolved -> threw UnresolvedAddressException",
                "send to foreign address type -> threw UnsupportedAddressTypeException",
                "send to null -> threw NullPointerException", "send null buffer -> threw NullPointerException",
                "connect to unresolved -> threw UnresolvedAddressException", "after: open=true blocking=true registered=false connected=false");

        c.add("unconnectedSendToAnUnusedPortSucceedsSilently", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                InetSocketAddress nobody = unusedUdpPort(r, net);
                t.call("send", () -> a.send(ByteBuffer.wrap(bytes(4)), nobody));
                t.call("send again", () -> a.send(ByteBuffer.wrap(bytes(4)), nobody));
                a.configureBlocking(false);
                t.call("receive", () -> a.receive(ByteBuffer.allocate(4)));
            }
        }, "send -> 4", "send again -> 4", "receive -> null");

        c.add("connectedReadAfterPortUnreachableThrows", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                a.connect(unusedUdpPort(r, net));
                t.call("write", () -> a.write(ByteBuffer.wrap(bytes(4))));
                t.call("read", () -> a.read(ByteBuffer.allocate(4)));
                t.state("after", a);
            }
        }, "write -> 4", "read -> threw PortUnreachableException", "after: open=true blocking=true registered=false connected=true");

        c.add("largeDatagramRoundTrip", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                DatagramChannel b = bound(r, net);
                a.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 256 * 1024);
                t.call("send 60000 bytes", () -> b.send(ByteBuffer.wrap(bytes(60_000)), a.getLocalAddress()));
                ByteBuffer into = ByteBuffer.allocate(65_536);
                receiveWithin(a, into);
                t.note("received", into.position());
                t.note("intact", Arrays.equals(Arrays.copyOf(into.array(), 60_000), bytes(60_000)));
            }
        }, "send 60000 bytes -> 60000", "received = 60000", "intact = true");

        c.add("datagramLargerThanIpAllowsIsRejected", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                t.call("send 70000 bytes", () -> a.send(ByteBuffer.wrap(bytes(70_000)), a.getLocalAddress()));
                t.state("after", a);
            }
        }, "send 70000 bytes -> threw SocketException: Message too long");

        c.add("interruptStatusBeforeBlockingReceiveClosesTheChannel", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = bound(r, net);
                Thread.currentThread().interrupt();
                t.call("receive", () -> a.receive(ByteBuffer.allocate(4)));
                t.note("interrupt status kept", Thread.interrupted());
                t.state("after", a);
            }
        }, "receive -> threw ClosedByInterruptException", "interrupt status kept = true",
                "after: open=false blocking=true registered=false connected=false");

        c.add("multicastJoinAndDropOnTheNetworksInterface", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel(java.net.StandardProtocolFamily.INET)) {
                ch.bind(new InetSocketAddress(0));
                InetAddress group = InetAddress.getByName("239.255.77.1");
                java.net.NetworkInterface nif = net.multicastInterface();
                MembershipKey key = t.call("join", () -> ch.join(group, nif));
                t.note("key valid", key.isValid());
                t.note("key group", key.group());
                t.note("key channel is the channel", key.channel() == ch);
                t.note("key interface is the one joined", nif.equals(key.networkInterface()));
                t.note("key source", key.sourceAddress());
                t.note("joining again returns the same key", ch.join(group, nif) == key);
                t.run("drop", key::drop);
                t.note("key valid after drop", key.isValid());
                t.note("joining after drop gives a new key", ch.join(group, nif) != key);
            }
        }, "join -> a MembershipKey", "key valid = true", "key group = 239.255.77.1", "key channel is the channel = true",
                "key interface is the one joined = true", "key source = null", "joining again returns the same key = true",
                "drop -> ok", "key valid after drop = false", "joining after drop gives a new key = true");

        c.add("multicastJoinRejectsNonMulticastGroups", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel(java.net.StandardProtocolFamily.INET)) {
                ch.bind(new InetSocketAddress(0));
                java.net.NetworkInterface nif = net.multicastInterface();
                t.call("join a unicast address", () -> ch.join(net.serverAddress(), nif));
                t.call("join with a multicast source", () -> ch.join(InetAddress.getByName("232.1.1.1"), nif, InetAddress.getByName("239.1.1.1")));
                t.call("join with a wildcard source", () -> ch.join(InetAddress.getByName("232.1.1.1"), nif, InetAddress.getByName("0.0.0.0")));
            }
        }, "join a unicast address -> threw IllegalArgumentException: Group not a multicast address",
                "join with a multicast source -> threw IllegalArgumentException: Source address is multicast address",
                "join with a wildcard source -> threw IllegalArgumentException: Source address is a wildcard address");

        c.add("closingTheChannelInvalidatesItsMembershipKeys", (net, t) -> {
            DatagramChannel ch = net.provider().openDatagramChannel(java.net.StandardProtocolFamily.INET);
            ch.bind(new InetSocketAddress(0));
            MembershipKey key = ch.join(InetAddress.getByName("239.255.77.2"), net.multicastInterface());
            ch.close();
            t.note("key valid after close", key.isValid());
        }, "key valid after close = false");

        return c.cases();
    }

    /** A UDP port on the server address where nothing is bound (it was, a moment ago). */
    static InetSocketAddress unusedUdpPort(Resources r, Network net) throws Exception {
        try (DatagramChannel probe = net.provider().openDatagramChannel()) {
            probe.bind(ephemeral(net));
            return (InetSocketAddress) probe.getLocalAddress();
        }
    }
}

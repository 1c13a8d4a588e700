package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.bytes;
import static io.arrakis.provider.conformance.SocketChannelCases.ephemeral;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.MulticastSocket;
import java.net.NetworkInterface;
import java.net.SocketAddress;
import java.util.Arrays;
import java.util.List;

/**
 * {@code java.net.DatagramSocket} and {@code MulticastSocket} made as an application makes them
 * ({@code new DatagramSocket(...)}, here {@link Network#datagramSocket}): over the JDK's
 * uninterruptible channel on the oracle, over our provider's (the agent's route) on ours. State
 * before and after bind, send and receive between sockets bound to the server address and on the
 * wildcard, truncation, soTimeout, connect/disconnect, unreachable and unresolved destinations,
 * buffer sizes, broadcast, multicast membership and delivery, close and interrupt of a blocked receive on
 * platform and virtual threads. Receives are bounded by an soTimeout ({@link Await#LIMIT}) unless the
 * case is about an unbounded one.
 */
final class DatagramSocketCases {
    private static final int LIMIT_MILLIS = (int) Await.LIMIT.toMillis();

    private DatagramSocketCases() {
    }

    /** A socket bound to an ephemeral port of the server address, its receives bounded. */
    static DatagramSocket bound(Resources r, Network net) throws Exception {
        DatagramSocket s = r.add(net.datagramSocket(ephemeral(net)));
        s.setSoTimeout(LIMIT_MILLIS);
        return s;
    }

    /** {@code new DatagramSocket()}: the wildcard, an ephemeral port; its receives bounded. */
    static DatagramSocket wildcard(Resources r, Network net) throws Exception {
        DatagramSocket s = r.add(net.datagramSocket(new InetSocketAddress(0)));
        s.setSoTimeout(LIMIT_MILLIS);
        return s;
    }

    /** The address {@code s} is reached at from the server address: its port there. */
    static InetSocketAddress at(Network net, DatagramSocket s) {
        return new InetSocketAddress(net.serverAddress(), s.getLocalPort());
    }

    static DatagramPacket packet(int n, SocketAddress to) {
        return new DatagramPacket(bytes(n), n, to);
    }

    /** A UDP port on the server address where nothing is bound (a socket had it a moment ago). */
    static InetSocketAddress unusedPort(Network net) throws Exception {
        try (DatagramSocket probe = net.datagramSocket(ephemeral(net))) {
            return (InetSocketAddress) probe.getLocalSocketAddress();
        }
    }

    /** Starts a receive of up to 8 bytes on a helper thread; its value is the length and sender. */
    static Background<Object> receiving(DatagramSocket s, boolean virtual) {
        Trace.IoSupplier<Object> receive = () -> {
            DatagramPacket p = new DatagramPacket(new byte[8], 8);
            s.receive(p);
            return "received " + p.getLength();
        };
        return virtual ? Background.startVirtual("receive", receive) : Background.start("receive", receive);
    }

    static List<Case> cases() {
        Catalog c = new Catalog("DatagramSockets");

        c.add("unboundSocketState", (net, t) -> {
            try (DatagramSocket s = net.datagramSocket(null)) {
                t.note("isBound", s.isBound());
                t.note("isConnected", s.isConnected());
                t.note("isClosed", s.isClosed());
                t.note("getLocalPort", s.getLocalPort());
                t.note("getLocalSocketAddress", s.getLocalSocketAddress());
                t.note("getPort", s.getPort());
                t.note("getInetAddress", s.getInetAddress());
                t.note("getRemoteSocketAddress", s.getRemoteSocketAddress());
                t.note("getChannel", s.getChannel());
                t.call("getSoTimeout", s::getSoTimeout);
            }
        }, "isBound = false", "isConnected = false", "isClosed = false", "getLocalPort = 0", "getLocalSocketAddress = null",
                "getPort = -1", "getInetAddress = null", "getRemoteSocketAddress = null", "getChannel = null", "getSoTimeout -> 0");

        c.add("localSocketAddressBeforeAndAfterBind", (net, t) -> {
            try (DatagramSocket s = net.datagramSocket(null)) {
                t.note("before bind", s.getLocalSocketAddress());
                t.run("bind to the server address", () -> s.bind(ephemeral(net)));
                t.note("after bind", s.getLocalSocketAddress());
                t.note("getLocalAddress", s.getLocalAddress());
                t.note("getLocalPort > 0", s.getLocalPort() > 0);
                t.note("isBound", s.isBound());
            }
        }, "before bind = null", "bind to the server address -> ok", "after bind = server:port", "getLocalAddress = server",
                "getLocalPort > 0 = true", "isBound = true");

        c.add("bindNullBindsTheWildcard", (net, t) -> {
            try (DatagramSocket s = net.datagramSocket(null)) {
                t.run("bind(null)", () -> s.bind(null));
                t.note("getLocalSocketAddress", s.getLocalSocketAddress());
                t.note("getLocalPort > 0", s.getLocalPort() > 0);
            }
        }, "bind(null) -> ok", "getLocalSocketAddress = wildcard6:port", "getLocalPort > 0 = true");

        c.add("newDatagramSocketIsOnTheWildcard", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket s = wildcard(r, net);
                t.note("isBound", s.isBound());
                t.note("getLocalAddress", s.getLocalAddress());
                t.note("getLocalSocketAddress", s.getLocalSocketAddress());
                t.note("getLocalPort > 0", s.getLocalPort() > 0);
            }
        }, "isBound = true", "getLocalAddress = wildcard6", "getLocalSocketAddress = wildcard6:port", "getLocalPort > 0 = true");

        c.add("bindTwiceOrToAPortInUse", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = r.add(net.datagramSocket(null));
                t.run("bind to a's address", () -> b.bind(a.getLocalSocketAddress()));
                t.run("bind a again", () -> a.bind(ephemeral(net)));
                t.call("new socket on a's address", () -> r.add(net.datagramSocket(a.getLocalSocketAddress())));
                t.run("bind to an unresolved address", () -> b.bind(InetSocketAddress.createUnresolved("unresolved.invalid", 0)));
                t.note("b bound", b.isBound());
            }
        }, "bind to a's address -> threw BindException: Address already in use", "bind a again -> threw SocketException: Already bound",
                "new socket on a's address -> threw BindException: Address already in use",
                "bind to an unresolved address -> threw SocketException: Unresolved address", "b bound = false");

        c.add("sendAndReceiveBetweenBoundSockets", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                t.run("send", () -> b.send(packet(6, a.getLocalSocketAddress())));
                DatagramPacket in = new DatagramPacket(new byte[16], 16);
                t.run("receive", () -> a.receive(in));
                t.note("length", in.getLength());
                t.note("sender", in.getSocketAddress());
                t.note("from b", b.getLocalSocketAddress().equals(in.getSocketAddress()));
                t.note("payload", Arrays.equals(Arrays.copyOf(in.getData(), 6), bytes(6)));
            }
        }, "send -> ok", "receive -> ok", "length = 6", "sender = server:port", "from b = true", "payload = true");

        c.add("aWildcardClientAndABoundServerEcho", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket server = bound(r, net);
                DatagramSocket client = wildcard(r, net);
                t.run("client sends", () -> client.send(packet(5, server.getLocalSocketAddress())));
                DatagramPacket request = new DatagramPacket(new byte[16], 16);
                t.run("server receives", () -> server.receive(request));
                t.note("from the client's port", request.getPort() == client.getLocalPort());
                t.run("server replies to the sender", () -> server.send(new DatagramPacket(request.getData(), request.getLength(),
                        request.getSocketAddress())));
                DatagramPacket reply = new DatagramPacket(new byte[16], 16);
                t.run("client receives", () -> client.receive(reply));
                t.note("reply from", reply.getSocketAddress());
                t.note("from the server", server.getLocalSocketAddress().equals(reply.getSocketAddress()));
                t.note("echoed", Arrays.equals(Arrays.copyOf(reply.getData(), reply.getLength()), bytes(5)));
            }
        }, "client sends -> ok", "server receives -> ok", "from the client's port = true", "server replies to the sender -> ok",
                "client receives -> ok", "reply from = server:port", "from the server = true", "echoed = true");

        c.add("aWildcardServerAnswersABoundClient", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket server = wildcard(r, net);
                DatagramSocket client = bound(r, net);
                t.run("client sends", () -> client.send(packet(3, at(net, server))));
                DatagramPacket request = new DatagramPacket(new byte[16], 16);
                t.run("server receives", () -> server.receive(request));
                t.note("request from", request.getSocketAddress());
                t.run("server replies", () -> server.send(new DatagramPacket(new byte[] {9}, 1, request.getSocketAddress())));
                DatagramPacket reply = new DatagramPacket(new byte[16], 16);
                t.run("client receives", () -> client.receive(reply));
                t.note("reply length", reply.getLength());
                t.note("reply from the server's port", reply.getPort() == server.getLocalPort());
            }
        }, "client sends -> ok", "server receives -> ok", "request from = server:port", "server replies -> ok",
                "client receives -> ok", "reply length = 1", "reply from the server's port = true");

        c.add("receiveTruncatesIntoAShortPacket", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                b.send(packet(10, a.getLocalSocketAddress()));
                b.send(packet(3, a.getLocalSocketAddress()));
                byte[] data = new byte[16];
                DatagramPacket in = new DatagramPacket(data, 2, 4);
                t.run("receive 10 bytes into 4 at offset 2", () -> a.receive(in));
                t.note("length", in.getLength());
                t.note("offset", in.getOffset());
                t.note("bytes", Arrays.equals(Arrays.copyOfRange(data, 2, 6), Arrays.copyOf(bytes(10), 4)));
                t.note("nothing written past the packet", data[6] == 0 && data[1] == 0);
                DatagramPacket next = new DatagramPacket(new byte[16], 16);
                t.run("the next receive", () -> a.receive(next));
                t.note("next length (the rest was discarded)", next.getLength());
            }
        }, "receive 10 bytes into 4 at offset 2 -> ok", "length = 4", "offset = 2", "bytes = true",
                "nothing written past the packet = true", "the next receive -> ok", "next length (the rest was discarded) = 3");

        c.add("aReusedPacketReceivesUpToItsBufferAgain", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                for (int n : new int[] {10, 3, 12}) {
                    b.send(packet(n, a.getLocalSocketAddress()));
                }
                DatagramPacket in = new DatagramPacket(new byte[16], 16);
                for (int i = 0; i < 3; i++) {
                    t.run("receive", () -> a.receive(in));
                    t.note("length", in.getLength());
                }
                in.setLength(2);
                b.send(packet(12, a.getLocalSocketAddress()));
                t.run("receive after setLength(2)", () -> a.receive(in));
                t.note("length", in.getLength());
            }
        }, "length = 10", "length = 3", "length = 12", "receive after setLength(2) -> ok", "length = 2");

        c.add("emptyDatagramsAreDatagrams", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                t.run("send an empty packet", () -> b.send(new DatagramPacket(new byte[0], 0, a.getLocalSocketAddress())));
                DatagramPacket in = new DatagramPacket(new byte[4], 4);
                t.run("receive", () -> a.receive(in));
                t.note("length", in.getLength());
                t.note("from b", b.getLocalSocketAddress().equals(in.getSocketAddress()));
                t.run("receive into an empty packet", () -> {
                    b.send(packet(3, a.getLocalSocketAddress()));
                    a.receive(new DatagramPacket(new byte[0], 0));
                });
            }
        }, "send an empty packet -> ok", "receive -> ok", "length = 0", "from b = true", "receive into an empty packet -> ok");

        c.add("a60000ByteDatagramArrivesWhole", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                a.setReceiveBufferSize(256 * 1024);
                t.run("send 60000 bytes", () -> b.send(packet(60_000, a.getLocalSocketAddress())));
                DatagramPacket in = new DatagramPacket(new byte[65_536], 65_536);
                t.run("receive", () -> a.receive(in));
                t.note("length", in.getLength());
                t.note("intact", Arrays.equals(Arrays.copyOf(in.getData(), 60_000), bytes(60_000)));
            }
        }, "send 60000 bytes -> ok", "receive -> ok", "length = 60000", "intact = true");

        c.add("tooLongADatagramIsRefused", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                t.run("send 65508 bytes", () -> a.send(packet(65_508, b.getLocalSocketAddress())));
                a.connect(b.getLocalSocketAddress());
                t.run("send 65508 bytes connected", () -> a.send(new DatagramPacket(bytes(65_508), 65_508)));
                t.note("still open", !a.isClosed());
            }
        }, "send 65508 bytes -> threw SocketException: Message too long",
                "send 65508 bytes connected -> threw IOException: Message too long", "still open = true");

        c.add("soTimeoutEndsAReceiveAndTheSocketStaysUsable", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                a.setSoTimeout(100);
                t.run("receive with nothing sent", () -> a.receive(new DatagramPacket(new byte[4], 4)));
                t.note("still open", !a.isClosed());
                a.setSoTimeout(LIMIT_MILLIS);
                b.send(packet(2, a.getLocalSocketAddress()));
                DatagramPacket in = new DatagramPacket(new byte[4], 4);
                t.run("receive after the timeout", () -> a.receive(in));
                t.note("length", in.getLength());
            }
        }, "receive with nothing sent -> threw SocketTimeoutException: Receive timed out", "still open = true",
                "receive after the timeout -> ok", "length = 2");

        c.add("soTimeoutValues", (net, t) -> {
            try (DatagramSocket s = net.datagramSocket(null)) {
                t.call("default", s::getSoTimeout);
                t.run("set 250", () -> s.setSoTimeout(250));
                t.call("get", s::getSoTimeout);
                t.run("set -1", () -> s.setSoTimeout(-1));
                t.run("set 0", () -> s.setSoTimeout(0));
                t.call("get", s::getSoTimeout);
                s.close();
                t.run("set after close", () -> s.setSoTimeout(10));
                t.call("get after close", s::getSoTimeout);
            }
        }, "default -> 0", "set 250 -> ok", "get -> 250", "set -1 -> threw IllegalArgumentException: timeout < 0", "get -> 0",
                "set after close -> threw SocketException: Socket is closed", "get after close -> threw SocketException: Socket is closed");

        c.add("connectSetsThePeer", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                t.run("connect", () -> a.connect(b.getLocalSocketAddress()));
                t.note("isConnected", a.isConnected());
                t.note("getInetAddress", a.getInetAddress());
                t.note("getPort is b's", a.getPort() == b.getLocalPort());
                t.note("getRemoteSocketAddress", a.getRemoteSocketAddress());
                t.note("getLocalSocketAddress", a.getLocalSocketAddress());
                t.run("connect(InetAddress, port) again", () -> a.connect(net.serverAddress(), b.getLocalPort()));
                t.run("connect(null)", () -> a.connect(null));
                t.run("connect(null, port)", () -> a.connect(null, 7));
            }
        }, "connect -> ok", "isConnected = true", "getInetAddress = server", "getPort is b's = true",
                "getRemoteSocketAddress = server:port", "connect(InetAddress, port) again -> ok",
                "connect(null) -> threw IllegalArgumentException: Address can't be null",
                "connect(null, port) -> threw IllegalArgumentException: Address can't be null");

        c.add("connectAnUnboundSocketBindsIt", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(null));
                DatagramSocket b = bound(r, net);
                t.run("connect", () -> a.connect(b.getLocalSocketAddress()));
                t.note("isBound", a.isBound());
                t.note("getLocalPort > 0", a.getLocalPort() > 0);
                t.note("getLocalAddress", a.getLocalAddress());
            }
        }, "connect -> ok", "isBound = true", "getLocalPort > 0 = true", "getLocalAddress = server");

        c.add("connectToBadAddresses", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                t.run("connect to an unresolved address", () -> a.connect(InetSocketAddress.createUnresolved("unresolved.invalid", 9)));
                t.run("connect to port 0", () -> a.connect(new InetSocketAddress(net.serverAddress(), 0)));
                t.run("connect to a foreign address type", () -> a.connect(new SocketAddress() {}));
                t.note("isConnected", a.isConnected());
            }
        }, "connect to an unresolved address -> threw SocketException: Unresolved address",
                "connect to port 0 -> threw SocketException: Can't connect to port 0",
                "connect to a foreign address type -> threw UnsupportedAddressTypeException", "isConnected = false");

        c.add("aConnectedSocketHearsOnlyItsPeer", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                DatagramSocket other = bound(r, net);
                a.connect(b.getLocalSocketAddress());
                other.send(packet(7, a.getLocalSocketAddress()));
                b.send(packet(2, a.getLocalSocketAddress()));
                DatagramPacket in = new DatagramPacket(new byte[16], 16);
                t.run("receive", () -> a.receive(in));
                t.note("from b", b.getLocalSocketAddress().equals(in.getSocketAddress()));
                t.note("length", in.getLength());
                a.setSoTimeout(100);
                t.run("receive again", () -> a.receive(in));
            }
        }, "receive -> ok", "from b = true", "length = 2", "receive again -> threw SocketTimeoutException: Receive timed out");

        c.add("disconnectHearsEveryoneAgain", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                DatagramSocket other = bound(r, net);
                a.connect(b.getLocalSocketAddress());
                t.run("disconnect", a::disconnect);
                t.note("isConnected", a.isConnected());
                t.note("getPort", a.getPort());
                t.note("getRemoteSocketAddress", a.getRemoteSocketAddress());
                t.note("getLocalSocketAddress", a.getLocalSocketAddress());
                other.send(packet(4, a.getLocalSocketAddress()));
                DatagramPacket in = new DatagramPacket(new byte[16], 16);
                t.run("receive", () -> a.receive(in));
                t.note("from the other", other.getLocalSocketAddress().equals(in.getSocketAddress()));
                t.run("send to the other", () -> a.send(packet(1, other.getLocalSocketAddress())));
                t.run("disconnect twice", a::disconnect);
            }
        }, "disconnect -> ok", "isConnected = false", "getPort = -1", "getRemoteSocketAddress = null",
                "getLocalSocketAddress = server:port", "receive -> ok", "from the other = true", "send to the other -> ok",
                "disconnect twice -> ok");

        c.add("connectedSendRules", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                DatagramSocket other = bound(r, net);
                t.run("send without an address, unconnected", () -> a.send(new DatagramPacket(new byte[1], 1)));
                a.connect(b.getLocalSocketAddress());
                DatagramPacket noAddress = new DatagramPacket(bytes(3), 3);
                t.run("send without an address, connected", () -> a.send(noAddress));
                t.note("the packet now names the peer", b.getLocalSocketAddress().equals(noAddress.getSocketAddress()));
                t.run("send to the peer by name", () -> a.send(packet(2, b.getLocalSocketAddress())));
                t.run("send elsewhere", () -> a.send(packet(1, other.getLocalSocketAddress())));
                DatagramPacket in = new DatagramPacket(new byte[16], 16);
                t.run("b receives", () -> b.receive(in));
                t.note("length", in.getLength());
            }
        }, "send without an address, unconnected -> threw IllegalArgumentException: Address not set",
                "send without an address, connected -> ok", "the packet now names the peer = true", "send to the peer by name -> ok",
                "send elsewhere -> threw IllegalArgumentException: Connected and packet address differ", "b receives -> ok",
                "length = 3");

        c.add("portUnreachableWhenConnected", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                a.connect(unusedPort(net));
                t.run("send", () -> a.send(new DatagramPacket(bytes(4), 4)));
                t.run("receive", () -> a.receive(new DatagramPacket(new byte[4], 4)));
                t.note("isClosed", a.isClosed());
                t.note("isConnected", a.isConnected());
                a.setSoTimeout(100);
                t.run("receive again (reported once)", () -> a.receive(new DatagramPacket(new byte[4], 4)));
            }
        }, "send -> ok", "receive -> threw PortUnreachableException", "isClosed = false", "isConnected = true",
                "receive again (reported once) -> threw SocketTimeoutException: Receive timed out");

        c.add("unconnectedSendToAnUnusedPortIsSilent", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                InetSocketAddress nobody = unusedPort(net);
                t.run("send", () -> a.send(packet(4, nobody)));
                t.run("send again", () -> a.send(packet(4, nobody)));
                a.setSoTimeout(100);
                t.run("receive", () -> a.receive(new DatagramPacket(new byte[4], 4)));
            }
        }, "send -> ok", "send again -> ok", "receive -> threw SocketTimeoutException: Receive timed out");

        c.add("sendToUnresolvedAndPortZero", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                t.call("a packet to an unresolved address", () -> packet(1, InetSocketAddress.createUnresolved("unresolved.invalid", 9)));
                t.run("send to port 0", () -> a.send(new DatagramPacket(new byte[1], 1, net.serverAddress(), 0)));
                t.note("still open", !a.isClosed());
            }
        }, "a packet to an unresolved address -> threw IllegalArgumentException: unresolved address", "still open = true");

        c.add("bufferSizes", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                t.note("receive buffer > 0", a.getReceiveBufferSize() > 0);
                t.note("send buffer > 0", a.getSendBufferSize() > 0);
                a.setReceiveBufferSize(65_536);
                a.setSendBufferSize(65_536);
                t.note("receive buffer >= 65536", a.getReceiveBufferSize() >= 65_536);
                t.note("send buffer >= 65536", a.getSendBufferSize() >= 65_536);
                t.run("receive buffer 0", () -> a.setReceiveBufferSize(0));
                t.run("send buffer -1", () -> a.setSendBufferSize(-1));
                a.close();
                t.run("receive buffer after close", () -> a.setReceiveBufferSize(4096));
                t.call("send buffer after close", a::getSendBufferSize);
            }
        }, "receive buffer > 0 = true", "send buffer > 0 = true", "receive buffer >= 65536 = true", "send buffer >= 65536 = true",
                "receive buffer 0 -> threw IllegalArgumentException: Invalid receive size",
                "send buffer -1 -> threw IllegalArgumentException: Invalid send size");

        c.add("broadcastIsOnForANewSocket", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                t.call("getBroadcast", a::getBroadcast);
                t.run("setBroadcast(false)", () -> a.setBroadcast(false));
                t.call("getBroadcast", a::getBroadcast);
                DatagramSocket unbound = r.add(net.datagramSocket(null));
                t.call("getBroadcast of an unbound socket", unbound::getBroadcast);
            }
        }, "getBroadcast -> true", "setBroadcast(false) -> ok", "getBroadcast -> false", "getBroadcast of an unbound socket -> true");

        c.add("broadcastNeedsSoBroadcast", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                a.setBroadcast(false);
                t.run("send to 255.255.255.255 without SO_BROADCAST",
                        () -> a.send(packet(1, new InetSocketAddress(InetAddress.getByName("255.255.255.255"), 9))));
                t.note("still open", !a.isClosed());
            }
        }, "send to 255.255.255.255 without SO_BROADCAST -> threw BindException: Permission denied", "still open = true");

        c.add("aMulticastSocketHearsItsGroup", (net, t) -> {
            try (Resources r = new Resources()) {
                MulticastSocket m = r.add(net.multicastSocket(new InetSocketAddress(0)));
                m.setSoTimeout(LIMIT_MILLIS);
                NetworkInterface nif = net.multicastInterface();
                InetAddress group = InetAddress.getByName("239.255.77.12");
                m.setNetworkInterface(nif);
                t.run("join", () -> m.joinGroup(new InetSocketAddress(group, 0), nif));
                t.run("send to the group", () -> m.send(packet(5, new InetSocketAddress(group, m.getLocalPort()))));
                DatagramPacket in = new DatagramPacket(new byte[16], 16);
                t.run("receive", () -> m.receive(in));
                t.note("length", in.getLength());
                t.note("from its own port", in.getPort() == m.getLocalPort());
                t.run("leave", () -> m.leaveGroup(new InetSocketAddress(group, 0), nif));
            }
        }, "join -> ok", "send to the group -> ok", "receive -> ok", "length = 5", "from its own port = true", "leave -> ok");

        c.add("trafficClassAndReuseAddress", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                t.call("getTrafficClass", a::getTrafficClass);
                t.run("setTrafficClass(0x10)", () -> a.setTrafficClass(0x10));
                t.call("getTrafficClass", a::getTrafficClass);
                t.run("setTrafficClass(256)", () -> a.setTrafficClass(256));
                t.call("getReuseAddress", a::getReuseAddress);
                MulticastSocket m = r.add(net.multicastSocket(null));
                t.call("a multicast socket's getReuseAddress", m::getReuseAddress);
            }
        }, "getTrafficClass -> 0", "setTrafficClass(0x10) -> ok", "getTrafficClass -> 16", "getReuseAddress -> false",
                "a multicast socket's getReuseAddress -> true");

        c.add("optionsThroughSetOption", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                t.note("supported", a.supportedOptions());
                t.run("set SO_RCVBUF", () -> a.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 32_768));
                t.call("get SO_RCVBUF >= 32768", () -> a.getOption(java.net.StandardSocketOptions.SO_RCVBUF) >= 32_768);
                t.run("set TCP_NODELAY", () -> a.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true));
                t.run("set null", () -> a.setOption(null, 1));
            }
        }, "set SO_RCVBUF -> ok", "get SO_RCVBUF >= 32768 -> true",
                "set TCP_NODELAY -> threw UnsupportedOperationException: 'TCP_NODELAY' not supported");

        c.add("closedSocket", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                a.close();
                t.note("isClosed", a.isClosed());
                t.note("isBound", a.isBound());
                t.run("send", () -> a.send(packet(1, new InetSocketAddress(net.serverAddress(), 9))));
                t.run("receive", () -> a.receive(new DatagramPacket(new byte[1], 1)));
                t.note("getLocalPort", a.getLocalPort());
                t.note("getLocalAddress", a.getLocalAddress());
                t.note("getLocalSocketAddress", a.getLocalSocketAddress());
                t.run("bind", () -> a.bind(null));
                t.run("connect", () -> a.connect(new InetSocketAddress(net.serverAddress(), 9)));
                t.note("isConnected", a.isConnected());
                t.run("disconnect", a::disconnect);
                t.run("close again", a::close);
            }
        }, "isClosed = true", "send -> threw SocketException: Socket closed", "receive -> threw SocketException: Socket closed",
                "getLocalPort = -1", "getLocalAddress = null", "getLocalSocketAddress = null",
                "bind -> threw SocketException: Socket is closed", "connect -> ok", "isConnected = false", "close again -> ok");

        c.add("closeDuringABlockedReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(ephemeral(net)));
                try (Background<Object> receive = receiving(a, false)) {
                    receive.awaitBlocked(net);
                    t.run("close from another thread", a::close);
                    t.outcome("the blocked receive", receive.await());
                    t.note("isClosed", a.isClosed());
                }
            }
        }, "close from another thread -> ok", "the blocked receive -> threw SocketException: Socket closed", "isClosed = true");

        c.add("closeDuringABlockedReceiveOfAWildcardSocket", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(new InetSocketAddress(0)));
                try (Background<Object> receive = receiving(a, false)) {
                    receive.awaitBlocked(net);
                    a.close();
                    t.outcome("the blocked receive", receive.await());
                }
            }
        }, "the blocked receive -> threw SocketException: Socket closed");

        c.add("closeDuringATimedReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                try (Background<Object> receive = receiving(a, false)) {
                    receive.awaitBlocked(net);
                    a.close();
                    t.outcome("the blocked receive", receive.await());
                }
            }
        }, "the blocked receive -> threw SocketException: Socket closed");

        c.add("interruptingAPlatformThreadDoesNotEndItsReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(ephemeral(net)));
                DatagramSocket b = bound(r, net);
                try (Background<Object> receive = receiving(a, false)) {
                    receive.awaitBlocked(net);
                    receive.thread().interrupt();
                    Thread.sleep(200);
                    t.note("still receiving after the interrupt", !receive.finished());
                    t.note("isClosed", a.isClosed());
                    b.send(packet(3, a.getLocalSocketAddress()));
                    Background.Outcome outcome = receive.await();
                    t.outcome("the receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("isClosed after", a.isClosed());
                }
            }
        }, "still receiving after the interrupt = true", "isClosed = false", "the receive -> received 3", "interrupt status = true",
                "isClosed after = false");

        c.add("interruptingAPlatformThreadOnAWildcardSocketDoesNotEndItsReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(new InetSocketAddress(0)));
                DatagramSocket b = bound(r, net);
                try (Background<Object> receive = receiving(a, false)) {
                    receive.awaitBlocked(net);
                    receive.thread().interrupt();
                    Thread.sleep(200);
                    t.note("still receiving after the interrupt", !receive.finished());
                    b.send(packet(5, at(net, a)));
                    Background.Outcome outcome = receive.await();
                    t.outcome("the receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("isClosed", a.isClosed());
                }
            }
        }, "still receiving after the interrupt = true", "the receive -> received 5", "interrupt status = true", "isClosed = false");

        c.add("aPendingInterruptNeitherStopsNorClosesAReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                b.send(packet(2, a.getLocalSocketAddress()));
                Thread.currentThread().interrupt();
                DatagramPacket in = new DatagramPacket(new byte[4], 4);
                t.run("receive with a datagram waiting", () -> a.receive(in));
                a.setSoTimeout(100);
                t.run("receive with nothing waiting", () -> a.receive(in));
                t.run("send", () -> a.send(packet(1, b.getLocalSocketAddress())));
                t.note("interrupt status", Thread.interrupted());
                t.note("isClosed", a.isClosed());
            }
        }, "receive with a datagram waiting -> ok", "receive with nothing waiting -> threw SocketTimeoutException: Receive timed out",
                "send -> ok", "interrupt status = true", "isClosed = false");

        c.add("interruptDuringATimedReceiveOnAPlatformThreadWaitsForTheTimeout", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(ephemeral(net)));
                a.setSoTimeout(700);
                try (Background<Object> receive = receiving(a, false)) {
                    receive.awaitBlocked(net);
                    receive.thread().interrupt();
                    Thread.sleep(100);
                    t.note("still receiving after the interrupt", !receive.finished());
                    Background.Outcome outcome = receive.await();
                    t.outcome("the receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("isClosed", a.isClosed());
                }
            }
        }, "still receiving after the interrupt = true", "the receive -> threw SocketTimeoutException: Receive timed out",
                "interrupt status = true", "isClosed = false");

        c.add("interruptingAVirtualThreadClosesTheSocket", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(ephemeral(net)));
                try (Background<Object> receive = receiving(a, true)) {
                    receive.awaitBlocked(net);
                    receive.thread().interrupt();
                    Background.Outcome outcome = receive.await();
                    t.outcome("the receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("isClosed", a.isClosed());
                }
            }
        }, "the receive -> threw SocketException: Closed by interrupt", "interrupt status = true", "isClosed = true");

        c.add("interruptingAVirtualThreadInAWildcardSocketsTimedReceiveClosesIt", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(new InetSocketAddress(0)));
                a.setSoTimeout(LIMIT_MILLIS);
                try (Background<Object> receive = receiving(a, true)) {
                    receive.awaitBlocked(net);
                    receive.thread().interrupt();
                    Background.Outcome outcome = receive.await();
                    t.outcome("the receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("isClosed", a.isClosed());
                }
            }
        }, "the receive -> threw SocketException: Closed by interrupt", "interrupt status = true", "isClosed = true");

        c.add("aVirtualThreadWithAPendingInterrupt", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = bound(r, net);
                DatagramSocket b = bound(r, net);
                b.send(packet(2, a.getLocalSocketAddress()));
                try (Background<Object> receive = Background.startVirtual("receive", () -> {
                    Thread.currentThread().interrupt();
                    DatagramPacket in = new DatagramPacket(new byte[4], 4);
                    a.receive(in);
                    String first = "received " + in.getLength();
                    try {
                        a.receive(in);
                        return first + ", then received " + in.getLength();
                    } catch (java.io.IOException e) {
                        return first + ", then " + e.getClass().getSimpleName() + ": " + e.getMessage();
                    }
                })) {
                    Background.Outcome outcome = receive.await();
                    t.outcome("receive with a datagram waiting, then with none", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("isClosed", a.isClosed());
                }
            }
        }, "receive with a datagram waiting, then with none -> received 2, then SocketException: Closed by interrupt",
                "interrupt status = true", "isClosed = true");

        c.add("closeDuringAVirtualThreadsReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(ephemeral(net)));
                try (Background<Object> receive = receiving(a, true)) {
                    receive.awaitBlocked(net);
                    a.close();
                    Background.Outcome outcome = receive.await();
                    t.outcome("the receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                }
            }
        }, "the receive -> threw SocketException: Socket closed", "interrupt status = false");

        c.add("aDatagramReleasesAVirtualThreadsReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramSocket a = r.add(net.datagramSocket(ephemeral(net)));
                DatagramSocket b = bound(r, net);
                try (Background<Object> receive = receiving(a, true)) {
                    receive.awaitBlocked(net);
                    b.send(packet(6, a.getLocalSocketAddress()));
                    t.outcome("the receive", receive.await());
                }
            }
        }, "the receive -> received 6");

        c.add("multicastSocketMembership", (net, t) -> {
            try (Resources r = new Resources()) {
                MulticastSocket m = r.add(net.multicastSocket(new InetSocketAddress(0)));
                NetworkInterface nif = net.multicastInterface();
                InetSocketAddress group = new InetSocketAddress(InetAddress.getByName("239.255.77.11"), 0);
                t.run("join", () -> m.joinGroup(group, nif));
                t.run("join again", () -> m.joinGroup(group, nif));
                t.run("leave", () -> m.leaveGroup(group, nif));
                t.run("leave again", () -> m.leaveGroup(group, nif));
                t.run("join a unicast address", () -> m.joinGroup(new InetSocketAddress(net.serverAddress(), 0), nif));
                t.run("join an unresolved address", () -> m.joinGroup(InetSocketAddress.createUnresolved("unresolved.invalid", 0), nif));
                t.run("join null", () -> m.joinGroup(null, nif));
                m.close();
                t.run("join after close", () -> m.joinGroup(group, nif));
            }
        }, "join -> ok", "join again -> threw SocketException: Already a member of group", "leave -> ok",
                "leave again -> threw SocketException: Not a member of group",
                "join a unicast address -> threw SocketException: Not a multicast address",
                "join after close -> threw SocketException: Socket is closed");

        c.add("multicastSocketOptions", (net, t) -> {
            try (Resources r = new Resources()) {
                MulticastSocket m = r.add(net.multicastSocket(new InetSocketAddress(0)));
                t.call("getTimeToLive", m::getTimeToLive);
                t.run("setTimeToLive(5)", () -> m.setTimeToLive(5));
                t.call("getTimeToLive", m::getTimeToLive);
                t.run("setTimeToLive(256)", () -> m.setTimeToLive(256));
                t.call("getBroadcast", m::getBroadcast);
                t.call("getOption(IP_MULTICAST_LOOP)", () -> m.getOption(java.net.StandardSocketOptions.IP_MULTICAST_LOOP));
                NetworkInterface nif = net.multicastInterface();
                t.run("setNetworkInterface", () -> m.setNetworkInterface(nif));
                t.call("getNetworkInterface is it", () -> nif.equals(m.getNetworkInterface()));
            }
        }, "getTimeToLive -> 1", "setTimeToLive(5) -> ok", "getTimeToLive -> 5",
                "setTimeToLive(256) -> threw IllegalArgumentException: Invalid TTL/hop value", "getBroadcast -> true",
                "getOption(IP_MULTICAST_LOOP) -> true", "setNetworkInterface -> ok", "getNetworkInterface is it -> true");

        return c.cases();
    }
}

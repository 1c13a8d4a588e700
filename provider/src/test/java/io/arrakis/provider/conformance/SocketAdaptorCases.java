package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.bytes;
import static io.arrakis.provider.conformance.SocketChannelCases.ephemeral;
import static io.arrakis.provider.conformance.SocketChannelCases.unresolved;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.List;

/**
 * The java.net views of channels ({@code socket()}): Socket with its streams and soTimeout, ServerSocket
 * with accept timeouts, DatagramSocket with packets and receive timeouts. Timeouts are 100 ms and only
 * the exception type is recorded.
 */
final class SocketAdaptorCases {
    private SocketAdaptorCases() {
    }

    static List<Case> cases() {
        Catalog c = new Catalog("SocketAdaptors");

        c.add("socketOfAnUnconnectedChannel", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                Socket s = ch.socket();
                t.note("isConnected", s.isConnected());
                t.note("isBound", s.isBound());
                t.note("isClosed", s.isClosed());
                t.note("getPort", s.getPort());
                t.note("getLocalPort", s.getLocalPort());
                t.note("getInetAddress", s.getInetAddress());
                t.note("getLocalAddress", s.getLocalAddress());
                t.note("getRemoteSocketAddress", s.getRemoteSocketAddress());
                t.note("getLocalSocketAddress", s.getLocalSocketAddress());
                t.note("isInputShutdown", s.isInputShutdown());
                t.note("toString", s.toString());
            }
        }, "isConnected = false", "isBound = false", "isClosed = false", "getPort = 0", "getLocalPort = -1", "getInetAddress = null",
                "getRemoteSocketAddress = null", "getLocalSocketAddress = null", "isInputShutdown = false", "toString = Socket[unconnected]");

        c.add("socketOfAConnectedChannel", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Socket s = pair.client().socket();
                t.note("isConnected", s.isConnected());
                t.note("isBound", s.isBound());
                t.note("getInetAddress", s.getInetAddress());
                t.note("getPort is the listener's", s.getPort() == ((InetSocketAddress) pair.listener().getLocalAddress()).getPort());
                t.note("getLocalPort is the channel's", s.getLocalPort() == ((InetSocketAddress) pair.client().getLocalAddress()).getPort());
                t.note("getLocalAddress", s.getLocalAddress());
                t.note("getRemoteSocketAddress is the channel's", pair.client().getRemoteAddress().equals(s.getRemoteSocketAddress()));
                t.note("getChannel", s.getChannel() == pair.client());
                t.note("toString names the peer", s.toString().equals("Socket[addr=" + s.getInetAddress() + ",port=" + s.getPort()
                        + ",localport=" + s.getLocalPort() + "]"));
            }
        }, "isConnected = true", "isBound = true", "getInetAddress = server", "getPort is the listener's = true",
                "getLocalPort is the channel's = true", "getLocalAddress = server", "getRemoteSocketAddress is the channel's = true",
                "getChannel = true", "toString names the peer = true");

        c.add("streamsCarryBytesBothWays", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                OutputStream out = pair.client().socket().getOutputStream();
                InputStream in = pair.client().socket().getInputStream();
                out.write(bytes(10));
                out.write(7);
                out.flush();
                t.note("peer reads them", Arrays.equals(TcpPair.readFully(pair.server(), 11), concat(bytes(10), new byte[] {7})));
                pair.server().write(ByteBuffer.wrap(bytes(4)));
                t.call("read()", in::read);
                byte[] rest = new byte[8];
                t.call("read(byte[])", () -> readAtLeast(in, rest, 3));
                t.note("bytes", Arrays.equals(Arrays.copyOf(rest, 3), Arrays.copyOfRange(bytes(4), 1, 4)));
            }
        }, "peer reads them = true", "read() -> 7", "read(byte[]) -> 3", "bytes = true");

        c.add("streamReadReturnsMinusOneAtEndOfStream", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                InputStream in = pair.client().socket().getInputStream();
                pair.server().close();
                t.call("read()", in::read);
                t.call("read(byte[])", () -> in.read(new byte[4]));
                t.call("read zero bytes", () -> in.read(new byte[4], 0, 0));
            }
        }, "read() -> -1", "read(byte[]) -> -1", "read zero bytes -> 0");

        c.add("streamReadOfZeroBytesReturnsAtOnce", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                InputStream in = pair.client().socket().getInputStream();
                t.call("read(b, 0, 0)", () -> in.read(new byte[4], 0, 0));
                t.call("read(b, 2, 5) out of range", () -> in.read(new byte[4], 2, 5));
                t.call("available()", in::available);
            }
        }, "read(b, 0, 0) -> 0", "read(b, 2, 5) out of range -> threw IndexOutOfBoundsException: Range [2, 2 + 5) out of bounds for length 4",
                "available() -> 0");

        c.add("availableCountsBytesThatArrived", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                InputStream in = pair.client().socket().getInputStream();
                pair.server().write(ByteBuffer.wrap(bytes(5)));
                Await.until("5 bytes available", () -> in.available() == 5);
                t.call("available()", in::available);
                in.read(new byte[2]);
                t.call("available() after reading 2", in::available);
            }
        }, "available() -> 5", "available() after reading 2 -> 3");

        c.add("streamsOfAnUnconnectedOrClosedSocketThrow", (net, t) -> {
            SocketChannel ch = net.provider().openSocketChannel();
            t.call("getInputStream unconnected", () -> ch.socket().getInputStream());
            t.call("getOutputStream unconnected", () -> ch.socket().getOutputStream());
            ch.close();
            t.call("getInputStream closed", () -> ch.socket().getInputStream());
            t.call("getOutputStream closed", () -> ch.socket().getOutputStream());
        }, "getInputStream unconnected -> threw SocketException: Socket is not connected",
                "getOutputStream unconnected -> threw SocketException: Socket is not connected",
                "getInputStream closed -> threw SocketException: Socket is closed",
                "getOutputStream closed -> threw SocketException: Socket is closed");

        c.add("streamsAfterShutdownThrow", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Socket s = pair.client().socket();
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                s.shutdownInput();
                s.shutdownOutput();
                t.call("getInputStream", s::getInputStream);
                t.call("getOutputStream", s::getOutputStream);
                t.call("earlier input stream reads", in::read);
                t.run("earlier output stream writes", () -> out.write(1));
                t.call("peer reads end of stream", () -> pair.server().read(ByteBuffer.allocate(4)));
            }
        }, "getInputStream -> threw SocketException: Socket input is shutdown",
                "getOutputStream -> threw SocketException: Socket output is shutdown", "earlier input stream reads -> -1",
                "earlier output stream writes -> threw ClosedChannelException", "peer reads end of stream -> -1");

        c.add("streamsRefuseANonBlockingChannel", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                InputStream in = pair.client().socket().getInputStream();
                OutputStream out = pair.client().socket().getOutputStream();
                pair.client().configureBlocking(false);
                t.call("read", in::read);
                t.run("write", () -> out.write(1));
                t.call("read of zero bytes is fine", () -> in.read(new byte[1], 0, 0));
            }
        }, "read -> threw IllegalBlockingModeException", "write -> threw IllegalBlockingModeException", "read of zero bytes is fine -> 0");

        c.add("closingAStreamClosesTheSocket", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.client().socket().getInputStream().close();
                t.note("socket closed", pair.client().socket().isClosed());
                t.note("channel open", pair.client().isOpen());
                t.call("peer reads end of stream", () -> pair.server().read(ByteBuffer.allocate(4)));
            }
        }, "socket closed = true", "channel open = false", "peer reads end of stream -> -1");

        c.add("streamOperationsAfterCloseThrow", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                InputStream in = pair.client().socket().getInputStream();
                OutputStream out = pair.client().socket().getOutputStream();
                pair.client().socket().close();
                t.call("read", in::read);
                t.run("write", () -> out.write(1));
                t.call("available", in::available);
            }
        }, "read -> threw ClosedChannelException", "write -> threw ClosedChannelException", "available -> threw ClosedChannelException");

        c.add("soTimeoutEndsAReadWithSocketTimeoutAndTheSocketStaysUsable", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Socket s = pair.client().socket();
                t.call("getSoTimeout default", s::getSoTimeout);
                s.setSoTimeout(100);
                t.call("getSoTimeout", s::getSoTimeout);
                InputStream in = s.getInputStream();
                t.call("read with nothing to read", in::read);
                t.note("still open", !s.isClosed());
                pair.server().write(ByteBuffer.wrap(new byte[] {42}));
                s.setSoTimeout((int) Await.LIMIT.toMillis());
                t.call("read once data arrives", in::read);
            }
        }, "getSoTimeout default -> 0", "getSoTimeout -> 100", "read with nothing to read -> threw SocketTimeoutException: Read timed out",
                "still open = true", "read once data arrives -> 42");

        c.add("soTimeoutRejectsNegativeValues", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("setSoTimeout(-1)", () -> ch.socket().setSoTimeout(-1));
                t.call("getSoTimeout", () -> ch.socket().getSoTimeout());
            }
        }, "setSoTimeout(-1) -> threw IllegalArgumentException: timeout < 0", "getSoTimeout -> 0");

        c.add("socketConnectConnectsTheChannel", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("socket().connect", () -> ch.socket().connect(listener.getLocalAddress()));
                t.state("channel", ch);
                t.note("socket connected", ch.socket().isConnected());
                listener.accept().close();
            }
        }, "socket().connect -> ok", "channel: open=true blocking=true registered=false connected=true pending=false",
                "socket connected = true");

        c.add("socketConnectWithTimeoutToAClosedPortIsRefused", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("socket().connect(address, 1000)", () -> ch.socket().connect(net.unusedPort(), 1000));
                t.note("socket closed", ch.socket().isClosed());
            }
        }, "socket().connect(address, 1000) -> threw ConnectException: Connection refused", "socket closed = true");

        c.add("socketConnectRejectsBadArguments", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                Socket s = ch.socket();
                t.run("connect(null)", () -> s.connect(null));
                t.run("connect(address, -1)", () -> s.connect(listener.getLocalAddress(), -1));
                t.run("connect(foreign address)", () -> s.connect(new SocketChannelCases.ForeignAddress()));
                t.note("still open", !s.isClosed());
                t.run("connect(unresolved)", () -> s.connect(unresolved()));
                t.note("closed by the unresolved connect", s.isClosed());
            }
        }, "connect(null) -> threw IllegalArgumentException: connect: The address can't be null",
                "connect(address, -1) -> threw IllegalArgumentException: connect: timeout can't be negative",
                "connect(foreign address) -> threw SocketException: Unsupported address type", "still open = true",
                "connect(unresolved) -> threw UnknownHostException: unresolved.invalid/<unresolved>:80", "closed by the unresolved connect = true");

        c.add("socketConnectWhenConnectedOrNonBlockingThrows", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net); SocketChannel other = net.provider().openSocketChannel()) {
                t.run("connect a connected socket", () -> pair.client().socket().connect(pair.listener().getLocalAddress()));
                other.configureBlocking(false);
                t.run("connect a non-blocking channel's socket", () -> other.socket().connect(pair.listener().getLocalAddress()));
                t.state("non-blocking channel", other);
            }
        }, "connect a connected socket -> threw SocketException: Already connected",
                "connect a non-blocking channel's socket -> threw IllegalBlockingModeException",
                "non-blocking channel: open=true blocking=false registered=false connected=false pending=false");

        c.add("socketBindTranslatesChannelExceptions", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel(); ServerSocketChannel listener = TcpPair.listen(net)) {
                Socket s = ch.socket();
                t.run("bind", () -> s.bind(ephemeral(net)));
                t.run("bind again", () -> s.bind(ephemeral(net)));
                try (SocketChannel other = net.provider().openSocketChannel()) {
                    t.run("bind to a listener's port", () -> other.socket().bind(listener.getLocalAddress()));
                    t.run("bind unresolved", () -> other.socket().bind(unresolved()));
                }
                s.close();
                t.run("bind when closed", () -> s.bind(ephemeral(net)));
            }
        }, "bind -> ok", "bind again -> threw SocketException: Already bound",
                "bind to a listener's port -> threw BindException: Address already in use",
                "bind unresolved -> threw SocketException: Unresolved address", "bind when closed -> threw ClosedChannelException");

        c.add("socketShutdownThroughTheAdaptor", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Socket s = pair.client().socket();
                t.run("shutdownOutput", s::shutdownOutput);
                t.call("peer reads end of stream", () -> pair.server().read(ByteBuffer.allocate(4)));
                t.run("shutdownInput", s::shutdownInput);
                t.call("channel read", () -> pair.client().read(ByteBuffer.allocate(4)));
                s.close();
                t.run("shutdownInput when closed", s::shutdownInput);
            }
        }, "shutdownOutput -> ok", "peer reads end of stream -> -1", "shutdownInput -> ok", "channel read -> -1",
                "shutdownInput when closed -> threw ClosedChannelException");

        c.add("socketShutdownOfAnUnconnectedSocketThrows", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("shutdownInput", () -> ch.socket().shutdownInput());
                t.run("shutdownOutput", () -> ch.socket().shutdownOutput());
            }
        }, "shutdownInput -> threw SocketException: Socket is not connected",
                "shutdownOutput -> threw SocketException: Socket is not connected");

        c.add("serverSocketOfAnUnboundChannel", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                ServerSocket s = ch.socket();
                t.note("isBound", s.isBound());
                t.note("isClosed", s.isClosed());
                t.note("getLocalPort", s.getLocalPort());
                t.note("getInetAddress", s.getInetAddress());
                t.note("getLocalSocketAddress", s.getLocalSocketAddress());
                t.note("toString", s.toString());
                t.call("accept", s::accept);
            }
        }, "isBound = false", "isClosed = false", "getLocalPort = -1", "getInetAddress = null", "getLocalSocketAddress = null",
                "toString = ServerSocket[unbound]", "accept -> threw SocketException: Socket is not bound yet");

        c.add("serverSocketBindAndAccept", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                ServerSocket s = ch.socket();
                t.run("bind", () -> s.bind(ephemeral(net)));
                t.note("isBound", s.isBound());
                t.note("getInetAddress", s.getInetAddress());
                t.run("bind again", () -> s.bind(ephemeral(net)));
                try (SocketChannel client = net.provider().openSocketChannel()) {
                    client.connect(ch.getLocalAddress());
                    try (Socket accepted = t.call("accept", s::accept)) {
                        t.note("accepted socket has a channel", accepted.getChannel() != null);
                        t.note("accepted from the client", accepted.getRemoteSocketAddress().equals(client.getLocalAddress()));
                        t.note("accepted is connected", accepted.isConnected());
                    }
                }
            }
        }, "bind -> ok", "isBound = true", "getInetAddress = server", "bind again -> threw SocketException: Already bound",
                "accept -> a Socket", "accepted socket has a channel = true", "accepted from the client = true", "accepted is connected = true");

        c.add("serverSocketBindNullBindsAnEphemeralPort", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                ServerSocket s = ch.socket();
                t.run("bind(null)", () -> s.bind(null));
                t.note("getLocalPort > 0", s.getLocalPort() > 0);
                t.note("getInetAddress", s.getInetAddress());
            }
        }, "bind(null) -> ok", "getLocalPort > 0 = true");

        c.add("serverSocketAcceptTimesOut", (net, t) -> {
            try (ServerSocketChannel ch = TcpPair.listen(net)) {
                ServerSocket s = ch.socket();
                t.call("getSoTimeout", s::getSoTimeout);
                s.setSoTimeout(100);
                t.call("accept with nobody connecting", s::accept);
                t.note("still open", !s.isClosed());
                t.run("setSoTimeout(-1)", () -> s.setSoTimeout(-1));
            }
        }, "getSoTimeout -> 0", "accept with nobody connecting -> threw SocketTimeoutException: Accept timed out", "still open = true",
                "setSoTimeout(-1) -> threw IllegalArgumentException: timeout < 0");

        c.add("serverSocketAcceptOnANonBlockingChannel", (net, t) -> {
            try (ServerSocketChannel ch = TcpPair.listen(net); SocketChannel client = net.provider().openSocketChannel()) {
                ch.configureBlocking(false);
                t.call("accept with nothing pending", () -> ch.socket().accept());
                client.connect(ch.getLocalAddress());
                Socket[] accepted = new Socket[1];
                Await.until("the pending connection is accepted", () -> {
                    try {
                        accepted[0] = ch.socket().accept();
                        return true;
                    } catch (java.nio.channels.IllegalBlockingModeException notYet) {
                        return false;
                    }
                });
                t.note("accepted a pending connection even so", accepted[0] != null);
                accepted[0].close();
                ch.socket().setSoTimeout(50);
                t.call("accept with a timeout on a non-blocking channel", () -> ch.socket().accept());
            }
        }, "accept with nothing pending -> threw IllegalBlockingModeException", "accepted a pending connection even so = true",
                "accept with a timeout on a non-blocking channel -> threw IllegalBlockingModeException");

        c.add("closedServerSocketThrows", (net, t) -> {
            ServerSocketChannel ch = TcpPair.listen(net);
            ServerSocket s = ch.socket();
            s.close();
            t.note("isClosed", s.isClosed());
            t.note("channel open", ch.isOpen());
            t.call("accept", s::accept);
            t.call("getSoTimeout", s::getSoTimeout);
            t.run("bind", () -> s.bind(ephemeral(net)));
        }, "isClosed = true", "channel open = false", "accept -> threw ClosedChannelException",
                "getSoTimeout -> threw SocketException: Socket is closed", "bind -> threw ClosedChannelException");

        c.add("datagramSocketOfAnUnboundChannel", (net, t) -> {
            try (DatagramChannel ch = net.provider().openDatagramChannel()) {
                DatagramSocket s = ch.socket();
                t.note("isBound", s.isBound());
                t.note("isConnected", s.isConnected());
                t.note("isClosed", s.isClosed());
                t.note("getLocalPort", s.getLocalPort());
                t.note("getPort", s.getPort());
                t.note("getInetAddress", s.getInetAddress());
                t.note("getLocalAddress", s.getLocalAddress());
                t.note("getRemoteSocketAddress", s.getRemoteSocketAddress());
                t.note("getChannel", s.getChannel() == ch);
            }
        }, "isBound = false", "isConnected = false", "isClosed = false", "getLocalPort = 0", "getPort = -1", "getInetAddress = null",
                "getRemoteSocketAddress = null", "getChannel = true");

        c.add("datagramSocketSendsAndReceivesPackets", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = DatagramChannelCases.bound(r, net);
                DatagramPacket out = new DatagramPacket(bytes(6), 6, a.getLocalAddress());
                t.run("send", () -> b.socket().send(out));
                DatagramPacket in = new DatagramPacket(new byte[16], 16);
                a.socket().setSoTimeout((int) Await.LIMIT.toMillis());
                t.run("receive", () -> a.socket().receive(in));
                t.note("length", in.getLength());
                t.note("from b", b.getLocalAddress().equals(in.getSocketAddress()));
                t.note("payload", Arrays.equals(Arrays.copyOf(in.getData(), 6), bytes(6)));
            }
        }, "send -> ok", "receive -> ok", "length = 6", "from b = true", "payload = true");

        c.add("datagramSocketReceiveTruncatesToThePacket", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = DatagramChannelCases.bound(r, net);
                b.send(ByteBuffer.wrap(bytes(10)), a.getLocalAddress());
                DatagramPacket in = new DatagramPacket(new byte[16], 2, 4);
                a.socket().setSoTimeout((int) Await.LIMIT.toMillis());
                t.run("receive into 4 bytes at offset 2", () -> a.socket().receive(in));
                t.note("length", in.getLength());
                t.note("offset", in.getOffset());
                t.note("bytes", Arrays.equals(Arrays.copyOfRange(in.getData(), 2, 6), Arrays.copyOf(bytes(10), 4)));
            }
        }, "receive into 4 bytes at offset 2 -> ok", "length = 4", "offset = 2", "bytes = true");

        c.add("datagramSocketReceiveTimesOut", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramSocket s = a.socket();
                t.call("getSoTimeout", s::getSoTimeout);
                s.setSoTimeout(100);
                t.run("receive with nothing sent", () -> s.receive(new DatagramPacket(new byte[4], 4)));
                t.note("still open", !s.isClosed());
                t.run("setSoTimeout(-1)", () -> s.setSoTimeout(-1));
            }
        }, "getSoTimeout -> 0", "receive with nothing sent -> threw SocketTimeoutException: Receive timed out", "still open = true",
                "setSoTimeout(-1) -> threw IllegalArgumentException: timeout < 0");

        c.add("datagramSocketRefusesANonBlockingChannel", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                a.configureBlocking(false);
                t.run("receive", () -> a.socket().receive(new DatagramPacket(new byte[4], 4)));
                t.run("send", () -> a.socket().send(new DatagramPacket(new byte[1], 1, a.getLocalAddress())));
            }
        }, "receive -> threw IllegalBlockingModeException", "send -> threw IllegalBlockingModeException");

        c.add("datagramSocketSendNeedsAnAddress", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = DatagramChannelCases.bound(r, net);
                DatagramChannel c2 = DatagramChannelCases.bound(r, net);
                t.run("send without an address, unconnected", () -> a.socket().send(new DatagramPacket(new byte[1], 1)));
                a.connect(b.getLocalAddress());
                DatagramPacket noAddress = new DatagramPacket(new byte[1], 1);
                t.run("send without an address, connected", () -> a.socket().send(noAddress));
                t.note("the packet now names the peer", b.getLocalAddress().equals(noAddress.getSocketAddress()));
                t.run("send elsewhere, connected", () -> a.socket().send(new DatagramPacket(new byte[1], 1, c2.getLocalAddress())));
            }
        }, "send without an address, unconnected -> threw IllegalArgumentException: Address not set",
                "send without an address, connected -> ok", "the packet now names the peer = true",
                "send elsewhere, connected -> threw IllegalArgumentException: Connected and packet address differ");

        c.add("datagramSocketConnectAndDisconnect", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = DatagramChannelCases.bound(r, net);
                DatagramSocket s = a.socket();
                t.run("connect", () -> s.connect(b.getLocalAddress()));
                t.note("isConnected", s.isConnected());
                t.note("channel connected", a.isConnected());
                t.note("getPort is b's", s.getPort() == ((InetSocketAddress) b.getLocalAddress()).getPort());
                t.note("getInetAddress", s.getInetAddress());
                t.run("connect again is allowed", () -> s.connect(b.getLocalAddress()));
                t.run("connect(null)", () -> s.connect(null));
                t.run("disconnect", s::disconnect);
                t.note("isConnected after", s.isConnected());
                t.note("getPort after", s.getPort());
            }
        }, "connect -> ok", "isConnected = true", "channel connected = true", "getPort is b's = true", "getInetAddress = server",
                "connect again is allowed -> ok", "connect(null) -> threw IllegalArgumentException: Address can't be null",
                "disconnect -> ok", "isConnected after = false", "getPort after = -1");

        c.add("closedDatagramSocketThrowsSocketClosed", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramSocket s = a.socket();
                s.close();
                t.note("isClosed", s.isClosed());
                t.note("channel open", a.isOpen());
                t.run("send", () -> s.send(new DatagramPacket(new byte[1], 1, new InetSocketAddress(net.serverAddress(), 9))));
                t.run("receive", () -> s.receive(new DatagramPacket(new byte[1], 1)));
                t.note("getLocalPort", s.getLocalPort());
                t.note("getLocalAddress", s.getLocalAddress());
                t.note("getLocalSocketAddress", s.getLocalSocketAddress());
                t.call("getSoTimeout", s::getSoTimeout);
                t.run("bind", () -> s.bind(null));
            }
        }, "isClosed = true", "channel open = false", "send -> threw SocketException: Socket closed",
                "receive -> threw SocketException: Socket closed", "getLocalPort = -1", "getLocalAddress = null",
                "getLocalSocketAddress = null", "getSoTimeout -> threw SocketException: Socket is closed",
                "bind -> threw SocketException: Socket is closed");

        c.add("datagramSocketBindTranslatesChannelExceptions", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = r.add(net.provider().openDatagramChannel());
                t.run("bind to a's port", () -> b.socket().bind(a.getLocalAddress()));
                t.run("bind again", () -> a.socket().bind(ephemeral(net)));
                t.run("bind(null)", () -> b.socket().bind(null));
                t.note("bound", b.socket().isBound());
                t.note("getLocalPort > 0", b.socket().getLocalPort() > 0);
            }
        }, "bind to a's port -> threw BindException: Address already in use", "bind again -> threw SocketException: Already bound",
                "bind(null) -> ok", "bound = true", "getLocalPort > 0 = true");

        return c.cases();
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] joined = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, joined, a.length, b.length);
        return joined;
    }

    /** Reads into {@code into} until at least {@code n} bytes arrived; returns how many. */
    static int readAtLeast(InputStream in, byte[] into, int n) throws Exception {
        int total = 0;
        while (total < n) {
            int read = in.read(into, total, into.length - total);
            if (read < 0) {
                break;
            }
            total += read;
        }
        return total;
    }
}

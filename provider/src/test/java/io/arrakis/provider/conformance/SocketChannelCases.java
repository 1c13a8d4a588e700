package io.arrakis.provider.conformance;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeoutException;

/** SocketChannel: lifecycle, bind, connect and finishConnect, reads and writes, shutdown, scatter/gather. */
final class SocketChannelCases {
    private SocketChannelCases() {
    }

    /** A SocketAddress that is not an InetSocketAddress, for UnsupportedAddressTypeException. */
    static final class ForeignAddress extends SocketAddress {
        private static final long serialVersionUID = 1L;
    }

    static InetSocketAddress ephemeral(Network net) {
        return new InetSocketAddress(net.serverAddress(), 0);
    }

    static InetSocketAddress unresolved() {
        return InetSocketAddress.createUnresolved("unresolved.invalid", 80);
    }

    /** Polls {@code finishConnect} until it returns true or throws; bounded. */
    static boolean finishConnectWithin(SocketChannel channel) throws Exception {
        long deadline = System.nanoTime() + Await.LIMIT.toNanos();
        while (!channel.finishConnect()) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("finishConnect still false after " + Await.LIMIT);
            }
            Thread.sleep(1);
        }
        return true;
    }

    static byte[] bytes(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    static List<Case> cases() {
        Catalog c = new Catalog("SocketChannel");

        c.add("newChannelIsOpenBlockingUnconnectedUnbound", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.state("new channel", ch);
                t.call("getLocalAddress", ch::getLocalAddress);
                t.call("getRemoteAddress", ch::getRemoteAddress);
                t.note("validOps", Trace.ops(ch.validOps()));
                t.note("provider is the network's", ch.provider() == net.provider());
                t.note("socket() returns one adaptor", ch.socket() == ch.socket());
                t.note("adaptor's channel is the channel", ch.socket().getChannel() == ch);
            }
        }, "new channel: open=true blocking=true registered=false connected=false pending=false",
                "getLocalAddress -> null", "getRemoteAddress -> null", "validOps = READ|WRITE|CONNECT",
                "provider is the network's = true", "socket() returns one adaptor = true");

        c.add("bindNullBindsTheWildcardAndAnEphemeralPort", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("bind(null)", () -> ch.bind(null).getLocalAddress());
                t.note("socket().isBound", ch.socket().isBound());
            }
        }, "socket().isBound = true");

        c.add("bindToServerAddressReportsItWithAnEphemeralPort", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                ch.bind(ephemeral(net));
                t.call("getLocalAddress", ch::getLocalAddress);
                t.note("socket().getLocalPort > 0", ch.socket().getLocalPort() > 0);
                t.note("socket().getLocalAddress", ch.socket().getLocalAddress());
                t.state("bound channel", ch);
            }
        }, "getLocalAddress -> server:port", "socket().getLocalPort > 0 = true", "socket().getLocalAddress = server");

        c.add("bindTwiceThrowsAlreadyBound", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                ch.bind(ephemeral(net));
                t.run("second bind", () -> ch.bind(ephemeral(net)));
                t.call("still bound to", ch::getLocalAddress);
            }
        }, "second bind -> threw AlreadyBoundException", "still bound to -> server:port");

        c.add("bindUnresolvedThrowsUnresolvedAddress", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("bind unresolved", () -> ch.bind(unresolved()));
                t.call("getLocalAddress", ch::getLocalAddress);
            }
        }, "bind unresolved -> threw UnresolvedAddressException", "getLocalAddress -> null");

        c.add("bindForeignAddressTypeThrowsUnsupportedAddressType", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("bind foreign address", () -> ch.bind(new ForeignAddress()));
            }
        }, "bind foreign address -> threw UnsupportedAddressTypeException");

        c.add("bindAfterCloseThrowsClosedChannel", (net, t) -> {
            SocketChannel ch = net.provider().openSocketChannel();
            ch.close();
            t.run("bind", () -> ch.bind(ephemeral(net)));
        }, "bind -> threw ClosedChannelException");

        c.add("bindToAListenersPortThrowsAddressInUse", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                t.run("bind to the listener's address", () -> ch.bind(listener.getLocalAddress()));
                t.state("after the failed bind", ch);
                t.call("getLocalAddress", ch::getLocalAddress);
            }
        }, "bind to the listener's address -> threw BindException: Address already in use",
                "after the failed bind: open=true blocking=true registered=false connected=false pending=false",
                "getLocalAddress -> null");

        c.add("blockingConnectConnectsAndReportsBothAddresses", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("connect", () -> ch.connect(listener.getLocalAddress()));
                t.state("connected", ch);
                t.call("getRemoteAddress", ch::getRemoteAddress);
                t.call("getLocalAddress", ch::getLocalAddress);
                t.note("remote is the listener's address", ch.getRemoteAddress().equals(listener.getLocalAddress()));
                try (SocketChannel accepted = listener.accept()) {
                    t.note("client local = accepted remote", ch.getLocalAddress().equals(accepted.getRemoteAddress()));
                    t.note("client remote = accepted local", ch.getRemoteAddress().equals(accepted.getLocalAddress()));
                }
            }
        }, "connect -> true", "connected: open=true blocking=true registered=false connected=true pending=false",
                "getRemoteAddress -> server:port", "getLocalAddress -> server:port", "remote is the listener's address = true",
                "client local = accepted remote = true", "client remote = accepted local = true");

        c.add("connectToClosedPortIsRefusedAndClosesTheChannel", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("connect", () -> ch.connect(net.unusedPort()));
                t.state("after refusal", ch);
                t.call("connect again", () -> ch.connect(net.unusedPort()));
            }
        }, "connect -> threw ConnectException: Connection refused",
                "after refusal: open=false blocking=true registered=false connected=false pending=false",
                "connect again -> threw ClosedChannelException");

        c.add("nonBlockingConnectIsPendingUntilFinishConnect", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                ch.configureBlocking(false);
                t.call("connect", () -> ch.connect(listener.getLocalAddress()));
                t.state("pending", ch);
                t.call("getRemoteAddress while pending", ch::getRemoteAddress);
                t.call("finishConnect until done", () -> finishConnectWithin(ch));
                t.state("connected", ch);
                t.call("finishConnect again", ch::finishConnect);
            }
        }, "connect -> false", "pending: open=true blocking=false registered=false connected=false pending=true",
                "getRemoteAddress while pending -> server:port", "finishConnect until done -> true",
                "connected: open=true blocking=false registered=false connected=true pending=false", "finishConnect again -> true");

        c.add("nonBlockingConnectToClosedPortFailsInFinishConnect", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                ch.configureBlocking(false);
                t.call("connect", () -> ch.connect(net.unusedPort()));
                t.call("finishConnect until done", () -> finishConnectWithin(ch));
                t.state("after refusal", ch);
            }
        }, "connect -> false", "finishConnect until done -> threw ConnectException: Connection refused",
                "after refusal: open=false blocking=false registered=false connected=false pending=false");

        c.add("operationsWhileConnectionPendingThrow", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                ch.configureBlocking(false);
                ch.connect(listener.getLocalAddress());
                t.call("connect again", () -> ch.connect(listener.getLocalAddress()));
                t.call("bind", () -> ch.bind(ephemeral(net)));
                t.call("read", () -> ch.read(ByteBuffer.allocate(4)));
                t.call("write", () -> ch.write(ByteBuffer.allocate(4)));
                t.call("shutdownInput", ch::shutdownInput);
                t.call("shutdownOutput", ch::shutdownOutput);
                t.state("still pending", ch);
            }
        }, "connect again -> threw ConnectionPendingException", "bind -> threw ConnectionPendingException",
                "read -> threw NotYetConnectedException", "write -> threw NotYetConnectedException",
                "shutdownInput -> threw NotYetConnectedException", "shutdownOutput -> threw NotYetConnectedException",
                "still pending: open=true blocking=false registered=false connected=false pending=true");

        c.add("closeWhileConnectionPendingEndsIt", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net)) {
                SocketChannel ch = net.provider().openSocketChannel();
                ch.configureBlocking(false);
                ch.connect(listener.getLocalAddress());
                ch.close();
                t.state("closed", ch);
                t.call("finishConnect", ch::finishConnect);
            }
        }, "closed: open=false blocking=false registered=false connected=false pending=false",
                "finishConnect -> threw ClosedChannelException");

        c.add("connectWhenConnectedThrowsAlreadyConnected", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("connect again", () -> pair.client().connect(pair.listener().getLocalAddress()));
                t.state("still connected", pair.client());
            }
        }, "connect again -> threw AlreadyConnectedException",
                "still connected: open=true blocking=true registered=false connected=true pending=false");

        c.add("finishConnectWithoutConnectThrowsNoConnectionPending", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("finishConnect (blocking)", ch::finishConnect);
                ch.configureBlocking(false);
                t.call("finishConnect (non-blocking)", ch::finishConnect);
                t.state("unchanged", ch);
            }
        }, "finishConnect (blocking) -> threw NoConnectionPendingException",
                "finishConnect (non-blocking) -> threw NoConnectionPendingException",
                "unchanged: open=true blocking=false registered=false connected=false pending=false");

        c.add("finishConnectWhenConnectedReturnsTrue", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("finishConnect", pair.client()::finishConnect);
            }
        }, "finishConnect -> true");

        c.add("finishConnectOnClosedChannelThrowsClosedChannel", (net, t) -> {
            SocketChannel ch = net.provider().openSocketChannel();
            ch.close();
            t.call("finishConnect", ch::finishConnect);
        }, "finishConnect -> threw ClosedChannelException");

        c.add("connectUnresolvedThrowsAndLeavesTheChannelOpen", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("connect unresolved", () -> ch.connect(unresolved()));
                t.state("after", ch);
            }
        }, "connect unresolved -> threw UnresolvedAddressException",
                "after: open=true blocking=true registered=false connected=false pending=false");

        c.add("connectForeignAddressTypeThrowsAndLeavesTheChannelOpen", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("connect foreign address", () -> ch.connect(new ForeignAddress()));
                t.state("after", ch);
            }
        }, "connect foreign address -> threw UnsupportedAddressTypeException",
                "after: open=true blocking=true registered=false connected=false pending=false");

        c.add("connectNullThrowsNullPointer", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("connect(null)", () -> ch.connect(null));
                t.state("after", ch);
            }
        }, "connect(null) -> threw NullPointerException");

        c.add("connectToTheWildcardReachesLoopback", (net, t) -> {
            try (ServerSocketChannel listener = net.provider().openServerSocketChannel(); SocketChannel ch = net.provider().openSocketChannel()) {
                listener.bind(new InetSocketAddress(0));
                int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
                t.call("connect to 0.0.0.0", () -> ch.connect(new InetSocketAddress(InetAddress.getByName("0.0.0.0"), port)));
                t.note("remote address is loopback", ((InetSocketAddress) ch.getRemoteAddress()).getAddress().isLoopbackAddress());
                t.note("remote port is the listener's", ((InetSocketAddress) ch.getRemoteAddress()).getPort() == port);
            }
        }, "connect to 0.0.0.0 -> true", "remote address is loopback = true", "remote port is the listener's = true");

        c.add("connectAfterCloseThrowsClosedChannel", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net)) {
                SocketChannel ch = net.provider().openSocketChannel();
                ch.close();
                t.call("connect", () -> ch.connect(listener.getLocalAddress()));
            }
        }, "connect -> threw ClosedChannelException");

        c.add("readBeforeConnectThrowsNotYetConnected", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("read", () -> ch.read(ByteBuffer.allocate(4)));
                t.call("scattering read", () -> ch.read(new ByteBuffer[] {ByteBuffer.allocate(4)}));
                ch.configureBlocking(false);
                t.call("non-blocking read", () -> ch.read(ByteBuffer.allocate(4)));
            }
        }, "read -> threw NotYetConnectedException", "scattering read -> threw NotYetConnectedException",
                "non-blocking read -> threw NotYetConnectedException");

        c.add("writeBeforeConnectThrowsNotYetConnected", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("write", () -> ch.write(ByteBuffer.allocate(4)));
                t.call("gathering write", () -> ch.write(new ByteBuffer[] {ByteBuffer.allocate(4)}));
                ch.configureBlocking(false);
                t.call("non-blocking write", () -> ch.write(ByteBuffer.allocate(4)));
            }
        }, "write -> threw NotYetConnectedException", "gathering write -> threw NotYetConnectedException",
                "non-blocking write -> threw NotYetConnectedException");

        c.add("shutdownBeforeConnectThrowsNotYetConnected", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("shutdownInput", ch::shutdownInput);
                t.call("shutdownOutput", ch::shutdownOutput);
            }
        }, "shutdownInput -> threw NotYetConnectedException", "shutdownOutput -> threw NotYetConnectedException");

        c.add("operationsOnClosedConnectedChannelThrowClosedChannel", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                SocketChannel ch = pair.client();
                ch.close();
                t.state("closed", ch);
                t.call("read", () -> ch.read(ByteBuffer.allocate(4)));
                t.call("write", () -> ch.write(ByteBuffer.allocate(4)));
                t.call("scattering read", () -> ch.read(new ByteBuffer[] {ByteBuffer.allocate(4)}));
                t.call("gathering write", () -> ch.write(new ByteBuffer[] {ByteBuffer.allocate(4)}));
                t.call("getLocalAddress", ch::getLocalAddress);
                t.call("getRemoteAddress", ch::getRemoteAddress);
                t.call("shutdownInput", ch::shutdownInput);
                t.call("shutdownOutput", ch::shutdownOutput);
                t.call("configureBlocking(false)", () -> ch.configureBlocking(false));
                t.call("getOption", () -> ch.getOption(StandardSocketOptions.TCP_NODELAY));
                t.call("setOption", () -> ch.setOption(StandardSocketOptions.TCP_NODELAY, true));
            }
        }, "closed: open=false blocking=true registered=false connected=false pending=false",
                "read -> threw ClosedChannelException", "write -> threw ClosedChannelException",
                "scattering read -> threw ClosedChannelException", "gathering write -> threw ClosedChannelException",
                "getLocalAddress -> threw ClosedChannelException", "getRemoteAddress -> threw ClosedChannelException",
                "shutdownInput -> threw ClosedChannelException", "shutdownOutput -> threw ClosedChannelException",
                "configureBlocking(false) -> threw ClosedChannelException", "getOption -> threw ClosedChannelException",
                "setOption -> threw ClosedChannelException");

        c.add("readOnClosedUnconnectedChannelThrowsClosedChannel", (net, t) -> {
            SocketChannel ch = net.provider().openSocketChannel();
            ch.close();
            t.call("read", () -> ch.read(ByteBuffer.allocate(4)));
            t.call("write", () -> ch.write(ByteBuffer.allocate(4)));
        }, "read -> threw ClosedChannelException", "write -> threw ClosedChannelException");

        c.add("closeIsIdempotent", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.run("close", pair.client()::close);
                t.run("close again", pair.client()::close);
                t.run("close the adaptor", pair.client().socket()::close);
                t.note("socket().isClosed", pair.client().socket().isClosed());
            }
        }, "close -> ok", "close again -> ok", "close the adaptor -> ok", "socket().isClosed = true");

        c.add("peerReadsEndOfStreamWhenTheChannelCloses", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                TcpPair.writeFully(pair.client(), bytes(3));
                pair.client().close();
                t.note("peer reads the data", Arrays.equals(TcpPair.readFully(pair.server(), 3), bytes(3)));
                t.call("then", () -> pair.server().read(ByteBuffer.allocate(4)));
                t.call("and again", () -> pair.server().read(ByteBuffer.allocate(4)));
            }
        }, "peer reads the data = true", "then -> -1", "and again -> -1");

        c.add("readAfterShutdownInputReturnsMinusOne", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("shutdownInput", () -> pair.client().shutdownInput() == pair.client());
                t.call("read after shutdownInput", () -> pair.client().read(ByteBuffer.allocate(8)));
                t.call("scattering read after shutdownInput", () -> pair.client().read(new ByteBuffer[] {ByteBuffer.allocate(8)}));
                t.state("after", pair.client());
            }
        }, "shutdownInput -> true", "read after shutdownInput -> -1", "scattering read after shutdownInput -> -1",
                "after: open=true blocking=true registered=false connected=true pending=false");

        c.add("readAfterShutdownInputDiscardsUnreadData", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                TcpPair.writeFully(pair.server(), bytes(3));
                t.call("read one byte", () -> pair.client().read(ByteBuffer.allocate(1)));
                pair.client().shutdownInput();
                t.call("read after shutdownInput", () -> pair.client().read(ByteBuffer.allocate(8)));
            }
        }, "read one byte -> 1", "read after shutdownInput -> -1");

        c.add("nonBlockingReadAfterShutdownInputReturnsMinusOne", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.client().configureBlocking(false);
                pair.client().shutdownInput();
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(8)));
            }
        }, "read -> -1");

        c.add("peerCanStillWriteAfterShutdownInput", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.client().shutdownInput();
                t.call("peer writes", () -> pair.server().write(ByteBuffer.wrap(bytes(4))));
                t.call("our write still works", () -> pair.client().write(ByteBuffer.wrap(bytes(2))));
                t.note("peer reads our bytes", Arrays.equals(TcpPair.readFully(pair.server(), 2), bytes(2)));
            }
        }, "peer writes -> 4", "our write still works -> 2", "peer reads our bytes = true");

        c.add("writeAfterShutdownOutputThrowsAsynchronousClose", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("shutdownOutput", () -> pair.client().shutdownOutput() == pair.client());
                t.call("write after shutdownOutput", () -> pair.client().write(ByteBuffer.wrap(bytes(4))));
                t.call("gathering write after shutdownOutput", () -> pair.client().write(new ByteBuffer[] {ByteBuffer.wrap(bytes(4))}));
                t.state("after", pair.client());
            }
        }, "shutdownOutput -> true", "write after shutdownOutput -> threw AsynchronousCloseException",
                "gathering write after shutdownOutput -> threw AsynchronousCloseException",
                "after: open=true blocking=true registered=false connected=true pending=false");

        c.add("nonBlockingWriteAfterShutdownOutputThrows", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.client().configureBlocking(false);
                pair.client().shutdownOutput();
                t.call("write after shutdownOutput", () -> pair.client().write(ByteBuffer.wrap(bytes(4))));
                t.state("after", pair.client());
            }
        }, "write after shutdownOutput -> threw AsynchronousCloseException");

        c.add("peerReadsEndOfStreamAfterShutdownOutputAndCanStillReply", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                TcpPair.writeFully(pair.client(), bytes(5));
                pair.client().shutdownOutput();
                t.note("peer reads the data", Arrays.equals(TcpPair.readFully(pair.server(), 5), bytes(5)));
                t.call("then end of stream", () -> pair.server().read(ByteBuffer.allocate(4)));
                t.call("peer replies", () -> pair.server().write(ByteBuffer.wrap(bytes(3))));
                t.note("we read the reply", Arrays.equals(TcpPair.readFully(pair.client(), 3), bytes(3)));
            }
        }, "peer reads the data = true", "then end of stream -> -1", "peer replies -> 3", "we read the reply = true");

        c.add("shutdownTwiceIsHarmless", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.run("shutdownInput", pair.client()::shutdownInput);
                t.run("shutdownInput again", pair.client()::shutdownInput);
                t.run("shutdownOutput", pair.client()::shutdownOutput);
                t.run("shutdownOutput again", pair.client()::shutdownOutput);
                t.state("after", pair.client());
            }
        }, "shutdownInput again -> ok", "shutdownOutput again -> ok",
                "after: open=true blocking=true registered=false connected=true pending=false");

        c.add("shutdownIsVisibleThroughTheSocketAdaptor", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.note("input shutdown before", pair.client().socket().isInputShutdown());
                t.note("output shutdown before", pair.client().socket().isOutputShutdown());
                pair.client().shutdownInput();
                t.note("input shutdown", pair.client().socket().isInputShutdown());
                pair.client().shutdownOutput();
                t.note("output shutdown", pair.client().socket().isOutputShutdown());
                t.note("still connected", pair.client().socket().isConnected());
            }
        }, "input shutdown before = false", "output shutdown before = false", "input shutdown = true",
                "output shutdown = true", "still connected = true");

        c.add("readAtEndOfStreamKeepsReturningMinusOne", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.server().close();
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(4)));
                t.call("read again", () -> pair.client().read(ByteBuffer.allocate(4)));
                t.call("scattering read", () -> pair.client().read(new ByteBuffer[] {ByteBuffer.allocate(4)}));
                t.state("after", pair.client());
            }
        }, "read -> -1", "read again -> -1", "scattering read -> -1",
                "after: open=true blocking=true registered=false connected=true pending=false");

        c.add("zeroLengthBlockingReadReturnsZeroWithoutData", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("read into an empty buffer", () -> pair.client().read(ByteBuffer.allocate(0)));
                t.call("read into a full buffer", () -> pair.client().read(ByteBuffer.allocate(4).position(4)));
                t.call("scattering read of empty buffers", () -> pair.client().read(new ByteBuffer[] {ByteBuffer.allocate(0), ByteBuffer.allocate(0)}));
            }
        }, "read into an empty buffer -> 0", "read into a full buffer -> 0", "scattering read of empty buffers -> 0");

        c.add("zeroLengthWriteReturnsZero", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("write an empty buffer", () -> pair.client().write(ByteBuffer.allocate(0)));
                t.call("gathering write of empty buffers", () -> pair.client().write(new ByteBuffer[] {ByteBuffer.allocate(0)}));
                pair.client().configureBlocking(false);
                t.call("non-blocking write of an empty buffer", () -> pair.client().write(ByteBuffer.allocate(0)));
            }
        }, "write an empty buffer -> 0", "gathering write of empty buffers -> 0", "non-blocking write of an empty buffer -> 0");

        c.add("zeroLengthReadAtEndOfStream", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.server().close();
                t.call("read -1 first", () -> pair.client().read(ByteBuffer.allocate(4)));
                t.call("then read into an empty buffer", () -> pair.client().read(ByteBuffer.allocate(0)));
            }
        }, "read -1 first -> -1", "then read into an empty buffer -> 0");

        c.add("nonBlockingReadWithoutDataReturnsZero", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.client().configureBlocking(false);
                ByteBuffer buffer = ByteBuffer.allocate(4);
                t.call("read", () -> pair.client().read(buffer));
                t.note("buffer", buffer);
                t.call("scattering read", () -> pair.client().read(new ByteBuffer[] {ByteBuffer.allocate(4)}));
            }
        }, "read -> 0", "buffer = ByteBuffer[pos=0 lim=4 cap=4]", "scattering read -> 0");

        c.add("nonBlockingReadAtEndOfStreamReturnsMinusOne", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.client().configureBlocking(false);
                pair.server().close();
                t.call("read until not 0", () -> {
                    long deadline = System.nanoTime() + Await.LIMIT.toNanos();
                    int n;
                    while ((n = pair.client().read(ByteBuffer.allocate(4))) == 0 && System.nanoTime() < deadline) {
                        Thread.sleep(1);
                    }
                    return n;
                });
            }
        }, "read until not 0 -> -1");

        c.add("blockingReadReturnsWhatIsAvailable", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.server().write(ByteBuffer.wrap(bytes(3)));
                ByteBuffer buffer = ByteBuffer.allocate(10);
                t.call("read into 10 bytes", () -> pair.client().read(buffer));
                t.note("buffer", buffer);
            }
        }, "read into 10 bytes -> 3", "buffer = ByteBuffer[pos=3 lim=10 cap=10]");

        c.add("readIntoReadOnlyBufferThrowsIllegalArgument", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(4).asReadOnlyBuffer()));
                t.call("scattering read", () -> pair.client().read(new ByteBuffer[] {ByteBuffer.allocate(4).asReadOnlyBuffer()}));
            }
        }, "read -> threw IllegalArgumentException: Read-only buffer",
                "scattering read -> threw IllegalArgumentException: Read-only buffer");

        c.add("nullBuffersThrowNullPointer", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("read(null)", () -> pair.client().read((ByteBuffer) null));
                t.call("write(null)", () -> pair.client().write((ByteBuffer) null));
                t.state("after", pair.client());
            }
        }, "read(null) -> threw NullPointerException", "write(null) -> threw NullPointerException",
                "after: open=true blocking=true registered=false connected=true pending=false");

        c.add("scatteringReadFillsBuffersInOrder", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                TcpPair.writeFully(pair.server(), bytes(12));
                ByteBuffer[] buffers = {ByteBuffer.allocate(3), ByteBuffer.allocate(4), ByteBuffer.allocate(5)};
                t.call("read all 12", () -> {
                    long total = 0;
                    while (total < 12) {
                        total += pair.client().read(buffers);
                    }
                    return total;
                });
                t.note("buffers", List.of(buffers));
                byte[] joined = new byte[12];
                int at = 0;
                for (ByteBuffer b : buffers) {
                    System.arraycopy(b.array(), 0, joined, at, b.position());
                    at += b.position();
                }
                t.note("bytes in order", Arrays.equals(joined, bytes(12)));
            }
        }, "read all 12 -> 12", "buffers = [ByteBuffer[pos=3 lim=3 cap=3], ByteBuffer[pos=4 lim=4 cap=4], ByteBuffer[pos=5 lim=5 cap=5]]",
                "bytes in order = true");

        c.add("scatteringReadHonoursOffsetAndLength", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                TcpPair.writeFully(pair.server(), bytes(4));
                ByteBuffer[] buffers = {ByteBuffer.allocate(4), ByteBuffer.allocate(2), ByteBuffer.allocate(2), ByteBuffer.allocate(4)};
                t.call("read into buffers 1..2", () -> {
                    long total = 0;
                    while (total < 4) {
                        total += pair.client().read(buffers, 1, 2);
                    }
                    return total;
                });
                t.note("buffers", List.of(buffers));
            }
        }, "read into buffers 1..2 -> 4",
                "buffers = [ByteBuffer[pos=0 lim=4 cap=4], ByteBuffer[pos=2 lim=2 cap=2], ByteBuffer[pos=2 lim=2 cap=2], ByteBuffer[pos=0 lim=4 cap=4]]");

        c.add("scatterAndGatherRejectBadRanges", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                ByteBuffer[] three = {ByteBuffer.allocate(1), ByteBuffer.allocate(1), ByteBuffer.allocate(1)};
                t.call("read(buffers, 2, 5)", () -> pair.client().read(three, 2, 5));
                t.call("read(buffers, -1, 1)", () -> pair.client().read(three, -1, 1));
                t.call("write(buffers, 1, 3)", () -> pair.client().write(three, 1, 3));
                t.call("write(buffers, 0, -1)", () -> pair.client().write(three, 0, -1));
                t.state("after", pair.client());
            }
        }, "read(buffers, 2, 5) -> threw IndexOutOfBoundsException: Range [2, 2 + 5) out of bounds for length 3",
                "read(buffers, -1, 1) -> threw IndexOutOfBoundsException: Range [-1, -1 + 1) out of bounds for length 3",
                "write(buffers, 1, 3) -> threw IndexOutOfBoundsException: Range [1, 1 + 3) out of bounds for length 3",
                "write(buffers, 0, -1) -> threw IndexOutOfBoundsException: Range [0, 0 + -1) out of bounds for length 3");

        c.add("gatheringWriteSendsBuffersInOrder", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                byte[] all = bytes(9);
                ByteBuffer[] buffers = {ByteBuffer.wrap(all, 0, 2).slice(), ByteBuffer.allocateDirect(3).put(all, 2, 3).flip(), ByteBuffer.wrap(all, 5, 4).slice()};
                t.call("gathering write", () -> pair.client().write(buffers));
                t.note("buffers drained", Arrays.stream(buffers).noneMatch(ByteBuffer::hasRemaining));
                t.note("peer reads them in order", Arrays.equals(TcpPair.readFully(pair.server(), 9), all));
            }
        }, "gathering write -> 9", "buffers drained = true", "peer reads them in order = true");

        c.add("gatheringWriteHonoursOffsetAndLength", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                ByteBuffer[] buffers = {ByteBuffer.wrap(new byte[] {1}), ByteBuffer.wrap(new byte[] {2, 3}), ByteBuffer.wrap(new byte[] {4})};
                t.call("write(buffers, 1, 1)", () -> pair.client().write(buffers, 1, 1));
                t.note("buffers", List.of(buffers));
                t.note("peer reads", TcpPair.readFully(pair.server(), 2));
            }
        }, "write(buffers, 1, 1) -> 2",
                "buffers = [ByteBuffer[pos=0 lim=1 cap=1], ByteBuffer[pos=2 lim=2 cap=2], ByteBuffer[pos=0 lim=1 cap=1]]",
                "peer reads = [2, 3]");

        c.add("scatterAndGatherOfNoBuffersReturnZero", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.call("write(new ByteBuffer[0])", () -> pair.client().write(new ByteBuffer[0]));
                t.call("read(new ByteBuffer[0])", () -> pair.client().read(new ByteBuffer[0]));
                t.call("write(buffers, 1, 0)", () -> pair.client().write(new ByteBuffer[] {ByteBuffer.allocate(1)}, 1, 0));
            }
        }, "write(new ByteBuffer[0]) -> 0", "read(new ByteBuffer[0]) -> 0", "write(buffers, 1, 0) -> 0");

        c.add("directBuffersReadAndWrite", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                ByteBuffer out = ByteBuffer.allocateDirect(64).put(bytes(64)).flip();
                t.call("write direct", () -> pair.client().write(out));
                ByteBuffer in = ByteBuffer.allocateDirect(64);
                t.call("read direct until full", () -> {
                    while (in.hasRemaining()) {
                        pair.server().read(in);
                    }
                    return in.position();
                });
                byte[] got = new byte[64];
                in.flip().get(got);
                t.note("same bytes", Arrays.equals(got, bytes(64)));
            }
        }, "write direct -> 64", "read direct until full -> 64", "same bytes = true");

        c.add("largeBlockingTransferArrivesIntact", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                byte[] data = bytes(1 << 20);
                try (Background<Integer> writer = Background.start("writer", () -> pair.client().write(ByteBuffer.wrap(data)))) {
                    byte[] got = TcpPair.readFully(pair.server(), data.length);
                    t.outcome("blocking write of 1 MiB", writer.await());
                    t.note("peer read 1 MiB intact", Arrays.equals(got, data));
                }
            }
        }, "blocking write of 1 MiB -> 1048576", "peer read 1 MiB intact = true");

        c.add("manySmallWritesArriveInOrder", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                byte[] all = bytes(100 * 101 / 2);
                int at = 0;
                for (int n = 1; n <= 100; n++) {
                    pair.client().write(ByteBuffer.wrap(all, at, n));
                    at += n;
                }
                t.note("peer reads all bytes in order", Arrays.equals(TcpPair.readFully(pair.server(), all.length), all));
            }
        }, "peer reads all bytes in order = true");

        c.add("oneByteNonBlockingWritesAgainstAFullPeerWindow", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                SocketChannel ch = pair.client();
                long written = AsyncCloseCases.fillWindow(ch);
                t.note("some bytes were accepted before the window filled", written > 0);
                t.call("one-byte write against the full window", () -> ch.write(ByteBuffer.wrap(new byte[] {1})));
                t.call("another", () -> ch.write(ByteBuffer.wrap(new byte[] {1})));
                final long total = written;
                try (Background<Long> drain = Background.start("drain", () -> {
                    ByteBuffer sink = ByteBuffer.allocate(64 * 1024);
                    long read = 0;
                    while (read < total + 1) {
                        sink.clear();
                        int n = pair.server().read(sink);
                        if (n < 0) {
                            break;
                        }
                        read += n;
                    }
                    return read;
                })) {
                    t.call("a one-byte write succeeds once the peer drains", () -> {
                        long until = System.nanoTime() + Await.LIMIT.toNanos();
                        int n;
                        while ((n = ch.write(ByteBuffer.wrap(new byte[] {1}))) == 0 && System.nanoTime() < until) {
                            Thread.sleep(1);
                        }
                        return n;
                    });
                    t.note("peer drained everything", drain.await().value().equals(total + 1));
                }
            }
        }, "some bytes were accepted before the window filled = true", "one-byte write against the full window -> 0",
                "another -> 0", "a one-byte write succeeds once the peer drains -> 1", "peer drained everything = true");

        c.add("writeToAPeerThatClosedEventuallyFails", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.server().close();
                t.failsWithIoException("writes until one fails", () -> {
                    for (int i = 0; i < 1000; i++) {
                        pair.client().write(ByteBuffer.wrap(bytes(1024)));
                        Thread.sleep(1);
                    }
                });
                t.state("after", pair.client());
            }
        }, "writes until one fails -> threw IOException",
                "after: open=true blocking=true registered=false connected=true pending=false");

        c.add("readAfterPeerResetThrowsConnectionReset", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.server().setOption(StandardSocketOptions.SO_LINGER, 0);
                pair.server().close();
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(4)));
                t.call("read again", () -> pair.client().read(ByteBuffer.allocate(4)));
                t.state("after", pair.client());
                t.failsWithIoException("write", () -> pair.client().write(ByteBuffer.wrap(bytes(4))));
            }
        }, "read -> threw SocketException: Connection reset", "read again -> threw SocketException: Connection reset",
                "after: open=true blocking=true registered=false connected=true pending=false", "write -> threw IOException");

        c.add("acceptedChannelIsConnectedBlockingAndOfTheSameProvider", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                t.state("accepted", pair.server());
                t.note("provider is the network's", pair.server().provider() == net.provider());
                t.call("getLocalAddress", pair.server()::getLocalAddress);
                t.note("local port is the listener's", ((InetSocketAddress) pair.server().getLocalAddress()).getPort()
                        == ((InetSocketAddress) pair.listener().getLocalAddress()).getPort());
            }
        }, "accepted: open=true blocking=true registered=false connected=true pending=false",
                "provider is the network's = true", "getLocalAddress -> server:port", "local port is the listener's = true");

        c.add("configureBlockingRoundTrips", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                t.call("configureBlocking(false)", () -> ch.configureBlocking(false) == ch);
                t.note("isBlocking", ch.isBlocking());
                t.call("configureBlocking(false) again", () -> ch.configureBlocking(false) == ch);
                t.call("configureBlocking(true)", () -> ch.configureBlocking(true) == ch);
                t.note("isBlocking", ch.isBlocking());
            }
        }, "configureBlocking(false) -> true", "isBlocking = false", "configureBlocking(true) -> true", "isBlocking = true");

        c.add("interruptStatusBeforeBlockingReadClosesTheChannel", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Thread.currentThread().interrupt();
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(4)));
                t.note("interrupt status kept", Thread.interrupted());
                t.state("after", pair.client());
            }
        }, "read -> threw ClosedByInterruptException", "interrupt status kept = true",
                "after: open=false blocking=true registered=false connected=false pending=false");

        c.add("interruptStatusBeforeNonBlockingReadIsIgnored", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.client().configureBlocking(false);
                Thread.currentThread().interrupt();
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(4)));
                t.call("write", () -> pair.client().write(ByteBuffer.wrap(bytes(2))));
                t.note("interrupt status kept", Thread.interrupted());
                t.state("after", pair.client());
            }
        }, "read -> 0", "write -> 2", "interrupt status kept = true",
                "after: open=true blocking=false registered=false connected=true pending=false");

        c.add("interruptStatusBeforeBlockingWriteClosesTheChannel", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Thread.currentThread().interrupt();
                t.call("write", () -> pair.client().write(ByteBuffer.wrap(bytes(4))));
                t.note("interrupt status kept", Thread.interrupted());
                t.state("after", pair.client());
            }
        }, "write -> threw ClosedByInterruptException", "interrupt status kept = true",
                "after: open=false blocking=true registered=false connected=false pending=false");

        c.add("interruptStatusBeforeBlockingConnectClosesTheChannel", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                Thread.currentThread().interrupt();
                t.call("connect", () -> ch.connect(listener.getLocalAddress()));
                t.note("interrupt status kept", Thread.interrupted());
                t.state("after", ch);
            }
        }, "connect -> threw ClosedByInterruptException", "interrupt status kept = true",
                "after: open=false blocking=true registered=false connected=false pending=false");

        return c.cases();
    }
}

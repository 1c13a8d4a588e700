package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.ephemeral;
import static io.arrakis.provider.conformance.SocketChannelCases.unresolved;

import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;

/** ServerSocketChannel: bind, accept in both modes, listener lifecycle. */
final class ServerSocketChannelCases {
    private ServerSocketChannelCases() {
    }

    static int port(java.net.SocketAddress address) {
        return ((InetSocketAddress) address).getPort();
    }

    static List<Case> cases() {
        Catalog c = new Catalog("ServerSocketChannel");

        c.add("newListenerIsOpenBlockingAndUnbound", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.state("new listener", ch);
                t.call("getLocalAddress", ch::getLocalAddress);
                t.note("validOps", Trace.ops(ch.validOps()));
                t.note("provider is the network's", ch.provider() == net.provider());
                t.note("socket() returns one adaptor", ch.socket() == ch.socket());
                t.note("adaptor's channel is the channel", ch.socket().getChannel() == ch);
            }
        }, "new listener: open=true blocking=true registered=false", "getLocalAddress -> null", "validOps = ACCEPT",
                "provider is the network's = true", "socket() returns one adaptor = true", "adaptor's channel is the channel = true");

        c.add("acceptBeforeBindThrowsNotYetBound", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.call("accept (blocking)", ch::accept);
                ch.configureBlocking(false);
                t.call("accept (non-blocking)", ch::accept);
                t.state("after", ch);
            }
        }, "accept (blocking) -> threw NotYetBoundException", "accept (non-blocking) -> threw NotYetBoundException",
                "after: open=true blocking=false registered=false");

        c.add("listenerBindNullBindsTheWildcardAndAnEphemeralPort", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.call("bind(null)", () -> ch.bind(null).getLocalAddress());
                t.note("socket().isBound", ch.socket().isBound());
            }
        }, "socket().isBound = true");

        c.add("bindToServerAddressReportsIt", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.call("bind", () -> ch.bind(ephemeral(net)) == ch);
                t.call("getLocalAddress", ch::getLocalAddress);
                t.note("socket().getLocalPort is the bound port", ch.socket().getLocalPort() == port(ch.getLocalAddress()));
                t.note("socket().getInetAddress", ch.socket().getInetAddress());
            }
        }, "bind -> true", "getLocalAddress -> server:port", "socket().getLocalPort is the bound port = true",
                "socket().getInetAddress = server");

        c.add("listenerBindTwiceThrowsAlreadyBound", (net, t) -> {
            try (ServerSocketChannel ch = TcpPair.listen(net)) {
                t.call("second bind", () -> ch.bind(ephemeral(net)));
            }
        }, "second bind -> threw AlreadyBoundException");

        c.add("bindToAPortInUseThrowsAddressInUse", (net, t) -> {
            try (ServerSocketChannel first = TcpPair.listen(net); ServerSocketChannel second = net.provider().openServerSocketChannel()) {
                t.call("bind to the first listener's address", () -> second.bind(first.getLocalAddress()));
                t.call("second's local address", second::getLocalAddress);
                t.state("second", second);
            }
        }, "bind to the first listener's address -> threw BindException: Address already in use",
                "second's local address -> null", "second: open=true blocking=true registered=false");

        c.add("listenerBindUnresolvedThrowsUnresolvedAddress", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.call("bind unresolved", () -> ch.bind(unresolved()));
            }
        }, "bind unresolved -> threw UnresolvedAddressException");

        c.add("listenerBindForeignAddressTypeThrowsUnsupportedAddressType", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.call("bind foreign address", () -> ch.bind(new SocketChannelCases.ForeignAddress()));
            }
        }, "bind foreign address -> threw UnsupportedAddressTypeException");

        c.add("listenerBindAfterCloseThrowsClosedChannel", (net, t) -> {
            ServerSocketChannel ch = net.provider().openServerSocketChannel();
            ch.close();
            t.call("bind", () -> ch.bind(ephemeral(net)));
            t.call("getLocalAddress", ch::getLocalAddress);
        }, "bind -> threw ClosedChannelException", "getLocalAddress -> threw ClosedChannelException");

        c.add("nonBlockingAcceptWithoutPendingConnectionReturnsNull", (net, t) -> {
            try (ServerSocketChannel ch = TcpPair.listen(net)) {
                ch.configureBlocking(false);
                t.call("accept", ch::accept);
                t.call("accept again", ch::accept);
            }
        }, "accept -> null", "accept again -> null");

        c.add("nonBlockingAcceptReturnsAPendingConnection", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel client = net.provider().openSocketChannel()) {
                listener.configureBlocking(false);
                client.connect(listener.getLocalAddress());
                SocketChannel[] accepted = new SocketChannel[1];
                Await.until("a pending connection", () -> (accepted[0] = listener.accept()) != null);
                try (SocketChannel server = accepted[0]) {
                    t.state("accepted", server);
                    t.note("accepted remote = client local", server.getRemoteAddress().equals(client.getLocalAddress()));
                }
                t.call("then accept", listener::accept);
            }
        }, "accepted: open=true blocking=true registered=false connected=true pending=false",
                "accepted remote = client local = true", "then accept -> null");

        c.add("blockingAcceptReturnsAConnectedBlockingChannel", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel client = net.provider().openSocketChannel()) {
                client.connect(listener.getLocalAddress());
                try (SocketChannel server = listener.accept()) {
                    t.state("accepted", server);
                    t.call("accepted local", server::getLocalAddress);
                    t.call("accepted remote", server::getRemoteAddress);
                    t.note("provider is the network's", server.provider() == net.provider());
                    t.note("accepted local port = listener port", port(server.getLocalAddress()) == port(listener.getLocalAddress()));
                }
            }
        }, "accepted: open=true blocking=true registered=false connected=true pending=false",
                "accepted local -> server:port", "accepted remote -> server:port", "provider is the network's = true",
                "accepted local port = listener port = true");

        c.add("acceptReturnsConnectionsInArrivalOrder", (net, t) -> {
            try (Resources r = new Resources(); ServerSocketChannel listener = TcpPair.listen(net)) {
                List<java.net.SocketAddress> clients = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    SocketChannel client = r.add(net.provider().openSocketChannel());
                    client.connect(listener.getLocalAddress());
                    clients.add(client.getLocalAddress());
                }
                List<java.net.SocketAddress> accepted = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    accepted.add(r.add(listener.accept()).getRemoteAddress());
                }
                t.note("accepted in connect order", accepted.equals(clients));
            }
        }, "accepted in connect order = true");

        c.add("acceptAfterCloseThrowsClosedChannel", (net, t) -> {
            ServerSocketChannel ch = TcpPair.listen(net);
            ch.close();
            t.state("closed", ch);
            t.call("accept", ch::accept);
            t.call("getLocalAddress", ch::getLocalAddress);
            t.call("configureBlocking(false)", () -> ch.configureBlocking(false));
        }, "closed: open=false blocking=true registered=false", "accept -> threw ClosedChannelException",
                "getLocalAddress -> threw ClosedChannelException", "configureBlocking(false) -> threw ClosedChannelException");

        c.add("closedListenerRefusesNewConnections", (net, t) -> {
            ServerSocketChannel listener = TcpPair.listen(net);
            java.net.SocketAddress address = listener.getLocalAddress();
            listener.close();
            try (SocketChannel client = net.provider().openSocketChannel()) {
                t.call("connect", () -> client.connect(address));
            }
        }, "connect -> threw ConnectException: Connection refused");

        c.add("pendingConnectionsAreResetWhenTheListenerCloses", (net, t) -> {
            ServerSocketChannel listener = TcpPair.listen(net);
            try (SocketChannel client = net.provider().openSocketChannel()) {
                client.connect(listener.getLocalAddress());
                listener.close();
                t.failsWithIoException("client read", () -> client.read(java.nio.ByteBuffer.allocate(4)));
            }
        }, "client read -> threw IOException");

        c.add("portCanBeReboundAfterTheListenerAndItsConnectionsClose", (net, t) -> {
            java.net.SocketAddress address;
            try (TcpPair pair = TcpPair.open(net)) {
                address = pair.listener().getLocalAddress();
                pair.server().close(); // the server closes first, so its side goes to TIME_WAIT
            }
            try (ServerSocketChannel again = net.provider().openServerSocketChannel()) {
                t.run("bind the same address again", () -> again.bind(address));
            }
        }, "bind the same address again -> ok");

        c.add("listenerReuseAddressIsOnByDefault", (net, t) -> {
            try (ServerSocketChannel ch = net.provider().openServerSocketChannel()) {
                t.call("SO_REUSEADDR", () -> ch.getOption(StandardSocketOptions.SO_REUSEADDR));
                t.call("socket().getReuseAddress", () -> ch.socket().getReuseAddress());
            }
        }, "SO_REUSEADDR -> true", "socket().getReuseAddress -> true");

        c.add("acceptedChannelOutlivesItsListener", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.listener().close();
                t.call("write from the accepted channel", () -> pair.server().write(java.nio.ByteBuffer.wrap(SocketChannelCases.bytes(3))));
                t.note("client reads it", java.util.Arrays.equals(TcpPair.readFully(pair.client(), 3), SocketChannelCases.bytes(3)));
                t.state("accepted", pair.server());
            }
        }, "write from the accepted channel -> 3", "client reads it = true",
                "accepted: open=true blocking=true registered=false connected=true pending=false");

        c.add("interruptStatusBeforeBlockingAcceptClosesTheListener", (net, t) -> {
            try (ServerSocketChannel ch = TcpPair.listen(net)) {
                Thread.currentThread().interrupt();
                t.call("accept", ch::accept);
                t.note("interrupt status kept", Thread.interrupted());
                t.state("after", ch);
            }
        }, "accept -> threw ClosedByInterruptException", "interrupt status kept = true", "after: open=false blocking=true registered=false");

        return c.cases();
    }
}

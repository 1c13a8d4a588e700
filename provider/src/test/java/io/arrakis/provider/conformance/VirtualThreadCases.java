package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.bytes;

import java.io.InputStream;
import java.net.DatagramPacket;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * Blocking operations on virtual threads: they park instead of pinning a carrier (so a thousand of them
 * blocked at once leave the scheduler free to run other virtual threads), are released by data, and
 * keep the close and interrupt semantics of platform threads.
 */
final class VirtualThreadCases {
    private VirtualThreadCases() {
    }

    /** Waits until every helper is blocked in the provider; fails if one finishes instead. */
    static void awaitAllBlocked(Network net, List<? extends Background<?>> helpers) throws Exception {
        Await.until(helpers.size() + " virtual threads blocked", () -> {
            for (Background<?> helper : helpers) {
                if (helper.finished()) {
                    throw new IllegalStateException(helper.thread().getName() + " finished before anything released it");
                }
                if (!net.isBlockedIn(helper.thread())) {
                    return false;
                }
            }
            return true;
        });
    }

    /** Runs a trivial virtual thread and returns what it computed, or null if it could not run within the limit. */
    static Object anotherVirtualThreadRuns() throws Exception {
        try (Background<Integer> other = Background.startVirtual("other", () -> 6 * 7)) {
            return other.await().value();
        }
    }

    static List<Case> cases() {
        Catalog c = new Catalog("VirtualThreads");

        c.add("thousandBlockedVirtualReadsAreAllReleasedAndPinNoCarrier", (net, t) -> {
            int n = 1000;
            try (Resources r = new Resources(); ServerSocketChannel listener = TcpPair.listen(net)) {
                List<SocketChannel> clients = new ArrayList<>();
                List<Background<Integer>> readers = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    SocketChannel client = r.add(net.provider().openSocketChannel());
                    client.connect(listener.getLocalAddress());
                    clients.add(client);
                    SocketChannel accepted = r.add(listener.accept());
                    readers.add(r.add(Background.startVirtual("reader-" + i, () -> accepted.read(ByteBuffer.allocate(4)))));
                }
                awaitAllBlocked(net, readers);
                t.note("virtual threads blocked in read", readers.size());
                t.note("another virtual thread runs meanwhile", anotherVirtualThreadRuns());
                for (SocketChannel client : clients) {
                    client.write(ByteBuffer.wrap(new byte[] {1}));
                }
                int released = 0;
                for (Background<Integer> reader : readers) {
                    Background.Outcome outcome = reader.await();
                    if (Integer.valueOf(1).equals(outcome.value())) {
                        released++;
                    }
                }
                t.note("reads that returned the byte", released);
            }
        }, "virtual threads blocked in read = 1000", "another virtual thread runs meanwhile = 42", "reads that returned the byte = 1000");

        c.add("hundredBlockedVirtualAcceptsPinNoCarrier", (net, t) -> {
            int n = 100;
            try (Resources r = new Resources()) {
                List<ServerSocketChannel> listeners = new ArrayList<>();
                List<Background<SocketChannel>> acceptors = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    ServerSocketChannel listener = r.add(TcpPair.listen(net));
                    listeners.add(listener);
                    acceptors.add(r.add(Background.startVirtual("acceptor-" + i, listener::accept)));
                }
                awaitAllBlocked(net, acceptors);
                t.note("another virtual thread runs meanwhile", anotherVirtualThreadRuns());
                for (ServerSocketChannel listener : listeners) {
                    r.add(net.provider().openSocketChannel()).connect(listener.getLocalAddress());
                }
                int accepted = 0;
                for (Background<SocketChannel> acceptor : acceptors) {
                    if (acceptor.await().value() instanceof SocketChannel ch) {
                        r.add(ch);
                        accepted++;
                    }
                }
                t.note("accepts that returned a connection", accepted);
            }
        }, "another virtual thread runs meanwhile = 42", "accepts that returned a connection = 100");

        c.add("virtualThreadBlockingConnectAndWrite", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net); SocketChannel ch = net.provider().openSocketChannel()) {
                try (Background<Boolean> connect = Background.startVirtual("connect", () -> ch.connect(listener.getLocalAddress()))) {
                    t.outcome("connect on a virtual thread", connect.await());
                }
                try (SocketChannel accepted = listener.accept();
                        Background<Integer> write = Background.startVirtual("write", () -> ch.write(ByteBuffer.wrap(bytes(1 << 20))))) {
                    byte[] got = TcpPair.readFully(accepted, 1 << 20);
                    t.outcome("1 MiB blocking write on a virtual thread", write.await());
                    t.note("arrived intact", java.util.Arrays.equals(got, bytes(1 << 20)));
                }
            }
        }, "connect on a virtual thread -> true", "1 MiB blocking write on a virtual thread -> 1048576", "arrived intact = true");

        c.add("virtualThreadConnectToAClosedPortIsRefused", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel();
                    Background<Boolean> connect = Background.startVirtual("connect", () -> ch.connect(net.unusedPort()))) {
                t.outcome("connect on a virtual thread", connect.await());
                t.state("after", ch);
            }
        }, "connect on a virtual thread -> threw ConnectException: Connection refused",
                "after: open=false blocking=true registered=false connected=false pending=false");

        c.add("interruptingAVirtualThreadBlockedInReadClosesTheChannel", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> read = Background.startVirtual("read", () -> pair.client().read(ByteBuffer.allocate(4)))) {
                read.awaitBlocked(net);
                read.thread().interrupt();
                Background.Outcome outcome = read.await();
                t.outcome("the blocked read", outcome);
                t.note("interrupt status", outcome.interruptStatus());
                t.state("channel", pair.client());
            }
        }, "the blocked read -> threw ClosedByInterruptException", "interrupt status = true",
                "channel: open=false blocking=true registered=false connected=false pending=false");

        c.add("closingUnderAVirtualThreadBlockedInRead", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> read = Background.startVirtual("read", () -> pair.client().read(ByteBuffer.allocate(4)))) {
                read.awaitBlocked(net);
                pair.client().close();
                Background.Outcome outcome = read.await();
                t.outcome("the blocked read", outcome);
                t.note("interrupt status", outcome.interruptStatus());
            }
        }, "the blocked read -> threw AsynchronousCloseException", "interrupt status = false");

        c.add("interruptingAVirtualThreadBlockedInAcceptClosesTheListener", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net);
                    Background<SocketChannel> accept = Background.startVirtual("accept", listener::accept)) {
                accept.awaitBlocked(net);
                accept.thread().interrupt();
                Background.Outcome outcome = accept.await();
                t.outcome("the blocked accept", outcome);
                t.note("interrupt status", outcome.interruptStatus());
                t.state("listener", listener);
            }
        }, "the blocked accept -> threw ClosedByInterruptException", "interrupt status = true",
                "listener: open=false blocking=true registered=false");

        c.add("shutdownInputReleasesAVirtualThreadBlockedInRead", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> read = Background.startVirtual("read", () -> pair.client().read(ByteBuffer.allocate(4)))) {
                read.awaitBlocked(net);
                pair.client().shutdownInput();
                t.outcome("the blocked read", read.await());
            }
        }, "the blocked read -> -1");

        c.add("virtualThreadStreamReadTimesOut", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                pair.client().socket().setSoTimeout(100);
                InputStream in = pair.client().socket().getInputStream();
                try (Background<Integer> read = Background.startVirtual("stream read", in::read)) {
                    t.outcome("stream read on a virtual thread", read.await());
                }
                t.note("still open", pair.client().isOpen());
                pair.server().write(ByteBuffer.wrap(new byte[] {5}));
                pair.client().socket().setSoTimeout((int) Await.LIMIT.toMillis());
                try (Background<Integer> read = Background.startVirtual("stream read", in::read)) {
                    t.outcome("once data arrives", read.await());
                }
            }
        }, "stream read on a virtual thread -> threw SocketTimeoutException: Read timed out", "still open = true", "once data arrives -> 5");

        c.add("virtualThreadDatagramReceiveIsReleasedByADatagram", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = DatagramChannelCases.bound(r, net);
                try (Background<java.net.SocketAddress> receive = Background.startVirtual("receive", () -> a.receive(ByteBuffer.allocate(8)))) {
                    receive.awaitBlocked(net);
                    b.send(ByteBuffer.wrap(bytes(3)), a.getLocalAddress());
                    Background.Outcome outcome = receive.await();
                    t.note("received from b", b.getLocalAddress().equals(outcome.value()));
                }
            }
        }, "received from b = true");

        c.add("virtualThreadDatagramSocketReceiveTimesOutAndIsInterruptible", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                java.net.DatagramSocket s = a.socket();
                s.setSoTimeout(100);
                try (Background<Object> receive = Background.startVirtual("receive", () -> {
                    s.receive(new DatagramPacket(new byte[4], 4));
                    return "received";
                })) {
                    t.outcome("receive with a timeout", receive.await());
                }
                s.setSoTimeout(0);
                try (Background<Object> receive = Background.startVirtual("receive", () -> {
                    s.receive(new DatagramPacket(new byte[4], 4));
                    return "received";
                })) {
                    receive.awaitBlocked(net);
                    receive.thread().interrupt();
                    Background.Outcome outcome = receive.await();
                    t.outcome("interrupted receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("socket closed", s.isClosed());
                }
            }
        }, "receive with a timeout -> threw SocketTimeoutException: Receive timed out",
                "interrupted receive -> threw ClosedByInterruptException", "interrupt status = true", "socket closed = true");

        c.add("virtualThreadSelectIsReleasedByWakeupAndByReadiness", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectorCases.registerClient(pair, selector, java.nio.channels.SelectionKey.OP_READ);
                try (Background<Integer> select = Background.startVirtual("select", selector::select)) {
                    select.awaitBlocked(net);
                    selector.wakeup();
                    t.outcome("select released by wakeup", select.await());
                }
                try (Background<Integer> select = Background.startVirtual("select", selector::select)) {
                    select.awaitBlocked(net);
                    pair.server().write(ByteBuffer.wrap(bytes(1)));
                    t.outcome("select released by data", select.await());
                }
            }
        }, "select released by wakeup -> 0", "select released by data -> 1");

        c.add("virtualThreadPipeReadIsReleasedByAWrite", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = PipeCases.open(r, net);
                try (Background<Integer> read = Background.startVirtual("read", () -> pipe.source().read(ByteBuffer.allocate(8)))) {
                    read.awaitBlocked(net);
                    pipe.sink().write(ByteBuffer.wrap(bytes(2)));
                    t.outcome("the blocked read", read.await());
                }
            }
        }, "the blocked read -> 2");

        c.add("virtualThreadBlockedWriteIsReleasedWhenThePeerDrains", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                long filled = AsyncCloseCases.fillWindow(pair.client());
                pair.client().configureBlocking(true);
                try (Background<Integer> write = Background.startVirtual("write", () -> pair.client().write(ByteBuffer.wrap(bytes(1000))))) {
                    write.awaitBlocked(net);
                    t.note("another virtual thread runs meanwhile", anotherVirtualThreadRuns());
                    byte[] drained = TcpPair.readFully(pair.server(), (int) filled + 1000);
                    t.outcome("the blocked write", write.await());
                    t.note("peer drained everything", drained.length == filled + 1000);
                }
            }
        }, "another virtual thread runs meanwhile = 42", "the blocked write -> 1000", "peer drained everything = true");

        return c.cases();
    }
}

package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.bytes;

import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;

/**
 * Blocking operations ended from another thread: close gives AsynchronousCloseException, interrupt
 * gives ClosedByInterruptException with the interrupt status set and the channel closed, shutdown
 * ends a read with end of stream; on platform threads (virtual threads are in {@link VirtualThreadCases}).
 */
final class AsyncCloseCases {
    private AsyncCloseCases() {
    }

    /**
     * Fills the peer's window and our send buffer (non-blocking writes until they keep returning 0), then
     * starts a blocking write on a helper, which blocks at once; returns it once it is seen blocked.
     */
    static Background<Integer> blockedWriter(Network net, SocketChannel ch) throws Exception {
        fillWindow(ch);
        ch.configureBlocking(true);
        return Background.start("blocked write", () -> ch.write(ByteBuffer.allocate(1024))).awaitBlocked(net);
    }

    /**
     * Writes non-blocking until no write has made progress for 100 ms; returns the bytes written; the
     * channel stays non-blocking. A first zero is not enough on Linux: the receiver compacts its queue
     * and reopens the window a little, and the sender then accepts more into its last segment, so
     * "full" is a state reached once acknowledgements stop freeing space, which this waits for.
     */
    static long fillWindow(SocketChannel ch) throws Exception {
        ch.configureBlocking(false);
        ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
        long written = 0;
        long quietSince = -1;
        long deadline = System.nanoTime() + Await.LIMIT.toNanos();
        while (true) {
            chunk.clear();
            int n = ch.write(chunk);
            long now = System.nanoTime();
            if (n > 0) {
                written += n;
                quietSince = -1;
            } else if (quietSince < 0) {
                quietSince = now;
            } else if (now - quietSince >= 100_000_000L) {
                return written;
            }
            if (now > deadline) {
                throw new java.util.concurrent.TimeoutException("the peer's window did not fill within " + Await.LIMIT);
            }
            if (n == 0) {
                Thread.sleep(5);
            }
        }
    }

    static List<Case> cases() {
        Catalog c = new Catalog("AsyncCloseAndInterrupt");

        c.add("closeDuringBlockingReadThrowsAsynchronousClose", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> read = Background.start("read", () -> pair.client().read(ByteBuffer.allocate(8)))) {
                read.awaitBlocked(net);
                t.run("close from another thread", pair.client()::close);
                Background.Outcome outcome = read.await();
                t.outcome("the blocked read", outcome);
                t.note("reader's interrupt status", outcome.interruptStatus());
                t.state("channel", pair.client());
                t.call("peer reads end of stream", () -> pair.server().read(ByteBuffer.allocate(4)));
            }
        }, "close from another thread -> ok", "the blocked read -> threw AsynchronousCloseException", "reader's interrupt status = false",
                "channel: open=false blocking=true registered=false connected=false pending=false", "peer reads end of stream -> -1");

        c.add("interruptDuringBlockingReadThrowsClosedByInterrupt", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> read = Background.start("read", () -> pair.client().read(ByteBuffer.allocate(8)))) {
                read.awaitBlocked(net);
                read.thread().interrupt();
                Background.Outcome outcome = read.await();
                t.outcome("the blocked read", outcome);
                t.note("reader's interrupt status", outcome.interruptStatus());
                t.state("channel", pair.client());
            }
        }, "the blocked read -> threw ClosedByInterruptException", "reader's interrupt status = true",
                "channel: open=false blocking=true registered=false connected=false pending=false");

        c.add("dataReleasesABlockedRead", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> read = Background.start("read", () -> pair.client().read(ByteBuffer.allocate(8)))) {
                read.awaitBlocked(net);
                pair.server().write(ByteBuffer.wrap(bytes(5)));
                t.outcome("the blocked read", read.await());
            }
        }, "the blocked read -> 5");

        c.add("writeProceedsWhileAnotherThreadIsBlockedReading", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> read = Background.start("read", () -> pair.client().read(ByteBuffer.allocate(8)))) {
                read.awaitBlocked(net);
                t.call("write on the same channel", () -> pair.client().write(ByteBuffer.wrap(bytes(3))));
                t.note("peer receives it", java.util.Arrays.equals(TcpPair.readFully(pair.server(), 3), bytes(3)));
                pair.server().write(ByteBuffer.wrap(bytes(2)));
                t.outcome("the read", read.await());
            }
        }, "write on the same channel -> 3", "peer receives it = true", "the read -> 2");

        c.add("closeEndsTheReaderAndTheOneQueuedBehindIt", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> first = Background.start("first read", () -> pair.client().read(ByteBuffer.allocate(8)))) {
                first.awaitBlocked(net);
                try (Background<Integer> second = Background.start("second read", () -> pair.client().read(ByteBuffer.allocate(8)))) {
                    second.awaitBlocked(net);
                    pair.client().close();
                    t.outcome("the first read", first.await());
                    t.outcome("the read queued behind it", second.await());
                }
            }
        }, "the first read -> threw AsynchronousCloseException", "the read queued behind it -> threw ClosedChannelException");

        c.add("shutdownInputDuringBlockingReadReturnsMinusOne", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net);
                    Background<Integer> read = Background.start("read", () -> pair.client().read(ByteBuffer.allocate(8)))) {
                read.awaitBlocked(net);
                t.run("shutdownInput from another thread", pair.client()::shutdownInput);
                t.outcome("the blocked read", read.await());
                t.state("channel", pair.client());
            }
        }, "shutdownInput from another thread -> ok", "the blocked read -> -1",
                "channel: open=true blocking=true registered=false connected=true pending=false");

        c.add("closeDuringBlockingAcceptThrowsAsynchronousClose", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net);
                    Background<SocketChannel> accept = Background.start("accept", listener::accept)) {
                accept.awaitBlocked(net);
                t.run("close from another thread", listener::close);
                Background.Outcome outcome = accept.await();
                t.outcome("the blocked accept", outcome);
                t.note("interrupt status", outcome.interruptStatus());
                t.state("listener", listener);
            }
        }, "close from another thread -> ok", "the blocked accept -> threw AsynchronousCloseException", "interrupt status = false",
                "listener: open=false blocking=true registered=false");

        c.add("interruptDuringBlockingAcceptThrowsClosedByInterrupt", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net);
                    Background<SocketChannel> accept = Background.start("accept", listener::accept)) {
                java.net.SocketAddress address = listener.getLocalAddress();
                accept.awaitBlocked(net);
                accept.thread().interrupt();
                Background.Outcome outcome = accept.await();
                t.outcome("the blocked accept", outcome);
                t.note("interrupt status", outcome.interruptStatus());
                t.state("listener", listener);
                try (SocketChannel client = net.provider().openSocketChannel()) {
                    t.call("connect to the closed listener", () -> client.connect(address));
                }
            }
        }, "the blocked accept -> threw ClosedByInterruptException", "interrupt status = true",
                "listener: open=false blocking=true registered=false", "connect to the closed listener -> threw ConnectException: Connection refused");

        c.add("connectionReleasesABlockedAccept", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net);
                    Background<SocketChannel> accept = Background.start("accept", listener::accept)) {
                accept.awaitBlocked(net);
                try (SocketChannel client = net.provider().openSocketChannel()) {
                    client.connect(listener.getLocalAddress());
                    Background.Outcome outcome = accept.await();
                    t.outcome("the blocked accept", outcome);
                    if (outcome.value() instanceof SocketChannel accepted) {
                        t.note("accepted the client", accepted.getRemoteAddress().equals(client.getLocalAddress()));
                        accepted.close();
                    }
                }
            }
        }, "the blocked accept -> a SocketChannel", "accepted the client = true");

        c.add("closeDuringBlockingWriteThrowsAsynchronousClose", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net); Background<Integer> write = blockedWriter(net, pair.client())) {
                t.run("close from another thread", pair.client()::close);
                t.outcome("the blocked write", write.await());
                t.state("channel", pair.client());
            }
        }, "close from another thread -> ok", "the blocked write -> threw AsynchronousCloseException",
                "channel: open=false blocking=true registered=false connected=false pending=false");

        c.add("interruptDuringBlockingWriteThrowsClosedByInterrupt", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net); Background<Integer> write = blockedWriter(net, pair.client())) {
                write.thread().interrupt();
                Background.Outcome outcome = write.await();
                t.outcome("the blocked write", outcome);
                t.note("interrupt status", outcome.interruptStatus());
                t.state("channel", pair.client());
            }
        }, "the blocked write -> threw ClosedByInterruptException", "interrupt status = true",
                "channel: open=false blocking=true registered=false connected=false pending=false");

        c.add("shutdownOutputDuringBlockingWriteEndsIt", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net); Background<Integer> write = blockedWriter(net, pair.client())) {
                t.run("shutdownOutput from another thread", pair.client()::shutdownOutput);
                t.outcome("the blocked write", write.await());
                t.state("channel", pair.client());
            }
        }, "shutdownOutput from another thread -> ok", "the blocked write -> threw AsynchronousCloseException",
                "channel: open=true blocking=true registered=false connected=true pending=false");

        c.add("closeDuringBlockingReceiveThrowsAsynchronousClose", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel ch = DatagramChannelCases.bound(r, net);
                try (Background<java.net.SocketAddress> receive = Background.start("receive", () -> ch.receive(ByteBuffer.allocate(8)))) {
                    receive.awaitBlocked(net);
                    t.run("close from another thread", ch::close);
                    t.outcome("the blocked receive", receive.await());
                    t.state("channel", ch);
                }
            }
        }, "close from another thread -> ok", "the blocked receive -> threw AsynchronousCloseException",
                "channel: open=false blocking=true registered=false connected=false");

        c.add("interruptDuringBlockingReceiveThrowsClosedByInterrupt", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel ch = DatagramChannelCases.bound(r, net);
                try (Background<java.net.SocketAddress> receive = Background.start("receive", () -> ch.receive(ByteBuffer.allocate(8)))) {
                    receive.awaitBlocked(net);
                    receive.thread().interrupt();
                    Background.Outcome outcome = receive.await();
                    t.outcome("the blocked receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.state("channel", ch);
                }
            }
        }, "the blocked receive -> threw ClosedByInterruptException", "interrupt status = true",
                "channel: open=false blocking=true registered=false connected=false");

        c.add("closeDuringBlockingConnectedDatagramReadThrowsAsynchronousClose", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = DatagramChannelCases.bound(r, net);
                a.connect(b.getLocalAddress());
                try (Background<Integer> read = Background.start("read", () -> a.read(ByteBuffer.allocate(8)))) {
                    read.awaitBlocked(net);
                    a.close();
                    t.outcome("the blocked read", read.await());
                }
            }
        }, "the blocked read -> threw AsynchronousCloseException");

        c.add("datagramReleasesABlockedReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = DatagramChannelCases.bound(r, net);
                try (Background<java.net.SocketAddress> receive = Background.start("receive", () -> a.receive(ByteBuffer.allocate(8)))) {
                    receive.awaitBlocked(net);
                    b.send(ByteBuffer.wrap(bytes(2)), a.getLocalAddress());
                    Background.Outcome outcome = receive.await();
                    t.outcome("the blocked receive", outcome);
                    t.note("from b", b.getLocalAddress().equals(outcome.value()));
                }
            }
        }, "the blocked receive -> server:port", "from b = true");

        c.add("closeDuringBlockingPipeReadThrowsAsynchronousClose", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = PipeCases.open(r, net);
                try (Background<Integer> read = Background.start("read", () -> pipe.source().read(ByteBuffer.allocate(8)))) {
                    read.awaitBlocked(net);
                    t.run("close the source from another thread", pipe.source()::close);
                    t.outcome("the blocked read", read.await());
                    t.state("source", pipe.source());
                }
            }
        }, "close the source from another thread -> ok", "the blocked read -> threw AsynchronousCloseException",
                "source: open=false blocking=true registered=false");

        c.add("interruptDuringBlockingPipeReadThrowsClosedByInterrupt", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = PipeCases.open(r, net);
                try (Background<Integer> read = Background.start("read", () -> pipe.source().read(ByteBuffer.allocate(8)))) {
                    read.awaitBlocked(net);
                    read.thread().interrupt();
                    Background.Outcome outcome = read.await();
                    t.outcome("the blocked read", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.state("source", pipe.source());
                }
            }
        }, "the blocked read -> threw ClosedByInterruptException", "interrupt status = true", "source: open=false blocking=true registered=false");

        c.add("closeDuringBlockingPipeWriteThrowsAsynchronousClose", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = PipeCases.open(r, net);
                PipeCases.fill(pipe.sink());
                pipe.sink().configureBlocking(true);
                try (Background<Integer> write = Background.start("write", () -> pipe.sink().write(ByteBuffer.allocate(1024)))) {
                    write.awaitBlocked(net);
                    pipe.sink().close();
                    t.outcome("the blocked write", write.await());
                }
            }
        }, "the blocked write -> threw AsynchronousCloseException");

        c.add("sinkCloseReleasesABlockedPipeReadWithEndOfStream", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = PipeCases.open(r, net);
                try (Background<Integer> read = Background.start("read", () -> pipe.source().read(ByteBuffer.allocate(8)))) {
                    read.awaitBlocked(net);
                    pipe.sink().close();
                    t.outcome("the blocked read", read.await());
                }
            }
        }, "the blocked read -> -1");

        c.add("closeDuringBlockingSocketStreamRead", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                InputStream in = pair.client().socket().getInputStream();
                try (Background<Integer> read = Background.start("stream read", () -> in.read(new byte[8]))) {
                    read.awaitBlocked(net);
                    pair.client().socket().close();
                    t.outcome("the blocked stream read", read.await());
                }
            }
        }, "the blocked stream read -> threw AsynchronousCloseException");

        c.add("interruptDuringBlockingSocketStreamRead", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                InputStream in = pair.client().socket().getInputStream();
                try (Background<Integer> read = Background.start("stream read", () -> in.read(new byte[8]))) {
                    read.awaitBlocked(net);
                    read.thread().interrupt();
                    Background.Outcome outcome = read.await();
                    t.outcome("the blocked stream read", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("socket closed", pair.client().socket().isClosed());
                }
            }
        }, "the blocked stream read -> threw ClosedByInterruptException", "interrupt status = true", "socket closed = true");

        c.add("closeDuringBlockingServerSocketAccept", (net, t) -> {
            try (ServerSocketChannel listener = TcpPair.listen(net)) {
                ServerSocket socket = listener.socket();
                try (Background<java.net.Socket> accept = Background.start("accept", socket::accept)) {
                    accept.awaitBlocked(net);
                    socket.close();
                    t.outcome("the blocked accept", accept.await());
                    t.note("isClosed", socket.isClosed());
                }
            }
        }, "the blocked accept -> threw AsynchronousCloseException", "isClosed = true");

        c.add("closeDuringBlockingDatagramSocketReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel ch = DatagramChannelCases.bound(r, net);
                java.net.DatagramSocket socket = ch.socket();
                try (Background<Object> receive = Background.start("receive", () -> {
                    socket.receive(new DatagramPacket(new byte[8], 8));
                    return "received";
                })) {
                    receive.awaitBlocked(net);
                    socket.close();
                    t.outcome("the blocked receive", receive.await());
                }
            }
        }, "the blocked receive -> threw SocketException: Socket closed");

        c.add("interruptDuringBlockingDatagramSocketReceive", (net, t) -> {
            try (Resources r = new Resources()) {
                DatagramChannel ch = DatagramChannelCases.bound(r, net);
                java.net.DatagramSocket socket = ch.socket();
                try (Background<Object> receive = Background.start("receive", () -> {
                    socket.receive(new DatagramPacket(new byte[8], 8));
                    return "received";
                })) {
                    receive.awaitBlocked(net);
                    receive.thread().interrupt();
                    Background.Outcome outcome = receive.await();
                    t.outcome("the blocked receive", outcome);
                    t.note("interrupt status", outcome.interruptStatus());
                    t.note("socket closed", socket.isClosed());
                }
            }
        }, "the blocked receive -> threw ClosedByInterruptException", "interrupt status = true", "socket closed = true");

        return c.cases();
    }
}

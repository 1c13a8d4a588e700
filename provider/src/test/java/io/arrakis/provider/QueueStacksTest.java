package io.arrakis.provider;

import static io.arrakis.provider.StackProbes.await;
import static io.arrakis.provider.StackProbes.connections;
import static io.arrakis.provider.StackProbes.count;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.control.ShmVnic;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpCounter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A process driving two queues of its VNIC ({@code arrakis.queues=2}), one stack each: TCP
 * connections move to the stack of the selector they are registered with, under traffic, and
 * work there as before. The server side has two queues; the client side one, as another process.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QueueStacksTest {
    private final ExecutorService threads = Executors.newCachedThreadPool();
    private Path directory;
    private ArrakisSelectorProvider server;
    private ArrakisSelectorProvider client;
    private InetAddress serverAddress;

    @BeforeEach
    void attach() throws Exception {
        directory = Files.createTempDirectory("arrakis-queues-test");
        Properties two = TwoProviders.properties(directory);
        two.setProperty("arrakis.queues", "2");
        server = ArrakisSelectorProvider.create(two);
        client = ArrakisSelectorProvider.create(TwoProviders.properties(directory));
        serverAddress = server.userLevelAddress();
    }

    @AfterEach
    void detach() throws Exception {
        threads.shutdownNow();
        try {
            client.shutdown();
        } finally {
            server.shutdown();
        }
    }

    private QueueStacks stacks() {
        QueueStacks qs = server.queueStacks();
        assertNotNull(qs, "arrakis.queues=2 runs two stacks");
        assertEquals(2, qs.stacks().size());
        return qs;
    }

    /** Byte i of a stream: a pattern whose period is no multiple of a segment or a ring. */
    private static byte pattern(long i, int seed) {
        return (byte) (i * 31 + (i >>> 9) * 7 + seed);
    }

    @Test
    void aConnectionMovesToItsSelectorsStackUnderTrafficBothWaysByteExact() throws Exception {
        QueueStacks qs = stacks();
        UserStack first = qs.stacks().get(0);
        UserStack second = qs.stacks().get(1);
        long upBytes = 4L * 1024 * 1024 + 13;
        long downBytes = 3L * 1024 * 1024 + 7;
        try (ServerSocketChannel listener = server.openServerSocketChannel();
                Selector taken = server.openSelector();
                Selector selector = server.openSelector()) {
            // The first selector takes queue 0's stack, the second queue 1's (round robin).
            assertSame(first, ((ArrakisSelector) taken).home(qs));
            assertSame(second, ((ArrakisSelector) selector).home(qs));
            listener.bind(new InetSocketAddress(serverAddress, 0));
            InetSocketAddress bound = (InetSocketAddress) listener.getLocalAddress();
            SocketChannel peer = client.openSocketChannel();
            assertTrue(peer.connect(bound));
            // The client streams up and reads what comes down, on two threads, from the start.
            CompletableFuture<Long> sent = CompletableFuture.supplyAsync(() -> {
                try {
                    ByteBuffer out = ByteBuffer.allocate(32 * 1024);
                    long i = 0;
                    while (i < upBytes) {
                        out.clear();
                        while (out.hasRemaining() && i < upBytes) {
                            out.put(pattern(i++, 1));
                        }
                        out.flip();
                        while (out.hasRemaining()) {
                            peer.write(out);
                        }
                    }
                    peer.shutdownOutput(); // a half-close that reaches the connection after its move
                    return i;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, threads);
            CompletableFuture<Long> received = CompletableFuture.supplyAsync(() -> {
                try {
                    ByteBuffer in = ByteBuffer.allocate(64 * 1024);
                    long i = 0;
                    int n;
                    while ((n = peer.read(in.clear())) >= 0) {
                        for (int k = 0; k < n; k++) {
                            if (in.get(k) != pattern(i, 2)) {
                                throw new AssertionError("byte " + i + " from the server is wrong");
                            }
                            i++;
                        }
                    }
                    return i;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, threads);

            SocketChannel accepted = listener.accept();
            ArrakisSocketChannel channel = (ArrakisSocketChannel) accepted;
            assertSame(first, channel.userStack(), "accepted on queue 0's stack, where the listener is");
            // Read some of the stream there, so the move happens with data in flight.
            ByteBuffer in = ByteBuffer.allocate(64 * 1024);
            long up = 0;
            while (up < 256 * 1024) {
                int n = accepted.read(in.clear());
                for (int k = 0; k < n; k++) {
                    assertEquals(pattern(up, 1), in.get(k), "byte " + up + " from the client");
                    up++;
                }
            }
            accepted.configureBlocking(false);
            SelectionKey key = accepted.register(selector, SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            assertSame(second, channel.userStack(), "moved to its selector's stack");
            assertEquals(1, qs.moves());
            assertTrue(((ShmVnic) first.vnic()).receiveFilters().stream()
                    .anyMatch(f -> f.localPort() == bound.getPort() && f.remotePort() == peer.socket().getLocalPort()),
                    "its flow is steered to queue 1");

            TcpConnection c = channel.userConnection();
            second.lock().lock();
            try {
                // Taken into account at the connection's next segment (the engine's options do
                // not re-arm its timer by themselves).
                c.setKeepAlive(true);
                c.setKeepAliveParameters(TimeUnit.MILLISECONDS.toNanos(50), TimeUnit.MILLISECONDS.toNanos(50), 50);
            } finally {
                second.unlock();
            }
            ByteBuffer out = ByteBuffer.allocate(32 * 1024).flip();
            long down = 0;
            boolean eof = false;
            while (!eof || down < downBytes) {
                selector.select(1000);
                selector.selectedKeys().clear();
                if (key.isValid() && key.isReadable() || !eof) {
                    int n;
                    while ((n = accepted.read(in.clear())) > 0) {
                        for (int k = 0; k < n; k++) {
                            assertEquals(pattern(up, 1), in.get(k), "byte " + up + " from the client");
                            up++;
                        }
                    }
                    if (n < 0 && !eof) {
                        eof = true;
                    }
                }
                while (down < downBytes || out.hasRemaining()) {
                    if (!out.hasRemaining()) {
                        out.clear();
                        while (out.hasRemaining() && down < downBytes) {
                            out.put(pattern(down++, 2));
                        }
                        out.flip();
                    }
                    if (accepted.write(out) == 0) {
                        break;
                    }
                }
                if (down >= downBytes && !out.hasRemaining()) {
                    key.interestOps(SelectionKey.OP_READ);
                }
            }
            assertEquals(upBytes, up, "every byte the client sent, then its FIN");
            assertEquals(upBytes, (long) sent.get(30, TimeUnit.SECONDS));

            // The moved connection's timers run on its new stack: keep-alive probes (armed below
            // when the traffic began, so its last segments scheduled them), answered.
            await("a keep-alive probe from queue 1's stack", () -> count(second, TcpCounter.KEEPALIVE_PROBES) > 0);
            assertEquals(0, count(first, TcpCounter.KEEPALIVE_PROBES), "queue 0's stack no longer runs its timers");

            accepted.close(); // after the move: the FIN goes from queue 1's stack, the client sees the end
            assertEquals(downBytes, (long) received.get(30, TimeUnit.SECONDS));
            peer.close();
            assertEquals(0, count(first, TcpCounter.RESETS_OUT) + count(second, TcpCounter.RESETS_OUT),
                    "no reset: every segment found its connection");
            await("the moved flow's filter removed once the connection is over",
                    () -> qs.movedFlows() == 0 && ((ShmVnic) first.vnic()).receiveFilters().isEmpty());
        }
    }

    /**
     * The memcached shape: an acceptor and two worker threads with a selector each, 50 clients.
     * Each worker's connections all end up on its own stack, and requests are answered correctly.
     */
    @Test
    void twoWorkersServeFiftyClientsEachOnItsOwnStack() throws Exception {
        QueueStacks qs = stacks();
        int workers = 2;
        int clients = 50;
        int rounds = 40;
        List<Selector> selectors = new ArrayList<>();
        List<java.util.concurrent.ConcurrentLinkedQueue<SocketChannel>> handed = new ArrayList<>();
        ConcurrentHashMap<SocketChannel, Selector> workerOf = new ConcurrentHashMap<>();
        java.util.concurrent.atomic.AtomicInteger ended = new java.util.concurrent.atomic.AtomicInteger();
        try (ServerSocketChannel listener = server.openServerSocketChannel()) {
            listener.bind(new InetSocketAddress(serverAddress, 0));
            InetSocketAddress bound = (InetSocketAddress) listener.getLocalAddress();
            List<CompletableFuture<Void>> loops = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                Selector selector = server.openSelector();
                selectors.add(selector);
                java.util.concurrent.ConcurrentLinkedQueue<SocketChannel> inbox = new java.util.concurrent.ConcurrentLinkedQueue<>();
                handed.add(inbox);
                loops.add(CompletableFuture.runAsync(() -> echoLines(selector, inbox, workerOf, ended), threads));
            }
            CompletableFuture<Void> acceptor = CompletableFuture.runAsync(() -> {
                try {
                    for (int i = 0; i < clients; i++) {
                        SocketChannel accepted = listener.accept();
                        handed.get(i % workers).add(accepted);
                        selectors.get(i % workers).wakeup();
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, threads);
            List<SocketChannel> peers = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                SocketChannel peer = client.openSocketChannel();
                assertTrue(peer.connect(bound));
                peers.add(peer);
            }
            acceptor.get(30, TimeUnit.SECONDS);
            ByteBuffer in = ByteBuffer.allocate(256);
            for (int round = 0; round < rounds; round++) {
                for (int i = 0; i < clients; i++) {
                    String request = "get key-" + i + "-" + round + "\n";
                    peers.get(i).write(ByteBuffer.wrap(request.getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
                }
                for (int i = 0; i < clients; i++) {
                    String expected = "VALUE key-" + i + "-" + round + "\n";
                    in.clear().limit(expected.length());
                    while (in.hasRemaining()) {
                        assertTrue(peers.get(i).read(in) >= 0, "client " + i + " saw the end early");
                    }
                    assertEquals(expected, new String(in.array(), 0, expected.length(),
                            java.nio.charset.StandardCharsets.US_ASCII));
                }
            }
            assertEquals(clients, workerOf.size());
            UserStack home0 = ((ArrakisSelector) selectors.get(0)).home(qs);
            UserStack home1 = ((ArrakisSelector) selectors.get(1)).home(qs);
            assertNotSame(home0, home1, "the two workers have a stack each");
            for (var entry : workerOf.entrySet()) {
                ArrakisSelector worker = (ArrakisSelector) entry.getValue();
                assertSame(worker.home(qs), ((ArrakisSocketChannel) entry.getKey()).userStack(),
                        "a worker's connection lives on the worker's stack");
            }
            assertEquals(clients / 2, connections(qs.stacks().get(0)));
            assertEquals(clients / 2, connections(qs.stacks().get(1)));
            assertEquals(clients / 2, qs.moves(), "the second worker's connections moved, the first's stayed");
            for (SocketChannel peer : peers) {
                peer.close();
            }
            // The clients close first, so the server's side ends in LAST_ACK, not TIME_WAIT (which
            // keeps a flow, and its filter, for a while).
            await("every worker saw its clients' end", () -> ended.get() == clients);
            for (Selector s : selectors) {
                s.close(); // closing the selectors after the moves: their loops end
            }
            for (CompletableFuture<Void> loop : loops) {
                loop.get(10, TimeUnit.SECONDS);
            }
            for (SocketChannel accepted : workerOf.keySet()) {
                accepted.close();
            }
            assertEquals(0, count(qs.stacks().get(0), TcpCounter.RESETS_OUT)
                    + count(qs.stacks().get(1), TcpCounter.RESETS_OUT));
            await("every moved flow's filter removed", () -> qs.movedFlows() == 0);
        } finally {
            for (Selector s : selectors) {
                s.close();
            }
        }
    }

    /** A worker: registers what the acceptor hands it, answers each line "get K" with "VALUE K". */
    private static void echoLines(Selector selector, java.util.concurrent.ConcurrentLinkedQueue<SocketChannel> inbox,
            ConcurrentHashMap<SocketChannel, Selector> workerOf, java.util.concurrent.atomic.AtomicInteger ended) {
        ByteBuffer in = ByteBuffer.allocate(4096);
        try {
            while (selector.isOpen()) {
                selector.select(100);
                if (!selector.isOpen()) {
                    return;
                }
                SocketChannel fresh;
                while ((fresh = inbox.poll()) != null) {
                    fresh.configureBlocking(false);
                    fresh.register(selector, SelectionKey.OP_READ, new StringBuilder());
                    workerOf.put(fresh, selector);
                }
                for (SelectionKey key : selector.selectedKeys()) {
                    SocketChannel channel = (SocketChannel) key.channel();
                    StringBuilder line = (StringBuilder) key.attachment();
                    int n = channel.read(in.clear());
                    if (n < 0) {
                        key.cancel();
                        ended.incrementAndGet();
                        continue;
                    }
                    for (int k = 0; k < n; k++) {
                        char ch = (char) in.get(k);
                        if (ch == '\n') {
                            String reply = "VALUE " + line.substring(4) + "\n";
                            ByteBuffer out = ByteBuffer.wrap(reply.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                            while (out.hasRemaining()) {
                                channel.write(out);
                            }
                            line.setLength(0);
                        } else {
                            line.append(ch);
                        }
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (java.nio.channels.ClosedSelectorException closed) {
            // the test closed the selector: the loop ends
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    @Test
    void oneQueueRunsOneStackAndMovesNothing() throws Exception {
        Properties one = TwoProviders.properties(directory);
        ArrakisSelectorProvider single = ArrakisSelectorProvider.create(one);
        try {
            single.userLevelAddress();
            assertNull(single.queueStacks(), "arrakis.queues defaults to 1: no second stack, no moves");
            assertEquals(1, single.userStack().stacksOfQueues().size());
            assertEquals(1, single.userStack().vnic().queueCount());
        } finally {
            single.shutdown();
        }
    }

    @Test
    void shutdownStopsEveryQueuesPollerAndTheFilterThread() throws Exception {
        stacks();
        String vnic = server.userStack().vnic().name();
        assertTrue(threadsOf(vnic) >= 3, "two pollers and the filter thread run");
        server.shutdown();
        await("no thread of " + vnic + " left", () -> threadsOf(vnic) == 0);
    }

    private static long threadsOf(String vnic) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("arrakis-") && t.getName().contains(vnic)).count();
    }

    @Test
    void aBadQueueCountIsRefusedNamingTheOption() {
        Properties bad = TwoProviders.properties(directory);
        bad.setProperty("arrakis.queues", "0");
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ArrakisSelectorProvider.create(bad));
        assertTrue(e.getMessage().contains("arrakis.queues: '0'"), e.getMessage());
    }
}

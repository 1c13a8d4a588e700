package io.arrakis.provider;

import static io.arrakis.provider.StackProbes.await;
import static io.arrakis.provider.StackProbes.connections;
import static io.arrakis.provider.StackProbes.count;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.VnicCounter;
import io.arrakis.device.xdp.AfXdpVnic;
import io.arrakis.device.xdp.XdpTestbed;
import io.arrakis.testing.NetworkNamespace;
import io.arrakis.stack.StackCounter;
import io.arrakis.stack.tcp.TcpCounter;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code arrakis.queues=2} on the af_xdp backend over a two-queue veth in native XDP mode: a
 * server with an acceptor and two worker selectors serves Linux clients in the peer namespace,
 * byte-exact. Which of our queues a client's frames arrive on is the peer kernel's choice (its
 * transmit queue: XPS by CPU here, and the clients run on both CPUs), not ours: XDP can hand a
 * frame only to the socket of the queue it arrived on, and this backend installs no per-connection
 * steering (a NIC's ntuple rules would be needed). So every connection stays on queue 0's stack
 * (the move to the second worker's stack is refused), and whatever arrives on queue 1 is handed
 * to queue 0's stack by queue 1's: nothing reaches the kernel, nothing is reset.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class QueueStacksXdpTest {
    private static final int PORT = 7200;
    private static final int UDP_PORT = 7201;
    private static final int DATAGRAMS_PER_CPU = 40;
    private static final int CONNECTIONS_PER_CPU = 3;
    private static final int BYTES_PER_CONNECTION = 300_000;

    private final ExecutorService threads = Executors.newCachedThreadPool();
    private XdpTestbed testbed;
    private ArrakisSelectorProvider provider;

    @AfterEach
    void closeAll() throws Exception {
        threads.shutdownNow();
        try {
            if (provider != null) {
                provider.shutdown();
            }
        } finally {
            if (testbed != null) {
                testbed.close();
            }
        }
    }

    /** A Linux client process pinned to {@code cpu}: connections that each send pseudo-random bytes and check the echo. */
    private NetworkNamespace.Result clients(int cpu) throws IOException {
        return NetworkNamespace.run(List.of("ip", "netns", "exec", testbed.peer.name(), "taskset", "-c",
                Integer.toString(cpu), "python3", "-c", """
                import random, socket, sys, threading
                cpu, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
                results = {}
                def one(i):
                    data = random.Random(cpu * 1000 + i).randbytes(size)
                    try:
                        s = socket.create_connection(('198.18.0.3', %d), timeout=8)
                        sender = threading.Thread(target=s.sendall, args=(data,))
                        sender.start()
                        got = bytearray()
                        while len(got) < size:
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            got += chunk
                        sender.join()
                        s.close()
                        results[i] = 'ok' if bytes(got) == data else 'differs after %%d of %%d bytes' %% (len(got), size)
                    except OSError as e:
                        results[i] = type(e).__name__ + ': ' + str(e)
                threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                for i in range(count):
                    print(cpu, i, results.get(i))
                """.formatted(PORT), Integer.toString(cpu), Integer.toString(CONNECTIONS_PER_CPU),
                Integer.toString(BYTES_PER_CONNECTION)), Duration.ofSeconds(40));
    }

    /**
     * A Linux UDP client pinned to {@code cpu}: a connected socket (so an ICMP port unreachable
     * would show as ConnectionRefusedError) sends datagrams of several sizes and checks each echo.
     */
    private NetworkNamespace.Result udpClient(int cpu) throws IOException {
        return NetworkNamespace.run(List.of("ip", "netns", "exec", testbed.peer.name(), "taskset", "-c",
                Integer.toString(cpu), "python3", "-c", """
                import random, socket, sys
                cpu, count = int(sys.argv[1]), int(sys.argv[2])
                rng = random.Random(cpu)
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(3)
                s.connect(('198.18.0.3', %d))
                good = 0
                try:
                    for i in range(count):
                        data = rng.randbytes(1 + (i * 37) %% 1400)
                        s.send(data)
                        if s.recv(65535) == data:
                            good += 1
                    print('udp', cpu, good, 'of', count)
                except OSError as e:
                    print('udp', cpu, good, 'of', count, 'then', type(e).__name__)
                """.formatted(UDP_PORT), Integer.toString(cpu), Integer.toString(DATAGRAMS_PER_CPU)),
                Duration.ofSeconds(30));
    }

    @Test
    void twoWorkersOnTwoQueuesServeLinuxClientsWhoseFramesArriveOnBothQueues() throws Exception {
        Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() >= 2,
                "needs two CPUs: the peer's clients reach our two queues by sending from CPU 0 and CPU 1");
        testbed = XdpTestbed.create(2);
        // The peer's kernel sends on transmit queue i from CPU i, and a veth in native mode delivers
        // on our receive queue with the same number.
        for (int q = 0; q < 2; q++) {
            testbed.peer.exec("sh", "-c", "echo " + (1 << q) + " > /sys/class/net/" + testbed.peerLink + "/queues/tx-"
                    + q + "/xps_cpus");
        }
        Properties settings = new Properties();
        settings.setProperty("arrakis.backend", "af_xdp");
        settings.setProperty("arrakis.queues", "2");
        settings.setProperty("arrakis.af_xdp.interface", testbed.ourLink);
        settings.setProperty("arrakis.af_xdp.netns", testbed.ours.name());
        settings.setProperty("arrakis.af_xdp.address", XdpTestbed.OUR_IP + "/24");
        settings.setProperty("arrakis.af_xdp.xdp-mode", "native");
        provider = ArrakisSelectorProvider.create(settings);
        assertEquals(XdpTestbed.OUR_IP, provider.userLevelAddress().getHostAddress());
        QueueStacks qs = provider.queueStacks();
        assertNotNull(qs, "arrakis.queues=2 runs two stacks on the af_xdp backend");
        assertEquals(2, qs.stacks().size());
        AfXdpVnic vnic = (AfXdpVnic) qs.stacks().get(0).vnic();
        assertEquals(2, vnic.queueCount());
        assertEquals(1, vnic.hardwareQueue(1), "queue 1 is the veth's queue 1 (first-queue 0)");
        long[] receivedBefore = {received(vnic, 0), received(vnic, 1)};

        int clients = 2 * CONNECTIONS_PER_CPU;
        List<Selector> selectors = new ArrayList<>();
        List<ConcurrentLinkedQueue<SocketChannel>> inboxes = new ArrayList<>();
        ConcurrentHashMap<SocketChannel, Selector> workerOf = new ConcurrentHashMap<>();
        AtomicInteger ended = new AtomicInteger();
        try (ServerSocketChannel listener = provider.openServerSocketChannel();
                DatagramChannel udp = provider.openDatagramChannel()) {
            listener.bind(new InetSocketAddress(provider.userLevelAddress(), PORT));
            udp.bind(new InetSocketAddress(provider.userLevelAddress(), UDP_PORT));
            CompletableFuture.runAsync(() -> echoUdp(udp), threads);
            List<CompletableFuture<Void>> loops = new ArrayList<>();
            for (int w = 0; w < 2; w++) {
                Selector selector = provider.openSelector();
                selectors.add(selector);
                ConcurrentLinkedQueue<SocketChannel> inbox = new ConcurrentLinkedQueue<>();
                inboxes.add(inbox);
                loops.add(CompletableFuture.runAsync(() -> echo(selector, inbox, workerOf, ended), threads));
            }
            CompletableFuture<Void> acceptor = CompletableFuture.runAsync(() -> {
                try {
                    for (int i = 0; i < clients; i++) {
                        SocketChannel accepted = listener.accept();
                        inboxes.get(i % 2).add(accepted);
                        selectors.get(i % 2).wakeup();
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, threads);
            CompletableFuture<NetworkNamespace.Result> onCpu0 = CompletableFuture.supplyAsync(() -> run(0), threads);
            CompletableFuture<NetworkNamespace.Result> onCpu1 = CompletableFuture.supplyAsync(() -> run(1), threads);
            List<String> lines = new ArrayList<>();
            for (NetworkNamespace.Result r : List.of(onCpu0.get(60, TimeUnit.SECONDS), onCpu1.get(60, TimeUnit.SECONDS))) {
                assertEquals(0, r.exitCode(), "clients: " + r.stdout() + r.stderr());
                lines.addAll(r.stdout().strip().lines().toList());
            }
            assertEquals(clients, lines.size(), String.join("\n", lines));
            for (String line : lines) {
                assertTrue(line.endsWith(" ok"), "every client got its bytes back, exactly: " + String.join("\n", lines)
                        + "\n" + describe(qs));
            }
            acceptor.get(10, TimeUnit.SECONDS);
            // UDP lives on queue 0's stack; datagrams sent from CPU 1 arrive on queue 1 and are handed on.
            for (int cpu = 0; cpu < 2; cpu++) {
                NetworkNamespace.Result r = udpClient(cpu);
                assertEquals("udp " + cpu + " " + DATAGRAMS_PER_CPU + " of " + DATAGRAMS_PER_CPU, r.stdout().strip(),
                        "every datagram echoed, exactly: " + r.stderr() + describe(qs));
            }
            await("every worker saw its clients' end", () -> ended.get() == clients);

            // Where the connections are: both workers have a stack each, but every connection stayed
            // on queue 0's (the VNIC cannot steer one connection to queue 1), and queue 1's stack
            // handed queue 0's everything that arrived on it.
            assertEquals(clients, workerOf.size());
            UserStack first = qs.stacks().get(0);
            UserStack second = qs.stacks().get(1);
            assertNotSame(((ArrakisSelector) selectors.get(0)).home(qs), ((ArrakisSelector) selectors.get(1)).home(qs),
                    "the two workers have a stack each");
            long onSecondWorker = workerOf.values().stream()
                    .filter(s -> ((ArrakisSelector) s).home(qs) == second).count();
            assertEquals(clients / 2, onSecondWorker);
            for (SocketChannel accepted : workerOf.keySet()) {
                assertSame(first, ((ArrakisSocketChannel) accepted).userStack(),
                        "every connection stays on queue 0's stack, where it was accepted");
            }
            assertEquals(0, qs.moves());
            assertEquals(onSecondWorker, qs.refusedMoves(), "each move to queue 1's stack was refused, cleanly");
            assertEquals(0, connections(second));
            assertTrue(received(vnic, 1) - receivedBefore[1] > 50,
                    "the clients on CPU 1 reached our queue 1: " + describe(qs));
            assertTrue(received(vnic, 0) - receivedBefore[0] > 50,
                    "the clients on CPU 0 reached our queue 0: " + describe(qs));
            assertTrue(first.divertedSegments() > 50, "queue 1's stack handed its segments to queue 0's: "
                    + describe(qs));
            assertEquals(0, count(first, TcpCounter.RESETS_OUT) + count(second, TcpCounter.RESETS_OUT),
                    "no connection was reset: " + describe(qs));
            assertEquals(0, udpNoPort(first) + udpNoPort(second), "no datagram met a stack without its port: "
                    + describe(qs));

            for (Selector s : selectors) {
                s.close();
            }
            for (CompletableFuture<Void> loop : loops) {
                loop.get(10, TimeUnit.SECONDS);
            }
            for (SocketChannel accepted : workerOf.keySet()) {
                accepted.close();
            }
        } finally {
            for (Selector s : selectors) {
                s.close();
            }
        }
    }

    private NetworkNamespace.Result run(int cpu) {
        try {
            return clients(cpu);
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static long received(AfXdpVnic vnic, int queue) {
        return ((io.arrakis.device.Vnic) vnic).queue(queue).counters().get(VnicCounter.RX_PACKETS);
    }

    private static String describe(QueueStacks qs) {
        StringBuilder s = new StringBuilder();
        for (UserStack stack : qs.stacks()) {
            s.append("\nqueue ").append(stack.queueIndex()).append(": ").append(connections(stack))
                    .append(" connections, diverted in ").append(stack.divertedSegments()).append(", resets out ")
                    .append(count(stack, TcpCounter.RESETS_OUT)).append(", UDP without port ")
                    .append(udpNoPort(stack));
        }
        return s.append("\nmoves ").append(qs.moves()).append(", refused ").append(qs.refusedMoves()).toString();
    }

    private static long udpNoPort(UserStack stack) {
        stack.lock().lock();
        try {
            return stack.stack().counters().get(StackCounter.UDP_NO_PORT);
        } finally {
            stack.lock().unlock();
        }
    }

    /** Echoes every datagram back to its sender until the channel closes. */
    private static void echoUdp(DatagramChannel udp) {
        ByteBuffer buffer = ByteBuffer.allocate(65536);
        try {
            while (udp.isOpen()) {
                java.net.SocketAddress from = udp.receive(buffer.clear());
                udp.send(buffer.flip(), from);
            }
        } catch (IOException closed) {
            // the test closed the channel: the loop ends
        }
    }

    /** A worker: registers what the acceptor hands it and echoes every byte back, until the client's end. */
    private static void echo(Selector selector, ConcurrentLinkedQueue<SocketChannel> inbox,
            ConcurrentHashMap<SocketChannel, Selector> workerOf, AtomicInteger ended) {
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        try {
            while (selector.isOpen()) {
                selector.select(100);
                if (!selector.isOpen()) {
                    return;
                }
                SocketChannel fresh;
                while ((fresh = inbox.poll()) != null) {
                    fresh.configureBlocking(false);
                    fresh.register(selector, SelectionKey.OP_READ);
                    workerOf.put(fresh, selector);
                }
                for (SelectionKey key : selector.selectedKeys()) {
                    SocketChannel channel = (SocketChannel) key.channel();
                    int n = channel.read(buffer.clear());
                    if (n < 0) {
                        key.cancel();
                        ended.incrementAndGet();
                        continue;
                    }
                    buffer.flip();
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                    while (buffer.hasRemaining()) {
                        if (channel.write(buffer) == 0) {
                            if (System.nanoTime() - deadline > 0) {
                                throw new IllegalStateException("echo: the client took nothing for 20 s");
                            }
                            Thread.onSpinWait();
                        }
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (ClosedSelectorException closed) {
            // the test closed the selector: the loop ends
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }
}

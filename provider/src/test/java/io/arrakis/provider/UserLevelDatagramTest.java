package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.PortUnreachableException;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.AlreadyBoundException;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.MembershipKey;
import java.nio.channels.NotYetConnectedException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Our DatagramChannel on the user-level stack, between two providers (two VNICs) on one shm switch. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UserLevelDatagramTest {
    private static final InetAddress GROUP = Addresses.inet(0xEFFF_4D01); // 239.255.77.1

    private TwoProviders providers;
    private InetAddress serverAddress;
    private InetAddress clientAddress;

    @BeforeEach
    void attach() throws Exception {
        providers = new TwoProviders();
        serverAddress = providers.server.userLevelAddress();
        clientAddress = providers.client.userLevelAddress();
    }

    @AfterEach
    void detach() throws Exception {
        providers.close();
    }

    private DatagramChannel serverChannel() throws Exception {
        return providers.server.openDatagramChannel().bind(new InetSocketAddress(serverAddress, 0));
    }

    private DatagramChannel clientChannel() throws Exception {
        return providers.client.openDatagramChannel().bind(new InetSocketAddress(clientAddress, 0));
    }

    private static ByteBuffer text(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static String text(ByteBuffer b) {
        b.flip();
        return StandardCharsets.UTF_8.decode(b).toString();
    }

    private static boolean userLevelOnly(DatagramChannel channel) {
        ArrakisDatagramChannel ours = assertInstanceOf(ArrakisDatagramChannel.class, channel);
        return ours.hasUserSide() && ours.kernelChannel() == null;
    }

    /**
     * Waits (bounded) until {@code thread} has stopped spinning and parked, or sleeps in epoll as
     * the stack's leader (a downcall: RUNNABLE, in {@code UserStack.sleepInEpoll}).
     */
    private static void awaitBlocked(Thread thread) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (thread.getState() == Thread.State.NEW || (thread.getState() == Thread.State.RUNNABLE
                && java.util.Arrays.stream(thread.getStackTrace()).noneMatch(f -> f.getMethodName().equals("sleepInEpoll")))) {
            assertTrue(System.nanoTime() < deadline, "the receiver never blocked");
            Thread.sleep(5);
        }
        Thread.sleep(50); // and stays blocked: it was not a passing lock
        assertTrue(thread.isAlive());
    }

    /** Runs {@code body} on a thread of its own (not the common pool: it has one worker on this machine). */
    private static <T> CompletableFuture<T> onThread(Thread[] started, Body<T> body) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread thread = Thread.ofPlatform().daemon().start(() -> {
            try {
                result.complete(body.run());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        started[0] = thread;
        return result;
    }

    /**
     * A unicast exchange first: the switch tells each VNIC of the other asynchronously, and a
     * broadcast or multicast frame sent before that reaches nobody (a unicast one is retried by
     * ARP; these are not).
     */
    private static void introduce(DatagramChannel from, DatagramChannel to) throws Exception {
        from.send(text("hello"), to.getLocalAddress());
        assertEquals(from.getLocalAddress(), to.receive(ByteBuffer.allocate(8)));
    }

    interface Body<T> {
        T run() throws Exception;
    }

    @Test
    void datagramsCrossBothWaysThroughTheUserLevelStacks() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel()) {
            assertTrue(userLevelOnly(server) && userLevelOnly(client));
            InetSocketAddress serverBound = (InetSocketAddress) server.getLocalAddress();
            assertEquals(serverAddress, serverBound.getAddress());
            assertTrue(serverBound.getPort() > 0);
            assertEquals(4, client.send(text("ping"), serverBound));
            ByteBuffer in = ByteBuffer.allocate(64);
            SocketAddress from = server.receive(in);
            assertEquals(client.getLocalAddress(), from);
            assertEquals("ping", text(in));
            assertEquals(4, server.send(text("pong"), from));
            in.clear();
            assertEquals(serverBound, client.receive(in));
            assertEquals("pong", text(in));
            assertEquals(0, client.send(ByteBuffer.allocate(0), serverBound), "an empty datagram is one too");
            in.clear();
            assertEquals(from, server.receive(in));
            assertEquals(0, in.position());
        }
    }

    @Test
    void aConnectedChannelReadsAndWritesOnlyWithItsPeer() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel();
                DatagramChannel stranger = clientChannel()) {
            assertThrows(NotYetConnectedException.class, () -> client.read(ByteBuffer.allocate(4)));
            assertThrows(NotYetConnectedException.class, () -> client.write(text("x")));
            SocketAddress serverBound = server.getLocalAddress();
            client.connect(serverBound);
            assertTrue(client.isConnected());
            assertEquals(serverBound, client.getRemoteAddress());
            assertThrows(AlreadyConnectedException.class, () -> client.connect(serverBound));
            assertThrows(AlreadyConnectedException.class, () -> client.send(text("x"), stranger.getLocalAddress()));
            assertThrows(AlreadyBoundException.class, () -> client.bind(null));
            assertEquals(5, client.write(text("hello")));
            ByteBuffer in = ByteBuffer.allocate(16);
            assertEquals(client.getLocalAddress(), server.receive(in));
            server.connect(client.getLocalAddress());
            stranger.send(text("intruder"), serverBound); // a connected channel never sees it
            assertEquals(5, server.write(new ByteBuffer[] {text("wor"), ByteBuffer.allocate(0), text("ld")}));
            ByteBuffer[] parts = {ByteBuffer.allocate(2), ByteBuffer.allocate(10)};
            assertEquals(5, client.read(parts));
            assertEquals("wo", text(parts[0]));
            assertEquals("rld", text(parts[1]));
            assertEquals(0, client.write(ByteBuffer.allocate(0)), "a connected write of nothing sends nothing");
            assertEquals(3, client.send(text("abc"), serverBound), "send to the peer is a write");
            in.clear();
            assertEquals(3, server.read(in));
            server.configureBlocking(false);
            in.clear();
            assertEquals(0, server.read(in), "nothing else came: the stranger's datagram was not let in");
            server.disconnect();
            assertFalse(server.isConnected());
            assertNull(server.getRemoteAddress());
            stranger.send(text("again"), serverBound);
            ByteBuffer later = ByteBuffer.allocate(16);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            SocketAddress from;
            while ((from = server.receive(later)) == null && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertEquals(stranger.getLocalAddress(), from, "disconnected: everyone is heard again");
            assertEquals("again", text(later));
        }
    }

    @Test
    void datagramsUpTo65507BytesAreFragmentedAndArriveWhole() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel()) {
            SocketAddress to = server.getLocalAddress();
            ByteBuffer in = ByteBuffer.allocate(70_000);
            for (int length : new int[] {1, 1472, 1473, 8000, 32_768, 65_507}) {
                byte[] data = new byte[length];
                new Random(length).nextBytes(data);
                assertEquals(length, client.send(ByteBuffer.wrap(data), to));
                in.clear();
                assertEquals(client.getLocalAddress(), server.receive(in));
                assertEquals(length, in.position(), "length " + length);
                assertArrayEquals(data, Arrays.copyOf(in.array(), length), "bytes of a " + length + "-byte datagram");
            }
            SocketException tooLong = assertThrows(SocketException.class,
                    () -> client.send(ByteBuffer.allocate(65_508), to));
            assertEquals("Message too long", tooLong.getMessage());
            client.connect(to);
            ByteBuffer[] gather = {ByteBuffer.allocate(40_000), ByteBuffer.allocate(40_000)};
            assertEquals("Message too long", assertThrows(java.io.IOException.class, () -> client.write(gather))
                    .getMessage());
            assertEquals(0, gather[0].position(), "nothing consumed");
        }
    }

    @Test
    void aDatagramLongerThanTheBufferIsTruncatedAndItsRestDiscarded() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel()) {
            SocketAddress to = server.getLocalAddress();
            client.send(text("0123456789abcdefghij"), to);
            client.send(text("next"), to);
            client.send(text("skipped whole"), to);
            client.send(text("last"), to);
            ByteBuffer small = ByteBuffer.allocate(10);
            assertNotNull(server.receive(small));
            assertEquals(10, small.position());
            assertEquals("0123456789", text(small));
            ByteBuffer in = ByteBuffer.allocate(32);
            server.receive(in);
            assertEquals("next", text(in), "the rest of the long one is gone, not read as another datagram");
            assertEquals(client.getLocalAddress(), server.receive(ByteBuffer.allocate(0)),
                    "receive into no room consumes a datagram");
            in.clear();
            server.receive(in);
            assertEquals("last", text(in));
            server.connect(client.getLocalAddress());
            client.send(text("truncated by read"), to);
            ByteBuffer four = ByteBuffer.allocate(4);
            assertEquals(0, server.read(ByteBuffer.allocate(0)), "read into no room consumes nothing");
            assertEquals(4, server.read(four));
            assertEquals("trun", text(four));
        }
    }

    @Test
    void aNonBlockingReceiveReturnsNullAndAReadZeroWhenNothingWaits() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel()) {
            server.configureBlocking(false);
            ByteBuffer in = ByteBuffer.allocate(16);
            assertNull(server.receive(in));
            assertEquals(0, in.position());
            server.connect(client.getLocalAddress());
            assertEquals(0, server.read(in));
            client.send(text("late"), server.getLocalAddress());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            int n;
            while ((n = server.read(in)) == 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(4, n);
        }
    }

    @Test
    void aBlockedReceiveWakesWhenADatagramArrives() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel()) {
            Thread[] receiver = new Thread[1];
            ByteBuffer in = ByteBuffer.allocate(16);
            CompletableFuture<SocketAddress> received = onThread(receiver, () -> server.receive(in));
            awaitBlocked(receiver[0]);
            assertFalse(received.isDone());
            client.send(text("wake"), server.getLocalAddress());
            assertEquals(client.getLocalAddress(), received.get(10, TimeUnit.SECONDS));
            assertEquals("wake", text(in));
        }
    }

    @Test
    void closingTheChannelEndsABlockedReceiveWithAsynchronousCloseException() throws Exception {
        DatagramChannel server = serverChannel();
        SocketAddress bound = server.getLocalAddress();
        Thread[] receiver = new Thread[1];
        CompletableFuture<SocketAddress> received = onThread(receiver, () -> server.receive(ByteBuffer.allocate(8)));
        awaitBlocked(receiver[0]);
        server.close();
        java.util.concurrent.ExecutionException failed = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> received.get(10, TimeUnit.SECONDS));
        assertSame(AsynchronousCloseException.class, failed.getCause().getClass());
        assertThrows(ClosedChannelException.class, () -> server.receive(ByteBuffer.allocate(8)));
        try (DatagramChannel again = providers.server.openDatagramChannel()) {
            again.bind(bound);
            assertEquals(bound, again.getLocalAddress(), "closing gave the port back");
        }
    }

    @Test
    void interruptingABlockedReceiveClosesTheChannelWithClosedByInterruptException() throws Exception {
        try (DatagramChannel server = serverChannel()) {
            Thread[] receiver = new Thread[1];
            CompletableFuture<Boolean> interruptedAfter = new CompletableFuture<>();
            CompletableFuture<SocketAddress> received = onThread(receiver, () -> {
                try {
                    return server.receive(ByteBuffer.allocate(8));
                } finally {
                    interruptedAfter.complete(Thread.currentThread().isInterrupted());
                }
            });
            awaitBlocked(receiver[0]);
            receiver[0].interrupt();
            java.util.concurrent.ExecutionException failed = assertThrows(
                    java.util.concurrent.ExecutionException.class, () -> received.get(10, TimeUnit.SECONDS));
            assertSame(ClosedByInterruptException.class, failed.getCause().getClass());
            assertFalse(server.isOpen());
            assertTrue(interruptedAfter.get(), "the interrupt status stays set, as the JDK leaves it");
        }
    }

    @Test
    void aConnectedChannelHearsOfAPortNobodyHasAsPortUnreachableException() throws Exception {
        try (DatagramChannel client = clientChannel()) {
            client.connect(new InetSocketAddress(serverAddress, 9)); // nobody is bound there
            assertEquals(3, client.write(text("abc")));
            assertThrows(PortUnreachableException.class, () -> client.read(ByteBuffer.allocate(8)));
            assertTrue(client.isOpen() && client.isConnected(), "an ICMP error closes nothing");
            client.configureBlocking(false);
            assertEquals(0, client.read(ByteBuffer.allocate(8)), "reported once");
            client.write(text("abc"));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            PortUnreachableException second = null;
            while (second == null && System.nanoTime() < deadline) {
                try {
                    client.receive(ByteBuffer.allocate(8));
                    Thread.sleep(1);
                } catch (PortUnreachableException e) {
                    second = e;
                }
            }
            assertNotNull(second, "receive reports it too");
        }
    }

    @Test
    void aMulticastMembershipReceivesTheGroupUntilDropped() throws Exception {
        NetworkInterface anyInterface = NetworkInterface.getByName("lo");
        try (DatagramChannel member = serverChannel(); DatagramChannel sender = clientChannel()) {
            int port = ((InetSocketAddress) member.getLocalAddress()).getPort();
            introduce(sender, member);
            MembershipKey key = member.join(GROUP, anyInterface);
            assertSame(key, member.join(GROUP, anyInterface), "the same membership again is the same key");
            assertSame(member, key.channel());
            assertEquals(GROUP, key.group());
            assertNull(key.sourceAddress());
            assertEquals("<239.255.77.1,lo>", key.toString());
            assertThrows(UnsupportedOperationException.class, () -> key.block(clientAddress),
                    "the user-level stack cannot filter sources");
            assertThrows(UnsupportedOperationException.class,
                    () -> member.join(Addresses.inet(0xEFFF_4D02), anyInterface, clientAddress));
            assertThrows(IllegalArgumentException.class, () -> member.join(clientAddress, anyInterface));
            sender.send(text("to the group"), new InetSocketAddress(GROUP, port));
            ByteBuffer in = ByteBuffer.allocate(32);
            assertEquals(sender.getLocalAddress(), member.receive(in));
            assertEquals("to the group", text(in));
            key.drop();
            assertFalse(key.isValid());
            key.drop(); // again: nothing
            sender.send(text("after drop"), new InetSocketAddress(GROUP, port));
            sender.send(text("unicast"), member.getLocalAddress());
            in.clear();
            member.receive(in);
            assertEquals("unicast", text(in), "the group's datagram no longer reached the channel");
            MembershipKey again = member.join(GROUP, anyInterface);
            assertFalse(again == key);
            member.close();
            assertFalse(again.isValid(), "closing the channel ends its memberships");
        }
    }

    @Test
    void aSelectorReportsADatagramChannelReadableWhenADatagramWaits() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel();
                Selector selector = providers.server.openSelector()) {
            server.configureBlocking(false);
            SelectionKey key = server.register(selector, SelectionKey.OP_READ);
            assertEquals(0, selector.selectNow());
            client.send(text("select me"), server.getLocalAddress());
            assertEquals(1, selector.select(5_000));
            assertTrue(selector.selectedKeys().contains(key));
            assertTrue(key.isReadable());
            assertNotNull(server.receive(ByteBuffer.allocate(16)));
            selector.selectedKeys().clear();
            assertEquals(0, selector.selectNow(), "nothing left: no longer readable");
            key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            assertEquals(1, selector.selectNow());
            assertEquals(SelectionKey.OP_WRITE, key.readyOps(), "writable: the device takes datagrams");
        }
    }

    /**
     * Under the VNIC's rate limit the device holds frames back; a non-blocking send is then
     * refused (0, as with a full socket send buffer) instead of queueing a datagram to be dropped,
     * OP_WRITE is not ready, and it comes back when the limiter lets the frames out.
     */
    @Test
    void aRateLimitedSenderIsRefusedAndToldWhenToResumeAndLosesNothing() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel();
                Selector selector = providers.client.openSelector();
                io.arrakis.control.ControlClient operator = io.arrakis.control.ControlClient.connect(
                        providers.directory.resolve("control.sock"))) {
            introduce(client, server);
            operator.setRateLimit(providers.client.userStack().vnic().name(),
                    new io.arrakis.device.RateLimit(2_000_000, 0, 16_384, 0));
            int count = 200;
            CompletableFuture<Integer> receivedInOrder = onThread(new Thread[1], () -> {
                ByteBuffer in = ByteBuffer.allocate(2048);
                for (int i = 0; i < count; i++) {
                    server.receive(in.clear());
                    if (in.getInt(0) != i) {
                        return i;
                    }
                }
                return count;
            });
            client.configureBlocking(false);
            SelectionKey key = client.register(selector, SelectionKey.OP_WRITE);
            SocketAddress to = server.getLocalAddress();
            int refusals = 0;
            boolean sawNotWritable = false;
            ByteBuffer out = ByteBuffer.allocate(1400);
            for (int i = 0; i < count; ) {
                out.clear().putInt(0, i);
                if (client.send(out, to) == 1400) {
                    i++;
                    continue;
                }
                refusals++;
                assertEquals(0, out.position(), "a refused datagram consumes nothing");
                selector.selectedKeys().clear();
                if (selector.selectNow() == 0) {
                    sawNotWritable = true;
                    assertEquals(1, selector.select(5_000), "OP_WRITE comes back once the device drains");
                }
                assertTrue(key.isWritable());
            }
            assertTrue(refusals > 0, "200 × 1400 bytes at 2 MB/s with a 16 KiB burst: the device pushed back");
            assertTrue(sawNotWritable, "and OP_WRITE said so");
            assertEquals(count, receivedInOrder.get(10, TimeUnit.SECONDS), "every accepted datagram arrived, in order");
        }
    }

    /**
     * A datagram to a neighbour not resolved yet waits for ARP, whose retries are timers. With
     * nobody waiting on the stack, only its poller can run them: a send must not leave it asleep
     * without that deadline (it once did, and such datagrams were lost for good).
     */
    @Test
    void aDatagramWaitingForArpIsRetriedByThePollerWhileNobodyWaits() throws Exception {
        try (DatagramChannel client = clientChannel()) {
            InetAddress nobody = Addresses.inet(Addresses.ipv4(clientAddress) & 0xFFFF_FF00 | 0xC8); // x.x.x.200
            UserStack stack = providers.client.userStack();
            long before = arpRequests(stack);
            client.send(text("anyone?"), new InetSocketAddress(nobody, 9));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (arpRequests(stack) < before + 2 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(before + 2, arpRequests(stack), "the first request, then the retry a second later");
        }
    }

    private static long arpRequests(UserStack stack) {
        stack.lock().lock();
        try {
            return stack.stack().counters().get(io.arrakis.stack.StackCounter.ARP_REQUESTS_OUT);
        } finally {
            stack.lock().unlock();
        }
    }

    /**
     * A blocked user-level receive parks its virtual thread instead of pinning the carrier: two
     * hundred of them wait at once on a scheduler with as many carriers as cores, and each wakes
     * for its datagram.
     */
    @Test
    void twoHundredVirtualThreadsBlockInReceivesWithoutHoldingTheirCarriers() throws Exception {
        int count = 200;
        java.util.List<DatagramChannel> channels = new java.util.ArrayList<>();
        try (DatagramChannel sender = clientChannel()) {
            for (int i = 0; i < count; i++) {
                DatagramChannel channel = providers.server.openDatagramChannel();
                channel.setOption(StandardSocketOptions.SO_RCVBUF, 4096);
                channels.add(channel.bind(new InetSocketAddress(serverAddress, 0)));
            }
            introduce(sender, channels.get(0));
            java.util.concurrent.CountDownLatch waiting = new java.util.concurrent.CountDownLatch(count);
            java.util.concurrent.atomic.AtomicInteger woken = new java.util.concurrent.atomic.AtomicInteger();
            try (java.util.concurrent.ExecutorService virtualThreads =
                    java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
                for (DatagramChannel channel : channels) {
                    virtualThreads.submit(() -> {
                        waiting.countDown();
                        ByteBuffer in = ByteBuffer.allocate(8);
                        channel.receive(in);
                        if (in.position() == 4) {
                            woken.incrementAndGet();
                        }
                        return null;
                    });
                }
                assertTrue(waiting.await(20, TimeUnit.SECONDS), "every virtual thread got a carrier to start on");
                Thread.sleep(200);
                for (DatagramChannel channel : channels) {
                    sender.send(text("wake"), channel.getLocalAddress());
                }
            }
            assertEquals(count, woken.get());
        } finally {
            for (DatagramChannel channel : channels) {
                channel.close();
            }
        }
    }

    @Test
    void broadcastNeedsSoBroadcastAsInLinux() throws Exception {
        try (DatagramChannel server = serverChannel(); DatagramChannel client = clientChannel()) {
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            introduce(client, server);
            InetSocketAddress subnetBroadcast = new InetSocketAddress(
                    Addresses.inet(Addresses.ipv4(serverAddress) | 0xFF), port);
            assertFalse(client.getOption(StandardSocketOptions.SO_BROADCAST));
            BindException refused = assertThrows(BindException.class,
                    () -> client.send(text("all"), subnetBroadcast));
            assertEquals("Permission denied", refused.getMessage());
            client.setOption(StandardSocketOptions.SO_BROADCAST, true);
            assertEquals(3, client.send(text("all"), subnetBroadcast));
            ByteBuffer in = ByteBuffer.allocate(8);
            assertEquals(client.getLocalAddress(), server.receive(in));
            assertEquals("all", text(in));
        }
    }

    @Test
    void optionsAreCheckedAndReportedAsTheJdkDoes() throws Exception {
        try (DatagramChannel channel = serverChannel()) {
            DatagramChannel jdk = DatagramChannel.open();
            assertEquals(jdk.supportedOptions(), channel.supportedOptions());
            jdk.close();
            assertEquals(1, channel.getOption(StandardSocketOptions.IP_MULTICAST_TTL));
            assertTrue(channel.getOption(StandardSocketOptions.IP_MULTICAST_LOOP));
            assertNull(channel.getOption(StandardSocketOptions.IP_MULTICAST_IF));
            assertEquals(0, channel.getOption(StandardSocketOptions.IP_TOS));
            assertThrows(UnsupportedOperationException.class,
                    () -> channel.setOption(StandardSocketOptions.TCP_NODELAY, true));
            assertEquals("Invalid IP_TOS value", assertThrows(IllegalArgumentException.class,
                    () -> channel.setOption(StandardSocketOptions.IP_TOS, 256)).getMessage());
            assertEquals("Invalid TTL/hop value", assertThrows(IllegalArgumentException.class,
                    () -> channel.setOption(StandardSocketOptions.IP_MULTICAST_TTL, -1)).getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> channel.setOption(StandardSocketOptions.IP_MULTICAST_IF, null));
            channel.setOption(StandardSocketOptions.IP_TOS, 0x10);
            assertEquals(0x10, channel.getOption(StandardSocketOptions.IP_TOS));
            channel.setOption(StandardSocketOptions.SO_RCVBUF, 100);
            assertEquals(DatagramOptions.MINIMUM_BUFFER, channel.getOption(StandardSocketOptions.SO_RCVBUF));
            channel.close();
            assertThrows(ClosedChannelException.class, () -> channel.getOption(StandardSocketOptions.IP_TOS));
            assertThrows(ClosedChannelException.class, () -> channel.setOption(StandardSocketOptions.IP_TOS, 256),
                    "closed is checked before the range, as in the JDK");
            assertThrows(UnsupportedOperationException.class,
                    () -> channel.setOption(StandardSocketOptions.TCP_NODELAY, true), "and support before closed");
        }
    }

    @Test
    void aUserLevelAddressCannotReachTheLoopbackNorTakeAPortTwice() throws Exception {
        try (DatagramChannel channel = serverChannel()) {
            SocketException unreachable = assertThrows(SocketException.class,
                    () -> channel.send(text("x"), new InetSocketAddress("127.0.0.1", 9)));
            assertTrue(unreachable.getMessage().startsWith("Network is unreachable"), unreachable.getMessage());
            try (DatagramChannel second = providers.server.openDatagramChannel()) {
                assertThrows(BindException.class, () -> second.bind(channel.getLocalAddress()));
                assertTrue(second.isOpen());
            }
            try (DatagramChannel elsewhere = providers.server.openDatagramChannel()) {
                BindException notOurs = assertThrows(BindException.class,
                        () -> elsewhere.bind(new InetSocketAddress(clientAddress, 0)));
                assertEquals("Cannot assign requested address", notOurs.getMessage());
            }
        }
    }
}

package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A datagram channel bound to the wildcard listens on both paths with one port: a kernel socket
 * (here reached by the JDK's own channel on 127.0.0.1, as a process without Arrakis would) and a
 * user-level port (reached by the other provider through the switch).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WildcardDatagramTest {
    private static final InetAddress LOOPBACK = Addresses.inet(0x7F00_0001);

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

    private DatagramChannel wildcard() throws Exception {
        DatagramChannel channel = providers.server.openDatagramChannel().bind(new InetSocketAddress(0));
        ArrakisDatagramChannel ours = assertInstanceOf(ArrakisDatagramChannel.class, channel);
        assertTrue(ours.hasUserSide() && ours.kernelChannel() != null, "both paths: " + channel);
        return channel;
    }

    private static int port(DatagramChannel channel) throws Exception {
        return ((InetSocketAddress) channel.getLocalAddress()).getPort();
    }

    /** The JDK's own channel: a peer without Arrakis. */
    private static DatagramChannel kernelPeer() throws Exception {
        return JdkProvider.get().openDatagramChannel().bind(new InetSocketAddress(LOOPBACK, 0));
    }

    private DatagramChannel userLevelPeer() throws Exception {
        return providers.client.openDatagramChannel().bind(new InetSocketAddress(clientAddress, 0));
    }

    private static ByteBuffer text(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static String text(ByteBuffer b) {
        b.flip();
        return StandardCharsets.UTF_8.decode(b).toString();
    }

    private static String receiveText(DatagramChannel channel, SocketAddress expectedSender) throws Exception {
        ByteBuffer in = ByteBuffer.allocate(64);
        assertEquals(expectedSender, channel.receive(in));
        return text(in);
    }

    /**
     * Waits (bounded) until {@code thread} sleeps in the channel's wait: parked, in the stack's
     * epoll wait (a Panama downcall), or in the native epoll wait of the private selector over the
     * kernel side (a thread in either is RUNNABLE).
     */
    private static void awaitBlocked(Thread thread) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!sleepsInOurWait(thread)) {
            assertTrue(System.nanoTime() < deadline, "the receiver never blocked");
            Thread.sleep(5);
        }
        Thread.sleep(50);
        assertTrue(thread.isAlive());
    }

    private static boolean sleepsInOurWait(Thread thread) {
        StackTraceElement[] stack = thread.getStackTrace();
        boolean inOurWait = false;
        boolean inStackEpoll = false; // leading the stack's epoll wait, which also watches the kernel socket
        for (StackTraceElement frame : stack) {
            inOurWait |= frame.getMethodName().equals("awaitChange");
            inStackEpoll |= frame.getMethodName().equals("sleepInEpoll");
        }
        Thread.State state = thread.getState();
        return inOurWait && (state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING
                || stack.length > 0 && stack[0].isNativeMethod() || inStackEpoll);
    }

    private static boolean inReceive(Thread thread) {
        for (StackTraceElement frame : thread.getStackTrace()) {
            if (frame.getMethodName().equals("receiveDatagram")) {
                return true;
            }
        }
        return false;
    }

    private static CompletableFuture<SocketAddress> receiveOnThread(DatagramChannel channel, ByteBuffer into,
            Thread[] started) {
        CompletableFuture<SocketAddress> result = new CompletableFuture<>();
        started[0] = Thread.ofPlatform().daemon().start(() -> {
            try {
                result.complete(channel.receive(into));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        return result;
    }

    @Test
    void aWildcardChannelReceivesFromTheKernelAndFromTheUserLevelOnOnePortAndRepliesOnEach() throws Exception {
        try (DatagramChannel server = wildcard(); DatagramChannel kernelPeer = kernelPeer();
                DatagramChannel userPeer = userLevelPeer()) {
            InetSocketAddress local = (InetSocketAddress) server.getLocalAddress();
            assertTrue(local.getAddress().isAnyLocalAddress(), "reported as the JDK reports it: " + local);
            int port = local.getPort();
            kernelPeer.send(text("via the kernel"), new InetSocketAddress(LOOPBACK, port));
            assertEquals("via the kernel", receiveText(server, kernelPeer.getLocalAddress()));
            userPeer.send(text("via the switch"), new InetSocketAddress(serverAddress, port));
            assertEquals("via the switch", receiveText(server, userPeer.getLocalAddress()));
            // Replies go by the destination's route: 127.0.0.1 through the kernel, our subnet user-level.
            server.send(text("back to the kernel"), kernelPeer.getLocalAddress());
            server.send(text("back through the switch"), userPeer.getLocalAddress());
            assertEquals("back to the kernel", receiveText(kernelPeer, new InetSocketAddress(LOOPBACK, port)));
            assertEquals("back through the switch", receiveText(userPeer, new InetSocketAddress(serverAddress, port)));
        }
    }

    @Test
    void bothPathsAreServedInTurnSoNeitherStarves() throws Exception {
        try (DatagramChannel server = wildcard(); DatagramChannel kernelPeer = kernelPeer();
                DatagramChannel userPeer = userLevelPeer()) {
            int port = port(server);
            userPeer.send(text("warm-up"), new InetSocketAddress(serverAddress, port));
            receiveText(server, userPeer.getLocalAddress());
            for (int i = 0; i < 4; i++) {
                kernelPeer.send(text("k" + i), new InetSocketAddress(LOOPBACK, port));
                userPeer.send(text("u" + i), new InetSocketAddress(serverAddress, port));
            }
            Thread.sleep(100); // all eight wait, on both sides
            Set<SocketAddress> firstTwo = new HashSet<>();
            ByteBuffer in = ByteBuffer.allocate(16);
            firstTwo.add(server.receive(in.clear()));
            firstTwo.add(server.receive(in.clear()));
            assertEquals(Set.of(kernelPeer.getLocalAddress(), userPeer.getLocalAddress()), firstTwo);
            for (int i = 0; i < 6; i++) {
                assertNotNull(server.receive(in.clear()));
            }
        }
    }

    @Test
    void connectedToAUserLevelPeerItHearsOnlyThatPeerUntilDisconnected() throws Exception {
        try (DatagramChannel server = wildcard(); DatagramChannel kernelPeer = kernelPeer();
                DatagramChannel userPeer = userLevelPeer()) {
            int port = port(server);
            server.connect(userPeer.getLocalAddress());
            assertEquals(new InetSocketAddress(serverAddress, port), server.getLocalAddress(),
                    "narrowed to the route's source address, as a kernel socket's connect does");
            kernelPeer.send(text("muted"), new InetSocketAddress(LOOPBACK, port));
            Thread.sleep(50);
            userPeer.send(text("peer"), new InetSocketAddress(serverAddress, port));
            ByteBuffer in = ByteBuffer.allocate(16);
            assertEquals(4, server.read(in));
            assertEquals("peer", text(in));
            assertEquals(5, server.write(text("reply")));
            assertEquals("reply", receiveText(userPeer, new InetSocketAddress(serverAddress, port)));
            server.disconnect();
            assertTrue(((InetSocketAddress) server.getLocalAddress()).getAddress().isAnyLocalAddress());
            kernelPeer.send(text("back"), new InetSocketAddress(LOOPBACK, port));
            assertEquals("back", receiveText(server, kernelPeer.getLocalAddress()),
                    "the datagram sent while connected was dropped, not kept");
        }
    }

    @Test
    void connectedToAKernelPeerItMutesItsUserLevelPortUntilDisconnected() throws Exception {
        try (DatagramChannel server = wildcard(); DatagramChannel kernelPeer = kernelPeer();
                DatagramChannel userPeer = userLevelPeer()) {
            int port = port(server);
            userPeer.send(text("warm-up"), new InetSocketAddress(serverAddress, port));
            receiveText(server, userPeer.getLocalAddress());
            server.connect(kernelPeer.getLocalAddress());
            assertEquals(new InetSocketAddress(LOOPBACK, port), server.getLocalAddress());
            userPeer.send(text("muted"), new InetSocketAddress(serverAddress, port));
            Thread.sleep(50);
            kernelPeer.send(text("kernel"), new InetSocketAddress(LOOPBACK, port));
            ByteBuffer in = ByteBuffer.allocate(16);
            assertEquals(6, server.read(in));
            assertEquals("kernel", text(in));
            server.write(text("reply"));
            assertEquals("reply", receiveText(kernelPeer, new InetSocketAddress(LOOPBACK, port)));
            server.disconnect();
            userPeer.send(text("back"), new InetSocketAddress(serverAddress, port));
            assertEquals("back", receiveText(server, userPeer.getLocalAddress()));
        }
    }

    @Test
    void aBlockedReceiveOnTheWildcardWakesForEitherPath() throws Exception {
        try (DatagramChannel server = wildcard(); DatagramChannel kernelPeer = kernelPeer();
                DatagramChannel userPeer = userLevelPeer()) {
            int port = port(server);
            Thread[] receiver = new Thread[1];
            ByteBuffer in = ByteBuffer.allocate(16);
            CompletableFuture<SocketAddress> first = receiveOnThread(server, in, receiver);
            awaitBlocked(receiver[0]);
            kernelPeer.send(text("kernel"), new InetSocketAddress(LOOPBACK, port));
            assertEquals(kernelPeer.getLocalAddress(), first.get(10, TimeUnit.SECONDS));
            CompletableFuture<SocketAddress> second = receiveOnThread(server, in.clear(), receiver);
            awaitBlocked(receiver[0]);
            userPeer.send(text("user"), new InetSocketAddress(serverAddress, port));
            assertEquals(userPeer.getLocalAddress(), second.get(10, TimeUnit.SECONDS));
            assertEquals("user", text(in));
        }
    }

    @Test
    void closeAndInterruptEndABlockedReceiveOnTheWildcardAsTheJdkSays() throws Exception {
        DatagramChannel closed = wildcard();
        Thread[] receiver = new Thread[1];
        CompletableFuture<SocketAddress> blocked = receiveOnThread(closed, ByteBuffer.allocate(8), receiver);
        awaitBlocked(receiver[0]);
        closed.close();
        ExecutionException failure = assertThrows(ExecutionException.class, () -> blocked.get(10, TimeUnit.SECONDS));
        assertSame(AsynchronousCloseException.class, failure.getCause().getClass());

        DatagramChannel interrupted = wildcard();
        CompletableFuture<SocketAddress> blockedToo = receiveOnThread(interrupted, ByteBuffer.allocate(8), receiver);
        awaitBlocked(receiver[0]);
        receiver[0].interrupt();
        failure = assertThrows(ExecutionException.class, () -> blockedToo.get(10, TimeUnit.SECONDS));
        assertSame(ClosedByInterruptException.class, failure.getCause().getClass());
        assertFalse(interrupted.isOpen());
    }

    /**
     * Thread.interrupt wakes a parked thread before it tells the channel; an interrupt or close
     * landing anywhere in the wait (spinning, parked, in the kernel side's selector) must still
     * end the receive as the JDK's does, with the channel closed.
     */
    @Test
    void interruptsAndClosesLandingAnywhereInAReceiveEndItAsTheJdkSays() throws Exception {
        for (int i = 0; i < 120; i++) {
            DatagramChannel channel = providers.server.openDatagramChannel().bind(i % 2 == 0
                    ? new InetSocketAddress(serverAddress, 0) : new InetSocketAddress(0));
            Thread[] receiver = new Thread[1];
            CompletableFuture<SocketAddress> blocked = receiveOnThread(channel, ByteBuffer.allocate(8), receiver);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!inReceive(receiver[0])) { // inside the operation (a close before it is ClosedChannelException)
                assertTrue(System.nanoTime() < deadline, "round " + i + ": the receive never started");
                Thread.onSpinWait();
            }
            Thread.sleep(i % 4); // then 0 to 3 ms: spinning, parking, parked
            boolean interrupt = i % 4 < 2;
            if (interrupt) {
                receiver[0].interrupt();
            } else {
                channel.close();
            }
            ExecutionException failure = assertThrows(ExecutionException.class,
                    () -> blocked.get(10, TimeUnit.SECONDS), "round " + i);
            assertSame(interrupt ? ClosedByInterruptException.class : AsynchronousCloseException.class,
                    failure.getCause().getClass(), "round " + i);
            assertFalse(channel.isOpen(), "round " + i);
        }
    }

    @Test
    void aSelectorSeesTheWildcardChannelReadableFromEitherPath() throws Exception {
        try (DatagramChannel server = wildcard(); DatagramChannel kernelPeer = kernelPeer();
                DatagramChannel userPeer = userLevelPeer(); Selector selector = providers.server.openSelector()) {
            int port = port(server);
            server.configureBlocking(false);
            SelectionKey key = server.register(selector, SelectionKey.OP_READ);
            assertEquals(0, selector.selectNow());
            kernelPeer.send(text("kernel"), new InetSocketAddress(LOOPBACK, port));
            assertEquals(1, selector.select(5_000));
            assertTrue(key.isReadable());
            assertEquals(kernelPeer.getLocalAddress(), server.receive(ByteBuffer.allocate(16)));
            selector.selectedKeys().clear();
            assertEquals(0, selector.selectNow());
            userPeer.send(text("user"), new InetSocketAddress(serverAddress, port));
            assertEquals(1, selector.select(5_000));
            assertTrue(key.isReadable());
            assertEquals(userPeer.getLocalAddress(), server.receive(ByteBuffer.allocate(16)));
        }
    }

    @Test
    void anUnboundChannelBindsToTheWildcardWhenItFirstSendsAsTheJdkDoes() throws Exception {
        try (DatagramChannel client = providers.server.openDatagramChannel(); DatagramChannel userPeer = userLevelPeer()) {
            assertEquals(null, client.getLocalAddress());
            client.send(text("first"), userPeer.getLocalAddress());
            InetSocketAddress local = (InetSocketAddress) client.getLocalAddress();
            assertTrue(local.getAddress().isAnyLocalAddress());
            assertEquals("first", receiveText(userPeer, new InetSocketAddress(serverAddress, local.getPort())));
            userPeer.send(text("answer"), new InetSocketAddress(serverAddress, local.getPort()));
            assertEquals("answer", receiveText(client, userPeer.getLocalAddress()));
        }
    }

    @Test
    void aChannelBoundToAnotherAddressIsTheJdksOwnWrapped() throws Exception {
        try (DatagramChannel loopback = providers.server.openDatagramChannel().bind(new InetSocketAddress(LOOPBACK, 0));
                DatagramChannel kernelPeer = kernelPeer()) {
            ArrakisDatagramChannel ours = assertInstanceOf(ArrakisDatagramChannel.class, loopback);
            assertFalse(ours.hasUserSide());
            assertNotNull(ours.kernelChannel());
            loopback.send(text("plain"), kernelPeer.getLocalAddress());
            assertEquals("plain", receiveText(kernelPeer, loopback.getLocalAddress()));
        }
    }
}

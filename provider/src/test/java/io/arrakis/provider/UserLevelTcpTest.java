package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Our channels on the user-level stack, between two providers (two VNICs) on one shm switch. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UserLevelTcpTest {
    private final java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newCachedThreadPool();
    private TwoProviders providers;
    private InetAddress serverAddress;

    @BeforeEach
    void attach() throws Exception {
        providers = new TwoProviders();
        serverAddress = providers.server.userLevelAddress();
    }

    @AfterEach
    void detach() throws Exception {
        threads.shutdownNow();
        providers.close();
    }

    @Test
    void blockingChannelsExchangeBytesThroughTheUserLevelStack() throws Exception {
        try (ServerSocketChannel server = providers.server.openServerSocketChannel()) {
            server.bind(new InetSocketAddress(serverAddress, 0));
            InetSocketAddress bound = (InetSocketAddress) server.getLocalAddress();
            assertEquals(serverAddress, bound.getAddress());
            assertTrue(bound.getPort() > 0);
            CompletableFuture<byte[]> echoed = CompletableFuture.supplyAsync(() -> {
                try (SocketChannel accepted = server.accept()) {
                    ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
                    java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
                    while (accepted.read(buffer.clear()) > 0) {
                        all.write(buffer.array(), 0, buffer.position());
                        buffer.flip();
                        while (buffer.hasRemaining()) {
                            accepted.write(buffer);
                        }
                    }
                    return all.toByteArray();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, threads);
            byte[] data = new byte[3 * 1024 * 1024 + 17];
            new Random(7).nextBytes(data);
            try (SocketChannel client = providers.client.openSocketChannel()) {
                assertTrue(client.connect(bound));
                assertTrue(client.isConnected());
                assertInstanceOf(ArrakisSocketChannel.class, client);
                assertTrue(((ArrakisSocketChannel) client).hasUserSide(), "routed user-level");
                CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> {
                    try {
                        ByteBuffer in = ByteBuffer.allocate(data.length);
                        while (in.hasRemaining() && client.read(in) >= 0) {
                            // keep reading
                        }
                        return in.array();
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }, threads);
                ByteBuffer out = ByteBuffer.wrap(data);
                while (out.hasRemaining()) {
                    client.write(out);
                }
                byte[] back = received.get(30, TimeUnit.SECONDS);
                client.shutdownOutput();
                assertArrayEquals(sha(data), sha(back));
                assertArrayEquals(sha(data), sha(echoed.get(30, TimeUnit.SECONDS)));
            }
        }
    }

    @Test
    void aProcessConnectsToItsOwnUserLevelAddress() throws Exception {
        try (ServerSocketChannel server = providers.server.openServerSocketChannel();
                SocketChannel client = providers.server.openSocketChannel()) {
            server.bind(new InetSocketAddress(serverAddress, 0));
            assertTrue(client.connect(server.getLocalAddress()));
            try (SocketChannel accepted = server.accept()) {
                client.write(ByteBuffer.wrap(new byte[] {42}));
                ByteBuffer in = ByteBuffer.allocate(1);
                assertEquals(1, accepted.read(in));
                assertEquals(42, in.get(0));
                assertEquals(client.getLocalAddress(), accepted.getRemoteAddress());
            }
        }
    }

    @Test
    void connectingWhereNobodyListensIsRefused() throws Exception {
        try (SocketChannel client = providers.client.openSocketChannel()) {
            ConnectException refused = assertThrows(ConnectException.class,
                    () -> client.connect(new InetSocketAddress(serverAddress, 9)));
            assertEquals("Connection refused", refused.getMessage());
            assertFalse(client.isOpen(), "a failed connect closes the channel, as the JDK's does");
        }
    }

    @Test
    void aSelectorServesNonBlockingUserLevelChannels() throws Exception {
        try (ServerSocketChannel server = providers.server.openServerSocketChannel();
                Selector selector = providers.server.openSelector();
                SocketChannel client = providers.client.openSocketChannel()) {
            server.bind(new InetSocketAddress(serverAddress, 0));
            server.configureBlocking(false);
            server.register(selector, SelectionKey.OP_ACCEPT);
            client.configureBlocking(false);
            boolean connected = client.connect(server.getLocalAddress());
            assertEquals(1, selector.select(5_000));
            SelectionKey acceptKey = selector.selectedKeys().iterator().next();
            assertTrue(acceptKey.isAcceptable());
            selector.selectedKeys().clear();
            SocketChannel accepted = server.accept();
            accepted.configureBlocking(false);
            SelectionKey readKey = accepted.register(selector, SelectionKey.OP_READ);
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (!connected && System.nanoTime() < deadline) {
                connected = client.finishConnect();
            }
            assertTrue(connected);
            assertEquals(0, selector.selectNow(), "nothing to read yet");
            client.write(ByteBuffer.wrap("ping".getBytes()));
            assertEquals(1, selector.select(5_000));
            assertTrue(selector.selectedKeys().contains(readKey));
            assertTrue(readKey.isReadable());
            ByteBuffer in = ByteBuffer.allocate(16);
            assertEquals(4, accepted.read(in));
            assertEquals(0, accepted.read(in));
            selector.selectedKeys().clear();
            assertEquals(0, selector.selectNow(), "read everything: no longer ready");
            client.close();
            assertEquals(1, selector.select(5_000), "end of stream is readable");
            assertEquals(-1, accepted.read(in.clear()));
            accepted.close();
        }
    }

    static byte[] sha(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }
}

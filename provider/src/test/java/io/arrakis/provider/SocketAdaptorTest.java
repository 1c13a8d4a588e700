package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * The timed paths of our {@code socket()} adaptors, which the differential conformance suite
 * only sees on user-level connections: a read or accept that times out leaves the socket
 * usable, a timed connect that fails closes it; on user-level connections (two providers on one
 * switch) and on kernel ones (a provider that routes 127.0.0.1 to the kernel).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SocketAdaptorTest {
    /** The test JVM's own provider: the JDK's (no system property is set for tests). */
    private static final SelectorProvider JDK = SelectorProvider.provider();
    private static final int SHORT_MILLIS = 100;
    private static final int LONG_MILLIS = 20_000;

    private TwoProviders providers;
    private InetAddress serverAddress;
    /** Sends 127.0.0.1 to the kernel: no loopback acceleration, so it asks no control plane. */
    private ArrakisSelectorProvider kernelOnly;

    @BeforeAll
    void attach() throws Exception {
        providers = new TwoProviders();
        serverAddress = providers.server.userLevelAddress();
        Properties properties = TwoProviders.properties(providers.directory);
        properties.setProperty("arrakis.loopback", "false");
        kernelOnly = ArrakisSelectorProvider.create(properties);
    }

    @AfterAll
    void detach() throws Exception {
        try {
            kernelOnly.shutdown();
        } finally {
            providers.close();
        }
    }

    // ------------------------------------------------------------------ user-level

    @Test
    void aUserLevelReadThatTimesOutLeavesTheSocketUsable() throws Exception {
        try (ServerSocketChannel server = listenUserLevel();
                SocketChannel client = providers.client.openSocketChannel()) {
            client.connect(server.getLocalAddress());
            try (SocketChannel accepted = server.accept()) {
                assertTrue(((ArrakisSocketChannel) client).hasUserSide(), "routed user-level");
                Socket socket = client.socket();
                socket.setSoTimeout(SHORT_MILLIS);
                InputStream in = socket.getInputStream();
                long start = System.nanoTime();
                SocketTimeoutException timeout = assertThrows(SocketTimeoutException.class, in::read);
                assertEquals("Read timed out", timeout.getMessage());
                assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(SHORT_MILLIS),
                        "the read waited its timeout out");
                assertFalse(socket.isClosed());

                accepted.write(ByteBuffer.wrap(new byte[] {42}));
                socket.setSoTimeout(LONG_MILLIS);
                assertEquals(42, in.read(), "the same stream reads what arrives later");
                socket.getOutputStream().write(7);
                ByteBuffer back = ByteBuffer.allocate(1);
                assertEquals(1, accepted.read(back));
                assertEquals(7, back.get(0));
            }
        }
    }

    @Test
    void aUserLevelAcceptThatTimesOutLeavesTheListenerUsable() throws Exception {
        try (ServerSocketChannel server = listenUserLevel()) {
            ServerSocket socket = server.socket();
            socket.setSoTimeout(SHORT_MILLIS);
            SocketTimeoutException timeout = assertThrows(SocketTimeoutException.class, socket::accept);
            assertEquals("Accept timed out", timeout.getMessage());
            assertFalse(socket.isClosed());

            try (SocketChannel client = providers.client.openSocketChannel()) {
                client.connect(server.getLocalAddress());
                socket.setSoTimeout(LONG_MILLIS);
                try (Socket accepted = socket.accept()) {
                    ArrakisSocketChannel channel = assertInstanceOf(ArrakisSocketChannel.class, accepted.getChannel());
                    assertTrue(channel.hasUserSide());
                    assertEquals(client.getLocalAddress(), accepted.getRemoteSocketAddress());
                    assertEquals(accepted, channel.socket(), "the accepted Socket is its channel's adaptor");
                }
            }
        }
    }

    @Test
    void aUserLevelConnectTimeoutClosesTheSocket() throws Exception {
        // An address we route, on our subnet, that no VNIC owns: nobody answers for it (not even ARP).
        byte[] silent = serverAddress.getAddress();
        silent[3] = (byte) (silent[3] == (byte) 254 ? 253 : 254);
        InetSocketAddress nobody = new InetSocketAddress(InetAddress.getByAddress(silent), 80);
        try (SocketChannel client = providers.client.openSocketChannel()) {
            Socket socket = client.socket();
            long start = System.nanoTime();
            SocketTimeoutException timeout = assertThrows(SocketTimeoutException.class,
                    () -> socket.connect(nobody, SHORT_MILLIS));
            assertEquals("Connect timed out", timeout.getMessage());
            assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(SHORT_MILLIS),
                    "the connect waited its timeout out");
            assertTrue(socket.isClosed(), "a failed connect closes the socket, as the JDK's");
            assertFalse(client.isConnectionPending());
        }
    }

    @Test
    void aUserLevelConnectWithATimeoutConnects() throws Exception {
        try (ServerSocketChannel server = listenUserLevel();
                SocketChannel client = providers.client.openSocketChannel()) {
            client.socket().connect(server.getLocalAddress(), LONG_MILLIS);
            assertTrue(client.isConnected());
            try (SocketChannel accepted = server.accept()) {
                assertEquals(client.getLocalAddress(), accepted.getRemoteAddress());
            }
        }
    }

    @Test
    void urgentDataIsRefusedOnAUserLevelConnection() throws Exception {
        try (ServerSocketChannel server = listenUserLevel();
                SocketChannel client = providers.client.openSocketChannel()) {
            client.connect(server.getLocalAddress());
            try (SocketChannel accepted = server.accept()) {
                SocketException refused = assertThrows(SocketException.class, () -> client.socket().sendUrgentData(1));
                assertTrue(refused.getMessage().startsWith("Urgent data not supported"), refused.getMessage());
                assertTrue(client.isOpen(), "the connection is still usable");
            }
        }
    }

    // ------------------------------------------------------------------ kernel

    @Test
    void aKernelReadThatTimesOutLeavesTheSocketUsable() throws Exception {
        try (ServerSocketChannel peer = JDK.openServerSocketChannel();
                SocketChannel client = kernelOnly.openSocketChannel()) {
            peer.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            Socket socket = client.socket();
            socket.setSoTimeout(SHORT_MILLIS); // before the route exists: the kernel's adaptor must get it later
            socket.connect(peer.getLocalAddress(), LONG_MILLIS);
            assertNotNull(((ArrakisSocketChannel) client).kernelChannel(), "routed to the kernel");
            try (SocketChannel accepted = peer.accept()) {
                InputStream in = socket.getInputStream();
                SocketTimeoutException timeout = assertThrows(SocketTimeoutException.class, in::read);
                assertEquals("Read timed out", timeout.getMessage());
                assertFalse(socket.isClosed());

                accepted.write(ByteBuffer.wrap(new byte[] {42}));
                socket.setSoTimeout(LONG_MILLIS);
                assertEquals(42, in.read());
                in.close();
                assertTrue(socket.isClosed(), "closing the stream closes our channel, not only the JDK's");
                assertFalse(client.isOpen());
            }
        }
    }

    @Test
    void aKernelConnectWithATimeoutToAClosedPortIsRefusedAndClosesTheSocket() throws Exception {
        InetSocketAddress closedPort;
        try (ServerSocketChannel probe = JDK.openServerSocketChannel()) {
            probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            closedPort = (InetSocketAddress) probe.getLocalAddress();
        }
        try (SocketChannel client = kernelOnly.openSocketChannel()) {
            assertThrows(ConnectException.class, () -> client.socket().connect(closedPort, LONG_MILLIS));
            assertTrue(client.socket().isClosed());
        }
    }

    @Test
    void aKernelOnlyListenerAcceptThatTimesOutStaysUsable() throws Exception {
        try (ServerSocketChannel server = kernelOnly.openServerSocketChannel()) {
            ServerSocket socket = server.socket();
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            ArrakisServerSocketChannel listener = (ArrakisServerSocketChannel) server;
            assertNotNull(listener.kernelChannel());
            assertFalse(listener.hasUserSide(), "127.0.0.1 without loopback acceleration is the kernel's only");
            socket.setSoTimeout(SHORT_MILLIS);
            SocketTimeoutException timeout = assertThrows(SocketTimeoutException.class, socket::accept);
            assertEquals("Accept timed out", timeout.getMessage());
            assertFalse(socket.isClosed());

            try (SocketChannel client = JDK.openSocketChannel()) {
                client.connect(server.getLocalAddress());
                socket.setSoTimeout(LONG_MILLIS);
                try (Socket accepted = socket.accept()) {
                    ArrakisSocketChannel channel = assertInstanceOf(ArrakisSocketChannel.class, accepted.getChannel());
                    assertNotNull(channel.kernelChannel());
                    assertEquals(client.getLocalAddress(), accepted.getRemoteSocketAddress());
                }
            }
        }
        assertNull(kernelOnly.userStackIfOpen(), "nothing here needed the user-level stack");
    }

    // ------------------------------------------------------------------ helpers

    private ServerSocketChannel listenUserLevel() throws Exception {
        ServerSocketChannel server = providers.server.openServerSocketChannel();
        server.bind(new InetSocketAddress(serverAddress, 0));
        return server;
    }
}

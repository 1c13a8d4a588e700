package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Routing: a wildcard listener listens on both paths; a connection to an address we do not route
 * is the kernel's; one of our selectors serves both kinds at once.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MixedRoutesTest {
    /** The test JVM's own provider: the JDK's (no system property is set for tests). */
    private static final SelectorProvider JDK = SelectorProvider.provider();
    private TwoProviders providers;
    private InetAddress serverAddress;

    @BeforeEach
    void attach() throws Exception {
        providers = new TwoProviders();
        serverAddress = providers.server.userLevelAddress();
    }

    @AfterEach
    void detach() throws Exception {
        providers.close();
    }

    @Test
    void aWildcardListenerAcceptsKernelAndUserLevelClientsOnOnePort() throws Exception {
        try (ServerSocketChannel server = providers.server.openServerSocketChannel().bind(null)) {
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            assertTrue(((InetSocketAddress) server.getLocalAddress()).getAddress().isAnyLocalAddress());
            try (SocketChannel viaKernel = JDK.openSocketChannel();
                    SocketChannel viaSwitch = providers.client.openSocketChannel()) {
                assertTrue(viaKernel.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port)));
                assertTrue(viaSwitch.connect(new InetSocketAddress(serverAddress, port)));
                Set<Boolean> userLevel = new HashSet<>();
                for (int i = 0; i < 2; i++) {
                    SocketChannel accepted = server.accept();
                    assertNotNull(accepted);
                    userLevel.add(((ArrakisSocketChannel) accepted).hasUserSide());
                    accepted.close();
                }
                assertEquals(Set.of(true, false), userLevel, "one accepted from each path");
            }
        }
    }

    @Test
    void loopbackClientsOfAUserLevelListenerGoThroughTheSwitchAndOthersThroughTheKernel() throws Exception {
        try (ServerSocketChannel server = providers.server.openServerSocketChannel()
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            assertEquals(InetAddress.getLoopbackAddress(), ((InetSocketAddress) server.getLocalAddress()).getAddress());
            InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
            try (SocketChannel accelerated = providers.client.openSocketChannel();
                    SocketChannel viaKernel = JDK.openSocketChannel()) {
                assertTrue(accelerated.connect(loopback));
                assertTrue(((ArrakisSocketChannel) accelerated).hasUserSide(),
                        "a process on the switch reaches a loopback listener through it");
                assertEquals(loopback, accelerated.getRemoteAddress(), "the application sees the address it asked for");
                assertTrue(viaKernel.connect(loopback), "a process without Arrakis still reaches it through the kernel");
                Set<Boolean> userLevel = new HashSet<>();
                for (int i = 0; i < 2; i++) {
                    try (SocketChannel accepted = server.accept()) {
                        userLevel.add(((ArrakisSocketChannel) accepted).hasUserSide());
                    }
                }
                assertEquals(Set.of(true, false), userLevel);
            }
            try (SocketChannel elsewhere = providers.client.openSocketChannel()) {
                ServerSocketChannel plain = JDK.openServerSocketChannel()
                        .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                try (plain) {
                    assertTrue(elsewhere.connect(plain.getLocalAddress()));
                    assertFalse(((ArrakisSocketChannel) elsewhere).hasUserSide(),
                            "no user-level listener on that port: the kernel's loopback");
                }
            }
        }
        try (SocketChannel afterClose = providers.client.openSocketChannel()) {
            // The listener closed: its announcement was withdrawn, so nothing routes to the switch.
            assertThrows(java.net.ConnectException.class, () -> afterClose.connect(
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), 9)));
        }
    }

    @Test
    void aConnectionToAnAddressWeDoNotRouteGoesThroughTheKernel() throws Exception {
        try (ServerSocketChannel kernelServer = JDK.openServerSocketChannel()
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                SocketChannel client = providers.client.openSocketChannel()) {
            client.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
            assertTrue(client.connect(kernelServer.getLocalAddress()));
            assertFalse(((ArrakisSocketChannel) client).hasUserSide());
            assertEquals(true, client.getOption(java.net.StandardSocketOptions.TCP_NODELAY),
                    "the option set before the route was chosen was replayed on the kernel socket");
            try (SocketChannel accepted = kernelServer.accept()) {
                client.write(ByteBuffer.wrap("hello".getBytes(StandardCharsets.US_ASCII)));
                ByteBuffer in = ByteBuffer.allocate(5);
                while (in.hasRemaining()) {
                    accepted.read(in);
                }
                assertEquals("hello", new String(in.array(), StandardCharsets.US_ASCII));
            }
        }
    }

    @Test
    void oneSelectorServesAUserLevelAndAKernelConnectionAtOnce() throws Exception {
        try (ServerSocketChannel server = providers.server.openServerSocketChannel().bind(null);
                Selector selector = providers.server.openSelector();
                SocketChannel viaKernel = JDK.openSocketChannel();
                SocketChannel viaSwitch = providers.client.openSocketChannel()) {
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            server.configureBlocking(false);
            server.register(selector, SelectionKey.OP_ACCEPT);
            viaKernel.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            viaSwitch.connect(new InetSocketAddress(serverAddress, port));
            int accepted = 0;
            int echoed = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            boolean sent = false;
            while (echoed < 2 && System.nanoTime() < deadline) {
                selector.select(1_000);
                for (SelectionKey key : selector.selectedKeys()) {
                    if (key.isAcceptable()) {
                        SocketChannel ch;
                        while ((ch = server.accept()) != null) {
                            ch.configureBlocking(false);
                            ch.register(selector, SelectionKey.OP_READ);
                            accepted++;
                        }
                    } else if (key.isReadable()) {
                        SocketChannel ch = (SocketChannel) key.channel();
                        ByteBuffer buffer = ByteBuffer.allocate(64);
                        int n = ch.read(buffer);
                        if (n > 0) {
                            buffer.flip();
                            ch.write(buffer);
                            echoed++;
                        } else if (n < 0) {
                            key.cancel();
                            ch.close();
                        }
                    }
                }
                selector.selectedKeys().clear();
                if (accepted == 2 && !sent) {
                    viaKernel.write(ByteBuffer.wrap("k".getBytes(StandardCharsets.US_ASCII)));
                    viaSwitch.write(ByteBuffer.wrap("u".getBytes(StandardCharsets.US_ASCII)));
                    sent = true;
                }
            }
            assertEquals(2, accepted);
            assertEquals(2, echoed);
            ByteBuffer k = ByteBuffer.allocate(1);
            ByteBuffer u = ByteBuffer.allocate(1);
            assertEquals(1, viaKernel.read(k));
            assertEquals(1, viaSwitch.read(u));
            assertEquals('k', k.get(0));
            assertEquals('u', u.get(0));
        }
    }
}

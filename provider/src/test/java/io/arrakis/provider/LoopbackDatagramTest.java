package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Loopback acceleration for UDP, between two providers (two processes' VNICs on one switch): a
 * datagram to 127.0.0.1:P goes through the switch when an attached process's wildcard channel
 * announced P, and through the kernel otherwise. What proves the route: the receiver sees the
 * sender's VNIC address (the kernel would show 127.0.0.1); the sender sees the reply come from
 * 127.0.0.1:P, as it would from the kernel.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LoopbackDatagramTest {
    private static final InetAddress LOOPBACK = Addresses.inet(0x7F00_0001);

    private TwoProviders providers;
    private InetAddress clientAddress;

    @BeforeEach
    void attach() throws Exception {
        providers = new TwoProviders();
        providers.server.userLevelAddress();
        clientAddress = providers.client.userLevelAddress();
    }

    @AfterEach
    void detach() throws Exception {
        providers.close();
    }

    private static ByteBuffer text(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static String text(ByteBuffer b) {
        b.flip();
        return StandardCharsets.UTF_8.decode(b).toString();
    }

    private static int port(DatagramChannel channel) throws Exception {
        return ((InetSocketAddress) channel.getLocalAddress()).getPort();
    }

    @Test
    void aDatagramTo127001GoesToTheWildcardChannelThatAnnouncedItsPortThroughTheSwitch() throws Exception {
        try (DatagramChannel server = providers.server.openDatagramChannel().bind(new InetSocketAddress(0));
                DatagramChannel client = providers.client.openDatagramChannel().bind(new InetSocketAddress(0))) {
            int serverPort = port(server);
            int clientPort = port(client);
            assertEquals(OptionalInt.of(Addresses.ipv4(providers.server.userLevelAddress())),
                    providers.client.loopbackDatagramPeer(serverPort), "the server's wildcard port is announced");
            client.send(text("ping"), new InetSocketAddress(LOOPBACK, serverPort));
            ByteBuffer request = ByteBuffer.allocate(64);
            SocketAddress from = server.receive(request);
            assertEquals("ping", text(request));
            assertEquals(new InetSocketAddress(clientAddress, clientPort), from,
                    "the request came through the switch (the kernel would name 127.0.0.1)");
            server.send(text("pong"), from);
            ByteBuffer reply = ByteBuffer.allocate(64);
            assertEquals(new InetSocketAddress(LOOPBACK, serverPort), client.receive(reply),
                    "the reply is named as the client addressed the server");
            assertEquals("pong", text(reply));
        }
    }

    @Test
    void aChannelConnectedTo127001TalksThroughTheSwitchAndNamesItselfOnTheLoopback() throws Exception {
        try (DatagramChannel server = providers.server.openDatagramChannel().bind(new InetSocketAddress(0));
                DatagramChannel client = providers.client.openDatagramChannel().bind(new InetSocketAddress(0))) {
            int serverPort = port(server);
            client.connect(new InetSocketAddress(LOOPBACK, serverPort));
            assertEquals(new InetSocketAddress(LOOPBACK, port(client)), client.getLocalAddress(),
                    "a connected socket's local address is the route's source, as the kernel's");
            assertEquals(new InetSocketAddress(LOOPBACK, serverPort), client.getRemoteAddress());
            client.write(text("one"));
            ByteBuffer request = ByteBuffer.allocate(64);
            SocketAddress from = server.receive(request);
            assertEquals(new InetSocketAddress(clientAddress, port(client)), from);
            server.send(text("two"), from);
            ByteBuffer reply = ByteBuffer.allocate(64);
            assertEquals(3, client.read(reply));
            assertEquals("two", text(reply));
            client.disconnect();
            assertTrue(((InetSocketAddress) client.getLocalAddress()).getAddress().isAnyLocalAddress());
        }
    }

    @Test
    void withoutAnAnnouncementADatagramTo127001GoesThroughTheKernel() throws Exception {
        try (DatagramChannel kernelServer = JdkProvider.get().openDatagramChannel().bind(new InetSocketAddress(LOOPBACK, 0));
                DatagramChannel client = providers.client.openDatagramChannel().bind(new InetSocketAddress(0))) {
            int serverPort = port(kernelServer);
            assertEquals(OptionalInt.empty(), providers.client.loopbackDatagramPeer(serverPort));
            client.send(text("to the kernel"), new InetSocketAddress(LOOPBACK, serverPort));
            ByteBuffer request = ByteBuffer.allocate(64);
            assertEquals(new InetSocketAddress(LOOPBACK, port(client)), kernelServer.receive(request));
            assertEquals("to the kernel", text(request));
        }
    }

    @Test
    void closingTheWildcardChannelWithdrawsItsAnnouncement() throws Exception {
        DatagramChannel server = providers.server.openDatagramChannel().bind(new InetSocketAddress(0));
        int serverPort = port(server);
        assertTrue(providers.client.loopbackDatagramPeer(serverPort).isPresent());
        server.close();
        assertFalse(providers.client.loopbackDatagramPeer(serverPort).isPresent());
    }

    @Test
    void javaNetDatagramSocketsEchoThrough127001UserLevel() throws Exception {
        try (DatagramSocket server = new DatagramSocketOver(providers.server).bound(new InetSocketAddress(0));
                DatagramSocket client = new DatagramSocketOver(providers.client).bound(new InetSocketAddress(0))) {
            server.setSoTimeout(10_000);
            client.setSoTimeout(10_000);
            byte[] ping = "ping".getBytes(StandardCharsets.UTF_8);
            client.send(new DatagramPacket(ping, ping.length, LOOPBACK, server.getLocalPort()));
            DatagramPacket request = new DatagramPacket(new byte[64], 64);
            server.receive(request);
            assertEquals(new InetSocketAddress(clientAddress, client.getLocalPort()), request.getSocketAddress());
            server.send(new DatagramPacket(request.getData(), request.getLength(), request.getSocketAddress()));
            DatagramPacket reply = new DatagramPacket(new byte[64], 64);
            client.receive(reply);
            assertEquals(new InetSocketAddress(LOOPBACK, server.getLocalPort()), reply.getSocketAddress());
            assertEquals("ping", new String(reply.getData(), 0, reply.getLength(), StandardCharsets.UTF_8));
        }
    }

    /** The delegate a {@code DatagramSocket} gets under the agent: the socket adaptor of the provider's uninterruptible channel. */
    private record DatagramSocketOver(ArrakisSelectorProvider provider) {
        DatagramSocket bound(SocketAddress local) throws Exception {
            DatagramSocket socket = provider.openUninterruptibleDatagramChannel().socket();
            socket.bind(local);
            return socket;
        }
    }
}

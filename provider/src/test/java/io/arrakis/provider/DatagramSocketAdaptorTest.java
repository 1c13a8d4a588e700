package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.MulticastSocket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The DatagramSocket adaptor where the conformance suite (channels bound to the VNIC's address)
 * does not reach: every public method overridden, and a channel on the wildcard (user-level and
 * kernel sides at once) receiving through it with and without a timeout.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DatagramSocketAdaptorTest {
    private TwoProviders providers;

    @BeforeEach
    void attach() throws Exception {
        providers = new TwoProviders();
    }

    @AfterEach
    void detach() throws Exception {
        providers.close();
    }

    @Test
    void overridesEveryPublicMethodOfDatagramSocketAndMulticastSocket() {
        List<String> missing = new ArrayList<>();
        for (Class<?> type : List.of(DatagramSocket.class, MulticastSocket.class)) {
            for (Method method : type.getDeclaredMethods()) {
                int modifiers = method.getModifiers();
                if (!Modifier.isPublic(modifiers) || Modifier.isStatic(modifiers) || method.isSynthetic()) {
                    continue;
                }
                try {
                    ArrakisDatagramSocketAdaptor.class.getDeclaredMethod(method.getName(), method.getParameterTypes());
                } catch (NoSuchMethodException e) {
                    missing.add(type.getSimpleName() + "." + method.getName() + Arrays.toString(method.getParameterTypes()));
                }
            }
        }
        assertEquals(List.of(), missing, "public methods the adaptor leaves to java.net's own (delegate-less) code");
    }

    @Test
    void aWildcardChannelReceivesFromBothPathsThroughTheAdaptorAndTimesOut() throws Exception {
        InetAddress userLevel = providers.client.userLevelAddress();
        try (DatagramChannel wildcard = providers.server.openDatagramChannel(java.net.StandardProtocolFamily.INET);
                DatagramChannel userPeer = providers.client.openDatagramChannel().bind(new InetSocketAddress(userLevel, 0));
                DatagramChannel kernelPeer = DatagramChannel.open()) {
            DatagramSocket socket = wildcard.socket();
            assertSame(socket, wildcard.socket());
            assertSame(wildcard, socket.getChannel());
            socket.bind(null);
            ArrakisDatagramChannel ours = assertInstanceOf(ArrakisDatagramChannel.class, wildcard);
            assertTrue(ours.hasUserSide() && ours.kernelChannel() != null, "bound on both paths: " + wildcard);
            int port = socket.getLocalPort();

            socket.setSoTimeout(100);
            DatagramPacket packet = new DatagramPacket(new byte[8], 8);
            long start = System.nanoTime();
            SocketTimeoutException timedOut = assertThrows(SocketTimeoutException.class, () -> socket.receive(packet));
            assertEquals("Receive timed out", timedOut.getMessage());
            assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(90), "waited its timeout");
            assertFalse(socket.isClosed());

            socket.setSoTimeout(10_000);
            kernelPeer.send(ByteBuffer.wrap(new byte[] {1, 2, 3}), new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            socket.receive(packet);
            assertEquals(3, packet.getLength());
            assertEquals(((InetSocketAddress) kernelPeer.getLocalAddress()).getPort(), packet.getPort(),
                    "from the kernel peer's port");

            // The same packet again: its buffer length is still 8, not the 3 bytes just received.
            userPeer.send(ByteBuffer.wrap(new byte[] {9, 8, 7, 6, 5}),
                    new InetSocketAddress(providers.server.userLevelAddress(), port));
            socket.receive(packet);
            assertEquals(5, packet.getLength());
            assertArrayEquals(new byte[] {9, 8, 7, 6, 5}, Arrays.copyOf(packet.getData(), 5));
            assertEquals(userPeer.getLocalAddress(), packet.getSocketAddress());
            assertNotNull(socket.getLocalAddress());
        }
    }
}

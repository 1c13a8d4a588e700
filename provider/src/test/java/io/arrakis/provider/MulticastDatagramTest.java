package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.MembershipKey;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Multicast memberships of our datagram channels, on the user-level side, the kernel side, or both. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MulticastDatagramTest {
    private static final InetAddress GROUP = Addresses.inet(0xEFFF_4D05); // 239.255.77.5
    private static final InetAddress LOOPBACK = Addresses.inet(0x7F00_0001);

    private TwoProviders providers;
    private InetAddress serverAddress;
    private InetAddress clientAddress;
    private NetworkInterface lo;

    @BeforeEach
    void attach() throws Exception {
        providers = new TwoProviders();
        serverAddress = providers.server.userLevelAddress();
        clientAddress = providers.client.userLevelAddress();
        lo = NetworkInterface.getByName("lo");
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

    private DatagramChannel userLevelSender() throws Exception {
        return providers.client.openDatagramChannel().bind(new InetSocketAddress(clientAddress, 0));
    }

    /** Sends unicast to {@code member}'s user-level port and waits for it: the switch has introduced the two then. */
    private void introduce(DatagramChannel sender, DatagramChannel member, int port) throws Exception {
        sender.send(text("hello"), new InetSocketAddress(serverAddress, port));
        assertEquals(sender.getLocalAddress(), member.receive(ByteBuffer.allocate(8)));
    }

    private static String receiveFrom(DatagramChannel channel, SocketAddress expected) throws Exception {
        ByteBuffer in = ByteBuffer.allocate(64);
        assertEquals(expected, channel.receive(in));
        return text(in);
    }

    @Test
    void aWildcardMemberHearsTheGroupFromTheKernelAndFromTheSwitch() throws Exception {
        try (DatagramChannel member = providers.server.openDatagramChannel().bind(new InetSocketAddress(0));
                DatagramChannel userSender = userLevelSender();
                DatagramChannel kernelSender = JdkProvider.get().openDatagramChannel(java.net.StandardProtocolFamily.INET)) {
            int port = ((InetSocketAddress) member.getLocalAddress()).getPort();
            introduce(userSender, member, port);
            MembershipKey key = member.join(GROUP, lo);
            kernelSender.setOption(StandardSocketOptions.IP_MULTICAST_IF, lo);
            kernelSender.bind(new InetSocketAddress(LOOPBACK, 0));
            kernelSender.send(text("kernel group"), new InetSocketAddress(GROUP, port));
            assertEquals("kernel group", receiveFrom(member, kernelSender.getLocalAddress()));
            userSender.send(text("switch group"), new InetSocketAddress(GROUP, port));
            assertEquals("switch group", receiveFrom(member, userSender.getLocalAddress()));
            assertThrows(UnsupportedOperationException.class, () -> key.block(clientAddress),
                    "its user-level side cannot filter sources");
            key.drop();
            assertFalse(key.isValid());
            userSender.send(text("switch after"), new InetSocketAddress(GROUP, port));
            kernelSender.send(text("kernel after"), new InetSocketAddress(GROUP, port));
            userSender.send(text("unicast"), new InetSocketAddress(serverAddress, port));
            assertEquals("unicast", receiveFrom(member, userSender.getLocalAddress()), "both sides left the group");
            member.configureBlocking(false);
            assertNull(member.receive(ByteBuffer.allocate(16)));
        }
    }

    @Test
    void aSourceSpecificMembershipOnTheWildcardIsTheKernelsAndFiltersThere() throws Exception {
        try (DatagramChannel member = providers.server.openDatagramChannel().bind(new InetSocketAddress(0))) {
            MembershipKey key = member.join(GROUP, lo, LOOPBACK);
            assertSame(member, key.channel());
            assertEquals(LOOPBACK, key.sourceAddress());
            assertEquals("<239.255.77.5,lo,127.0.0.1>", key.toString());
            assertSame(key, member.join(GROUP, lo, LOOPBACK));
            assertEquals("key is source-specific",
                    assertThrows(IllegalStateException.class, () -> key.block(clientAddress)).getMessage());
            MembershipKey anySource = member.join(Addresses.inet(0xEFFF_4D06), lo);
            // Mixing kinds is refused with the JDK's own messages (the oracle: its channel, same calls).
            try (DatagramChannel jdk = JdkProvider.get().openDatagramChannel().bind(new InetSocketAddress(0))) {
                jdk.join(GROUP, lo, LOOPBACK);
                jdk.join(Addresses.inet(0xEFFF_4D06), lo);
                assertEquals(assertThrows(IllegalStateException.class, () -> jdk.join(GROUP, lo)).getMessage(),
                        assertThrows(IllegalStateException.class, () -> member.join(GROUP, lo)).getMessage());
                assertEquals(assertThrows(IllegalStateException.class,
                                () -> jdk.join(Addresses.inet(0xEFFF_4D06), lo, LOOPBACK)).getMessage(),
                        assertThrows(IllegalStateException.class,
                                () -> member.join(Addresses.inet(0xEFFF_4D06), lo, LOOPBACK)).getMessage());
            }
            key.drop();
            anySource.drop();
        }
    }

    @Test
    void aKernelOnlyMembershipBlocksAndUnblocksSourcesAsTheJdksDoes() throws Exception {
        try (DatagramChannel member = providers.server.openDatagramChannel().bind(new InetSocketAddress(LOOPBACK, 0))) {
            MembershipKey key = member.join(GROUP, lo);
            InetAddress someone = Addresses.inet(0x7F00_0002);
            assertSame(key, key.block(someone));
            assertSame(key, key.block(someone), "blocking twice is nothing");
            assertSame(key, key.unblock(someone));
            assertEquals("not blocked", assertThrows(IllegalStateException.class, () -> key.unblock(someone))
                    .getMessage());
            key.drop();
            assertEquals("key is no longer valid", assertThrows(IllegalStateException.class,
                    () -> key.block(someone)).getMessage());
        }
    }

    @Test
    void aMembershipMadeBeforeBindHoldsOnTheWildcardsUserLevelSide() throws Exception {
        try (DatagramChannel member = providers.server.openDatagramChannel(); DatagramChannel sender = userLevelSender()) {
            MembershipKey key = member.join(GROUP, lo);
            assertNull(member.getLocalAddress(), "joining binds nothing, as in the JDK");
            member.bind(new InetSocketAddress(0));
            int port = ((InetSocketAddress) member.getLocalAddress()).getPort();
            introduce(sender, member, port);
            sender.send(text("to the group"), new InetSocketAddress(GROUP, port));
            assertEquals("to the group", receiveFrom(member, sender.getLocalAddress()));
            assertTrue(key.isValid());
        }
    }

    @Test
    void aMembershipMadeBeforeBindMovesToTheUserLevelPortWhenBoundToOurAddress() throws Exception {
        try (DatagramChannel member = providers.server.openDatagramChannel(); DatagramChannel sender = userLevelSender()) {
            MembershipKey key = member.join(GROUP, lo);
            MembershipKey sourceSpecific = member.join(Addresses.inet(0xEFFF_4D07), lo, LOOPBACK);
            member.bind(new InetSocketAddress(serverAddress, 0));
            assertNull(((ArrakisDatagramChannel) member).kernelChannel(), "user-level only now");
            assertTrue(key.isValid());
            assertFalse(sourceSpecific.isValid(), "the user-level port cannot hold a source-specific membership");
            int port = ((InetSocketAddress) member.getLocalAddress()).getPort();
            introduce(sender, member, port);
            sender.send(text("to the group"), new InetSocketAddress(GROUP, port));
            assertEquals("to the group", receiveFrom(member, sender.getLocalAddress()));
        }
    }

    @Test
    void interruptingABlockedReceiveOnAWrappedKernelChannelClosesOurs() throws Exception {
        DatagramChannel wrapped = providers.server.openDatagramChannel().bind(new InetSocketAddress(LOOPBACK, 0));
        assertNotNull(((ArrakisDatagramChannel) wrapped).kernelChannel());
        java.util.concurrent.CompletableFuture<SocketAddress> received = new java.util.concurrent.CompletableFuture<>();
        Thread receiver = Thread.ofPlatform().start(() -> {
            try {
                received.complete(wrapped.receive(ByteBuffer.allocate(8)));
            } catch (Throwable t) {
                received.completeExceptionally(t);
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!(receiver.getStackTrace().length > 0 && receiver.getStackTrace()[0].isNativeMethod())) {
            assertTrue(System.nanoTime() < deadline, "the receiver never blocked in the kernel");
            Thread.sleep(5);
        }
        receiver.interrupt();
        java.util.concurrent.ExecutionException failure = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> received.get(10, TimeUnit.SECONDS));
        assertSame(java.nio.channels.ClosedByInterruptException.class, failure.getCause().getClass());
        assertFalse(wrapped.isOpen(), "ours closed with the JDK's");
    }
}

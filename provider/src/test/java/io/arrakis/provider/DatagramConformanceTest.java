package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The same calls on the JDK's own DatagramChannel (the oracle, on 127.0.0.1) and on ours (on the
 * user-level stack): each must return the same kind of result or throw the same exception, with the
 * same message, in the same state.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DatagramConformanceTest {
    private TwoProviders providers;

    @BeforeEach
    void attach() throws Exception {
        providers = new TwoProviders();
    }

    @AfterEach
    void detach() throws Exception {
        providers.close();
    }

    /** One side of the comparison: where its channels come from, bind and find a peer. */
    record Side(SelectorProvider provider, InetAddress local, SocketAddress peer, SocketAddress other) {}

    interface Call {
        Object on(DatagramChannel channel, Side side) throws Exception;
    }

    interface Setup {
        void on(DatagramChannel channel, Side side) throws Exception;
    }

    private static final Map<String, Setup> STATES = new LinkedHashMap<>();
    private static final Map<String, Call> CALLS = new LinkedHashMap<>();

    static {
        STATES.put("open", (c, s) -> { });
        STATES.put("bound", (c, s) -> c.bind(new InetSocketAddress(s.local(), 0)));
        STATES.put("connected", (c, s) -> c.bind(new InetSocketAddress(s.local(), 0)).connect(s.peer()));
        STATES.put("disconnected", (c, s) -> c.bind(new InetSocketAddress(s.local(), 0)).connect(s.peer()).disconnect());
        STATES.put("closed", (c, s) -> c.close());
        STATES.put("connected then closed", (c, s) -> {
            c.bind(new InetSocketAddress(s.local(), 0)).connect(s.peer());
            c.close();
        });

        CALLS.put("read", (c, s) -> c.read(ByteBuffer.allocate(8)));
        CALLS.put("read nothing", (c, s) -> c.read(ByteBuffer.allocate(0)));
        CALLS.put("read read-only", (c, s) -> c.read(ByteBuffer.allocate(8).asReadOnlyBuffer()));
        CALLS.put("read null", (c, s) -> c.read((ByteBuffer) null));
        CALLS.put("scatter bad range", (c, s) -> c.read(new ByteBuffer[1], 1, 1));
        CALLS.put("write", (c, s) -> c.write(ByteBuffer.allocate(4)));
        CALLS.put("write nothing", (c, s) -> c.write(ByteBuffer.allocate(0)));
        CALLS.put("gather too long", (c, s) -> c.write(new ByteBuffer[] {ByteBuffer.allocate(40_000),
            ByteBuffer.allocate(40_000)}));
        CALLS.put("receive non-blocking", (c, s) -> {
            c.configureBlocking(false);
            return c.receive(ByteBuffer.allocate(8));
        });
        CALLS.put("receive read-only", (c, s) -> c.receive(ByteBuffer.allocate(8).asReadOnlyBuffer()));
        CALLS.put("send to peer", (c, s) -> c.send(ByteBuffer.allocate(4), s.peer()));
        CALLS.put("send to other", (c, s) -> c.send(ByteBuffer.allocate(4), s.other()));
        CALLS.put("send nothing to other", (c, s) -> c.send(ByteBuffer.allocate(0), s.other()));
        CALLS.put("send to port 0", (c, s) -> c.send(ByteBuffer.allocate(4),
                new InetSocketAddress(((InetSocketAddress) s.peer()).getAddress(), 0)));
        CALLS.put("send too long", (c, s) -> c.send(ByteBuffer.allocate(65_508), s.other()));
        CALLS.put("send null target", (c, s) -> c.send(ByteBuffer.allocate(4), null));
        CALLS.put("send unresolved", (c, s) -> c.send(ByteBuffer.allocate(4), InetSocketAddress.createUnresolved("x", 9)));
        CALLS.put("bind", (c, s) -> c.bind(new InetSocketAddress(s.local(), 0)));
        CALLS.put("connect", (c, s) -> c.connect(s.peer()));
        CALLS.put("connect port 0", (c, s) -> c.connect(new InetSocketAddress(s.local(), 0)));
        CALLS.put("disconnect", (c, s) -> c.disconnect());
        CALLS.put("isConnected", (c, s) -> c.isConnected());
        CALLS.put("remote", (c, s) -> c.getRemoteAddress());
        CALLS.put("local", (c, s) -> c.getLocalAddress());
        CALLS.put("get IP_TOS", (c, s) -> c.getOption(StandardSocketOptions.IP_TOS));
        CALLS.put("get null", (c, s) -> c.getOption(null));
        CALLS.put("set TOS 256", (c, s) -> c.setOption(StandardSocketOptions.IP_TOS, 256));
        CALLS.put("set TCP_NODELAY", (c, s) -> c.setOption(StandardSocketOptions.TCP_NODELAY, true));
        CALLS.put("set null value", (c, s) -> c.setOption(StandardSocketOptions.SO_BROADCAST, null));
        CALLS.put("join unicast", (c, s) -> c.join(s.local(), NetworkInterface.getByName("lo")));
        CALLS.put("join wildcard source", (c, s) -> c.join(Addresses.inet(0xEFFF_4D09), NetworkInterface.getByName("lo"),
                Addresses.inet(0)));
        CALLS.put("validOps", (c, s) -> c.validOps());
        CALLS.put("isBlocking", (c, s) -> c.isBlocking());
    }

    /** What a call did, in terms both sides share: never an address or an object's identity. */
    private static String outcome(Call call, DatagramChannel channel, Side side) {
        try {
            Object result = call.on(channel, side);
            if (result == channel) {
                return "this";
            }
            if (result instanceof SocketAddress) {
                return "an address";
            }
            if (result instanceof java.nio.channels.MembershipKey) {
                return "a key";
            }
            return String.valueOf(result);
        } catch (Throwable t) {
            String message = t.getMessage();
            if (t instanceof NullPointerException) {
                message = null; // the JDK's messages here are helpful-NPE texts naming its own variables
            }
            return t.getClass().getName() + ": " + message;
        }
    }

    @Test
    void everyCallInEveryStateAnswersAsTheJdksChannel() throws Exception {
        InetAddress loopback = Addresses.inet(0x7F00_0001);
        InetAddress ours = providers.server.userLevelAddress();
        try (DatagramChannel jdkPeer = JdkProvider.get().openDatagramChannel().bind(new InetSocketAddress(loopback, 0));
                DatagramChannel jdkOther = JdkProvider.get().openDatagramChannel().bind(new InetSocketAddress(loopback, 0));
                DatagramChannel ourPeer = providers.client.openDatagramChannel()
                        .bind(new InetSocketAddress(providers.client.userLevelAddress(), 0));
                DatagramChannel ourOther = providers.client.openDatagramChannel()
                        .bind(new InetSocketAddress(providers.client.userLevelAddress(), 0))) {
            Side jdk = new Side(JdkProvider.get(), loopback, jdkPeer.getLocalAddress(), jdkOther.getLocalAddress());
            Side arrakis = new Side(providers.server, ours, ourPeer.getLocalAddress(), ourOther.getLocalAddress());
            List<String> differences = new ArrayList<>();
            int compared = 0;
            for (Map.Entry<String, Setup> state : STATES.entrySet()) {
                for (Map.Entry<String, Call> call : CALLS.entrySet()) {
                    String expected = run(jdk, state.getValue(), call.getValue());
                    String actual = run(arrakis, state.getValue(), call.getValue());
                    compared++;
                    if (!expected.equals(actual)) {
                        differences.add(state.getKey() + " / " + call.getKey() + ": JDK " + expected + ", ours " + actual);
                    }
                }
            }
            assertEquals(List.of(), differences, compared + " cases compared");
        }
    }

    private static String run(Side side, Setup setup, Call call) throws Exception {
        try (DatagramChannel channel = side.provider().openDatagramChannel()) {
            setup.on(channel, side);
            if (channel.isOpen()) {
                channel.configureBlocking(false); // nothing here may wait for a datagram that never comes
            }
            return outcome(call, channel, side);
        }
    }
}

package io.arrakis.stack.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.xdp.AfXdpVnic;
import io.arrakis.device.xdp.AfXdpVnicBackend;
import io.arrakis.device.xdp.XdpTestbed;
import io.arrakis.stack.StackConfig;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.udp.UdpSocket;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Our stack on the AF_XDP backend, serving the Linux kernel's clients in a peer namespace over a
 * veth pair ({@link XdpTestbed}), with the XDP program in skb and native-veth mode. Our address is
 * a dedicated one ({@value XdpTestbed#OUR_IP}) on the interface that also carries the kernel's
 * {@value XdpTestbed#KERNEL_IP}: the VNIC's filters claim ARP for it and the ports we serve.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class AfXdpInteropTest {
    private static final int OUR = Ipv4Text.parse(XdpTestbed.OUR_IP);
    private static final int UDP_PORT = 5555;
    private static final int TCP_PORT = 5001;
    private static final int BUFFER = 1 << 20;
    private static final long OUR_SEED = 11;
    private static final long LINUX_SEED = 22;
    private static final long BYTES = 2_000_000;
    private static final int[] SIZES = {0, 1, 18, 100, 1472, 1473, 2961, 9000, 65_507};
    private static final Duration PATIENCE = Duration.ofSeconds(10);

    private XdpTestbed testbed;
    private AfXdpVnic vnic;
    private StackDriver stack;
    private final List<PeerProcess> peers = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (PeerProcess peer : peers) {
            peer.close();
        }
        try {
            if (stack != null) {
                stack.close();
            }
            if (vnic != null) {
                vnic.close();
            }
        } finally {
            if (testbed != null) {
                testbed.close();
            }
        }
    }

    /**
     * Opens the VNIC; with {@code dedicated} it is given our address and claims all of it (ARP,
     * every TCP and UDP port), otherwise it claims nothing and the test adds ARP and per-port filters.
     */
    private void open(String xdpMode, boolean dedicated) throws IOException {
        testbed = XdpTestbed.create();
        Map<String, String> options = new java.util.HashMap<>(Map.of(AfXdpVnicBackend.OPTION_INTERFACE,
                testbed.ourLink, AfXdpVnicBackend.OPTION_NETNS, testbed.ours.name(), AfXdpVnicBackend.OPTION_XDP_MODE,
                xdpMode));
        if (dedicated) {
            options.put(AfXdpVnicBackend.OPTION_ADDRESS, XdpTestbed.OUR_IP + "/24");
        }
        vnic = (AfXdpVnic) DeviceBackends.vnicBackend(AfXdpVnicBackend.NAME).open(new VnicConfig("xdp-interop", 1, 1024,
                2048, options));
        if (!dedicated) {
            vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.ARP, OUR, 0, 0, 0), 0);
        }
        stack = StackDriver.start(vnic, StackConfig.of(XdpTestbed.OUR_IP, 24, null));
    }

    private PeerProcess startPeer(String... args) throws IOException {
        PeerProcess peer = PeerProcess.start(testbed.peer, PATIENCE, args);
        peers.add(peer);
        return peer;
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void datagramsFromALinuxSocketReachOurDedicatedAddressAndOurEchoesReachItByteExact(String xdpMode) throws Exception {
        open(xdpMode, true);
        assertEquals(3, vnic.receiveFilters().size(), "ARP, TCP and UDP of the dedicated address: " + vnic.receiveFilters());
        UdpSocket socket = stack.call(s -> s.openUdp(UDP_PORT, 1 << 20));
        EchoHook echo = new EchoHook(socket);
        stack.everyPoll(echo);
        String[] args = new String[5 + SIZES.length];
        System.arraycopy(new String[] {"client", XdpTestbed.PEER_IP, XdpTestbed.OUR_IP, Integer.toString(UDP_PORT),
                "3000"}, 0, args, 0, 5);
        for (int i = 0; i < SIZES.length; i++) {
            args[5 + i] = Integer.toString(SIZES[i]);
        }
        PeerProcess peer = startPeer(args);
        for (int size : SIZES) {
            assertEquals("echo " + size + " ok", peer.expect("echo " + size + " ", PATIENCE),
                    peer.describe() + "; " + stack.describeCounters());
        }
        peer.expect("done", PATIENCE);
        assertEquals(SIZES.length, echo.received.size());
        for (int i = 0; i < SIZES.length; i++) {
            assertArrayEquals(LinuxUdpPeer.pattern(SIZES[i], LinuxUdpPeer.CLIENT_SEED), echo.received.get(i).payload());
        }
        assertEquals(0, echo.sendFailures.get());
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void aLinuxClientAndOurServerOnAFilteredPortExchangeTwoMegabytesEachWayByteExact(String xdpMode) throws Exception {
        open(xdpMode, false);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, OUR, TCP_PORT, 0, 0), 0);
        TcpLayer tcp = stack.call(s -> new TcpLayer(s, TcpConfig.DEFAULT, 7));
        TcpListener listener = stack.call(s -> tcp.listen(TCP_PORT, 4, BUFFER, BUFFER));
        TcpEndpoint ours = TcpEndpoint.server(tcp, listener, BYTES, OUR_SEED, false, true);
        stack.everyPoll(ours);
        PeerProcess peer = PeerProcess.start(testbed.peer, PATIENCE, TapTestbed.TCP_PEER_JVM, LinuxTcpPeer.class,
                "connect", XdpTestbed.PEER_IP, XdpTestbed.OUR_IP, Integer.toString(TCP_PORT), Long.toString(BYTES),
                Long.toString(LINUX_SEED));
        peers.add(peer);
        List<String> lines = peer.expectAll(Duration.ofSeconds(60), "sent ", "received ");
        assertTrue(stack.await(s -> ours.done(), PATIENCE), ours.describe());
        String fromLinux = LinuxTcpInteropTest.patternHash(LINUX_SEED, BYTES);
        String fromUs = LinuxTcpInteropTest.patternHash(OUR_SEED, BYTES);
        assertEquals("sent " + BYTES + " " + fromLinux, first3(lines.get(0)), "what the Linux peer sent");
        assertEquals("received " + BYTES + " " + fromUs, first3(lines.get(1)), "what the Linux peer received");
        String[] ourView = stack.call(s -> new String[] {ours.received + " " + ours.receivedHash,
                ours.sent + " " + ours.sentHash});
        assertEquals(BYTES + " " + fromLinux, ourView[0], "what our stack received");
        assertEquals(BYTES + " " + fromUs, ourView[1], "what our stack sent");
        TcpConnection connection = stack.call(s -> ours.connection);
        assertNull(stack.call(s -> connection.failure()));
    }

    private static String first3(String line) {
        String[] fields = line.split(" ");
        return fields[0] + " " + fields[1] + " " + fields[2];
    }
}

package io.arrakis.stack.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.xdp.AfXdpVnic;
import io.arrakis.device.xdp.AfXdpVnicBackend;
import io.arrakis.device.xdp.XdpTestbed;
import io.arrakis.stack.StackConfig;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.udp.UdpSocket;
import io.arrakis.testing.NetworkNamespace;
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
 * Two of our stacks in one process, each on its own queue of one AF_XDP VNIC over a two-queue veth
 * ({@link XdpTestbed#create(int)}), both on our one dedicated address: the stack on queue 0 owns
 * TCP {@value #TCP_0} and UDP {@value #UDP_0} (and ARP), the one on queue 1 TCP {@value #TCP_1} and
 * UDP {@value #UDP_1}. An AF_XDP socket only sees frames that arrive on the queue it is bound to, so
 * a flow must be steered to its filter's queue before XDP runs: on a NIC by RSS or ethtool ntuple
 * rules, on a veth by the sender, since in native mode a veth delivers on the receive queue numbered
 * as the peer's transmit queue. The peer namespace's kernel picks transmit queue i on CPU i ({@code
 * xps_cpus}), each client runs pinned to its stack's CPU, and so does each stack's thread (the peer
 * answers our frames in the softirq of the CPU that sent them): the veth's stand-in for an ntuple
 * rule ({@code tc flower … skbedit queue_mapping} would be direct, but this kernel has no tc
 * classifiers). Linux clients in the peer
 * namespace talk TCP and UDP to both stacks at once, byte-exact; what no filter claims (ping and a
 * kernel TCP server on the kernel's address) stays with the kernel, while a UDP port of ours whose
 * frames arrive on a queue other than its filter's comes to our socket on the queue it arrived on.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AfXdpMultiQueueTest {
    private static final int OUR = Ipv4Text.parse(XdpTestbed.OUR_IP);
    private static final int TCP_0 = 5001;
    private static final int UDP_0 = 5555;
    private static final int TCP_1 = 5002;
    private static final int UDP_1 = 5556;
    /** Filtered towards queue 1, but its frames are steered to queue 0: our queue 0's socket gets them. */
    private static final int MISSTEERED = 5557;
    private static final int KERNEL_TCP = 8080;
    private static final int BUFFER = 1 << 20;
    private static final long BYTES = 500_000;
    /** Unfragmented only: a later fragment has no ports, so per-port filters leave it to the kernel. */
    private static final int[] SIZES = {0, 1, 100, 1000, 1472};
    private static final List<String> UDP_PEER_JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-Xmx64m", "-Xshare:auto");
    private static final Duration PATIENCE = Duration.ofSeconds(15);

    private XdpTestbed testbed;
    private AfXdpVnic vnic;
    private final List<StackDriver> stacks = new ArrayList<>();
    private final List<PeerProcess> peers = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (PeerProcess peer : peers) {
            peer.close();
        }
        try {
            for (StackDriver stack : stacks) {
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
     * Makes the peer's kernel pick transmit queue {@code queue} for frames sent from CPU {@code
     * queue} (XPS by CPU). Not XPS by receive queue: the skb our copy-mode socket sends arrives at
     * the peer without a recorded receive queue, so that map would send everything to queue 0.
     */
    private void steerByCpu(int queue) throws IOException {
        String mask = Integer.toHexString(1 << queue);
        testbed.peer.exec("sh", "-c", "echo " + mask + " > /sys/class/net/" + testbed.peerLink + "/queues/tx-" + queue
                + "/xps_cpus");
    }

    private record Served(EchoHook udp, TcpEndpoint tcp) {}

    private Served serve(StackDriver stack, int udpPort, int tcpPort, long seed) throws Exception {
        UdpSocket socket = stack.call(s -> s.openUdp(udpPort, 1 << 20));
        EchoHook echo = new EchoHook(socket);
        stack.everyPoll(echo);
        TcpLayer tcp = stack.call(s -> new TcpLayer(s, TcpConfig.DEFAULT, seed));
        TcpListener listener = stack.call(s -> tcp.listen(tcpPort, 4, BUFFER, BUFFER));
        TcpEndpoint endpoint = TcpEndpoint.server(tcp, listener, BYTES, seed, false, true);
        stack.everyPoll(endpoint);
        return new Served(echo, endpoint);
    }

    private PeerProcess udpClient(int port, int cpu) throws IOException {
        String[] args = new String[5 + SIZES.length];
        System.arraycopy(new String[] {"client", XdpTestbed.PEER_IP, XdpTestbed.OUR_IP, Integer.toString(port),
                "3000"}, 0, args, 0, 5);
        for (int i = 0; i < SIZES.length; i++) {
            args[5 + i] = Integer.toString(SIZES[i]);
        }
        PeerProcess peer = PeerProcess.start(testbed.peer, cpu, PATIENCE, UDP_PEER_JVM, LinuxUdpPeer.class, args);
        peers.add(peer);
        return peer;
    }

    private PeerProcess tcpClient(int port, long seed, int cpu) throws IOException {
        PeerProcess peer = PeerProcess.start(testbed.peer, cpu, PATIENCE, TapTestbed.TCP_PEER_JVM, LinuxTcpPeer.class,
                "connect", XdpTestbed.PEER_IP, XdpTestbed.OUR_IP, Integer.toString(port), Long.toString(BYTES),
                Long.toString(seed));
        peers.add(peer);
        return peer;
    }

    /**
     * Native veth mode only: in skb (generic) mode a veth does not record the receive queue in the
     * skb, so XDP sees every frame as queue 0 and a socket on queue 1 never receives.
     */
    @ParameterizedTest
    @ValueSource(strings = {"native"})
    void twoStacksOnTwoQueuesOfOneVnicServeLinuxClientsByteExactAndTheRestStaysWithTheKernel(String xdpMode)
            throws Exception {
        testbed = XdpTestbed.create(2);
        steerByCpu(0);
        steerByCpu(1);
        // ARP would leave on whichever queue the asking CPU picks; a static entry needs none.
        testbed.peer.addNeighbour(testbed.peerLink, XdpTestbed.OUR_IP, testbed.ours.hardwareAddress(testbed.ourLink));

        vnic = (AfXdpVnic) DeviceBackends.vnicBackend(AfXdpVnicBackend.NAME).open(new VnicConfig("xdp-mq", 2, 1024,
                2048, Map.of(AfXdpVnicBackend.OPTION_INTERFACE, testbed.ourLink, AfXdpVnicBackend.OPTION_NETNS,
                        testbed.ours.name(), AfXdpVnicBackend.OPTION_XDP_MODE, xdpMode)));
        assertEquals(0, vnic.hardwareQueue(0));
        assertEquals(1, vnic.hardwareQueue(1));
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.ARP, OUR, 0, 0, 0), 0);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, OUR, TCP_0, 0, 0), 0);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, OUR, UDP_0, 0, 0), 0);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, OUR, TCP_1, 0, 0), 1);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, OUR, UDP_1, 0, 0), 1);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, OUR, MISSTEERED, 0, 0), 1);

        StackConfig config = StackConfig.of(XdpTestbed.OUR_IP, 24, null);
        StackDriver first = StackDriver.start(vnic, 0, config);
        stacks.add(first);
        StackDriver second = StackDriver.start(vnic, 1, config);
        stacks.add(second);
        // Each stack's thread on the CPU whose transmit queue is its own: the peer's kernel answers
        // our frames (TCP's ACK-clocked data, pure ACKs) in the softirq of the CPU that sent them.
        for (int i = 0; i < stacks.size(); i++) {
            int cpu = i;
            stacks.get(i).call(s -> {
                pinCallingThread(cpu);
                return null;
            });
        }
        // Each stack learns the peer's MAC from the peer's first frame to it, as a shared-address
        // stack does, since ARP replies to either could arrive on the other's queue.
        for (StackDriver stack : stacks) {
            stack.call(s -> {
                s.setGleanNeighbours(true);
                return null;
            });
        }
        Served onFirst = serve(first, UDP_0, TCP_0, 31);
        Served onSecond = serve(second, UDP_1, TCP_1, 32);
        long[] received = {rxPackets(0), rxPackets(1)};

        // Both stacks at once: a UDP and a TCP client each, all four running together.
        PeerProcess udp0 = udpClient(UDP_0, 0);
        PeerProcess udp1 = udpClient(UDP_1, 1);
        PeerProcess tcp0 = tcpClient(TCP_0, 41, 0);
        PeerProcess tcp1 = tcpClient(TCP_1, 42, 1);
        for (PeerProcess udp : List.of(udp0, udp1)) {
            for (int size : SIZES) {
                assertEquals("echo " + size + " ok", udp.expect("echo " + size + " ", PATIENCE),
                        udp.describe() + "; " + first.describeCounters() + "; " + second.describeCounters());
            }
            udp.expect("done", PATIENCE);
        }
        for (EchoHook echo : List.of(onFirst.udp, onSecond.udp)) {
            assertEquals(SIZES.length, echo.received.size());
            for (int i = 0; i < SIZES.length; i++) {
                assertArrayEquals(LinuxUdpPeer.pattern(SIZES[i], LinuxUdpPeer.CLIENT_SEED),
                        echo.received.get(i).payload());
            }
            assertEquals(0, echo.sendFailures.get());
        }
        checkTcp(first, onFirst.tcp, tcp0, 41, 31);
        checkTcp(second, onSecond.tcp, tcp1, 42, 32);
        assertTrue(rxPackets(0) - received[0] > 100, "queue 0 received its flows: " + first.describeCounters());
        assertTrue(rxPackets(1) - received[1] > 100, "queue 1 received its flows: " + second.describeCounters());

        // A port filtered towards queue 1 whose frames arrive on queue 0: XDP cannot move a frame to
        // another queue's socket, and the VNIC owns its program (every XSKMAP slot is ours), so the
        // frame goes to our socket on queue 0 rather than to the kernel. The stack there has no such
        // port (in the provider, queue 0's stack would be handed it on); nothing reaches queue 1.
        long firstBefore = rxPackets(0);
        long secondBefore = rxPackets(1);
        assertEquals("timeout", udpRoundTrip(MISSTEERED, "wrong queue"));
        assertEquals(secondBefore, rxPackets(1), "nothing arrived on queue 1");
        assertTrue(rxPackets(0) > firstBefore, "the datagram arrived on our queue 0, not at the kernel");

        // What no filter claims still reaches the kernel's stack on the same interface.
        NetworkNamespace.Result ping = testbed.peer.execAllowingFailure("ping", "-c", "2", "-i", "0.2", "-W", "2",
                XdpTestbed.KERNEL_IP);
        assertEquals(0, ping.exitCode(), "ping to the kernel's address: " + ping.stdout() + ping.stderr());
        try (NetworkNamespace.Background server = testbed.ours.start("python3", "-c", """
                import socket
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('198.18.0.1', %d)); s.listen(4)
                while True:
                    c, _ = s.accept(); c.sendall(b'kernel here'); c.close()
                """.formatted(KERNEL_TCP))) {
            String banner = "";
            for (int attempt = 0; attempt < 50 && !banner.equals("kernel here"); attempt++) {
                banner = testbed.peer.execAllowingFailure("python3", "-c", """
                        import socket
                        try:
                            c = socket.create_connection(('198.18.0.1', %d), timeout=1); print(c.recv(64).decode(), end='')
                        except OSError as e:
                            print('refused', end='')
                        """.formatted(KERNEL_TCP)).stdout();
                if (!banner.equals("kernel here")) {
                    Thread.sleep(100);
                }
            }
            assertEquals("kernel here", banner, "TCP to a port we do not own reaches the kernel's listener");
        }
    }

    /** {@code sched_setaffinity(0, …)}: the calling thread runs on {@code cpu} only. */
    private static void pinCallingThread(int cpu) throws Exception {
        java.lang.foreign.Linker linker = java.lang.foreign.Linker.nativeLinker();
        java.lang.invoke.MethodHandle setAffinity = linker.downcallHandle(
                linker.defaultLookup().find("sched_setaffinity").orElseThrow(),
                java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT,
                        java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_LONG,
                        java.lang.foreign.ValueLayout.ADDRESS));
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment set = arena.allocate(128);
            set.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 1L << cpu);
            int result;
            try {
                result = (int) setAffinity.invokeExact(0, 128L, set);
            } catch (Throwable e) {
                throw new IllegalStateException("sched_setaffinity failed", e);
            }
            assertEquals(0, result, "sched_setaffinity to CPU " + cpu);
        }
    }

    private long rxPackets(int queue) {
        return ((Vnic) vnic).queue(queue).counters().get(VnicCounter.RX_PACKETS);
    }

    private String udpRoundTrip(int port, String text) throws IOException {
        return testbed.peer.execAllowingFailure("taskset", "-c", "0", "python3", "-c", """
                import socket, sys
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(1.5)
                s.sendto(sys.argv[1].encode(), ('%s', %d))
                try:
                    print(s.recvfrom(2048)[0].decode(), end='')
                except socket.timeout:
                    print('timeout', end='')
                """.formatted(XdpTestbed.OUR_IP, port), text).stdout();
    }

    private static void checkTcp(StackDriver stack, TcpEndpoint ours, PeerProcess peer, long linuxSeed, long ourSeed)
            throws Exception {
        List<String> lines = peer.expectAll(Duration.ofSeconds(60), "sent ", "received ");
        assertTrue(stack.await(s -> ours.done(), PATIENCE), ours.describe());
        String fromLinux = LinuxTcpInteropTest.patternHash(linuxSeed, BYTES);
        String fromUs = LinuxTcpInteropTest.patternHash(ourSeed, BYTES);
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

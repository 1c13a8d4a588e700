package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.xdp.XdpTestbed;
import io.arrakis.testing.NetworkNamespace;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Shared-address mode end to end: our provider's channels on the af_xdp backend use the kernel's
 * own address of one end of a veth pair ({@code claim=none}) and claim only the ports they bind;
 * Linux clients in the peer namespace reach our TCP and UDP servers on that address, while a
 * kernel TCP server on another port of the same address (an SSH stand-in) and ping keep working,
 * and a port we close goes back to the kernel. Our stack never hears the answers to its own ARP
 * requests here (they go to the kernel's address, so to the kernel): it learns its clients from
 * their first frames (gleaning).
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class SharedAddressXdpTest {
    private static final String SHARED = XdpTestbed.KERNEL_IP;
    private static final int TCP_PORT = 7100;
    private static final int UDP_PORT = 7101;
    private static final int KERNEL_PORT = 7122;

    private final ExecutorService threads = Executors.newCachedThreadPool();
    private XdpTestbed testbed;
    private ArrakisSelectorProvider provider;
    private ControlPlane plane;

    @TempDir
    Path directory;

    @AfterEach
    void closeAll() throws Exception {
        threads.shutdownNow();
        try {
            if (provider != null) {
                provider.shutdown();
            }
        } finally {
            try {
                if (plane != null) {
                    plane.close();
                }
            } finally {
                if (testbed != null) {
                    testbed.close();
                }
            }
        }
    }

    private String peerPython(String script, String... args) throws IOException {
        String[] command = new String[3 + args.length];
        command[0] = "python3";
        command[1] = "-c";
        command[2] = script;
        System.arraycopy(args, 0, command, 3, args.length);
        return testbed.peer.execAllowingFailure(command).stdout();
    }

    private String tcpExchange(int port, String text) throws IOException {
        return peerPython("""
                import socket, sys
                try:
                    s = socket.create_connection(('198.18.0.1', int(sys.argv[1])), timeout=3)
                    s.sendall(sys.argv[2].encode())
                    s.shutdown(socket.SHUT_WR)
                    data = b''
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    print(data.decode(), end='')
                except ConnectionRefusedError:
                    print('refused', end='')
                except socket.timeout:
                    print('timeout', end='')
                except OSError as e:
                    print(type(e).__name__, end='')
                """, Integer.toString(port), text);
    }

    private String udpExchange(int port, String text) throws IOException {
        return peerPython("""
                import socket, sys
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(2)
                s.sendto(sys.argv[2].encode(), ('198.18.0.1', int(sys.argv[1])))
                try:
                    print(s.recvfrom(65535)[0].decode(), end='')
                except socket.timeout:
                    print('timeout', end='')
                """, Integer.toString(port), text);
    }

    /**
     * {@code native} and {@code skb}: the provider's VNIC holds the program itself; {@code
     * control-plane}: a control plane (embedded here, as a daemon would run) holds it, and the
     * provider's port claims travel over its socket and show in its status as channels bind.
     */
    @ParameterizedTest
    @ValueSource(strings = {"native", "skb", "control-plane"})
    void ourServersOnTheKernelsAddressServeLinuxClientsWhileItsOtherPortsAndPingStayWithTheKernel(String variant)
            throws Exception {
        testbed = XdpTestbed.create();
        boolean throughControlPlane = variant.equals("control-plane");
        String xdpMode = throughControlPlane ? "native" : variant;
        // The SSH stand-in: a kernel server on another port of the same address, answering "kernel".
        NetworkNamespace.Background kernelServer = testbed.ours.start("python3", "-c", """
                import socket
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('198.18.0.1', %d))
                s.listen(8)
                while True:
                    c, _ = s.accept()
                    c.recv(4096)
                    c.sendall(b'kernel')
                    c.close()
                """.formatted(KERNEL_PORT));
        Properties settings = new Properties();
        settings.setProperty("arrakis.backend", "af_xdp");
        settings.setProperty("arrakis.af_xdp.interface", testbed.ourLink);
        settings.setProperty("arrakis.af_xdp.netns", testbed.ours.name());
        settings.setProperty("arrakis.af_xdp.address", SHARED + "/24");
        settings.setProperty("arrakis.af_xdp.claim", "none");
        settings.setProperty("arrakis.af_xdp.xdp-mode", xdpMode);
        if (throughControlPlane) {
            Path socket = directory.resolve("control.sock");
            plane = ControlPlane.startEmbedded(socket);
            settings.setProperty("arrakis.af_xdp.filters", "external");
            settings.setProperty("arrakis.af_xdp.control-socket", socket.toString());
        }
        provider = ArrakisSelectorProvider.create(settings);
        assertEquals(SHARED, provider.userLevelAddress().getHostAddress());

        try (ServerSocketChannel server = provider.openServerSocketChannel();
                DatagramChannel udp = provider.openDatagramChannel()) {
            server.bind(new InetSocketAddress(provider.userLevelAddress(), TCP_PORT));
            udp.bind(new InetSocketAddress(provider.userLevelAddress(), UDP_PORT));
            if (throughControlPlane) {
                ControlStatus.XdpTenant us = plane.status().xdpAttachment(testbed.ourLink)
                        .tenant(ProcessHandle.current().pid());
                int shared = Ipv4Text.parse(SHARED);
                assertTrue(us.flows().containsAll(List.of(new FlowFilter(FlowFilter.Protocol.TCP, shared, TCP_PORT, 0, 0),
                        new FlowFilter(FlowFilter.Protocol.UDP, shared, UDP_PORT, 0, 0))), us.toString());
            }
            CompletableFuture<Void> tcpEcho = CompletableFuture.runAsync(() -> echoTcp(server, 2), threads);
            CompletableFuture<Void> udpEcho = CompletableFuture.runAsync(() -> echoUdp(udp, 2), threads);

            assertEquals("over tcp", tcpExchange(TCP_PORT, "over tcp"));
            assertEquals("over udp", udpExchange(UDP_PORT, "over udp"));
            // The kernel keeps what we did not claim on its address: another TCP port, and ICMP.
            assertEquals("kernel", tcpExchange(KERNEL_PORT, "hi"));
            testbed.peer.exec("ping", "-c", "1", "-W", "2", SHARED);
            // A second round: our neighbour entry for the client, gleaned from its first frame, still serves.
            assertEquals("again", tcpExchange(TCP_PORT, "again"));
            assertEquals("again udp", udpExchange(UDP_PORT, "again udp"));
            tcpEcho.get(10, TimeUnit.SECONDS);
            udpEcho.get(10, TimeUnit.SECONDS);
        }
        // Closed: the ports go back to the kernel, which has no socket there: TCP is refused.
        assertEquals("refused", tcpExchange(TCP_PORT, "after close"));
        if (throughControlPlane) {
            List<FlowFilter> left = plane.status().xdpAttachment(testbed.ourLink).tenant(ProcessHandle.current().pid())
                    .flows();
            assertTrue(left.stream().noneMatch(f -> f.localPort() == TCP_PORT || f.localPort() == UDP_PORT), left.toString());
        }
        assertTrue(kernelServer.isAlive());
    }

    /**
     * Our client on the shared address opens a TCP connection and sends a datagram to Linux
     * servers in the peer namespace that it never heard from: gleaning cannot help (we speak
     * first), and the answers to our own ARP requests would go to the kernel; the stack asks the
     * kernel's neighbour table instead (the kernel resolves the peer itself), and the replies to
     * our ephemeral ports come to us through their filters.
     */
    @ParameterizedTest
    @ValueSource(strings = {"native"})
    void ourClientsOnTheKernelsAddressReachLinuxServersTheyNeverHeardFrom(String xdpMode) throws Exception {
        testbed = XdpTestbed.create();
        testbed.peer.start("python3", "-c", """
                import socket, threading
                def udp():
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    u.bind(('198.18.0.2', 7301))
                    while True:
                        data, peer = u.recvfrom(65535)
                        u.sendto(data.upper(), peer)
                threading.Thread(target=udp, daemon=True).start()
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('198.18.0.2', 7300))
                s.listen(8)
                while True:
                    c, _ = s.accept()
                    data = c.recv(4096)
                    c.sendall(data.upper())
                    c.close()
                """);
        assertEquals("", testbed.ours.exec("ip", "neigh", "show", XdpTestbed.PEER_IP).stdout().strip(),
                "the kernel does not know the peer yet");
        Properties settings = new Properties();
        settings.setProperty("arrakis.backend", "af_xdp");
        settings.setProperty("arrakis.af_xdp.interface", testbed.ourLink);
        settings.setProperty("arrakis.af_xdp.netns", testbed.ours.name());
        settings.setProperty("arrakis.af_xdp.address", SHARED + "/24");
        settings.setProperty("arrakis.af_xdp.claim", "none");
        settings.setProperty("arrakis.af_xdp.xdp-mode", xdpMode);
        provider = ArrakisSelectorProvider.create(settings);
        provider.userLevelAddress();
        InetSocketAddress tcpServer = new InetSocketAddress(XdpTestbed.PEER_IP, 7300);
        String answer = null;
        for (int attempt = 0; attempt < 20 && answer == null; attempt++) {
            try (SocketChannel client = provider.openSocketChannel()) {
                client.connect(tcpServer);
                assertTrue(((ArrakisSocketChannel) client).hasUserSide(), "routed user-level");
                client.write(ByteBuffer.wrap("from our client".getBytes()));
                ByteBuffer in = ByteBuffer.allocate(64);
                while (client.read(in) >= 0) {
                    // until the server closes
                }
                answer = new String(in.array(), 0, in.position());
            } catch (java.net.ConnectException refused) {
                Thread.sleep(100); // the peer's server may not listen yet
            }
        }
        assertEquals("FROM OUR CLIENT", answer);
        assertTrue(testbed.ours.exec("ip", "neigh", "show", XdpTestbed.PEER_IP).stdout().contains("lladdr"),
                "the kernel resolved the peer for us");
        try (DatagramChannel udp = provider.openDatagramChannel()) {
            udp.bind(new InetSocketAddress(provider.userLevelAddress(), 0));
            udp.send(ByteBuffer.wrap("datagram".getBytes()), new InetSocketAddress(XdpTestbed.PEER_IP, 7301));
            ByteBuffer in = ByteBuffer.allocate(64);
            udp.receive(in);
            assertEquals("DATAGRAM", new String(in.array(), 0, in.position()));
        }
    }

    private static void echoTcp(ServerSocketChannel server, int connections) {
        try {
            for (int i = 0; i < connections; i++) {
                try (SocketChannel accepted = server.accept()) {
                    ByteBuffer buffer = ByteBuffer.allocate(4096);
                    while (accepted.read(buffer) >= 0) {
                        buffer.flip();
                        while (buffer.hasRemaining()) {
                            accepted.write(buffer);
                        }
                        buffer.clear();
                    }
                }
            }
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static void echoUdp(DatagramChannel udp, int datagrams) {
        try {
            ByteBuffer buffer = ByteBuffer.allocate(65_536);
            for (int i = 0; i < datagrams; i++) {
                buffer.clear();
                var from = udp.receive(buffer);
                udp.send(buffer.flip(), from);
            }
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }
}

package io.arrakis.device.xdp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicCounter;
import io.arrakis.testing.NetworkNamespace;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The AF_XDP backend on a veth pair between two namespaces of the test's own (see
 * {@link XdpTestbed}), with the XDP program in skb and in native (veth driver) mode: frames for
 * our flows reach our socket, everything else the kernel's stack, and filters change at run time.
 * Our side echoes UDP by swapping addresses and ports in the received buffer and transmitting
 * that same buffer (checksums are sums, so they stay right).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AfXdpVnicTest {
    private static final int ECHO_PORT = 7000;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int OUR_ADDRESS = Ipv4Text.parse(XdpTestbed.OUR_IP);
    private static final int PEER_ADDRESS = Ipv4Text.parse(XdpTestbed.PEER_IP);

    private XdpTestbed testbed;
    private AfXdpVnic vnic;
    private Thread echo;
    private final AtomicBoolean echoing = new AtomicBoolean(true);

    @AfterEach
    void closeAll() throws Exception {
        echoing.set(false);
        if (echo != null) {
            if (vnic != null) {
                vnic.queue(0).wakeup();
            }
            echo.join(5_000);
        }
        try {
            if (vnic != null) {
                vnic.close();
            }
        } finally {
            if (testbed != null) {
                testbed.close();
            }
        }
    }

    private void open(String xdpMode) throws IOException {
        testbed = XdpTestbed.create();
        Map<String, String> options = new HashMap<>();
        options.put(AfXdpVnicBackend.OPTION_INTERFACE, testbed.ourLink);
        options.put(AfXdpVnicBackend.OPTION_NETNS, testbed.ours.name());
        options.put(AfXdpVnicBackend.OPTION_XDP_MODE, xdpMode);
        vnic = (AfXdpVnic) DeviceBackends.vnicBackend("af_xdp").open(new VnicConfig("xdp-test", 1, 256, 2048,
                options));
        // The peer's kernel sends to our address at the interface's MAC without asking.
        testbed.peer.addNeighbour(testbed.peerLink, XdpTestbed.OUR_IP, vnic.mac().toString());
    }

    /** Echoes every UDP datagram to ECHO_PORT back to its sender, on a thread of its own. */
    private void startEcho() {
        AfXdpQueue queue = vnic.queue(0);
        echo = Thread.ofPlatform().name("xdp-echo").start(() -> {
            PacketBatch batch = new PacketBatch(32);
            PacketBatch out = new PacketBatch(32);
            try {
                while (echoing.get()) {
                    if (queue.receive(batch) == 0) {
                        queue.awaitReceive(TimeUnit.MILLISECONDS.toNanos(50));
                        continue;
                    }
                    for (int i = 0; i < batch.size(); i++) {
                        MemorySegment frame = queue.memory().asSlice(
                                (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i), batch.length(i));
                        if (isUdpTo(frame, ECHO_PORT)) {
                            swap(frame);
                            out.add(batch.buffer(i), batch.offset(i), batch.length(i));
                        } else {
                            PacketBatch one = new PacketBatch(1);
                            one.add(batch.buffer(i), batch.offset(i), batch.length(i));
                            queue.release(one);
                        }
                    }
                    batch.clear();
                    while (!out.isEmpty()) {
                        queue.transmit(out);
                    }
                }
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    private static boolean isUdpTo(MemorySegment frame, int port) {
        return frame.byteSize() >= 42 && (frame.get(U16, 12) & 0xFFFF) == 0x0800 && frame.get(ValueLayout.JAVA_BYTE, 23)
                == 17 && (frame.get(U16, 36) & 0xFFFF) == port;
    }

    private static void swap(MemorySegment frame) {
        for (int i = 0; i < 6; i++) {
            byte b = frame.get(ValueLayout.JAVA_BYTE, i);
            frame.set(ValueLayout.JAVA_BYTE, i, frame.get(ValueLayout.JAVA_BYTE, 6 + i));
            frame.set(ValueLayout.JAVA_BYTE, 6 + i, b);
        }
        int source = frame.get(U32, 26);
        frame.set(U32, 26, frame.get(U32, 30));
        frame.set(U32, 30, source);
        short sourcePort = frame.get(U16, 34);
        frame.set(U16, 34, frame.get(U16, 36));
        frame.set(U16, 36, sourcePort);
    }

    /** A UDP round trip from the peer's kernel: what came back, or "timeout". */
    private String udpRoundTrip(String address, int port, String text) throws IOException {
        return udpRoundTrip(address, port, text, "2");
    }

    /** As above, waiting {@code seconds} for the answer: short where none should come. */
    private String udpRoundTrip(String address, int port, String text, String seconds) throws IOException {
        return testbed.peer.execAllowingFailure("python3", "-c", """
                import socket, sys
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(float(sys.argv[4]))
                s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
                try:
                    print(s.recvfrom(2048)[0].decode(), end='')
                except socket.timeout:
                    print('timeout', end='')
                """, address, String.valueOf(port), text, seconds).stdout();
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void udpForOurFlowReachesOurSocketAndComesBackByteExact(String xdpMode) throws Exception {
        open(xdpMode);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, OUR_ADDRESS, ECHO_PORT, 0, 0), 0);
        startEcho();

        String text = "arrakis over af_xdp " + xdpMode + " \u00e9\u00e8 0123456789";
        assertEquals(text, udpRoundTrip(XdpTestbed.OUR_IP, ECHO_PORT, text));
        AfXdpQueue queue = vnic.queue(0);
        assertTrue(queue.counters().get(VnicCounter.RX_PACKETS) >= 1);
        assertTrue(queue.counters().get(VnicCounter.TX_PACKETS) >= 1);
        assertFalse(vnic.zeroCopy(), "veth offers no AF_XDP zero-copy: the kernel chose copy mode");
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void trafficOutsideTheFiltersStillReachesTheKernelsStack(String xdpMode) throws Exception {
        open(xdpMode);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, OUR_ADDRESS, ECHO_PORT, 0, 0), 0);
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, OUR_ADDRESS, 8080, 0, 0), 0);
        startEcho();
        // ICMP to the kernel's address on the interface our sockets sit on.
        NetworkNamespace.Result ping = testbed.peer.execAllowingFailure("ping", "-c", "2", "-i", "0.2", "-W", "2",
                XdpTestbed.KERNEL_IP);
        assertEquals(0, ping.exitCode(), "ping to the kernel's address: " + ping.stdout() + ping.stderr());
        // A TCP port we do not own, served by the kernel on its address.
        try (NetworkNamespace.Background server = testbed.ours.start("python3", "-c", """
                import socket
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('198.18.0.1', 8080)); s.listen(4)
                while True:
                    c, _ = s.accept(); c.sendall(b'kernel here'); c.close()
                """)) {
            String banner = "";
            for (int attempt = 0; attempt < 50 && !banner.equals("kernel here"); attempt++) {
                banner = testbed.peer.execAllowingFailure("python3", "-c", """
                        import socket
                        try:
                            c = socket.create_connection(('198.18.0.1', 8080), timeout=1); print(c.recv(64).decode(), end='')
                        except OSError as e:
                            print('refused', end='')
                        """).stdout();
                if (!banner.equals("kernel here")) {
                    Thread.sleep(100);
                }
            }
            assertEquals("kernel here", banner, "TCP to a port we do not own reaches the kernel's listener");
        }
        // Meanwhile our flow still comes to us.
        assertEquals("still ours", udpRoundTrip(XdpTestbed.OUR_IP, ECHO_PORT, "still ours"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void aFilterAddedAfterAttachTakesEffectAndARemovedOneStops(String xdpMode) throws Exception {
        open(xdpMode);
        startEcho();
        FlowFilter filter = new FlowFilter(FlowFilter.Protocol.UDP, OUR_ADDRESS, ECHO_PORT, 0, 0);
        assertEquals("timeout", udpRoundTrip(XdpTestbed.OUR_IP, ECHO_PORT, "before bind", "0.5"),
                "no filter yet: the kernel gets it (and drops it: not its address)");
        vnic.control().addReceiveFilter(filter, 0);
        assertEquals(0, vnic.filters().queueInKernel(filter), "the kernel's flow map has it, for queue 0");
        assertEquals("after bind", udpRoundTrip(XdpTestbed.OUR_IP, ECHO_PORT, "after bind"));
        assertTrue(vnic.control().removeReceiveFilter(filter));
        assertEquals(-1, vnic.filters().queueInKernel(filter));
        assertEquals("timeout", udpRoundTrip(XdpTestbed.OUR_IP, ECHO_PORT, "after unbind", "0.5"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void aVnicBindsOneSocketPerQueueOfAMultiQueueInterfaceAndRefusesAQueueItLacks(String xdpMode) throws Exception {
        testbed = XdpTestbed.create(2);
        Map<String, String> options = Map.of(AfXdpVnicBackend.OPTION_INTERFACE, testbed.ourLink,
                AfXdpVnicBackend.OPTION_NETNS, testbed.ours.name(), AfXdpVnicBackend.OPTION_XDP_MODE, xdpMode);
        vnic = (AfXdpVnic) DeviceBackends.vnicBackend("af_xdp").open(new VnicConfig("xdp-mq", 2, 256, 2048, options));
        assertEquals(2, vnic.queueCount());
        assertEquals(0, vnic.hardwareQueue(0));
        assertEquals(1, vnic.hardwareQueue(1));
        assertTrue(vnic.socketFd(0) != vnic.socketFd(1));
        FlowFilter toQueue1 = new FlowFilter(FlowFilter.Protocol.UDP, OUR_ADDRESS, 7001, 0, 0);
        vnic.control().addReceiveFilter(toQueue1, 1);
        assertEquals(1, vnic.filters().queueInKernel(toQueue1));
        vnic.close();
        vnic = null;

        IOException third = assertThrows(IOException.class, () -> DeviceBackends.vnicBackend("af_xdp").open(
                new VnicConfig("xdp-mq", 3, 256, 2048, options)));
        assertTrue(third.getMessage().contains("queue 2"), third.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void aSecondControlPlaneOnTheSameInterfaceIsRefusedAndBadOptionsAreNamed(String xdpMode) throws Exception {
        open(xdpMode);
        Map<String, String> options = new HashMap<>(Map.of(AfXdpVnicBackend.OPTION_INTERFACE, testbed.ourLink,
                AfXdpVnicBackend.OPTION_NETNS, testbed.ours.name(), AfXdpVnicBackend.OPTION_XDP_MODE, xdpMode));
        IOException second = assertThrows(IOException.class, () -> DeviceBackends.vnicBackend("af_xdp").open(
                new VnicConfig("second", 1, 256, 2048, options)));
        assertTrue(second.getMessage().contains("already has an XDP program"), second.getMessage());

        options.put("colour", "blue");
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> DeviceBackends
                .vnicBackend("af_xdp").open(new VnicConfig("third", 1, 256, 2048, options)));
        assertTrue(unknown.getMessage().startsWith("af_xdp VNIC third: unknown option 'colour'"), unknown.getMessage());
        IllegalArgumentException noInterface = assertThrows(IllegalArgumentException.class, () -> DeviceBackends
                .vnicBackend("af_xdp").open(new VnicConfig("fourth", 1, 256, 2048, Map.of())));
        assertTrue(noInterface.getMessage().contains("option interface is required"), noInterface.getMessage());
        IOException absent = assertThrows(IOException.class, () -> DeviceBackends.vnicBackend("af_xdp").open(
                new VnicConfig("fifth", 1, 256, 2048, Map.of(AfXdpVnicBackend.OPTION_INTERFACE, "nosuchlink0",
                        AfXdpVnicBackend.OPTION_NETNS, testbed.ours.name()))));
        assertTrue(absent.getMessage().contains("no interface nosuchlink0 in network namespace"), absent.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb"})
    void aBusyQueueIsRetriedWithBackOffUntilItsSocketClosesOrTheWindowEnds(String xdpMode) throws Exception {
        testbed = XdpTestbed.create();
        Map<String, String> options = new HashMap<>(Map.of(AfXdpVnicBackend.OPTION_INTERFACE, testbed.ourLink,
                AfXdpVnicBackend.OPTION_NETNS, testbed.ours.name(), AfXdpVnicBackend.OPTION_FILTERS, "external",
                AfXdpVnicBackend.OPTION_CONTROL_SOCKET, "none"));
        AfXdpVnic holder = (AfXdpVnic) DeviceBackends.vnicBackend("af_xdp").open(new VnicConfig("holder", 1, 256, 2048,
                options));
        try {
            options.put(AfXdpVnicBackend.OPTION_BUSY_WINDOW_MS, "150");
            IOException busy = assertThrows(IOException.class, () -> DeviceBackends.vnicBackend("af_xdp").open(
                    new VnicConfig("impatient", 1, 256, 2048, options)));
            assertTrue(busy.getMessage().contains("queue 0 still has another AF_XDP socket after"), busy.getMessage());
            assertTrue(busy.getMessage().contains("EBUSY"), busy.getMessage());

            options.put(AfXdpVnicBackend.OPTION_BUSY_WINDOW_MS, "10000");
            CompletableFuture<AfXdpVnic> patient = CompletableFuture.supplyAsync(() -> {
                try {
                    return (AfXdpVnic) DeviceBackends.vnicBackend("af_xdp").open(new VnicConfig("patient", 1, 256, 2048,
                            options));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Thread.sleep(300);
            assertFalse(patient.isDone(), "the queue is still held");
            holder.close();
            vnic = patient.get(15, TimeUnit.SECONDS);
            assertTrue(vnic.bindAttempts(0) > 1, "attempts: " + vnic.bindAttempts(0));
        } finally {
            holder.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"native"})
    void receiveAndTransmitAllocateNothingOnceWarm(String xdpMode) throws Exception {
        open(xdpMode);
        // The peer echoes what we send, so the receive path has frames too.
        vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, OUR_ADDRESS, 40000, 0, 0), 0);
        testbed.peer.start("python3", "-c", """
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(('198.18.0.2', 7007))
                while True:
                    data, sender = s.recvfrom(2048); s.sendto(data, sender)
                """);
        Thread.sleep(500);
        AfXdpQueue queue = vnic.queue(0);
        long peerMac = macBits(testbed.peer.hardwareAddress(testbed.peerLink));
        PacketBatch tx = new PacketBatch(8);
        PacketBatch rx = new PacketBatch(32);
        MemorySegment memory = queue.memory();
        long ourMac = vnic.mac().bits();
        Runnable round = () -> {
            try {
                if (queue.allocate(tx, 1) == 1) {
                    writeUdpFrame(memory, (long) tx.buffer(0) * queue.bufferSize() + tx.offset(0), peerMac, ourMac);
                    tx.setLength(0, 60);
                    if (queue.transmit(tx) == 0) {
                        queue.release(tx);
                    }
                }
                queue.receive(rx);
                queue.release(rx);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        for (int i = 0; i < 200_000; i++) {
            round.run();
        }
        // Measured in windows of 20,000 rounds until one allocates nothing (at most 10): on a loaded
        // machine the JIT may still be compiling after the warm-up, and interpreted code boxes and
        // slices where compiled code does not. An allocation in the code itself shows in every window.
        List<Long> allocatedPerWindow = new ArrayList<>();
        for (int window = 0; window < 10 && (allocatedPerWindow.isEmpty() || allocatedPerWindow.getLast() != 0); window++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 20_000; i++) {
                round.run();
            }
            allocatedPerWindow.add(threads.getCurrentThreadAllocatedBytes() - before);
        }
        assertTrue(queue.counters().get(VnicCounter.TX_PACKETS) > 20_000, queue.counters().snapshot().toString());
        assertTrue(queue.counters().get(VnicCounter.RX_PACKETS) > 1_000, "the echoes came back: "
                + queue.counters().snapshot());
        assertEquals(0L, allocatedPerWindow.getLast(),
                "bytes allocated by each window of 20,000 transmit + receive rounds: " + allocatedPerWindow);
    }

    private static long macBits(String text) {
        return io.arrakis.device.MacAddress.parse(text).bits();
    }

    /** A 60-byte frame at {@code at}: UDP from our port 40000 to the peer's port 7007, IP checksum computed, UDP's 0 (none). */
    private static void writeUdpFrame(MemorySegment memory, long at, long destination, long source) {
        memory.set(U16, at + 0, (short) (destination >>> 32));
        memory.set(U32, at + 2, (int) destination);
        memory.set(U16, at + 6, (short) (source >>> 32));
        memory.set(U32, at + 8, (int) source);
        memory.set(U16, at + 12, (short) 0x0800);
        memory.set(ValueLayout.JAVA_BYTE, at + 14, (byte) 0x45);
        memory.set(ValueLayout.JAVA_BYTE, at + 15, (byte) 0);
        memory.set(U16, at + 16, (short) 46);
        memory.set(U32, at + 18, 0);
        memory.set(ValueLayout.JAVA_BYTE, at + 22, (byte) 64);
        memory.set(ValueLayout.JAVA_BYTE, at + 23, (byte) 17);
        memory.set(U16, at + 24, (short) 0);
        memory.set(U32, at + 26, OUR_ADDRESS);
        memory.set(U32, at + 30, PEER_ADDRESS);
        int sum = 0;
        for (int i = 14; i < 34; i += 2) {
            sum += memory.get(U16, at + i) & 0xFFFF;
        }
        sum = (sum & 0xFFFF) + (sum >>> 16);
        sum = (sum & 0xFFFF) + (sum >>> 16);
        memory.set(U16, at + 24, (short) ~sum);
        memory.set(U16, at + 34, (short) 40000);
        memory.set(U16, at + 36, (short) 7007);
        memory.set(U16, at + 38, (short) 26);
        memory.set(U16, at + 40, (short) 0);
        for (int i = 42; i < 60; i++) {
            memory.set(ValueLayout.JAVA_BYTE, at + i, (byte) i);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb"})
    void filtersTheProgramCannotMatchAreRefusedWithTheReason(String xdpMode) throws Exception {
        open(xdpMode);
        IllegalArgumentException remote = assertThrows(IllegalArgumentException.class, () -> vnic.control()
                .addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, OUR_ADDRESS, 80, OUR_ADDRESS, 9), 0));
        assertTrue(remote.getMessage().contains("only to the socket of the queue it arrived on"), remote.getMessage());
        IllegalArgumentException anyPort = assertThrows(IllegalArgumentException.class, () -> vnic.control()
                .addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, 0, 0, 0, 0), 0));
        assertTrue(anyPort.getMessage().contains("needs a local port or a local address"), anyPort.getMessage());
        assertTrue(vnic.receiveFilters().isEmpty());
    }
}

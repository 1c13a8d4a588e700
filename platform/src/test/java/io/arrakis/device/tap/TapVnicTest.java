package io.arrakis.device.tap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.MacAddress;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TransmitFilter;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.Ioctl;
import io.arrakis.linux.Unistd;
import io.arrakis.testing.NetworkNamespace;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.ToIntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The TAP backend against the real kernel: each test opens a TAP VNIC, moves its interface into
 * a network namespace of its own, gives the kernel's side {@value #KERNEL_CIDR} and brings it up,
 * then talks to the kernel's ARP, ICMP and UDP with hand-built frames. IPv6 is off in the
 * namespace so the kernel sends nothing unasked.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TapVnicTest {
    private static final String KERNEL_CIDR = "198.18.0.1/24";
    private static final String KERNEL_IP = "198.18.0.1";
    private static final String OUR_IP = "198.18.0.2";
    private static final int KERNEL_ADDRESS = Ipv4Text.parse(KERNEL_IP);
    private static final int OUR_ADDRESS = Ipv4Text.parse(OUR_IP);
    private static final int BUFFERS = 64;
    private static final Duration PATIENCE = Duration.ofSeconds(5);

    private NetworkNamespace namespace;
    private TapVnic vnic;
    private VnicQueue queue;
    private String tap;
    private MacAddress kernelMac;

    @BeforeEach
    void openTapInNamespace() throws Exception {
        namespace = NetworkNamespace.create();
        namespace.disableIpv6();
        vnic = open(Map.of(TapVnicBackend.OPTION_INTERFACE, "arktap%d"));
        queue = vnic.queue(0);
        tap = vnic.interfaceName();
        namespace.moveLink(tap);
        namespace.addAddress(tap, KERNEL_CIDR);
        namespace.setUp(tap);
        kernelMac = MacAddress.parse(namespace.hardwareAddress(tap));
        // The kernel knows our MAC without asking, so its replies never wait on ARP.
        namespace.addNeighbour(tap, OUR_IP, vnic.mac().toString());
    }

    @AfterEach
    void closeAll() throws Exception {
        try {
            if (vnic != null) {
                vnic.close();
            }
        } finally {
            if (namespace != null) {
                namespace.close();
            }
        }
    }

    private static TapVnic open(Map<String, String> options) throws IOException {
        return (TapVnic) DeviceBackends.vnicBackend("tap").open(new VnicConfig("tap-test", 1, BUFFERS, 2048, options));
    }

    // --- helpers -----------------------------------------------------------------------------

    /** The bytes a buffer can hold from offset {@code offset}, as a segment to build a frame in. */
    private MemorySegment room(int buffer, int offset) {
        return queue.memory().asSlice((long) buffer * queue.bufferSize() + offset, queue.bufferSize() - offset);
    }

    /** Allocates {@code n} buffers and builds frame {@code i} with {@code writer}; returns the batch. */
    private PacketBatch build(int n, ToIntFunction<MemorySegment> writer) {
        PacketBatch batch = new PacketBatch(16);
        assertEquals(n, queue.allocate(batch, n));
        for (int i = 0; i < n; i++) {
            batch.setLength(i, writer.applyAsInt(room(batch.buffer(i), batch.offset(i))));
        }
        return batch;
    }

    private void transmitAll(PacketBatch batch) throws IOException {
        int size = batch.size();
        assertEquals(size, queue.transmit(batch));
        assertTrue(batch.isEmpty());
    }

    private int arpRequest(MemorySegment frame) {
        return Frames.writeArpRequest(frame, vnic.mac().bits(), OUR_ADDRESS, KERNEL_ADDRESS);
    }

    private ToIntFunction<MemorySegment> echoRequest(int source, int identifier, byte[] payload) {
        return frame -> Frames.writeEchoRequest(frame, kernelMac.bits(), vnic.mac().bits(), source, KERNEL_ADDRESS,
                identifier, 1, payload);
    }

    /**
     * Receives (waiting up to {@link #PATIENCE}) until a frame satisfies {@code which}; returns a
     * copy of it, releasing every buffer. Null if none came.
     */
    private MemorySegment receive(Predicate<MemorySegment> which) throws IOException {
        PacketBatch rx = new PacketBatch(16);
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (System.nanoTime() - deadline < 0) {
            queue.receive(rx);
            MemorySegment found = null;
            for (int i = 0; i < rx.size() && found == null; i++) {
                MemorySegment frame = room(rx.buffer(i), rx.offset(i)).asSlice(0, rx.length(i));
                if (which.test(frame)) {
                    found = MemorySegment.ofArray(frame.toArray(ValueLayout.JAVA_BYTE));
                }
            }
            queue.release(rx);
            if (found != null) {
                return found;
            }
            queue.awaitReceive(TimeUnit.MILLISECONDS.toNanos(100));
        }
        return null;
    }

    /** Makes the kernel send {@code text} in a UDP datagram to our address and {@code port}. */
    private void kernelSendsUdp(int port, String text) throws IOException {
        namespace.exec("bash", "-c", "printf '%s' \"$1\" > /dev/udp/" + OUR_IP + "/" + port, "udp", text);
    }

    private long kernelReceived() throws IOException {
        return namespace.linkStatistic(tap, "rx_packets");
    }

    private long count(VnicCounter counter) {
        return queue.counters().get(counter);
    }

    private static byte[] udpPayload(MemorySegment frame) {
        long udp = Frames.ETHERNET_HEADER + Frames.IPV4_HEADER;
        int length = (frame.get(Frames.U16, udp + 4) & 0xFFFF) - Frames.UDP_HEADER;
        return frame.asSlice(udp + Frames.UDP_HEADER, length).toArray(ValueLayout.JAVA_BYTE);
    }

    // --- talking to the kernel ---------------------------------------------------------------

    @Test
    void anArpRequestForTheKernelsAddressIsAnsweredFromTheKernelSideMac() throws Exception {
        transmitAll(build(1, this::arpRequest));

        MemorySegment reply = receive(frame -> Frames.isArp(frame, Frames.ARP_REPLY));
        assertNotNull(reply, "no ARP reply within " + PATIENCE);
        assertEquals(vnic.mac().bits(), Frames.readMac(reply, 0), "to our MAC");
        assertEquals(kernelMac.bits(), Frames.readMac(reply, 6), "from the kernel's MAC of " + tap);
        assertEquals(kernelMac.bits(), Frames.readMac(reply, Frames.ETHERNET_HEADER + 8), "sender MAC");
        assertEquals(KERNEL_ADDRESS, reply.get(Frames.U32, Frames.ETHERNET_HEADER + 14), "sender IP");
        assertEquals(vnic.mac().bits(), Frames.readMac(reply, Frames.ETHERNET_HEADER + 18), "target MAC");
        assertEquals(OUR_ADDRESS, reply.get(Frames.U32, Frames.ETHERNET_HEADER + 24), "target IP");
        assertEquals(1, count(VnicCounter.TX_PACKETS));
        assertEquals(Frames.ARP_LENGTH, count(VnicCounter.TX_BYTES));
        assertTrue(count(VnicCounter.RX_PACKETS) >= 1);
        assertEquals(1, kernelReceived(), "the kernel received exactly our frame");
    }

    @Test
    void anIcmpEchoRequestIsAnsweredWithAnEchoReplyCarryingTheSamePayload() throws Exception {
        byte[] payload = "arrakis over a tap, 0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
        transmitAll(build(1, echoRequest(OUR_ADDRESS, 0x4242, payload)));

        MemorySegment reply = receive(frame -> Frames.isEchoReply(frame, 0x4242));
        assertNotNull(reply, "no echo reply within " + PATIENCE);
        assertEquals(vnic.mac().bits(), Frames.readMac(reply, 0));
        assertEquals(kernelMac.bits(), Frames.readMac(reply, 6));
        assertEquals(KERNEL_ADDRESS, Frames.ipv4Source(reply));
        assertEquals(OUR_ADDRESS, Frames.ipv4Destination(reply));
        assertEquals(0, Frames.checksum(reply, Frames.ETHERNET_HEADER, Frames.IPV4_HEADER), "IPv4 header checksum");
        long icmp = Frames.ETHERNET_HEADER + Frames.IPV4_HEADER;
        int icmpLength = (reply.get(Frames.U16, Frames.ETHERNET_HEADER + 2) & 0xFFFF) - Frames.IPV4_HEADER;
        assertEquals(Frames.ICMP_HEADER + payload.length, icmpLength);
        assertEquals(0, Frames.checksum(reply, icmp, icmpLength), "ICMP checksum");
        assertEquals(1, reply.get(Frames.U16, icmp + 6), "sequence");
        assertArrayEquals(payload, reply.asSlice(icmp + Frames.ICMP_HEADER, payload.length)
                .toArray(ValueLayout.JAVA_BYTE));
    }

    @Test
    void aReceivedFrameLandsInAPoolBufferAfterTheHeadroomAndItsBufferReturnsOnRelease() throws Exception {
        kernelSendsUdp(7777, "zero copy");
        assertTrue(queue.awaitReceive(PATIENCE.toNanos()));
        PacketBatch rx = new PacketBatch(4);
        assertEquals(1, queue.receive(rx));
        assertEquals(TapQueue.HEADROOM, queue.headroom());
        assertEquals(queue.headroom(), rx.offset(0));
        assertTrue(rx.buffer(0) >= 0 && rx.buffer(0) < BUFFERS);
        MemorySegment frame = room(rx.buffer(0), rx.offset(0)).asSlice(0, rx.length(0));
        assertTrue(Frames.isUdpTo(frame, 7777));
        assertEquals("zero copy", new String(udpPayload(frame), StandardCharsets.US_ASCII));
        assertEquals(rx.length(0), count(VnicCounter.RX_BYTES));
        queue.release(rx);
        assertTrue(rx.isEmpty());
        // Every buffer is free again: all of them can be allocated.
        PacketBatch all = new PacketBatch(BUFFERS);
        assertEquals(BUFFERS, queue.allocate(all, BUFFERS));
        queue.release(all);
    }

    // --- waiting -----------------------------------------------------------------------------

    @Test
    void awaitReceiveReturnsFalseAfterItsTimeoutWhenNothingArrives() throws Exception {
        long start = System.nanoTime();
        assertFalse(queue.awaitReceive(TimeUnit.MILLISECONDS.toNanos(60)));
        long waited = System.nanoTime() - start;
        assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(60), "waited only " + waited + " ns");
        assertTrue(waited < TimeUnit.SECONDS.toNanos(2), "waited " + waited + " ns");
        assertEquals(0, queue.receive(new PacketBatch(4)));
    }

    @Test
    void awaitReceiveBlocksUntilTheKernelSendsAFrame() throws Exception {
        CompletableFuture<Void> kernel = CompletableFuture.runAsync(() -> {
            try {
                Thread.sleep(200);
                kernelSendsUdp(9, "wake up");
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        long start = System.nanoTime();
        assertTrue(queue.awaitReceive(PATIENCE.toNanos()), "no frame within " + PATIENCE);
        long waited = System.nanoTime() - start;
        assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(150), "returned before the frame was sent: " + waited);
        kernel.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
        MemorySegment frame = receive(f -> Frames.isUdpTo(f, 9));
        assertNotNull(frame);
        assertEquals("wake up", new String(udpPayload(frame), StandardCharsets.US_ASCII));
    }

    @Test
    void wakeupFromAnotherThreadEndsAWait() throws Exception {
        CompletableFuture<Void> waker = CompletableFuture.runAsync(() -> {
            try {
                Thread.sleep(150);
                queue.wakeup();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        long start = System.nanoTime();
        assertTrue(queue.awaitReceive(TimeUnit.SECONDS.toNanos(20)));
        long waited = System.nanoTime() - start;
        waker.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
        assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(100) && waited < PATIENCE.toNanos(), "waited " + waited);
        // The wakeup was consumed: the next wait times out again.
        assertFalse(queue.awaitReceive(TimeUnit.MILLISECONDS.toNanos(20)));
    }

    @Test
    void aWakeupBeforeAwaitReceiveMakesTheNextWaitReturnAtOnce() throws Exception {
        queue.wakeup();
        queue.wakeup();
        long start = System.nanoTime();
        assertTrue(queue.awaitReceive(TimeUnit.SECONDS.toNanos(20)));
        assertTrue(System.nanoTime() - start < PATIENCE.toNanos());
        assertFalse(queue.awaitReceive(TimeUnit.MILLISECONDS.toNanos(20)), "two wakeups, one wait consumed both");
    }

    @Test
    void theReadinessFdBecomesReadableInAnOuterEpollForAFrameOrAWakeup() throws Exception {
        int outer = Epoll.create(Epoll.EPOLL_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            Epoll.Events events = Epoll.Events.allocate(arena, 4);
            assertTrue(queue.readinessFd() >= 0);
            Epoll.add(outer, queue.readinessFd(), Epoll.EPOLLIN, 77);
            assertEquals(0, Epoll.wait(outer, events, 0), "idle: not readable");

            kernelSendsUdp(9, "ready");
            assertEquals(1, Epoll.wait(outer, events, (int) PATIENCE.toMillis()));
            assertEquals(77, events.data(0));
            assertNotNull(receive(f -> Frames.isUdpTo(f, 9)));
            assertEquals(0, Epoll.wait(outer, events, 0), "received: not readable");

            queue.wakeup();
            assertEquals(1, Epoll.wait(outer, events, (int) PATIENCE.toMillis()), "a wakeup makes it readable");
            assertTrue(queue.awaitReceive(TimeUnit.MILLISECONDS.toNanos(1)));
            assertEquals(0, Epoll.wait(outer, events, 0), "awaitReceive consumed the wakeup");
        } finally {
            Unistd.close(outer);
        }
    }

    // --- what the VNIC may send --------------------------------------------------------------

    @Test
    void theTransmitFilterDropsSpoofedFramesBeforeTheKernelSeesThem() throws Exception {
        vnic.control().setTransmitFilter(new TransmitFilter(vnic.mac(), OUR_ADDRESS));
        int spoofedAddress = Ipv4Text.parse("198.18.0.77");
        long spoofedMac = MacAddress.locallyAdministered(0x77).bits();
        byte[] payload = "spoofed".getBytes(StandardCharsets.US_ASCII);
        PacketBatch spoofed = build(3, frame -> 0);
        int[] buffers = {spoofed.buffer(0), spoofed.buffer(1), spoofed.buffer(2)};
        // Another source address; another source MAC; an ARP claiming another sender address.
        spoofed.setLength(0, echoRequest(spoofedAddress, 1, payload).applyAsInt(room(buffers[0], spoofed.offset(0))));
        spoofed.setLength(1, Frames.writeEchoRequest(room(buffers[1], spoofed.offset(1)), kernelMac.bits(), spoofedMac,
                OUR_ADDRESS, KERNEL_ADDRESS, 2, 1, payload));
        spoofed.setLength(2, Frames.writeArpRequest(room(buffers[2], spoofed.offset(2)), vnic.mac().bits(),
                spoofedAddress, KERNEL_ADDRESS));

        long before = kernelReceived();
        assertEquals(3, queue.transmit(spoofed), "refused frames are taken and dropped, not left in the batch");
        assertTrue(spoofed.isEmpty());
        assertEquals(3, count(VnicCounter.TX_DROPPED_FILTERED));
        assertEquals(0, count(VnicCounter.TX_PACKETS));
        assertEquals(before, kernelReceived(), "the kernel received none of them");
        assertEquals(BUFFERS, allocatable(), "their buffers went back to the pool");

        transmitAll(build(1, echoRequest(OUR_ADDRESS, 3, payload)));
        assertEquals(before + 1, kernelReceived(), "a frame the filter allows reaches the kernel");
        assertNotNull(receive(frame -> Frames.isEchoReply(frame, 3)));
        assertTrue(receiveNothingFor(Duration.ofMillis(50), frame -> Frames.isEchoReply(frame, 1)
                || Frames.isEchoReply(frame, 2)), "no reply to a spoofed request");
    }

    /** How many buffers can be allocated now (and gives them back). */
    private int allocatable() {
        PacketBatch all = new PacketBatch(BUFFERS + 1);
        int n = queue.allocate(all, BUFFERS + 1);
        queue.release(all);
        return n;
    }

    private boolean receiveNothingFor(Duration duration, Predicate<MemorySegment> which) throws IOException {
        PacketBatch rx = new PacketBatch(16);
        long deadline = System.nanoTime() + duration.toNanos();
        boolean none = true;
        while (System.nanoTime() - deadline < 0) {
            queue.receive(rx);
            for (int i = 0; i < rx.size(); i++) {
                none &= !which.test(room(rx.buffer(i), rx.offset(i)).asSlice(0, rx.length(i)));
            }
            queue.release(rx);
            queue.awaitReceive(Math.max(1, deadline - System.nanoTime()));
        }
        return none;
    }

    @Test
    void aDescriptorForABufferNotLentIsRefusedClearlyAndNothingIsSentOrLost() throws Exception {
        PacketBatch batch = build(2, this::arpRequest);
        int good = batch.buffer(0);
        batch.add(BUFFERS + 5, TapQueue.HEADROOM, Frames.ARP_LENGTH);
        long before = kernelReceived();

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> queue.transmit(batch));
        assertTrue(e.getMessage().contains("VNIC tap-test queue 0"), e.getMessage());
        assertTrue(e.getMessage().contains("buffer " + (BUFFERS + 5)), e.getMessage());
        assertTrue(e.getMessage().contains("nothing in the batch was sent"), e.getMessage());
        assertEquals(3, batch.size(), "the batch is as it was");
        assertEquals(good, batch.buffer(0));
        assertEquals(before, kernelReceived());
        assertEquals(0, count(VnicCounter.TX_PACKETS));

        // A frame that overruns its buffer, or the MTU, is refused the same way.
        PacketBatch tooLong = new PacketBatch(2);
        tooLong.add(batch.buffer(0), TapQueue.HEADROOM, queue.bufferSize());
        IllegalArgumentException overrun = assertThrows(IllegalArgumentException.class,
                () -> queue.transmit(tooLong));
        assertTrue(overrun.getMessage().contains("buffer " + batch.buffer(0)), overrun.getMessage());
        PacketBatch overMtu = new PacketBatch(2);
        overMtu.add(batch.buffer(0), 0, vnic.mtu() + 14 + 4 + 1);
        IllegalArgumentException mtu = assertThrows(IllegalArgumentException.class, () -> queue.transmit(overMtu));
        assertTrue(mtu.getMessage().contains("exceeds the MTU of 1500"), mtu.getMessage());

        // Drop the bad descriptor: the good frames go out, nothing was lost.
        PacketBatch fixed = new PacketBatch(4);
        fixed.add(batch.buffer(0), batch.offset(0), batch.length(0));
        fixed.add(batch.buffer(1), batch.offset(1), batch.length(1));
        transmitAll(fixed);
        assertEquals(before + 2, kernelReceived());
        assertEquals(BUFFERS, allocatable());
    }

    @Test
    void aBufferTwiceInOneBatchIsSentOnceAndTheRestStaysWithTheCaller() throws Exception {
        PacketBatch batch = build(1, this::arpRequest);
        batch.add(batch.buffer(0), batch.offset(0), batch.length(0));
        long before = kernelReceived();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> queue.transmit(batch));
        assertTrue(e.getMessage().contains("appears twice"), e.getMessage());
        assertEquals(1, batch.size(), "the frame that went out left the batch");
        assertEquals(before + 1, kernelReceived());
        assertEquals(BUFFERS, allocatable(), "no buffer leaked or freed twice");
    }

    @Test
    void transmittingWhileTheInterfaceIsDownFailsClearlyAndKeepsTheFrame() throws Exception {
        transmitAll(build(1, this::arpRequest));
        namespace.ip("link", "set", "dev", tap, "down");
        PacketBatch batch = build(2, this::arpRequest);
        int first = batch.buffer(0);
        IOException e = assertThrows(IOException.class, () -> queue.transmit(batch));
        assertTrue(e.getMessage().contains("the interface is down"), e.getMessage());
        assertTrue(e.getMessage().contains("EIO"), e.getMessage());
        assertEquals(2, batch.size(), "nothing was sent: both frames stay with the caller");
        assertEquals(first, batch.buffer(0));
        namespace.setUp(tap);
        transmitAll(batch);
        assertEquals(3, count(VnicCounter.TX_PACKETS));
    }

    @Test
    void theRateLimitHoldsFramesBackAndLeavesThemInTheBatch() throws Exception {
        vnic.control().setRateLimit(new RateLimit(0, 1, 0, 1));
        PacketBatch batch = build(3, this::arpRequest);
        int second = batch.buffer(1);
        assertEquals(1, queue.transmit(batch));
        assertEquals(2, batch.size());
        assertEquals(second, batch.buffer(0), "the rest stay in order");
        assertEquals(1, count(VnicCounter.TX_RATE_LIMITED));
        assertEquals(0, queue.transmit(batch), "the bucket is still empty");
        vnic.control().setRateLimit(RateLimit.UNLIMITED);
        transmitAll(batch);
        assertEquals(3, count(VnicCounter.TX_PACKETS));
    }

    // --- what the VNIC receives --------------------------------------------------------------

    @Test
    void receiveFiltersDeliverMatchingFlowsAndDropTheRestInSoftwareButArpAlwaysPasses() throws Exception {
        FlowFilter port9 = new FlowFilter(FlowFilter.Protocol.UDP, OUR_ADDRESS, 9, 0, 0);
        vnic.control().addReceiveFilter(port9, 0);
        assertEquals(List.of(port9), vnic.control().receiveFilters());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> vnic.control().addReceiveFilter(port9, 1));
        assertTrue(e.getMessage().contains("only queue 0"), e.getMessage());

        kernelSendsUdp(10, "filtered out");
        kernelSendsUdp(9, "let in");
        MemorySegment frame = receive(f -> Frames.isIpv4(f, Frames.PROTOCOL_UDP));
        assertNotNull(frame);
        assertTrue(Frames.isUdpTo(frame, 9), "the first UDP frame delivered is the one to port 9");
        assertEquals(1, count(VnicCounter.RX_DROPPED_FILTERED));

        transmitAll(build(1, this::arpRequest));
        assertNotNull(receive(f -> Frames.isArp(f, Frames.ARP_REPLY)), "ARP passes any filter");

        assertTrue(vnic.control().removeReceiveFilter(port9));
        assertFalse(vnic.control().removeReceiveFilter(port9));
        kernelSendsUdp(10, "no filters, no dropping");
        assertNotNull(receive(f -> Frames.isUdpTo(f, 10)));
        assertEquals(1, count(VnicCounter.RX_DROPPED_FILTERED));
    }

    @Test
    void withoutAFreeBufferAFrameWaitsInTheKernelUntilABufferIsFree() throws Exception {
        PacketBatch all = new PacketBatch(BUFFERS);
        assertEquals(BUFFERS, queue.allocate(all, BUFFERS));
        kernelSendsUdp(9, "kept");
        assertTrue(queue.awaitReceive(PATIENCE.toNanos()));

        PacketBatch rx = new PacketBatch(4);
        assertEquals(0, queue.receive(rx));
        assertEquals(1, count(VnicCounter.RX_DROPPED_NO_BUFFER));

        queue.release(all);
        MemorySegment frame = receive(f -> Frames.isUdpTo(f, 9));
        assertNotNull(frame, "the frame was left in the kernel, not lost");
        assertEquals("kept", new String(udpPayload(frame), StandardCharsets.US_ASCII));
    }

    @Test
    void aFrameLongerThanABufferIsDroppedAsMalformedNotDeliveredTruncated() throws Exception {
        // Someone raised the kernel side's MTU behind our back: its frames no longer fit.
        namespace.ip("link", "set", "dev", tap, "mtu", "4000");
        kernelSendsUdp(9, "x".repeat(3000));
        assertTrue(queue.awaitReceive(PATIENCE.toNanos()));
        PacketBatch rx = new PacketBatch(4);
        assertEquals(0, queue.receive(rx), () -> "received a frame of " + rx.length(0) + " bytes");
        assertEquals(1, count(VnicCounter.RX_DROPPED_MALFORMED));
        kernelSendsUdp(9, "fits");
        MemorySegment frame = receive(f -> Frames.isUdpTo(f, 9));
        assertNotNull(frame);
        assertEquals("fits", new String(udpPayload(frame), StandardCharsets.US_ASCII));
        assertEquals(BUFFERS, allocatable());
    }

    // --- the backend, its options, and cleaning up ------------------------------------------

    @Test
    void theRegistryFindsTheTapBackendAndItCanRunHere() {
        assertInstanceOf(TapVnicBackend.class, DeviceBackends.vnicBackend("tap"));
        assertEquals("tap", vnic.backend());
        assertEquals(new TapVnicBackend().unavailableReason(), Optional.empty());
    }

    @Test
    void optionsSetOurMacAndTheInterfacesMtuAndBadOnesAreRefused() throws Exception {
        Map<String, String> options = new HashMap<>();
        options.put(TapVnicBackend.OPTION_INTERFACE, "arktap%d");
        options.put(TapVnicBackend.OPTION_MAC, "02:00:5e:10:20:30");
        options.put(TapVnicBackend.OPTION_MTU, "1280");
        try (TapVnic other = open(options)) {
            assertEquals(MacAddress.parse("02:00:5e:10:20:30"), other.mac());
            assertEquals(1280, other.mtu());
            assertEquals(1280, Ioctl.interfaceMtu(other.interfaceName()));
            assertFalse(MacAddress.parse(namespace.hardwareAddress(tap)).equals(vnic.mac()),
                    "our MAC is not the kernel's MAC of the interface");
        }
        assertTrue(!vnic.mac().isMulticast() && (vnic.mac().bits() & 0x0200_0000_0000L) != 0,
                "the default MAC is locally administered: " + vnic.mac());

        var backend = DeviceBackends.vnicBackend("tap");
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> backend.open(new VnicConfig("two", 2, 64, 2048, Map.of()))).getMessage()
                .contains("IFF_MULTI_QUEUE"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> backend.open(new VnicConfig("jumbo", 1, 64, 2048, Map.of("mtu", "9000")))).getMessage()
                .contains("use larger buffers"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> backend.open(new VnicConfig("typo", 1, 64, 2048, Map.of("interfce", "x")))).getMessage()
                .contains("unknown option 'interfce'"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> backend.open(new VnicConfig("multicast", 1, 64, 2048, Map.of("mac", "01:00:5e:00:00:01"))))
                .getMessage().contains("unicast"));
    }

    @Test
    void whenItsNamespaceIsDeletedTheVnicFailsClearlyInsteadOfHanging() throws Exception {
        PacketBatch batch = build(1, this::arpRequest);
        namespace.close();
        // The kernel unregisters the interface in its namespace clean-up, shortly after the delete.
        PacketBatch rx = new PacketBatch(4);
        IOException failure = null;
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (failure == null && System.nanoTime() - deadline < 0) {
            try {
                queue.receive(rx);
                queue.release(rx);
                queue.awaitReceive(TimeUnit.MILLISECONDS.toNanos(10));
            } catch (IOException e) {
                failure = e;
            }
        }
        assertNotNull(failure, "receive still worked " + PATIENCE + " after the namespace was deleted");
        assertTrue(failure.getMessage().contains("the interface is gone"), failure.getMessage());
        assertTrue(failure.getMessage().contains("EBADFD"), failure.getMessage());
        long start = System.nanoTime();
        assertTrue(queue.awaitReceive(PATIENCE.toNanos()), "a dead interface reports ready (an error), never hangs");
        assertTrue(System.nanoTime() - start < PATIENCE.toNanos() / 2);

        IOException sending = assertThrows(IOException.class, () -> queue.transmit(batch));
        assertTrue(sending.getMessage().contains("it stays in the batch"), sending.getMessage());
        assertEquals(1, batch.size());
        queue.release(batch);
        assertEquals(BUFFERS, allocatable());
    }

    @Test
    void closingTheVnicAndTheNamespaceLeavesNothingBehind() throws Exception {
        NetworkNamespace.Veth veth = namespace.createVeth();
        assertTrue(namespace.hasLink(tap));
        assertTrue(namespace.hasLink(veth.innerEnd()));
        assertTrue(NetworkNamespace.hostHasLink(veth.hostEnd()));
        String name = namespace.name();
        assertTrue(NetworkNamespace.exists(name));

        vnic.close();
        vnic.close(); // idempotent
        assertFalse(namespace.hasLink(tap), "closing the descriptor removed the interface");
        namespace.close();
        namespace.close(); // idempotent

        assertFalse(NetworkNamespace.exists(name), "ip netns list still shows " + name);
        assertFalse(NetworkNamespace.hostHasLink(tap));
        assertFalse(NetworkNamespace.hostHasLink(veth.hostEnd()));
        vnic = null;
        namespace = null;
    }
}

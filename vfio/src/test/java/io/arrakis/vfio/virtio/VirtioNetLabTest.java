package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.lab.HostMailbox;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.StackConfig;
import io.arrakis.stack.StackCounter;
import io.arrakis.stack.udp.UdpSocket;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The driver on the lab's emulated virtio-net function (QEMU, behind an emulated IOMMU, bound to
 * vfio-pci in the guest), whose other end is a TAP device with 198.18.90.1 in the host's lab
 * namespace: our stack on it answers the host's ARP and {@code ping -c 4}, and its poller sleeps on the
 * receive queue's MSI-X eventfd between the pings (so the interrupt path is proven too); a frame
 * at its buffer's first byte goes out as a two-descriptor chain; partial checksums the host's
 * kernel leaves (GUEST_CSUM) are completed before the stack checks them. Skipped outside the lab
 * ({@code arrakis.lab.virtio-net} absent).
 */
@Tag("lab")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class VirtioNetLabTest {
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    static String labProperty(String name) {
        String value = System.getProperty(name);
        assumeTrue(value != null, name + " is not set: not in the lab (./dev lab runs this test)");
        return value;
    }

    static VnicConfig config(String pci, String guestAddress) {
        return new VnicConfig("lab-virtio", 1, 1024, VnicConfig.DEFAULT_BUFFER_SIZE,
                Map.of(VirtioNetVnicBackend.OPTION_PCI, pci, VirtioNetVnicBackend.OPTION_ADDRESS, guestAddress + "/24"));
    }

    private static VirtioNetVnic open() throws Exception {
        return (VirtioNetVnic) DeviceBackends.vnicBackend("virtio")
                .open(config(labProperty("arrakis.lab.virtio-net"), labProperty("arrakis.lab.guest-address")));
    }

    private static HostMailbox mailbox() {
        HostMailbox mailbox = HostMailbox.fromSystemProperties();
        assumeTrue(mailbox != null, "arrakis.lab.shared is not set: no host mailbox");
        return mailbox;
    }

    /**
     * Our stack on queue 0, driven by one thread that polls and, when idle, sleeps on the queue
     * for up to 1.5 s: longer than ping's interval, so a prompt reply needs the receive interrupt
     * to end the sleep. Counts sleeps that ended early with frames waiting.
     */
    private static final class StackPoller implements AutoCloseable {
        final NetworkStack stack;
        final VnicQueue queue;
        final AtomicLong interruptWakeups = new AtomicLong();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final Thread thread;

        StackPoller(VirtioNetVnic vnic, java.util.function.Consumer<NetworkStack> setUp) {
            String host = labProperty("arrakis.lab.host-address");
            String guest = labProperty("arrakis.lab.guest-address");
            StackConfig stackConfig = new StackConfig(Ipv4Text.parse(guest), 24, Ipv4Text.parse(host), vnic.mtu(),
                    30_000_000_000L, 1_000_000_000L, 3, 30_000_000_000L, 64);
            this.stack = new NetworkStack(vnic, 0, stackConfig);
            this.queue = vnic.queue(0);
            setUp.accept(stack);
            this.thread = Thread.ofPlatform().name("lab-virtio-poller").start(this::run);
        }

        private void run() {
            try {
                stack.start(System.nanoTime());
                boolean slept = false;
                while (!Thread.currentThread().isInterrupted()) {
                    int frames = stack.poll(System.nanoTime());
                    if (frames > 0) {
                        if (slept) {
                            interruptWakeups.incrementAndGet(); // a sleep ended early and frames were there
                        }
                        slept = false;
                        continue;
                    }
                    slept = queue.awaitReceive(1_500_000_000L) && !Thread.currentThread().isInterrupted();
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        }

        /** Stops the thread; afterwards the stack and queue may be read from the caller's thread. */
        @Override
        public void close() throws Exception {
            thread.interrupt();
            queue.wakeup();
            thread.join(10_000);
            assertTrue(!thread.isAlive(), "the poller did not stop");
            assertEquals(null, failure.get(), "the poller failed");
        }
    }

    @Test
    void bringsTheDeviceUpThroughTheRegisteredBackendWithTheFeaturesItNeeds() throws Exception {
        try (VirtioNetVnic vnic = open()) {
            System.out.println("lab: " + vnic);
            long features = vnic.features();
            assertTrue(VirtioFeatures.has(features, VirtioFeatures.VERSION_1));
            assertTrue(VirtioFeatures.has(features, VirtioFeatures.ACCESS_PLATFORM));
            assertTrue(VirtioFeatures.has(features, VirtioFeatures.MAC), "QEMU gives the device a MAC");
            assertEquals("virtio", vnic.backend());
            assertEquals(1500, vnic.mtu());
            assertTrue(vnic.linkUp(), "the TAP on the host side is up, so the link is");
            assertEquals(1, vnic.queueCount());
        }
    }

    @Test
    void ourStackOnTheDeviceAnswersArpAndPingFromTheHostNamespace() throws Exception {
        String guest = labProperty("arrakis.lab.guest-address");
        HostMailbox mailbox = mailbox();
        try (VirtioNetVnic vnic = open()) {
            StackPoller poller = new StackPoller(vnic, stack -> { });
            HostMailbox.Result ping;
            try (poller) {
                ping = mailbox.run("virtio-ping", "ping -n -c 4 -W 1 " + guest + " && ip neigh show " + guest,
                        Duration.ofSeconds(150));
                System.out.println("lab: host ping:\n" + ping.output());
            }
            assertEquals(0, ping.exitCode(), ping.output());
            assertTrue(ping.output().contains("4 packets transmitted, 4 received"), ping.output());
            // The host learned our MAC by ARP: its neighbour entry for us names the device's MAC.
            assertTrue(ping.output().toLowerCase().contains(vnic.mac().toString()), ping.output());
            VnicQueue queue = vnic.queue(0);
            System.out.println("lab: counters " + queue.counters().snapshot() + ", interrupt wake-ups "
                    + poller.interruptWakeups.get());
            // The host's ARP request and first echo request come while the poller is still starting
            // (or busy answering the ARP); echo requests 2..4 come a second apart, each to a sleeper.
            assertTrue(poller.interruptWakeups.get() >= 3, "the poller should have been woken early, with frames"
                    + " waiting, by the receive interrupt for each of echo requests 2..4; it was "
                    + poller.interruptWakeups.get() + " times");
            assertTrue(queue.counters().get(VnicCounter.TX_PACKETS) >= 5, "ARP reply and four echo replies");
            assertEquals(0, queue.counters().get(VnicCounter.RX_DROPPED_MALFORMED));
        }
    }

    @Test
    void partialChecksumsFromTheHostAreCompletedSoUdpDatagramsPassTheStacksCheck() throws Exception {
        String guest = labProperty("arrakis.lab.guest-address");
        HostMailbox mailbox = mailbox();
        try (VirtioNetVnic vnic = open()) {
            assertTrue(VirtioFeatures.has(vnic.features(), VirtioFeatures.GUEST_CSUM), "QEMU offers GUEST_CSUM");
            AtomicReference<UdpSocket> socket = new AtomicReference<>();
            StackPoller poller = new StackPoller(vnic, stack -> socket.set(stack.openUdp(9999, 64 * 1024)));
            HostMailbox.Result send;
            try (poller) {
                // The host's kernel sends UDP from a socket with CHECKSUM_PARTIAL over a TAP whose
                // offloads QEMU set from our GUEST_CSUM: the frames reach us with NEEDS_CSUM.
                send = mailbox.run("virtio-udp", "python3 -c 'import socket,time\n"
                        + "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                        + "for i in range(5):\n"
                        + "    s.sendto(bytes(range(256))*4,(\"" + guest + "\",9999)); time.sleep(0.2)'",
                        Duration.ofSeconds(150));
                // The last datagram's way through the emulated device: wait for the stack to count
                // all five (its counters are readable from any thread), at most 10 s.
                long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (poller.stack.counters().get(StackCounter.UDP_DATAGRAMS_IN) < 5 && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
            }
            assertEquals(0, send.exitCode(), send.output());
            VirtioNetQueue queue = (VirtioNetQueue) vnic.queue(0);
            NetworkStack stack = poller.stack;
            System.out.println("lab: partial checksums completed " + queue.checksumsCompleted() + ", stack "
                    + stack.counters().snapshot());
            assertEquals(0, stack.counters().get(StackCounter.DROPPED_BAD_L4_CHECKSUM));
            assertEquals(5, stack.counters().get(StackCounter.UDP_DATAGRAMS_IN));
            assertTrue(queue.checksumsCompleted() >= 5, "the host's datagrams came with NEEDS_CSUM and were"
                    + " completed: " + queue.checksumsCompleted());
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment data = arena.allocate(2048);
                for (int d = 0; d < 5; d++) {
                    assertEquals(1024, socket.get().receive(data, 0, 2048));
                    for (int i = 0; i < 1024; i++) {
                        assertEquals((byte) i, data.get(ValueLayout.JAVA_BYTE, i), "datagram " + d + " byte " + i);
                    }
                }
            }
        }
    }

    /**
     * Through the queue alone, no stack: an ARP request for the host written at byte 0 of its
     * buffer, so there is no room before it for the virtio-net header, which then comes from the
     * queue's header slot as the first of a two-descriptor chain. The host answers it.
     */
    @Test
    void aFrameAtItsBuffersFirstByteGoesOutAsATwoDescriptorChainAndTheHostAnswersIt() throws Exception {
        try (VirtioNetVnic vnic = open()) {
            assertHostAnswersArpSentFromByteZero(vnic);
        }
    }

    /** Sends an ARP request for the host from byte 0 of a buffer and waits (bounded) for the host's reply. */
    private static void assertHostAnswersArpSentFromByteZero(VirtioNetVnic vnic) throws Exception {
        int host = Ipv4Text.parse(labProperty("arrakis.lab.host-address"));
        int guest = Ipv4Text.parse(labProperty("arrakis.lab.guest-address"));
        VnicQueue queue = vnic.queue(0);
        long sentBefore = queue.counters().get(VnicCounter.TX_PACKETS);
        MemorySegment memory = queue.memory();
        PacketBatch batch = new PacketBatch(32);
        assertEquals(1, queue.allocate(batch, 1));
        int buffer = batch.buffer(0);
        batch.clear();
        long frame = (long) buffer * queue.bufferSize();
        long mac = vnic.mac().bits();
        writeArpRequest(memory, frame, mac, guest, host);
        batch.add(buffer, 0, 60);
        assertEquals(1, queue.transmit(batch));

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        boolean answered = false;
        while (!answered && System.nanoTime() - deadline < 0) {
            queue.receive(batch);
            for (int i = 0; i < batch.size(); i++) {
                long at = (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i);
                answered |= isArpReply(memory, at, batch.length(i), host, guest, mac);
            }
            queue.release(batch);
            if (!answered) {
                queue.awaitReceive(100_000_000L);
            }
        }
        assertTrue(answered, "no ARP reply from the host to our request sent from byte 0 of its buffer; counters "
                + queue.counters().snapshot());
        assertEquals(sentBefore + 1, queue.counters().get(VnicCounter.TX_PACKETS));
    }

    /**
     * The lab's device offers two queue pairs (QEMU {@code mq=on} on a two-queue TAP): a VNIC of
     * two pairs negotiates MQ with the control queue, tells the device to use both, and each pair
     * transmits (an ARP request from each, which the host answers on whichever receive queue its
     * flow lands on). Asking for three is refused naming the limit.
     */
    @Test
    void twoQueuePairsEachTransmitAndReceiveAndMoreThanOfferedIsRefused() throws Exception {
        String pci = labProperty("arrakis.lab.virtio-net");
        int host = Ipv4Text.parse(labProperty("arrakis.lab.host-address"));
        int guest = Ipv4Text.parse(labProperty("arrakis.lab.guest-address"));
        try (VirtioNetVnic vnic = (VirtioNetVnic) DeviceBackends.vnicBackend("virtio").open(new VnicConfig(
                "lab-virtio-mq", 2, 1024, VnicConfig.DEFAULT_BUFFER_SIZE, Map.of(VirtioNetVnicBackend.OPTION_PCI, pci)))) {
            System.out.println("lab: " + vnic);
            assertTrue(VirtioFeatures.has(vnic.features(), VirtioFeatures.MQ)
                    && VirtioFeatures.has(vnic.features(), VirtioFeatures.CTRL_VQ), VirtioFeatures.describe(vnic.features()));
            assertEquals(2, vnic.queueCount());
            PacketBatch batch = new PacketBatch(32);
            for (int sending = 0; sending < 2; sending++) {
                VnicQueue queue = vnic.queue(sending);
                assertEquals(1, queue.allocate(batch, 1));
                writeArpRequest(queue.memory(), (long) batch.buffer(0) * queue.bufferSize() + batch.offset(0),
                        vnic.mac().bits(), guest, host);
                batch.setLength(0, 60);
                assertEquals(1, queue.transmit(batch));
                assertEquals(1, queue.counters().get(VnicCounter.TX_PACKETS), "queue " + sending + " sent it");
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                int answeredOn = -1;
                while (answeredOn < 0 && System.nanoTime() - deadline < 0) {
                    for (int receiving = 0; receiving < 2; receiving++) {
                        VnicQueue rq = vnic.queue(receiving);
                        rq.receive(batch);
                        for (int i = 0; i < batch.size(); i++) {
                            long at = (long) batch.buffer(i) * rq.bufferSize() + batch.offset(i);
                            if (isArpReply(rq.memory(), at, batch.length(i), host, guest, vnic.mac().bits())) {
                                answeredOn = receiving;
                            }
                        }
                        rq.release(batch);
                    }
                    Thread.sleep(5);
                }
                System.out.println("lab: ARP request from queue " + sending + ", answered on queue " + answeredOn);
                assertTrue(answeredOn >= 0, "no answer to the request sent from queue " + sending + "; counters "
                        + vnic.queue(0).counters().snapshot() + " / " + vnic.queue(1).counters().snapshot());
            }
        }
        VnicConfig three = new VnicConfig("lab-virtio-mq3", 3, 1024, VnicConfig.DEFAULT_BUFFER_SIZE,
                Map.of(VirtioNetVnicBackend.OPTION_PCI, pci));
        java.io.IOException e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                () -> DeviceBackends.vnicBackend("virtio").open(three).close());
        assertTrue(e.getMessage().contains("has 2 queue pairs; 3 were asked for") && e.getMessage().contains("mq=on"),
                e.getMessage());
        // Refused without leaving anything behind: the function opens again at once.
        try (VirtioNetVnic vnic = open()) {
            assertTrue(vnic.linkUp());
        }
    }

    private static void writeArpRequest(MemorySegment memory, long frame, long mac, int sender, int target) {
        memory.asSlice(frame, 60).fill((byte) 0);
        putMac(memory, frame, 0xFFFF_FFFF_FFFFL);
        putMac(memory, frame + 6, mac);
        memory.set(BE16, frame + 12, (short) 0x0806);
        memory.set(BE16, frame + 14, (short) 1); // Ethernet
        memory.set(BE16, frame + 16, (short) 0x0800); // IPv4
        memory.set(ValueLayout.JAVA_BYTE, frame + 18, (byte) 6);
        memory.set(ValueLayout.JAVA_BYTE, frame + 19, (byte) 4);
        memory.set(BE16, frame + 20, (short) 1); // request
        putMac(memory, frame + 22, mac);
        memory.set(BE32, frame + 28, sender);
        memory.set(BE32, frame + 38, target);
    }

    private static boolean isArpReply(MemorySegment memory, long at, int length, int from, int to, long toMac) {
        return length >= 42 && (memory.get(BE16, at + 12) & 0xFFFF) == 0x0806 && memory.get(BE16, at + 20) == 2
                && memory.get(BE32, at + 28) == from && memory.get(BE32, at + 38) == to && getMac(memory, at + 32) == toMac;
    }

    /**
     * A transmit descriptor whose {@code next} points outside the ring makes QEMU's device fail
     * the queue (virtio_error): it sets DEVICE_NEEDS_RESET and signals the configuration vector.
     * The sleeping queue is woken by that interrupt and says what happened and what to do; closing
     * and opening again (which resets the device) gives a working VNIC.
     */
    @Test
    void aDeviceThatNeedsAResetWakesTheSleeperWithAClearErrorAndReopeningRecovers() throws Exception {
        try (VirtioNetVnic vnic = open()) {
            VirtioNetQueue queue = (VirtioNetQueue) vnic.queue(0);
            // The queue's owner sleeps (for up to 60 s) ...
            AtomicReference<Throwable> woke = new AtomicReference<>();
            AtomicLong sleptNanos = new AtomicLong();
            Thread sleeper = Thread.ofPlatform().name("lab-virtio-sleeper").start(() -> {
                long start = System.nanoTime();
                try {
                    queue.awaitReceive(60_000_000_000L);
                    woke.set(new AssertionError("awaitReceive returned without an error"));
                } catch (Throwable t) {
                    woke.set(t);
                }
                sleptNanos.set(System.nanoTime() - start);
            });
            long armed = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (queue.counters().get(VnicCounter.IDLE_WAITS) == 0 && System.nanoTime() - armed < 0) {
                Thread.sleep(10);
            }
            Thread.sleep(500); // past the status check, into epoll_wait
            // ... while a chain the device must refuse goes into the transmit ring. Only the
            // transmit side is touched here; the sleeper touches only the receive side.
            SplitVirtqueue ring = queue.transmitRing();
            int head = ring.allocateDescriptor();
            ring.writeDescriptor(head, 0, 12, SplitVirtqueue.FLAG_NEXT, ring.size() + 7);
            ring.offer(head);
            ring.publish();
            queue.notifyTransmit();
            sleeper.join(90_000);
            Throwable e = woke.get();
            assertTrue(e instanceof java.io.IOException, "the sleeper should fail with an IOException: " + e);
            System.out.println("lab: after " + sleptNanos.get() / 1_000_000 + " ms asleep: " + e.getMessage());
            assertTrue(e.getMessage().contains("DEVICE_NEEDS_RESET while the queue slept")
                    && e.getMessage().contains("open it again"), e.getMessage());
            assertTrue(sleptNanos.get() < TimeUnit.SECONDS.toNanos(30), "woken by the configuration interrupt, not"
                    + " by the 60 s timeout: " + sleptNanos.get() / 1_000_000 + " ms");
        }
        try (VirtioNetVnic vnic = open()) {
            assertTrue(vnic.linkUp(), "the device works again after close and open (which reset it)");
            vnic.queue(0).armReadiness(); // throws if the device still needed a reset
            assertHostAnswersArpSentFromByteZero(vnic);
        }
    }

    private static void putMac(MemorySegment memory, long at, long mac) {
        for (int i = 0; i < 6; i++) {
            memory.set(ValueLayout.JAVA_BYTE, at + i, (byte) (mac >>> (8 * (5 - i))));
        }
    }

    private static long getMac(MemorySegment memory, long at) {
        long mac = 0;
        for (int i = 0; i < 6; i++) {
            mac = mac << 8 | (memory.get(ValueLayout.JAVA_BYTE, at + i) & 0xFF);
        }
        return mac;
    }
}

package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Receive filters and several queues per VNIC: frames steered by the receiver's filters (5-tuple,
 * port, most specific first) to the queue they name, unmatched ones to queue 0, ARP to every
 * queue; filters added and removed at run time through the control plane and listed in its
 * status with per-queue counters; a rogue sender that ignores the filters rejected and counted
 * by the receiving queue, unable to stall the other queues; and two stacks on queues 0 and 1 of
 * one VNIC carrying TCP and UDP byte-exact to a child process.
 */
class ShmFiltersTest {
    private static final Duration PATIENCE = Duration.ofSeconds(5);
    private static final long BROADCAST = 0xFFFF_FFFF_FFFFL;

    @TempDir
    Path directory;

    private final PacketBatch batch = new PacketBatch(64);

    @Test
    void framesGoToTheQueueTheirFilterNamesUnmatchedOnesToQueueZeroAndFiltersChangeAtRunTime() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic sender = ShmTesting.open(plane.socketPath(), "sender");
                ShmVnic receiver = ShmTesting.open(plane.socketPath(), "receiver", 256, 3)) {
            assertTrue(sender.awaitPeers(1, PATIENCE) && receiver.awaitPeers(1, PATIENCE));
            assertEquals(3, receiver.queueCount());
            // No filters: everything IPv4 to queue 0.
            send(sender, udp(sender, receiver, 7000, 5000));
            assertEquals(List.of(0), queuesReceiving(receiver, 1));

            FlowFilter port5000 = new FlowFilter(FlowFilter.Protocol.UDP, 0, 5000, 0, 0);
            FlowFilter port6000 = new FlowFilter(FlowFilter.Protocol.UDP, receiver.address(), 6000, 0, 0);
            FlowFilter fiveTuple = new FlowFilter(FlowFilter.Protocol.UDP, receiver.address(), 6000, sender.address(),
                    7000);
            receiver.control().addReceiveFilter(port5000, 2);
            receiver.control().addReceiveFilter(port6000, 2);
            receiver.control().addReceiveFilter(fiveTuple, 1);
            awaitPeerTable(sender, receiver, 3);
            assertEquals(List.of(port5000, port6000, fiveTuple), receiver.control().receiveFilters());

            send(sender, udp(sender, receiver, 7000, 5000));
            assertEquals(List.of(2), queuesReceiving(receiver, 1), "port filter");
            send(sender, udp(sender, receiver, 7000, 6000));
            assertEquals(List.of(1), queuesReceiving(receiver, 1), "the 5-tuple filter beats the port filter");
            send(sender, udp(sender, receiver, 7001, 6000));
            assertEquals(List.of(2), queuesReceiving(receiver, 1), "another remote port: only the port filter");
            send(sender, udp(sender, receiver, 7000, 5001));
            assertEquals(List.of(0), queuesReceiving(receiver, 1), "unmatched: the default queue");
            byte[] fragment = udp(sender, receiver, 7000, 6000);
            fragment[20] = 0x20; // More Fragments: a fragment's ports are not looked at
            send(sender, fragment);
            assertEquals(List.of(0), queuesReceiving(receiver, 1), "a fragment matches no port filter");
            send(sender, Frames.udp(sender.mac().bits(), BROADCAST, sender.address(), -1, 7000, 5001, new byte[4]));
            assertEquals(List.of(0), queuesReceiving(receiver, 1), "IPv4 broadcast follows the filters: queue 0");
            send(sender, arpAnnouncement(sender));
            assertEquals(List.of(0, 1, 2), queuesReceiving(receiver, 3), "ARP reaches every queue's stack");

            // Refusals name the reason and change nothing.
            assertThrows(IllegalArgumentException.class, () -> receiver.control().addReceiveFilter(port5000, 3));
            IOException elsewhere = assertThrows(IOException.class,
                    () -> receiver.control().addReceiveFilter(port5000, 1));
            assertTrue(elsewhere.getMessage().contains("already steers to queue 2"), elsewhere.getMessage());
            IOException foreign = assertThrows(IOException.class, () -> receiver.control().addReceiveFilter(
                    new FlowFilter(FlowFilter.Protocol.UDP, sender.address(), 9, 0, 0), 1));
            assertTrue(foreign.getMessage().contains("no frame could ever match"), foreign.getMessage());
            receiver.control().addReceiveFilter(port5000, 2); // the same again: a no-op
            // Filters belong to the VNIC of the connection that installs them: one without a VNIC has none.
            try (ControlConnection tool = ControlConnection.connect(plane.socketPath())) {
                tool.start(null, "filter-tool");
                IOException noVnic = assertThrows(IOException.class, () -> tool.call(new Protocol.AddFilter(port5000,
                        0)));
                assertTrue(noVnic.getMessage().contains("only a process with a VNIC"), noVnic.getMessage());
            }

            // Status lists the filters in order and the counters of each queue.
            for (ControlStatus status : List.of(plane.status(), clientStatus(plane))) {
                ControlStatus.VnicStatus v = status.vnic("receiver");
                assertEquals(List.of(new ControlStatus.Filter(port5000, 2), new ControlStatus.Filter(port6000, 2),
                        new ControlStatus.Filter(fiveTuple, 1)), v.filters());
                assertEquals(3, v.queues().size());
                // Queue 0: the first frame, the unmatched one, the fragment, the broadcast, the ARP.
                assertEquals(5, v.queue(0).counter(VnicCounter.RX_PACKETS), status.format());
                assertEquals(2, v.queue(1).counter(VnicCounter.RX_PACKETS), status.format());
                assertEquals(3, v.queue(2).counter(VnicCounter.RX_PACKETS), status.format());
                assertEquals(10, v.counter(VnicCounter.RX_PACKETS), "the VNIC's total");
                assertEquals(0, v.counter(ShmCounter.RX_MISSTEERED));
                // 1 x 3 channels each way between the two VNICs.
                assertEquals(6, status.channels().size(), status.format());
                assertTrue(status.format().contains("filter UDP 0.0.0.0:5000 <- 0.0.0.0:0 -> queue 2"), status.format());
            }

            // Removal at run time: back to the default queue.
            assertTrue(receiver.control().removeReceiveFilter(port5000));
            assertFalse(receiver.control().removeReceiveFilter(port5000), "already gone");
            awaitPeerTable(sender, receiver, 2);
            send(sender, udp(sender, receiver, 7000, 5000));
            assertEquals(List.of(0), queuesReceiving(receiver, 1));
            assertEquals(List.of(port6000, fiveTuple), receiver.control().receiveFilters());
        }
    }

    @Test
    void aRogueThatIgnoresTheFiltersReachesNoOtherQueueAndCannotStallTheOthers() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic victim = ShmTesting.open(plane.socketPath(), "victim", 1024, 2);
                RawAttachment rogue = RawAttachment.attach(plane.socketPath(), "rogue")) {
            assertNotNull(rogue.awaitPeer(victim.id(), PATIENCE));
            assertTrue(victim.awaitPeers(1, PATIENCE));
            FlowFilter port6000 = new FlowFilter(FlowFilter.Protocol.UDP, 0, 6000, 0, 0);
            victim.control().addReceiveFilter(port6000, 1);
            long rogueMac = rogue.attached.mac();
            int rogueIp = rogue.attached.address();
            byte[] forQueue1 = Frames.udp(rogueMac, victim.mac().bits(), rogueIp, victim.address(), 1, 6000, new byte[8]);
            byte[] forQueue0 = Frames.udp(rogueMac, victim.mac().bits(), rogueIp, victim.address(), 1, 7000, new byte[8]);
            try (RawAttachment.RogueChannel toQueue0 = rogue.channelTo(victim.id(), 0);
                    RawAttachment.RogueChannel toQueue1 = rogue.channelTo(victim.id(), 1)) {
                // Each frame into the wrong queue's channel, then into the right one.
                toQueue0.write(forQueue1);
                toQueue0.write(forQueue0);
                toQueue0.publish();
                toQueue1.write(forQueue0);
                toQueue1.write(forQueue1);
                toQueue1.publish();
                assertArrayEquals(forQueue0, only(receive(victim, 0, 1)));
                assertArrayEquals(forQueue1, only(receive(victim, 1, 1)));
                assertEquals(1, victim.shmCounters(0).get(ShmCounter.RX_MISSTEERED));
                assertEquals(1, victim.shmCounters(1).get(ShmCounter.RX_MISSTEERED));
                assertEquals(1, victim.queue(0).counters().get(VnicCounter.RX_DROPPED_FILTERED));

                // Queue 1 stops reading and the rogue fills its channel: queue 0 is not held up.
                int capacity = plane.config().channelCapacity();
                for (int i = 0; i < capacity; i++) {
                    toQueue1.write(forQueue1);
                }
                toQueue1.publish();
                toQueue0.write(forQueue0);
                toQueue0.publish();
                assertArrayEquals(forQueue0, only(receive(victim, 0, 1)));
                assertEquals(capacity, receive(victim, 1, capacity).size(), "queue 1 still gets its own");

                // Its channels are sealed at the size the control plane gave: it cannot grow them.
                int outbound = rogue.peers.get(victim.id()).fds()[0];
                LinuxException sealed = assertThrows(LinuxException.class, () -> Unistd.ftruncate(outbound, 1L << 30));
                assertTrue(sealed.getMessage().contains("EPERM"), sealed.getMessage());
            }
            ControlStatus.VnicStatus status = plane.status().vnic("victim");
            assertEquals(1, status.queue(0).counter(ShmCounter.RX_MISSTEERED), plane.status().format());
            assertEquals(1, status.queue(1).counter(ShmCounter.RX_MISSTEERED));
            assertEquals(2, status.counter(ShmCounter.RX_MISSTEERED));
        }
    }

    @Test
    void stacksOnQueueZeroAndQueueOneOfOneVnicCarryTcpAndUdpByteExactToAnotherProcess() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                Child child = Child.start("serve", plane.socketPath().toString(), "child");
                ShmVnic own = ShmTesting.open(plane.socketPath(), "parent", 1024, 2)) {
            int childAddress = io.arrakis.device.Ipv4Text.parse(Child.field(child.awaitLine("READY",
                    Duration.ofSeconds(30)), "ip"));
            assertTrue(own.awaitPeers(1, PATIENCE), own.peers().toString());
            // Queue 1 gets its UDP pinger's flow by 5-tuple and its TCP client's by local port;
            // everything else (queue 0's flows, which use other ports) goes to the default queue.
            own.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, own.address(), 41_000,
                    childAddress, Workloads.UDP_ECHO_PORT), 1);
            own.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, own.address(), 43_000, 0, 0), 1);
            // The child's control thread applies the push a moment after our OK; a frame it steered by
            // the old table meanwhile would be dropped (counted) and resent, costing a retransmission.
            Thread.sleep(100);
            try (StackRunner zero = StackRunner.start(own, 0, ShmTesting.stackConfig(own), 31);
                    StackRunner one = StackRunner.start(own, 1, ShmTesting.stackConfig(own), 32)) {
                var pingZero = new Workloads.UdpPinger(childAddress, Workloads.UDP_ECHO_PORT, 42_000, 300, 1400, 1);
                var pingOne = new Workloads.UdpPinger(childAddress, Workloads.UDP_ECHO_PORT, 41_000, 300, 1400, 2);
                var streamZero = new Workloads.TcpEchoCheck(childAddress, Workloads.TCP_ECHO_PORT, 1L << 20, 3);
                var streamOne = new Workloads.TcpEchoCheck(childAddress, Workloads.TCP_ECHO_PORT, 43_000, 1L << 20, 4);
                zero.everyPoll(pingZero);
                zero.everyPoll(streamZero);
                one.everyPoll(pingOne);
                one.everyPoll(streamOne);
                assertTrue(zero.await(s -> pingZero.done() && streamZero.done(), Duration.ofSeconds(60)),
                        () -> zero.call0(() -> pingZero.describe() + "; " + streamZero.describe()) + "; "
                                + zero.describe() + "\nchild:\n" + child.transcript());
                assertTrue(one.await(s -> pingOne.done() && streamOne.done(), Duration.ofSeconds(60)),
                        () -> one.call0(() -> pingOne.describe() + "; " + streamOne.describe()) + "; " + one.describe()
                                + "\nchild:\n" + child.transcript());
                assertEquals(0, (int) zero.<Integer>call((s, t) -> pingZero.mismatches), zero.call0(pingZero::describe));
                assertEquals(0, (int) one.<Integer>call((s, t) -> pingOne.mismatches), one.call0(pingOne::describe));
                assertTrue(zero.<Boolean>call((s, t) -> streamZero.exact()), zero.call0(streamZero::describe));
                assertTrue(one.<Boolean>call((s, t) -> streamOne.exact()), one.call0(streamOne::describe));
                ControlStatus.VnicStatus status = plane.status().vnic("parent");
                // Each queue carried its own megabyte each way (and its pings): neither saw the other's.
                for (int q = 0; q < 2; q++) {
                    assertTrue(status.queue(q).counter(VnicCounter.RX_BYTES) > 1L << 20, plane.status().format());
                    assertTrue(status.queue(q).counter(VnicCounter.TX_BYTES) > 1L << 20, plane.status().format());
                }
                System.out.printf("two stacks on queues 0 and 1 of one VNIC: 300 datagrams and 1 MiB of TCP each,"
                        + " echoed byte-exact by another process; frames dropped as missteered: %d%n",
                        status.counter(ShmCounter.RX_MISSTEERED));
            }
        }
    }

    @Test
    void eachQueueOfASenderTakesItsTurnAtAReceiverThatCannotKeepUp() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic sender = ShmTesting.open(plane.socketPath(), "sender", 1024, 2);
                ShmVnic receiver = ShmTesting.open(plane.socketPath(), "receiver")) {
            assertTrue(sender.awaitPeers(1, PATIENCE) && receiver.awaitPeers(1, PATIENCE));
            // Both of the sender's queues fill their channels to the receiver's one queue.
            for (int q = 0; q < 2; q++) {
                for (int i = 0; i < 100; i++) {
                    send(sender, q, Frames.udp(sender.mac().bits(), receiver.mac().bits(), sender.address(),
                            receiver.address(), 1000 + q, 9, new byte[4]));
                }
            }
            // Small batches: each call starts with the other channel, so both are served from the start.
            PacketBatch small = new PacketBatch(8);
            VnicQueue queue = receiver.queue(0);
            int[] fromQueue = new int[2];
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (fromQueue[0] + fromQueue[1] < 32 && System.nanoTime() < deadline) {
                int n = queue.receive(small);
                for (int i = 0; i < n; i++) {
                    long at = (long) small.buffer(i) * queue.bufferSize() + small.offset(i);
                    int sourcePort = queue.memory().get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(
                            java.nio.ByteOrder.BIG_ENDIAN), at + 34) & 0xFFFF;
                    fromQueue[sourcePort - 1000]++;
                }
                queue.release(small);
            }
            assertEquals(16, fromQueue[0], "frames from the sender's queue 0 among the first 32");
            assertEquals(16, fromQueue[1], "frames from the sender's queue 1 among the first 32");
        }
    }

    // ------------------------------------------------------------------ helpers

    private static ControlStatus clientStatus(ControlPlane plane) throws IOException {
        try (ControlClient client = ControlClient.connect(plane.socketPath())) {
            return client.status();
        }
    }

    /** Waits (bounded) until {@code sender} steers by a table of {@code size} filters of {@code receiver}. */
    private static void awaitPeerTable(ShmVnic sender, ShmVnic receiver, int size) throws InterruptedException {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (true) {
            Steering table = sender.peerSteering(receiver.id());
            if (table != null && table.installed().size() == size) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(sender.name() + " still steers to " + receiver.name() + " by " + table);
            }
            Thread.sleep(1);
        }
    }

    private static byte[] udp(ShmVnic from, ShmVnic to, int sourcePort, int destinationPort) {
        return Frames.udp(from.mac().bits(), to.mac().bits(), from.address(), to.address(), sourcePort,
                destinationPort, new byte[] {1, 2, 3, 4});
    }

    private static byte[] arpAnnouncement(ShmVnic from) {
        ByteBuffer frame = ByteBuffer.allocate(42);
        long mac = from.mac().bits();
        frame.putShort((short) -1).putInt(-1);
        frame.putShort((short) (mac >>> 32)).putInt((int) mac);
        frame.putShort((short) 0x0806).putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4)
                .putShort((short) 1);
        frame.putShort((short) (mac >>> 32)).putInt((int) mac).putInt(from.address());
        frame.putShort((short) 0).putInt(0).putInt(from.address());
        return frame.array();
    }

    private static void send(ShmVnic from, byte[] frame) throws Exception {
        send(from, 0, frame);
    }

    private static void send(ShmVnic from, int queueIndex, byte[] frame) throws Exception {
        VnicQueue queue = from.queue(queueIndex);
        PacketBatch out = new PacketBatch(1);
        assertEquals(1, queue.allocate(out, 1));
        long at = (long) out.buffer(0) * queue.bufferSize() + out.offset(0);
        MemorySegment.copy(frame, 0, queue.memory(), ValueLayout.JAVA_BYTE, at, frame.length);
        out.setLength(0, frame.length);
        assertEquals(1, queue.transmit(out));
    }

    /** Which queues of {@code vnic} got a frame, once {@code count} frames arrived over all of them (then 20 ms quiet). */
    private List<Integer> queuesReceiving(ShmVnic vnic, int count) throws Exception {
        List<Integer> queues = new ArrayList<>();
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        long quiet = -1;
        while (System.nanoTime() < deadline) {
            for (int q = 0; q < vnic.queueCount(); q++) {
                VnicQueue queue = vnic.queue(q);
                int n = queue.receive(batch);
                for (int i = 0; i < n; i++) {
                    queues.add(q);
                }
                queue.release(batch);
            }
            if (queues.size() >= count) {
                if (quiet < 0) {
                    quiet = System.nanoTime() + 20_000_000;
                } else if (System.nanoTime() > quiet) {
                    break;
                }
            }
        }
        queues.sort(null);
        return queues;
    }

    /** Frames received on queue {@code index} of {@code vnic}: {@code count} of them (bounded), then 20 ms quiet. */
    private List<byte[]> receive(ShmVnic vnic, int index, int count) throws Exception {
        VnicQueue queue = vnic.queue(index);
        List<byte[]> frames = new ArrayList<>();
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        long quiet = -1;
        while (System.nanoTime() < deadline) {
            int n = queue.receive(batch);
            for (int i = 0; i < n; i++) {
                long at = (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i);
                frames.add(queue.memory().asSlice(at, batch.length(i)).toArray(ValueLayout.JAVA_BYTE));
            }
            queue.release(batch);
            if (frames.size() >= count) {
                if (quiet < 0) {
                    quiet = System.nanoTime() + 20_000_000;
                } else if (System.nanoTime() > quiet) {
                    break;
                }
            }
        }
        return frames;
    }

    private static byte[] only(List<byte[]> frames) {
        assertEquals(1, frames.size(), "exactly one frame");
        return frames.get(0);
    }
}

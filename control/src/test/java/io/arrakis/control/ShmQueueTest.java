package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.Unistd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shm queue below the stack: forwarding by MAC, broadcast, proxy ARP, full channels, waiting and readiness. */
class ShmQueueTest {
    private static final long BROADCAST = 0xFFFF_FFFF_FFFFL;

    @TempDir
    Path directory;

    private ControlPlane plane;
    private ShmVnic a;
    private ShmVnic b;
    private ShmVnic c;
    private final PacketBatch batch = new PacketBatch(64);

    @BeforeEach
    void attach() throws Exception {
        plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
        a = ShmTesting.open(plane.socketPath(), "a");
        b = ShmTesting.open(plane.socketPath(), "b");
        c = ShmTesting.open(plane.socketPath(), "c");
        for (ShmVnic v : List.of(a, b, c)) {
            assertTrue(v.awaitPeers(2, Duration.ofSeconds(5)));
        }
    }

    @AfterEach
    void detach() throws Exception {
        for (AutoCloseable closeable : new AutoCloseable[] {c, b, a, plane}) {
            if (closeable != null) {
                closeable.close();
            }
        }
    }

    @Test
    void unicastGoesToItsDestinationOnlyAndBroadcastToEveryPeer() throws Exception {
        byte[] toB = Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[] {1, 2, 3});
        send(a, toB);
        assertArrayEquals(toB, receive(b, 1).get(0));
        assertEquals(0, receive(c, 0).size());
        byte[] broadcast = Frames.udp(a.mac().bits(), BROADCAST, a.address(), -1, 1, 2, new byte[] {9});
        send(a, broadcast);
        assertArrayEquals(broadcast, receive(b, 1).get(0));
        assertArrayEquals(broadcast, receive(c, 1).get(0));
        send(a, Frames.udp(a.mac().bits(), 0x02_99_99_99_99_99L, a.address(), b.address(), 1, 2, new byte[1]));
        assertEquals(1, a.shmCounters().get(ShmCounter.TX_NO_PEER));
        byte[] toSelf = Frames.udp(a.mac().bits(), a.mac().bits(), a.address(), a.address(), 1, 2, new byte[] {7});
        send(a, toSelf);
        assertArrayEquals(toSelf, receive(a, 1).get(0));
        assertEquals(1, a.shmCounters().get(ShmCounter.LOOPED_BACK));
    }

    @Test
    void arpRequestsForAPeerAreAnsweredLocallyAndAnnouncementsReachEveryone() throws Exception {
        byte[] request = arp(1, a.mac().bits(), a.address(), 0, b.address());
        send(a, request);
        List<byte[]> replies = receive(a, 1);
        assertEquals(1, replies.size(), "proxy ARP reply in our own receive path");
        ByteBuffer reply = ByteBuffer.wrap(replies.get(0));
        assertEquals(2, reply.getShort(20), "an ARP reply");
        assertEquals(b.mac().bits(), reply.getLong(20) & 0xFFFF_FFFF_FFFFL, "sender hardware address: b's MAC");
        assertEquals(b.address(), reply.getInt(28));
        assertEquals(a.mac().bits(), (reply.getLong(30) & 0xFFFF_FFFF_FFFFL), "target: the requester");
        assertEquals(a.address(), reply.getInt(38));
        assertEquals(0, receive(b, 0).size(), "b never saw the request");
        assertEquals(1, a.shmCounters().get(ShmCounter.PROXY_ARP_REPLIES));
        // A gratuitous announcement (sender = target) goes to everyone, so caches update.
        byte[] announcement = arp(1, a.mac().bits(), a.address(), 0, a.address());
        send(a, announcement);
        assertArrayEquals(announcement, receive(b, 1).get(0));
        assertArrayEquals(announcement, receive(c, 1).get(0));
    }

    @Test
    void aFullChannelDropsAtTheSenderInsteadOfStallingItsTrafficToOthers() throws Exception {
        int capacity = plane.config().channelCapacity();
        byte[] toB = Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[100]);
        for (int i = 0; i < capacity + 10; i++) {
            send(a, toB);
        }
        assertEquals(10, a.shmCounters().get(ShmCounter.TX_CHANNEL_FULL));
        assertEquals(10, a.queue(0).counters().get(VnicCounter.TX_RING_FULL));
        byte[] toC = Frames.udp(a.mac().bits(), c.mac().bits(), a.address(), c.address(), 1, 2, new byte[100]);
        send(a, toC);
        assertEquals(1, receive(c, 1).size(), "c is not held up by b");
        assertEquals(capacity, receive(b, capacity).size());
    }

    @Test
    void eachFrameAFullChannelDropsIsAJfrEventNamingTheVnicAndQueue() throws Exception {
        int capacity = plane.config().channelCapacity();
        byte[] toB = Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[100]);
        Path file = directory.resolve("ring-full.jfr");
        try (jdk.jfr.Recording recording = new jdk.jfr.Recording()) {
            recording.enable("io.arrakis.RingFullDrop");
            recording.start();
            for (int i = 0; i < capacity + 7; i++) {
                send(a, toB);
            }
            recording.stop();
            recording.dump(file);
        }
        List<jdk.jfr.consumer.RecordedEvent> drops = jdk.jfr.consumer.RecordingFile.readAllEvents(file);
        assertEquals(7, drops.size(), drops.toString());
        for (jdk.jfr.consumer.RecordedEvent e : drops) {
            assertEquals("io.arrakis.RingFullDrop", e.getEventType().getName());
            assertEquals(a.name(), e.getString("vnic"));
            assertEquals(0, e.getInt("queue"));
        }
        assertEquals(7, a.shmCounters().get(ShmCounter.TX_CHANNEL_FULL));
    }

    @Test
    void awaitReceiveSleepsUntilAFrameOrAWakeupOrItsTimeout() throws Exception {
        VnicQueue queue = b.queue(0);
        queue.receive(batch);
        long start = System.nanoTime();
        assertFalse(queue.awaitReceive(20_000_000), "nothing came");
        assertTrue(System.nanoTime() - start >= 19_000_000);
        Thread sender = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(50);
                send(a, Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[1]));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(queue.awaitReceive(5_000_000_000L));
        sender.join();
        assertEquals(1, receive(b, 1).size());
        assertTrue(a.queue(0).counters().get(VnicCounter.DOORBELLS_RUNG) >= 1, "the sender found b asleep and woke it");
        Thread waker = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(50);
                queue.wakeup();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        start = System.nanoTime();
        assertTrue(queue.awaitReceive(5_000_000_000L));
        assertTrue(System.nanoTime() - start < 2_000_000_000L);
        waker.join();
        queue.wakeup();
        assertTrue(queue.awaitReceive(0), "a wakeup before the wait ends the next wait at once");
    }

    @Test
    void theReadinessDescriptorBecomesReadableWhenAFrameArrivesForAnIdleQueue() throws Exception {
        VnicQueue queue = b.queue(0);
        int fd = queue.readinessFd();
        int epoll = Epoll.create(Epoll.EPOLL_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            Epoll.Events events = Epoll.Events.allocate(arena, 4);
            Epoll.add(epoll, fd, Epoll.EPOLLIN, 1);
            assertEquals(0, queue.receive(batch), "nothing yet");
            send(a, Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[1]));
            assertEquals(0, Epoll.wait(epoll, events, 0), "not armed: a frame for a spinning receiver signals nothing");
            assertEquals(0, a.shmCounters().get(ShmCounter.READINESS_SIGNALS));
            assertFalse(queue.armReadiness(), "a frame waits: arming says poll instead");
            assertEquals(1, queue.receive(batch));
            queue.release(batch);
            assertTrue(queue.armReadiness(), "nothing waits: armed");
            assertEquals(0, Epoll.wait(epoll, events, 0));
            send(a, Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[1]));
            assertEquals(1, Epoll.wait(epoll, events, 5_000), "the sender signalled the armed descriptor");
            assertEquals(1, a.shmCounters().get(ShmCounter.READINESS_SIGNALS));
            assertEquals(1, queue.receive(batch));
            queue.release(batch);
            // A busy stream: the receiver keeps finding frames, so senders write nothing.
            for (int i = 0; i < 100; i++) {
                send(a, Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[1]));
                assertEquals(1, queue.receive(batch));
                queue.release(batch);
            }
            assertEquals(1, a.shmCounters().get(ShmCounter.READINESS_SIGNALS), "no eventfd write while busy");
            assertEquals(0, queue.receive(batch));
            // Found readable with nothing to receive: awaitReceive consumes the signal at once.
            if (Epoll.wait(epoll, events, 0) == 1) {
                assertTrue(queue.awaitReceive(1_000_000_000L));
            }
            assertEquals(0, queue.receive(batch));
            assertEquals(0, Epoll.wait(epoll, events, 0), "idle again: not readable");
            queue.wakeup();
            assertEquals(1, Epoll.wait(epoll, events, 1_000), "a wakeup makes it readable");
            assertTrue(queue.awaitReceive(1_000_000_000L));
        } finally {
            Unistd.close(epoll);
        }
    }

    /**
     * Several threads of a process may sleep on the readiness descriptor while another polls.
     * A receive that reads the eventfd could swallow the signal of a frame it did not take
     * (published after it looked), and one that disarms the bell leaves the sleepers deaf; so a
     * receive does neither, and a sleeper still finds the signal a sender wrote.
     */
    @Test
    void aReceiveLeavesTheReadinessSignalToTheThreadsSleepingOnIt() throws Exception {
        VnicQueue queue = b.queue(0);
        int fd = queue.readinessFd();
        int epoll = Epoll.create(Epoll.EPOLL_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            Epoll.Events events = Epoll.Events.allocate(arena, 4);
            Epoll.add(epoll, fd, Epoll.EPOLLIN, 1);
            assertEquals(0, queue.receive(batch), "nothing yet (the peers are applied)");
            assertTrue(queue.armReadiness(), "idle: armed");
            assertFalse(queue.readinessSignalled());
            send(a, Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[1]));
            assertTrue(queue.readinessSignalled(), "the sender took the arming");
            assertEquals(1, queue.receive(batch), "another thread's poll takes the frame");
            queue.release(batch);
            assertEquals(0, queue.receive(batch));
            assertEquals(1, Epoll.wait(epoll, events, 0), "the sleeper still finds the sender's signal");
            assertTrue(queue.awaitReceive(1_000_000_000L), "which awaitReceive consumes");
            assertEquals(0, Epoll.wait(epoll, events, 0));
            assertTrue(queue.armReadiness(), "armed again");
            send(a, Frames.udp(a.mac().bits(), b.mac().bits(), a.address(), b.address(), 1, 2, new byte[1]));
            assertEquals(2, a.shmCounters().get(ShmCounter.READINESS_SIGNALS), "each arming costs a sender one write");
            assertEquals(1, Epoll.wait(epoll, events, 0));
            assertEquals(1, queue.receive(batch));
            queue.release(batch);
        } finally {
            Unistd.close(epoll);
        }
    }

    /**
     * A peer that joins is handed to the polling thread through a mailbox; a poller asleep in
     * epoll on the readiness descriptor must wake to take it. Otherwise a frame the new peer sent
     * before the poller knew it (its bell ring found nothing to read yet) waits unread for good.
     */
    @Test
    void aNewPeerWakesAQueueAsleepOnItsReadinessDescriptor() throws Exception {
        VnicQueue queue = a.queue(0);
        int fd = queue.readinessFd();
        int epoll = Epoll.create(Epoll.EPOLL_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            Epoll.Events events = Epoll.Events.allocate(arena, 4);
            Epoll.add(epoll, fd, Epoll.EPOLLIN, 1);
            assertEquals(0, queue.receive(batch));
            assertTrue(queue.armReadiness(), "idle: armed");
            assertEquals(0, Epoll.wait(epoll, events, 0));
            try (ShmVnic d = ShmTesting.open(plane.socketPath(), "d")) {
                assertEquals(1, Epoll.wait(epoll, events, 5_000), "the new peer's arrival woke the sleeper");
                assertEquals(0, queue.receive(batch), "it takes the change (no frame yet)");
                assertEquals(3, ((ShmQueue) queue).peerCount());
            }
        } finally {
            Unistd.close(epoll);
        }
    }

    @Test
    void descriptorsTheQueueDidNotLendAreRefused() throws Exception {
        VnicQueue queue = a.queue(0);
        PacketBatch bad = new PacketBatch(1);
        bad.add(5, ShmQueue.HEADROOM, 60);
        assertThrows(IllegalArgumentException.class, () -> queue.transmit(bad));
        assertThrows(IllegalArgumentException.class, () -> queue.release(bad));
        PacketBatch lent = new PacketBatch(1);
        queue.allocate(lent, 1);
        lent.setLength(0, 3000);
        assertThrows(IllegalArgumentException.class, () -> queue.transmit(lent), "longer than the MTU allows");
        queue.release(lent);
    }

    private static byte[] arp(int operation, long senderMac, int senderAddress, long targetMac, int targetAddress) {
        ByteBuffer frame = ByteBuffer.allocate(42);
        frame.putShort((short) -1).putInt(-1);
        frame.putShort((short) (senderMac >>> 32)).putInt((int) senderMac);
        frame.putShort((short) 0x0806).putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4)
                .putShort((short) operation);
        frame.putShort((short) (senderMac >>> 32)).putInt((int) senderMac).putInt(senderAddress);
        frame.putShort((short) (targetMac >>> 32)).putInt((int) targetMac).putInt(targetAddress);
        return frame.array();
    }

    private static void send(ShmVnic from, byte[] frame) throws Exception {
        VnicQueue queue = from.queue(0);
        PacketBatch out = new PacketBatch(1);
        assertEquals(1, queue.allocate(out, 1));
        long at = (long) out.buffer(0) * queue.bufferSize() + out.offset(0);
        MemorySegment.copy(frame, 0, queue.memory(), ValueLayout.JAVA_BYTE, at, frame.length);
        out.setLength(0, frame.length);
        assertEquals(1, queue.transmit(out));
    }

    /** Receives {@code count} frames (bounded wait), then checks for 30 ms that no more come. */
    private List<byte[]> receive(ShmVnic vnic, int count) throws Exception {
        VnicQueue queue = vnic.queue(0);
        List<byte[]> frames = new ArrayList<>();
        long deadline = System.nanoTime() + 5_000_000_000L;
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
                    quiet = System.nanoTime() + 30_000_000;
                } else if (System.nanoTime() > quiet) {
                    break;
                }
            }
        }
        return frames;
    }
}

package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Mman;
import io.arrakis.linux.Unistd;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rogue process (one that speaks the protocol itself and writes whatever it likes into the
 * memory it was given) against a victim VNIC, with an honest third VNIC beside it: spoofed
 * sources, descriptors outside the frame area, a million random descriptors, impossible ring
 * positions, garbage in a bell, and attempts to write what it may only read. Everything is
 * rejected and counted, and the honest channel keeps working.
 */
class ShmProtectionTest {
    private static final Duration PATIENCE = Duration.ofSeconds(5);

    @TempDir
    Path directory;

    private ControlPlane plane;
    private ShmVnic victim;
    private ShmVnic honest;
    private RawAttachment rogue;
    private RawAttachment.RogueChannel channel;
    private final PacketBatch batch = new PacketBatch(64);

    @BeforeEach
    void attach() throws Exception {
        plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
        victim = ShmTesting.open(plane.socketPath(), "victim");
        honest = ShmTesting.open(plane.socketPath(), "honest");
        rogue = RawAttachment.attach(plane.socketPath(), "rogue");
        assertTrue(victim.awaitPeers(2, PATIENCE), victim.peers().toString());
        assertTrue(honest.awaitPeers(2, PATIENCE), honest.peers().toString());
        assertNotNull(rogue.awaitPeer(victim.id(), PATIENCE));
        assertNotNull(rogue.awaitPeer(honest.id(), PATIENCE));
        channel = rogue.channelTo(victim.id());
    }

    @AfterEach
    void detach() throws Exception {
        if (channel != null) {
            channel.close();
        }
        for (AutoCloseable c : new AutoCloseable[] {rogue, honest, victim, plane}) {
            if (c != null) {
                c.close();
            }
        }
    }

    @Test
    void framesWithAnotherVnicsMacOrAddressAreDroppedAndCountedWhileGenuineOnesPass() throws Exception {
        long rogueMac = rogue.attached.mac();
        int rogueIp = rogue.attached.address();
        long victimMac = victim.mac().bits();
        byte[] payload = "hello".getBytes();
        // Another VNIC's MAC; another VNIC's address; ARP claiming another's address; ARP with another's MAC.
        channel.write(Frames.udp(honest.mac().bits(), victimMac, honest.address(), victim.address(), 1, 2, payload));
        channel.write(Frames.udp(rogueMac, victimMac, honest.address(), victim.address(), 1, 2, payload));
        channel.write(Frames.arpReply(rogueMac, victimMac, rogueMac, honest.address(), victimMac, victim.address()));
        channel.write(Frames.arpReply(rogueMac, victimMac, honest.mac().bits(), rogueIp, victimMac, victim.address()));
        // Unicast for someone else, sent down our channel.
        channel.write(Frames.udp(rogueMac, honest.mac().bits(), rogueIp, honest.address(), 1, 2, payload));
        // The rogue's own identity is fine.
        channel.write(Frames.udp(rogueMac, victimMac, rogueIp, victim.address(), 1, 2, payload));
        channel.publish();
        send(honest, Frames.udp(honest.mac().bits(), victimMac, honest.address(), victim.address(), 3, 4, payload));

        List<byte[]> received = receive(victim.queue(0), 2);
        assertEquals(2, received.size(), "the genuine frames from the rogue and the honest VNIC");
        assertEquals(List.of(rogueMac, honest.mac().bits()).stream().sorted().toList(),
                received.stream().map(Frames::sourceMac).sorted().toList());
        assertEquals(4, victim.shmCounters().get(ShmCounter.RX_SPOOFED));
        assertEquals(1, victim.shmCounters().get(ShmCounter.RX_NOT_FOR_US));
        assertEquals(5, victim.queue(0).counters().get(VnicCounter.RX_DROPPED_FILTERED));
        assertEquals(6, channel.consumed(), "the victim consumed every descriptor, bad ones included");
    }

    @Test
    void descriptorsOutsideTheFrameAreaOrTheMtuAreDroppedAndCounted() throws Exception {
        long area = ChannelLayout.areaSize(channel.capacity, channel.frameSlot);
        channel.descriptor((int) area, 60);
        channel.descriptor(-1, 60);
        channel.descriptor(0, 100_000);
        channel.descriptor((int) area - 10, 60);
        channel.descriptor(0, 5);
        channel.descriptor(Integer.MAX_VALUE, Integer.MAX_VALUE);
        channel.descriptor(0, -60);
        channel.write(Frames.udp(rogue.attached.mac(), victim.mac().bits(), rogue.attached.address(), victim.address(),
                1, 2, new byte[100]));
        channel.publish();
        assertEquals(1, receive(victim.queue(0), 1).size());
        assertEquals(7, victim.shmCounters().get(ShmCounter.RX_BAD_DESCRIPTOR));
        assertEquals(7, victim.queue(0).counters().get(VnicCounter.RX_DROPPED_MALFORMED));
    }

    @Test
    void aMillionRandomDescriptorsOverRandomBytesAreAllRejectedAndTheHonestVnicIsUnaffected() throws Exception {
        Random random = new Random(4);
        MemorySegment forward = channel.forward.segment();
        long area = ChannelLayout.areaSize(channel.capacity, channel.frameSlot);
        byte[] garbage = new byte[(int) area];
        random.nextBytes(garbage);
        MemorySegment.copy(garbage, 0, forward, ValueLayout.JAVA_BYTE, ChannelLayout.areaOffset(channel.capacity),
                garbage.length);
        VnicQueue queue = victim.queue(0);
        long total = 1_000_000;
        long written = 0;
        int honestSent = 0;
        int honestReceived = 0;
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        for (int round = 0; written < total || channel.consumed() < total; round++) {
            assertTrue(System.nanoTime() < deadline, "stuck at " + written + " written, " + channel.consumed()
                    + " consumed");
            long room = channel.capacity - (channel.position - channel.consumed());
            for (long i = 0; i < room && written < total; i++, written++) {
                // Half anywhere at all, half inside the area (so the bytes are copied, then judged).
                if (random.nextBoolean()) {
                    channel.descriptor(random.nextInt(), random.nextInt());
                } else {
                    channel.descriptor(random.nextInt((int) area), random.nextInt(1600));
                }
            }
            channel.publish();
            if (round % 20 == 0 && honestSent < 100) {
                send(honest, Frames.udp(honest.mac().bits(), victim.mac().bits(), honest.address(), victim.address(),
                        5, 6, new byte[] {(byte) honestSent}));
                honestSent++;
            }
            int n = queue.receive(batch);
            for (int i = 0; i < n; i++) {
                long source = queue.memory().get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN),
                        (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i) + 4) & 0xFFFF_FFFF_FFFFL;
                assertEquals(honest.mac().bits(), source, "only the honest VNIC's frames get through");
                honestReceived++;
            }
            queue.release(batch);
        }
        honestReceived += receive(queue, honestSent - honestReceived).size();
        var shm = victim.shmCounters();
        long rejected = shm.get(ShmCounter.RX_BAD_DESCRIPTOR) + shm.get(ShmCounter.RX_SPOOFED)
                + shm.get(ShmCounter.RX_NOT_FOR_US);
        assertEquals(total, rejected, "every random descriptor rejected: " + shm.snapshot());
        assertEquals(0, shm.get(ShmCounter.CHANNELS_BROKEN), "random descriptors with sane positions break nothing");
        assertEquals(honestSent, honestReceived, "every honest frame arrived");
        System.out.printf("1,000,000 random descriptors: %d out of bounds, %d spoofed, %d for another MAC; %d honest"
                + " frames delivered alongside%n", shm.get(ShmCounter.RX_BAD_DESCRIPTOR), shm.get(ShmCounter.RX_SPOOFED),
                shm.get(ShmCounter.RX_NOT_FOR_US), honestReceived);
    }

    @Test
    void impossiblePositionsInARingMakeTheReceiverDropThatChannelOnly() throws Exception {
        channel.publish(1L << 40);
        VnicQueue queue = victim.queue(0);
        assertEquals(0, queue.receive(batch));
        assertEquals(1, victim.shmCounters().get(ShmCounter.CHANNELS_BROKEN));
        assertTrue(victim.lastProblem().contains("rogue"), victim.lastProblem());
        send(honest, Frames.udp(honest.mac().bits(), victim.mac().bits(), honest.address(), victim.address(), 1, 2,
                new byte[10]));
        assertEquals(1, receive(queue, 1).size(), "the honest channel still works");

        // The rogue as a receiver: garbage in the consumer position of the honest VNIC's channel to it.
        RawAttachment.PeerFiles fromHonest = rogue.peers.get(honest.id());
        try (Mapping inboundReturn = Mapping.map(fromHonest.fds()[3], ChannelLayout.RETURN_BYTES, true, "rogue")) {
            inboundReturn.segment().set(ValueLayout.JAVA_LONG, ChannelLayout.POSITION, -12345L);
        }
        long rogueMac = rogue.attached.mac();
        for (int i = 0; i <= channel.capacity; i++) {
            send(honest, Frames.udp(honest.mac().bits(), rogueMac, honest.address(), rogue.attached.address(), 1, 2,
                    new byte[10]));
        }
        assertEquals(1, honest.shmCounters().get(ShmCounter.CHANNELS_BROKEN), honest.lastProblem());
        send(honest, Frames.udp(honest.mac().bits(), victim.mac().bits(), honest.address(), victim.address(), 1, 2,
                new byte[10]));
        assertEquals(1, receive(queue, 1).size(), "the honest VNIC still reaches the victim");
    }

    @Test
    void garbageInTheVictimsBellCostsAtMostSpuriousWakeUps() throws Exception {
        VnicQueue queue = victim.queue(0);
        queue.receive(batch);
        Random random = new Random(5);
        MemorySegment bell = channel.bell.segment();
        for (int round = 0; round < 20; round++) {
            for (long offset = 0; offset < 64; offset += 4) {
                bell.set(ValueLayout.JAVA_INT, offset, random.nextInt());
            }
            long start = System.nanoTime();
            queue.awaitReceive(20_000_000);
            assertTrue(System.nanoTime() - start < 2_000_000_000L, "a wait must end by its timeout");
        }
        send(honest, Frames.udp(honest.mac().bits(), victim.mac().bits(), honest.address(), victim.address(), 1, 2,
                new byte[10]));
        assertTrue(queue.awaitReceive(2_000_000_000L));
        assertEquals(1, receive(queue, 1).size());
    }

    @Test
    void aReceiverCannotMapWhatItReadsWritableAndNobodyCanResizeAChannel() throws Exception {
        RawAttachment.PeerFiles files = rogue.peers.get(victim.id());
        int outboundForward = files.fds()[0];
        int outboundReturn = files.fds()[1];
        int inboundForward = files.fds()[2];
        long forwardBytes = ChannelLayout.forwardBytes(channel.capacity, channel.frameSlot);
        LinuxException e = assertThrows(LinuxException.class, () -> Mman.mmap(forwardBytes,
                Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, inboundForward, 0));
        assertEquals(Errno.EACCES, e.errno(), e.getMessage());
        e = assertThrows(LinuxException.class, () -> Mman.mmap(ChannelLayout.RETURN_BYTES,
                Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, outboundReturn, 0));
        assertEquals(Errno.EACCES, e.errno(), e.getMessage());
        e = assertThrows(LinuxException.class, () -> Unistd.ftruncate(outboundForward, 4096));
        assertEquals(Errno.EPERM, e.errno(), "shrinking would SIGBUS the receiver: " + e.getMessage());
        e = assertThrows(LinuxException.class, () -> Unistd.ftruncate(outboundForward, forwardBytes * 2));
        assertEquals(Errno.EPERM, e.errno(), e.getMessage());
        int seals = Unistd.fcntl(outboundForward, Unistd.F_GET_SEALS, 0);
        assertEquals(Unistd.F_SEAL_SHRINK | Unistd.F_SEAL_GROW | Unistd.F_SEAL_SEAL, seals);
        e = assertThrows(LinuxException.class, () -> Unistd.fcntl(inboundForward, Unistd.F_ADD_SEALS,
                Unistd.F_SEAL_WRITE));
        assertTrue(e.errno() == Errno.EPERM, e.getMessage());
    }

    private void send(ShmVnic from, byte[] frame) throws Exception {
        VnicQueue queue = from.queue(0);
        PacketBatch out = new PacketBatch(1);
        assertEquals(1, queue.allocate(out, 1));
        long at = (long) out.buffer(0) * queue.bufferSize() + out.offset(0);
        MemorySegment.copy(frame, 0, queue.memory(), ValueLayout.JAVA_BYTE, at, frame.length);
        out.setLength(0, frame.length);
        assertEquals(1, queue.transmit(out));
    }

    /** Receives until {@code count} frames arrived (copies) or {@link #PATIENCE} passed, then a little longer for extras. */
    private List<byte[]> receive(VnicQueue queue, int count) throws Exception {
        List<byte[]> frames = new ArrayList<>();
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        long settle = -1;
        while (System.nanoTime() < deadline) {
            int n = queue.receive(batch);
            for (int i = 0; i < n; i++) {
                long at = (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i);
                frames.add(queue.memory().asSlice(at, batch.length(i)).toArray(ValueLayout.JAVA_BYTE));
            }
            queue.release(batch);
            if (frames.size() >= count) {
                if (settle < 0) {
                    settle = System.nanoTime() + 50_000_000;
                } else if (System.nanoTime() > settle) {
                    break;
                }
            }
            if (n == 0) {
                queue.awaitReceive(5_000_000);
            }
        }
        return frames;
    }
}

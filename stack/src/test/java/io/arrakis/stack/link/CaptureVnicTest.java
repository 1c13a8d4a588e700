package io.arrakis.stack.link;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.PacketBatch;
import io.arrakis.device.RateLimit;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.link.Frames.PcapRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

class CaptureVnicTest {
    private static final LinkFaults FAULTS = LinkFaults.NONE.withSeed(11).withLatency(5_000).withRate(1_000_000_000)
            .withQueueLimit(8).withLoss(0.05).withDuplication(0.05).withReordering(0.1, 0, 10_000)
            .withCorruption(0.05);

    /** What a run observed: a digest of every event and byte; every frame sent or received, in order, and when. */
    private record Run(String digest, List<byte[]> frames, List<Long> times) {}

    @Test
    void aCaptureChangesNothingAndRecordsEveryFrameEachWayWithItsTime() throws Exception {
        Run plain = run(null);
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        Run captured;
        try (PcapWriter writer = new PcapWriter(Channels.newChannel(file), 65_535)) {
            captured = run(writer);
        }
        assertEquals(plain.digest(), captured.digest(), "the capture must not change the run");

        // The capture holds exactly the frames the stations handed over (and the device accepted)
        // or got, in that order, each at the virtual time it crossed the queue.
        List<PcapRecord> records = Frames.readPcap(file.toByteArray());
        assertEquals(captured.frames().size(), records.size());
        for (int i = 0; i < records.size(); i++) {
            assertArrayEquals(captured.frames().get(i), records.get(i).data(), "record " + i);
            assertEquals(captured.frames().get(i).length, records.get(i).originalLength());
            assertEquals((long) captured.times().get(i), records.get(i).nanos(), "time of record " + i);
        }
    }

    @Test
    void refusedFramesAreCapturedOnlyOnceTheDeviceAcceptsThem() throws IOException {
        VirtualClock clock = new VirtualClock();
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        try (PcapWriter writer = new PcapWriter(Channels.newChannel(file), 65_535);
                SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE)) {
            CaptureVnic a = new CaptureVnic(link.a(), writer, clock);
            assertSame(link.a().control(), a.control());
            assertEquals(link.a().name(), a.name());
            link.a().control().setRateLimit(new RateLimit(1_000_000, 0, 0, 0)); // a 9018-byte bucket
            VnicQueue queue = a.queue(0);
            PacketBatch batch = new PacketBatch(16);
            assertEquals(12, queue.allocate(batch, 12));
            for (int i = 0; i < 12; i++) {
                batch.setLength(i, Frames.udpAToB(queue.memory(),
                        (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i), i, 1000 - Frames.UDP_OVERHEAD));
            }
            assertEquals(9, queue.transmit(batch));
            assertEquals(3, batch.size());
            clock.advanceBy(2_000_000);
            assertEquals(2, queue.transmit(batch));
            queue.release(batch);
            writer.close();
            List<PcapRecord> records = Frames.readPcap(file.toByteArray());
            assertEquals(11, records.size());
            for (int i = 0; i < 11; i++) {
                assertEquals(i, Frames.sequence(MemorySegment.ofArray(records.get(i).data()), 0));
                assertEquals(i < 9 ? 0 : 2_000_000, records.get(i).nanos());
            }
            assertEquals(11, link.a().queue(0).counters().get(VnicCounter.TX_PACKETS));
        }
    }

    /**
     * Runs a fixed bidirectional exchange over a faulty link, the ends wrapped in captures when
     * {@code writer} is given; logs what was sent and received, in the order it happened.
     */
    private static Run run(PcapWriter writer) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        ByteBuffer scratch = ByteBuffer.allocate(64);
        VirtualClock clock = new VirtualClock();
        List<byte[]> log = new ArrayList<>();
        List<Long> logTimes = new ArrayList<>();
        int[] received = {0};
        try (SimulatedLink link = new SimulatedLink(clock, FAULTS, FAULTS, 32, 2048)) {
            link.trace((nanos, direction, event, frame, length) -> {
                scratch.clear();
                scratch.putLong(nanos).putInt(direction.ordinal()).putInt(event.ordinal()).putLong(frame)
                        .putInt(length).flip();
                digest.update(scratch);
            });
            Vnic a = writer == null ? link.a() : new CaptureVnic(link.a(), writer, clock);
            Vnic b = writer == null ? link.b() : new CaptureVnic(link.b(), writer, clock);
            Logged sa = new Logged(Station.a(a), clock, log, logTimes);
            Logged sb = new Logged(Station.b(b), clock, log, logTimes);
            for (int i = 0; i < 300; i++) {
                sa.send(2 * i, 1 + i % 4, 18 + i);
                sb.send(2 * i + 1, 1 + i % 3, 18 + 2 * i);
                link.advanceTo(clock.now() + 3_000);
                sa.receive(digest, received);
                sb.receive(digest, received);
            }
            while (link.nextEventTime() != Long.MAX_VALUE) {
                link.advanceTo(link.nextEventTime());
                sa.receive(digest, received);
                sb.receive(digest, received);
            }
            assertTrue(received[0] > 500, "the run moved frames: " + received[0]);
            for (SimulatedLink.Direction d : SimulatedLink.Direction.values()) {
                digest.update(link.counters(d).snapshot().toString().getBytes());
            }
            digest.update(link.a().queue(0).counters().snapshot().toString().getBytes());
            digest.update(link.b().queue(0).counters().snapshot().toString().getBytes());
        }
        return new Run(HexFormat.of().formatHex(digest.digest()), log, logTimes);
    }

    /** A station that logs the frames it sends (those the queue accepted) and receives. */
    private static final class Logged {
        private final Station station;
        private final VirtualClock clock;
        private final List<byte[]> log;
        private final List<Long> times;
        private final PacketBatch tx = new PacketBatch(8);

        Logged(Station station, VirtualClock clock, List<byte[]> log, List<Long> times) {
            this.station = station;
            this.clock = clock;
            this.log = log;
            this.times = times;
        }

        void send(int sequence, int count, int payload) throws IOException {
            VnicQueue queue = station.queue;
            tx.clear();
            int n = queue.allocate(tx, count);
            List<byte[]> frames = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long at = station.frameAddress(tx, i);
                int length = station.write(queue.memory(), at, sequence + i, payload);
                tx.setLength(i, length);
                frames.add(Frames.bytes(queue.memory(), at, length));
            }
            int accepted = queue.transmit(tx);
            queue.release(tx);
            for (int i = 0; i < accepted; i++) {
                log.add(frames.get(i));
                times.add(clock.now());
            }
        }

        void receive(MessageDigest digest, int[] received) throws IOException {
            station.receive((m, at, length) -> {
                byte[] frame = Frames.bytes(m, at, length);
                digest.update(frame);
                received[0]++;
                log.add(frame);
                times.add(clock.now());
            });
        }
    }
}

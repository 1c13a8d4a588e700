package io.arrakis.stack.link;

import static io.arrakis.stack.link.FaultyVnic.Direction.RECEIVE;
import static io.arrakis.stack.link.FaultyVnic.Direction.TRANSMIT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Counters;
import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.RateLimit;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@link FaultyVnic} over one end of a fault-free {@link SimulatedLink}, on the link's
 * {@link VirtualClock}: station A uses the faulty VNIC, station B the other end as it is, so
 * what B receives is what A's transmit faults let through, and what A receives is what its
 * receive faults let through. Everything is seeded and on virtual time, hence exact.
 */
class FaultyVnicTest {
    private static final int PAYLOAD = 100;
    private static final int FRAME = PAYLOAD + Frames.UDP_OVERHEAD;

    /** A's faulty VNIC, both stations and the link. */
    private static final class Bench implements AutoCloseable {
        final VirtualClock clock = new VirtualClock();
        final SimulatedLink link;
        final FaultyVnic faulty;
        final Station a;
        final Station b;

        Bench(LinkFaults receive, LinkFaults transmit) {
            this(receive, transmit, SimulatedLink.DEFAULT_BUFFERS);
        }

        Bench(LinkFaults receive, LinkFaults transmit, int buffers) {
            link = new SimulatedLink(clock, LinkFaults.NONE, LinkFaults.NONE, buffers, 2048);
            faulty = new FaultyVnic(link.a(), receive, transmit, clock);
            a = Station.a(faulty);
            b = Station.b(link.b());
        }

        long counter(FaultyVnic.Direction direction, LinkCounter counter) {
            return faulty.counters(0, direction).get(counter);
        }

        /** Moves the clock, lets A's queue deliver what is due, and returns what B then has. */
        List<byte[]> advanceAndCollectAtB(long nanos) throws IOException {
            link.advanceTo(clock.now() + nanos);
            a.queue.awaitReceive(1);
            return collect(b);
        }

        @Override
        public void close() {
            link.close();
        }
    }

    private static List<byte[]> collect(Station station) throws IOException {
        List<byte[]> frames = new ArrayList<>();
        station.receive((memory, at, length) -> frames.add(memory.asSlice(at, length).toArray(ValueLayout.JAVA_BYTE)));
        return frames;
    }

    private static List<Integer> sequences(List<byte[]> frames) {
        List<Integer> sequences = new ArrayList<>();
        for (byte[] frame : frames) {
            sequences.add(Frames.sequence(MemorySegment.ofArray(frame), 0));
        }
        return sequences;
    }

    /** The frame station A (or B) builds for {@code sequence}. */
    private static byte[] expected(boolean fromA, int sequence) {
        MemorySegment m = MemorySegment.ofArray(new byte[FRAME]);
        int length = fromA
                ? Frames.udp(m, 0, Frames.MAC_A, Frames.MAC_B, Frames.IP_A, Frames.IP_B, 40001, 40002, sequence, PAYLOAD)
                : Frames.udp(m, 0, Frames.MAC_B, Frames.MAC_A, Frames.IP_B, Frames.IP_A, 40001, 40002, sequence, PAYLOAD);
        assertEquals(FRAME, length);
        return m.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Sends {@code count} frames from {@code station}, numbered from {@code first}, in batches; returns how many were accepted. */
    private static int send(Station station, int first, int count) throws IOException {
        int sent = 0;
        while (sent < count) {
            int n = station.send(first + sent, Math.min(32, count - sent), PAYLOAD);
            assertTrue(n > 0, "the queue took nothing");
            sent += n;
        }
        return sent;
    }

    private static List<Integer> range(int first, int count) {
        List<Integer> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            list.add(first + i);
        }
        return list;
    }

    private static void assertBalanced(Bench bench) {
        for (FaultyVnic.Direction d : FaultyVnic.Direction.values()) {
            Counters<LinkCounter> c = bench.faulty.counters(0, d);
            assertEquals(c.get(LinkCounter.SENT) + c.get(LinkCounter.DUPLICATED),
                    c.get(LinkCounter.DELIVERED) + c.get(LinkCounter.DROPPED_LOSS)
                            + c.get(LinkCounter.DROPPED_QUEUE_FULL) + c.get(LinkCounter.DROPPED_NO_BUFFER)
                            + bench.faulty.held(0, d),
                    d + " counters " + c.snapshot());
        }
    }

    private static void assertPoolsFull(Bench bench) {
        assertEquals(bench.link.a().bufferCount(), bench.link.a().freeBuffers(), "A's pool");
        assertEquals(bench.link.b().bufferCount(), bench.link.b().freeBuffers(), "B's pool");
    }

    // ------------------------------------------------------------------------------------------

    @Test
    void withoutFaultsEveryFrameCrossesUnchangedInOrderAtOnceBothWays() throws IOException {
        try (Bench bench = new Bench(LinkFaults.NONE, LinkFaults.NONE)) {
            assertEquals(40, send(bench.a, 0, 40));
            List<byte[]> atB = collect(bench.b);
            assertEquals(range(0, 40), sequences(atB));
            for (int i = 0; i < 40; i++) {
                assertArrayEquals(expected(true, i), atB.get(i));
            }
            assertEquals(40, send(bench.b, 1000, 40));
            List<byte[]> atA = collect(bench.a);
            assertEquals(range(1000, 40), sequences(atA));
            for (int i = 0; i < 40; i++) {
                assertArrayEquals(expected(false, 1000 + i), atA.get(i));
            }
            for (FaultyVnic.Direction d : FaultyVnic.Direction.values()) {
                assertEquals(40, bench.counter(d, LinkCounter.SENT));
                assertEquals(40, bench.counter(d, LinkCounter.DELIVERED));
                assertEquals(40L * FRAME, bench.counter(d, LinkCounter.DELIVERED_BYTES));
            }
            assertBalanced(bench);
            assertPoolsFull(bench);
            // Identity and control are the wrapped VNIC's.
            assertEquals(bench.link.a().name(), bench.faulty.name());
            assertEquals(bench.link.a().mac(), bench.faulty.mac());
            assertSame(bench.link.a().control(), bench.faulty.control());
        }
    }

    @Test
    void lossIsSeededEachWayAndEveryLostBufferGoesBackToItsPool() throws IOException {
        LinkFaults lossy = LinkFaults.NONE.withSeed(5).withLoss(0.3);
        List<Integer> firstRunAtB;
        List<Integer> firstRunAtA;
        try (Bench bench = new Bench(lossy, lossy)) {
            send(bench.a, 0, 1000);
            firstRunAtB = sequences(collect(bench.b));
            send(bench.b, 5000, 1000);
            firstRunAtA = sequences(collect(bench.a));

            assertEquals(firstRunAtB.size(), bench.counter(TRANSMIT, LinkCounter.DELIVERED));
            assertEquals(1000 - firstRunAtB.size(), bench.counter(TRANSMIT, LinkCounter.DROPPED_LOSS));
            assertEquals(firstRunAtA.size(), bench.counter(RECEIVE, LinkCounter.DELIVERED));
            assertEquals(1000 - firstRunAtA.size(), bench.counter(RECEIVE, LinkCounter.DROPPED_LOSS));
            assertTrue(firstRunAtB.size() > 650 && firstRunAtB.size() < 750, "about 30% lost: " + firstRunAtB.size());
            assertTrue(firstRunAtA.size() > 650 && firstRunAtA.size() < 750, "about 30% lost: " + firstRunAtA.size());
            // One seed for both directions, yet independent draws each way.
            assertNotEquals(firstRunAtB.stream().map(s -> s + 5000).toList(), firstRunAtA);
            assertBalanced(bench);
            assertPoolsFull(bench);
        }
        try (Bench again = new Bench(lossy, lossy)) {
            // The other direction first this time: each direction's fates do not depend on the other's traffic.
            send(again.b, 5000, 1000);
            assertEquals(firstRunAtA, sequences(collect(again.a)));
            send(again.a, 0, 1000);
            assertEquals(firstRunAtB, sequences(collect(again.b)));
        }
        try (Bench otherSeed = new Bench(lossy.withSeed(6), lossy.withSeed(6))) {
            send(otherSeed.a, 0, 1000);
            assertNotEquals(firstRunAtB, sequences(collect(otherSeed.b)));
        }
    }

    @Test
    void duplicatesAreCopiesInSpareBuffersAndAreSkippedWhenThePoolHasNone() throws IOException {
        LinkFaults twice = LinkFaults.NONE.withSeed(1).withDuplication(1.0);
        try (Bench bench = new Bench(twice, twice, 8)) {
            // Transmit: B gets every frame twice, byte for byte.
            send(bench.a, 0, 3);
            List<byte[]> atB = collect(bench.b);
            assertEquals(List.of(0, 0, 1, 1, 2, 2), sequences(atB));
            for (int i = 0; i < 6; i++) {
                assertArrayEquals(expected(true, i / 2), atB.get(i));
            }
            // Receive: A gets two copies, in two distinct buffers it releases separately.
            send(bench.b, 100, 2);
            PacketBatch batch = new PacketBatch(16);
            assertEquals(4, bench.a.queue.receive(batch));
            Set<Integer> buffers = new HashSet<>();
            for (int i = 0; i < 4; i++) {
                buffers.add(batch.buffer(i));
                long at = (long) batch.buffer(i) * bench.a.queue.bufferSize() + batch.offset(i);
                assertArrayEquals(expected(false, 100 + i / 2),
                        bench.a.queue.memory().asSlice(at, batch.length(i)).toArray(ValueLayout.JAVA_BYTE));
            }
            assertEquals(4, buffers.size(), "each copy in a buffer of its own");
            bench.a.queue.release(batch);
            assertPoolsFull(bench);

            // With all but one of A's buffers taken, a received frame has no spare for its duplicate.
            PacketBatch hog = new PacketBatch(16);
            assertEquals(7, bench.a.queue.allocate(hog, 7));
            send(bench.b, 200, 1);
            assertEquals(List.of(200), sequences(collect(bench.a)));
            assertEquals(1, bench.counter(RECEIVE, LinkCounter.DROPPED_NO_BUFFER));
            bench.a.queue.release(hog);
            assertEquals(3, bench.counter(RECEIVE, LinkCounter.DUPLICATED));
            assertEquals(5, bench.counter(RECEIVE, LinkCounter.DELIVERED));
            assertBalanced(bench);
            assertPoolsFull(bench);
        }
    }

    @Test
    void corruptionFlipsExactlyOneBitAfterTheEthernetHeaderOfEachCopy() throws IOException {
        LinkFaults corrupting = LinkFaults.NONE.withSeed(9).withCorruption(1.0);
        try (Bench bench = new Bench(corrupting, corrupting)) {
            send(bench.a, 0, 50);
            send(bench.b, 500, 50);
            List<byte[]> atB = collect(bench.b);
            List<byte[]> atA = collect(bench.a);
            assertEquals(50, atB.size());
            assertEquals(50, atA.size());
            Set<Integer> positions = new HashSet<>();
            for (int i = 0; i < 50; i++) {
                positions.add(assertOneBitFlippedAfterEthernet(expected(true, i), atB.get(i)));
                positions.add(assertOneBitFlippedAfterEthernet(expected(false, 500 + i), atA.get(i)));
            }
            assertTrue(positions.size() > 50, "the bit is drawn anew for every frame: " + positions.size());
            assertEquals(50, bench.counter(TRANSMIT, LinkCounter.CORRUPTED));
            assertEquals(50, bench.counter(RECEIVE, LinkCounter.CORRUPTED));
        }
    }

    private static int assertOneBitFlippedAfterEthernet(byte[] sent, byte[] got) {
        assertEquals(sent.length, got.length);
        int flipped = -1;
        for (int i = 0; i < sent.length; i++) {
            int diff = (sent[i] ^ got[i]) & 0xFF;
            if (diff != 0) {
                assertEquals(1, Integer.bitCount(diff), "one bit of byte " + i);
                assertEquals(-1, flipped, "a second byte differs: " + i);
                flipped = i * 8 + Integer.numberOfLeadingZeros(diff) - 24;
            }
        }
        assertTrue(flipped >= 14 * 8, "a bit after the Ethernet header: " + flipped);
        return flipped;
    }

    @Test
    void latencyHoldsFramesUntilTheirTimeComesOnTheClockEachWay() throws IOException {
        LinkFaults slow = LinkFaults.NONE.withLatency(1_000_000);
        try (Bench bench = new Bench(slow, slow)) {
            send(bench.a, 0, 5);
            assertEquals(0, collect(bench.b).size(), "held on transmit");
            assertEquals(5, bench.faulty.held(0, TRANSMIT));
            assertEquals(0, bench.advanceAndCollectAtB(999_999).size());
            assertEquals(range(0, 5), sequences(bench.advanceAndCollectAtB(1)));
            assertEquals(0, bench.faulty.held(0, TRANSMIT));

            send(bench.b, 10, 5);
            assertEquals(0, collect(bench.a).size(), "held on receive");
            assertEquals(5, bench.faulty.held(0, RECEIVE));
            bench.link.advanceTo(bench.clock.now() + 999_999);
            assertFalse(bench.a.queue.awaitReceive(1), "not due yet");
            bench.link.advanceTo(bench.clock.now() + 1);
            assertTrue(bench.a.queue.awaitReceive(1), "due now");
            assertEquals(range(10, 5), sequences(collect(bench.a)));
            assertBalanced(bench);
            assertPoolsFull(bench);
        }
    }

    @Test
    void reorderingLetsLaterFramesOvertakeAndReplaysExactlyFromTheSeed() throws IOException {
        LinkFaults shuffled = LinkFaults.NONE.withSeed(77).withLatency(10_000).withReordering(0.3, 5_000, 50_000);
        List<Integer> first = reorderRun(shuffled);
        assertEquals(range(0, 200), first.stream().sorted().toList(), "every frame arrives once");
        assertNotEquals(range(0, 200), first, "some overtook others");
        assertEquals(first, reorderRun(shuffled), "the same seed replays the same order");
        assertNotEquals(first, reorderRun(shuffled.withSeed(78)));
    }

    private static List<Integer> reorderRun(LinkFaults faults) throws IOException {
        try (Bench bench = new Bench(LinkFaults.NONE, faults)) {
            List<byte[]> atB = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                send(bench.a, i, 1);
                atB.addAll(bench.advanceAndCollectAtB(1_000));
            }
            for (int i = 0; i < 60 && atB.size() < 200; i++) {
                atB.addAll(bench.advanceAndCollectAtB(1_000));
            }
            long reordered = bench.counter(TRANSMIT, LinkCounter.REORDERED);
            assertTrue(reordered > 30 && reordered < 90, "about 30% reordered: " + reordered);
            assertBalanced(bench);
            assertPoolsFull(bench);
            return sequences(atB);
        }
    }

    @Test
    void aRateAndQueueLimitSerializeAndTailDropAsOnASimulatedLink() throws IOException {
        // 100-byte payload frames of 142 bytes at 1.136 Mbit/s: 1 ms each; at most 4 queued.
        LinkFaults narrow = LinkFaults.NONE.withRate(1_136_000).withQueueLimit(4);
        try (Bench bench = new Bench(LinkFaults.NONE, narrow)) {
            send(bench.a, 0, 6);
            assertEquals(2, bench.counter(TRANSMIT, LinkCounter.DROPPED_QUEUE_FULL));
            List<Integer> got = new ArrayList<>();
            for (int ms = 1; ms <= 4; ms++) {
                got.addAll(sequences(bench.advanceAndCollectAtB(1_000_000)));
                assertEquals(range(0, ms), got, "one frame per millisecond");
            }
            assertBalanced(bench);
            assertPoolsFull(bench);
        }
    }

    @Test
    void framesTheDeviceRefusesWaitInOrderAndGoOutOnALaterCall() throws IOException {
        try (Bench bench = new Bench(LinkFaults.NONE, LinkFaults.NONE)) {
            bench.link.a().control().setRateLimit(new RateLimit(1_000_000, 0, 0, 0)); // a 9018-byte bucket
            // 12 frames of 1,000 bytes: all taken by the faulty queue, 9 by the device at once.
            int accepted = bench.a.send(0, 12, 1000 - Frames.UDP_OVERHEAD);
            assertEquals(12, accepted);
            assertEquals(3, bench.faulty.held(0, TRANSMIT));
            assertEquals(range(0, 9), sequences(collect(bench.b)));
            bench.link.advanceTo(bench.clock.now() + 2_000_000);
            bench.a.queue.receive(new PacketBatch(8)); // any later call offers them again
            assertEquals(range(9, 2), sequences(collect(bench.b)));
            bench.link.advanceTo(bench.clock.now() + 1_000_000);
            bench.a.queue.transmit(new PacketBatch(1));
            assertEquals(List.of(11), sequences(collect(bench.b)));
            assertEquals(12, bench.counter(TRANSMIT, LinkCounter.DELIVERED));
            assertBalanced(bench);
            assertPoolsFull(bench);
        }
    }

    @Test
    void awaitReceiveWaitsNoLongerThanUntilTheNextHeldFrame() throws IOException {
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE)) {
            RecordingVnic recording = new RecordingVnic(link.a());
            LinkFaults slow = LinkFaults.NONE.withLatency(300_000);
            FaultyVnic faulty = new FaultyVnic(recording, slow, LinkFaults.NONE, clock);
            Station a = Station.a(faulty);
            Station b = Station.b(link.b());
            assertEquals(-1, faulty.queue(0).readinessFd(), "held frames make a descriptor lie");

            a.queue.awaitReceive(10_000_000);
            assertEquals(10_000_000L, recording.lastTimeout, "nothing held: the caller's timeout");
            b.send(0, 1, PAYLOAD);
            assertEquals(0, a.queue.receive(new PacketBatch(8)), "taken in, held until 300 µs");
            clock.advanceBy(100_000);
            a.queue.awaitReceive(10_000_000);
            assertEquals(200_000L, recording.lastTimeout, "until the held frame is due");
            a.queue.awaitReceive(0);
            assertEquals(200_000L, recording.lastTimeout, "no limit becomes a limit");
            clock.advanceBy(200_000);
            assertTrue(a.queue.awaitReceive(10_000_000));
            assertEquals(List.of(0), sequences(collect(a)));
        }
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE)) {
            FaultyVnic clean = new FaultyVnic(link.a(), LinkFaults.NONE.withLoss(0.5), clock);
            assertEquals(link.a().queue(0).readinessFd(), clean.queue(0).readinessFd());
        }
    }

    /** A VNIC that passes everything to another, recording the timeouts of awaitReceive. */
    private static final class RecordingVnic implements Vnic {
        final Vnic inner;
        long lastTimeout = -1;

        RecordingVnic(Vnic inner) {
            this.inner = inner;
        }

        @Override public String name() { return inner.name(); }
        @Override public String backend() { return inner.backend(); }
        @Override public MacAddress mac() { return inner.mac(); }
        @Override public int mtu() { return inner.mtu(); }
        @Override public Set<Offload> offloads() { return inner.offloads(); }
        @Override public int queueCount() { return inner.queueCount(); }
        @Override public VnicControl control() { return inner.control(); }
        @Override public void close() throws IOException { inner.close(); }

        @Override
        public VnicQueue queue(int index) {
            VnicQueue q = inner.queue(index);
            return new VnicQueue() {
                @Override public int index() { return q.index(); }
                @Override public MemorySegment memory() { return q.memory(); }
                @Override public int bufferSize() { return q.bufferSize(); }
                @Override public int headroom() { return q.headroom(); }
                @Override public int receive(PacketBatch batch) throws IOException { return q.receive(batch); }
                @Override public int transmit(PacketBatch batch) throws IOException { return q.transmit(batch); }
                @Override public int allocate(PacketBatch batch, int n) { return q.allocate(batch, n); }
                @Override public void release(PacketBatch batch) { q.release(batch); }
                @Override public void wakeup() throws IOException { q.wakeup(); }
                @Override public int readinessFd() { return q.readinessFd(); }
                @Override public Counters<VnicCounter> counters() { return q.counters(); }

                @Override
                public boolean awaitReceive(long timeoutNanos) throws IOException {
                    lastTimeout = timeoutNanos;
                    return q.awaitReceive(timeoutNanos);
                }
            };
        }
    }
}

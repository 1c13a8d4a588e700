package io.arrakis.stack.link;

import static io.arrakis.stack.link.SimulatedLink.Direction.A_TO_B;
import static io.arrakis.stack.link.SimulatedLink.Direction.B_TO_A;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Counters;
import io.arrakis.device.MacAddress;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TransmitFilter;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.link.SimulatedLink.Direction;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SimulatedLinkTest {

    @Test
    void withoutFaultsFramesArriveInOrderByteExactAfterExactlyLatencyPlusSerialization() throws IOException {
        VirtualClock clock = new VirtualClock();
        long latency = 50_000;
        long rate = 100_000_000; // 100 Mbit/s: 80 ns a byte
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE.withLatency(latency).withRate(rate))) {
            VnicQueue a = link.a().queue(0);
            Station b = Station.b(link.b());
            int[] payloads = {18, 100, 500, 1000, 1472};
            List<byte[]> sent = new ArrayList<>();
            PacketBatch batch = new PacketBatch(8);
            assertEquals(payloads.length, a.allocate(batch, payloads.length));
            for (int i = 0; i < payloads.length; i++) {
                long at = (long) batch.buffer(i) * a.bufferSize() + batch.offset(i);
                int length = Frames.udpAToB(a.memory(), at, i, payloads[i]);
                batch.setLength(i, length);
                sent.add(Frames.bytes(a.memory(), at, length));
            }
            assertEquals(payloads.length, a.transmit(batch));
            assertTrue(batch.isEmpty());

            long expected = 0;
            for (int i = 0; i < payloads.length; i++) {
                expected += sent.get(i).length * 80L;
                long arrival = expected + latency;
                assertEquals(arrival, link.nextEventTime(), "frame " + i);
                link.advanceTo(arrival - 1);
                assertEquals(0, b.drain(), "frame " + i + " must not arrive a nanosecond early");
                clock.advanceTo(arrival);
                List<byte[]> got = new ArrayList<>();
                assertEquals(1, b.receive((m, at, length) -> got.add(Frames.bytes(m, at, length))));
                assertArrayEquals(sent.get(i), got.getFirst(), "frame " + i + " must arrive byte for byte");
            }
            assertEquals(Long.MAX_VALUE, link.nextEventTime());

            // An idle link starts serializing at once: a frame sent later is not queued behind old ones.
            clock.advanceTo(10_000_000);
            Station.a(link.a()).send(99, 1, 100);
            assertEquals(10_000_000 + (Frames.UDP_OVERHEAD + 100) * 80L + latency, link.nextEventTime());

            Counters<LinkCounter> counters = link.counters(A_TO_B);
            assertEquals(6, counters.get(LinkCounter.SENT));
            assertEquals(5, counters.get(LinkCounter.DELIVERED));
            assertEquals(1, link.inFlight(A_TO_B));
            assertEquals(0, link.counters(B_TO_A).get(LinkCounter.SENT));
            assertEquals(6, link.a().queue(0).counters().get(VnicCounter.TX_PACKETS));
            assertEquals(5, link.b().queue(0).counters().get(VnicCounter.RX_PACKETS));
            assertEquals(Arrays.stream(sent.toArray(byte[][]::new)).mapToLong(f -> f.length).sum(),
                    counters.get(LinkCounter.DELIVERED_BYTES));
        }
    }

    @Test
    void aPerfectLinkDeliversAtTheSameInstantAndBothDirectionsAtOnce() throws IOException {
        VirtualClock clock = new VirtualClock(1_000);
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE)) {
            Station a = Station.a(link.a());
            Station b = Station.b(link.b());
            assertEquals(3, a.send(0, 3, 20));
            assertEquals(2, b.send(100, 2, 20));
            assertEquals(1_000, link.nextEventTime());
            List<Integer> atB = new ArrayList<>();
            List<Integer> atA = new ArrayList<>();
            assertEquals(3, b.receive((m, at, length) -> atB.add(Frames.sequence(m, at))));
            assertEquals(2, a.receive((m, at, length) -> atA.add(Frames.sequence(m, at))));
            assertEquals(List.of(0, 1, 2), atB);
            assertEquals(List.of(100, 101), atA);
            assertEquals(1_000, clock.now(), "the link never moves time itself");
        }
    }

    @Test
    void theRateLimitSpacesFramesByTheirSerializationTime() throws IOException {
        VirtualClock clock = new VirtualClock();
        long latency = 2_000;
        // 1 Gbit/s: a 1250-byte frame takes 10 µs.
        try (SimulatedLink link = new SimulatedLink(clock,
                LinkFaults.NONE.withLatency(latency).withRate(1_000_000_000))) {
            List<Long> arrivals = new ArrayList<>();
            link.trace((nanos, direction, event, frame, length) -> {
                if (event == LinkCounter.DELIVERED) {
                    arrivals.add(nanos);
                }
            });
            Station a = Station.a(link.a());
            Station b = Station.b(link.b());
            int payload = 1250 - Frames.UDP_OVERHEAD;
            assertEquals(10, a.send(0, 10, payload));
            while (link.nextEventTime() != Long.MAX_VALUE) {
                link.advanceTo(link.nextEventTime());
                b.drain();
            }
            assertEquals(10, arrivals.size());
            for (int i = 0; i < arrivals.size(); i++) {
                assertEquals(latency + 10_000L * (i + 1), arrivals.get(i), "arrival of frame " + i);
            }
            assertEquals(0, link.counters(A_TO_B).get(LinkCounter.DROPPED_QUEUE_FULL));
        }
    }

    @Test
    void aFullLinkQueueTailDropsAndCountsAndGivesTheBuffersBack() throws IOException {
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock,
                LinkFaults.NONE.withRate(1_000_000_000).withQueueLimit(4).withLatency(1_000))) {
            List<Integer> dropped = new ArrayList<>();
            link.trace((nanos, direction, event, frame, length) -> {
                if (event == LinkCounter.DROPPED_QUEUE_FULL) {
                    dropped.add((int) frame);
                }
            });
            Station a = Station.a(link.a());
            Station b = Station.b(link.b());
            int payload = 1250 - Frames.UDP_OVERHEAD; // 10 µs each
            assertEquals(10, a.send(0, 10, payload), "the VNIC accepts all; the link's queue drops");
            Counters<LinkCounter> counters = link.counters(A_TO_B);
            assertEquals(6, counters.get(LinkCounter.DROPPED_QUEUE_FULL));
            assertEquals(List.of(4, 5, 6, 7, 8, 9), dropped, "the tail is dropped, not the head");
            assertEquals(link.a().bufferCount() - 4, link.a().freeBuffers(), "dropped frames' buffers are back");
            assertEquals(10, link.a().queue(0).counters().get(VnicCounter.TX_PACKETS));

            // After the first frame is out (10 µs) there is room for one more, not two.
            link.advanceTo(10_000);
            assertEquals(2, a.send(10, 2, payload));
            assertEquals(7, counters.get(LinkCounter.DROPPED_QUEUE_FULL));

            List<Integer> received = new ArrayList<>();
            while (link.nextEventTime() != Long.MAX_VALUE) {
                link.advanceTo(link.nextEventTime());
                b.receive((m, at, length) -> received.add(Frames.sequence(m, at)));
            }
            assertEquals(List.of(0, 1, 2, 3, 10), received);
            assertEquals(5, counters.get(LinkCounter.DELIVERED));
            assertEquals(51_000, clock.now(), "the fifth frame queued behind four: 5 × 10 µs + latency");
            assertEquals(link.a().bufferCount(), link.a().freeBuffers());
        }
    }

    @Test
    void aReceiverWithoutFreeBuffersDropsTheFrameAndCountsIt() throws IOException {
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE, LinkFaults.NONE, 8, 2048)) {
            Station a = Station.a(link.a());
            Station b = Station.b(link.b());
            PacketBatch hog = new PacketBatch(8);
            assertEquals(6, link.b().queue(0).allocate(hog, 6));
            assertEquals(4, a.send(0, 4, 100));
            assertEquals(2, b.drain());
            assertEquals(2, link.counters(A_TO_B).get(LinkCounter.DROPPED_NO_BUFFER));
            assertEquals(2, link.b().queue(0).counters().get(VnicCounter.RX_DROPPED_NO_BUFFER));
            assertEquals(2, link.counters(A_TO_B).get(LinkCounter.DELIVERED));
            link.b().queue(0).release(hog);
            assertEquals(8, link.a().freeBuffers());
            assertEquals(8, link.b().freeBuffers());
        }
    }

    @Test
    void awaitReceiveNeverBlocksTheSimulationThread() throws IOException {
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE.withLatency(1_000))) {
            VnicQueue b = link.b().queue(0);
            // 0 means "no limit" on a real device; here it must still return at once.
            assertTimeoutPreemptively(Duration.ofSeconds(2), () -> assertFalse(b.awaitReceive(0)));
            b.wakeup();
            assertTrue(b.awaitReceive(1_000_000_000L), "a pending wakeup ends the wait");
            assertFalse(b.awaitReceive(1_000_000_000L), "and is consumed");
            Station.a(link.a()).send(0, 1, 20);
            assertFalse(b.awaitReceive(0), "not due yet");
            clock.advanceTo(1_000);
            assertTrue(b.awaitReceive(0), "due: delivered by the wait itself");
            assertEquals(1, Station.b(link.b()).drain());
            assertEquals(-1, b.readinessFd());
            assertEquals(1_000, clock.now(), "waiting never moves virtual time");
        }
    }

    @Test
    void theVnicRateLimitRunsOnVirtualTime() throws IOException {
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE)) {
            // 1 MB/s; the bucket holds at least one jumbo frame (9018 bytes).
            link.a().control().setRateLimit(new RateLimit(1_000_000, 0, 0, 0));
            Station a = Station.a(link.a());
            int payload = 1000 - Frames.UDP_OVERHEAD;
            assertEquals(9, a.send(0, 10, payload));
            assertEquals(1, link.a().queue(0).counters().get(VnicCounter.TX_RATE_LIMITED));
            assertEquals(0, a.send(10, 1, payload), "no tokens until virtual time passes");
            clock.advanceBy(1_000_000); // 1 ms: 1000 bytes of tokens
            assertEquals(1, a.send(11, 2, payload));
            assertEquals(10, link.counters(A_TO_B).get(LinkCounter.SENT));
            assertEquals(link.a().bufferCount() - 10, link.a().freeBuffers());
            Station.b(link.b()).drain();
            assertEquals(link.a().bufferCount(), link.a().freeBuffers());
        }
    }

    @Test
    void theTransmitFilterDropsSpoofedFramesAndReturnsTheirBuffers() throws IOException {
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE)) {
            link.a().control().setTransmitFilter(new TransmitFilter(new MacAddress(Frames.MAC_A), Frames.IP_A));
            assertEquals(1, Station.a(link.a()).send(0, 1, 20));
            Station spoofer = new Station(link.a(), Frames.MAC_A, Frames.MAC_B, Frames.IP_B, Frames.IP_A);
            assertEquals(1, spoofer.send(1, 1, 20), "accepted by the device, then dropped");
            assertEquals(1, link.a().queue(0).counters().get(VnicCounter.TX_DROPPED_FILTERED));
            assertEquals(1, link.counters(A_TO_B).get(LinkCounter.SENT));
            assertEquals(1, Station.b(link.b()).drain());
            assertEquals(link.a().bufferCount(), link.a().freeBuffers());
        }
    }

    @Test
    void buffersOnTheWireCannotBeTransmittedOrReleasedAgain() throws IOException {
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE.withLatency(1_000))) {
            VnicQueue a = link.a().queue(0);
            PacketBatch batch = new PacketBatch(4);
            a.allocate(batch, 1);
            int buffer = batch.buffer(0);
            batch.setLength(0, Frames.udpAToB(a.memory(), (long) buffer * a.bufferSize(), 0, 20));
            a.transmit(batch);
            batch.add(buffer, 0, 60);
            assertThrows(IllegalArgumentException.class, () -> a.transmit(batch));
            assertThrows(IllegalStateException.class, () -> a.release(batch));
            batch.clear();
            batch.add(link.a().bufferCount() - 1, 0, 60);
            assertThrows(IllegalArgumentException.class, () -> a.transmit(batch), "never allocated");
        }
    }

    @Test
    void framesForAClosedEndpointAreDroppedAndClosingBothEndsClosesTheLink() throws IOException {
        VirtualClock clock = new VirtualClock();
        SimulatedLink link = new SimulatedLink(clock, LinkFaults.NONE.withLatency(1_000));
        Station.a(link.a()).send(0, 2, 20);
        link.b().close();
        link.advanceTo(1_000);
        assertEquals(2, link.counters(A_TO_B).get(LinkCounter.DROPPED_RECEIVER_CLOSED));
        assertEquals(link.a().bufferCount(), link.a().freeBuffers());
        assertThrows(IllegalStateException.class, () -> Station.b(link.b()).drain());
        link.a().close();
        assertThrows(IllegalStateException.class, link::deliverDue);
        link.close();
    }

    @Test
    void endpointIdentityIsDeterministicPerSimulation() {
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink first = new SimulatedLink(clock, LinkFaults.NONE);
                SimulatedLink second = new SimulatedLink(clock, LinkFaults.NONE);
                SimulatedLink elsewhere = new SimulatedLink(new VirtualClock(), LinkFaults.NONE)) {
            assertEquals("sim0a", first.a().name());
            assertEquals("sim1b", second.b().name());
            assertEquals(MacAddress.parse("02:53:00:00:00:0a"), first.a().mac());
            assertEquals(MacAddress.parse("02:53:00:00:01:0b"), second.b().mac());
            assertEquals(first.a().mac(), elsewhere.a().mac(), "another simulation numbers its links afresh");
            assertEquals(SimulatedLink.BACKEND, first.a().backend());
            assertEquals(1500, first.a().mtu());
            assertEquals(1, first.a().queueCount());
            assertEquals(SimulatedLink.DEFAULT_BUFFERS, first.a().bufferCount());
            assertEquals(SimulatedLink.DEFAULT_BUFFER_SIZE, first.a().queue(0).bufferSize());
            assertThrows(IndexOutOfBoundsException.class, () -> first.a().queue(1));
            assertThrows(UnsupportedOperationException.class,
                    () -> first.a().control().addReceiveFilter(null, 0));
        }
    }

    @Test
    void virtualTimeOnlyMovesForward() {
        VirtualClock clock = new VirtualClock(5);
        clock.advanceBy(10);
        clock.advanceTo(15);
        assertEquals(15, clock.nanos());
        assertThrows(IllegalArgumentException.class, () -> clock.advanceTo(14));
        assertThrows(IllegalArgumentException.class, () -> clock.advanceBy(-1));
        assertThrows(IllegalArgumentException.class, () -> clock.advanceBy(Long.MAX_VALUE));
        assertEquals(15, clock.now());
    }

    // --- Fault statistics and replay.

    private static final int FRAMES = 100_000;

    @Test
    void faultsHappenAtTheirConfiguredRatesAndEveryCorruptionIsCaughtByTheChecksums() throws IOException {
        double loss = 0.05;
        double duplication = 0.02;
        double reorder = 0.1;
        double corruption = 0.01;
        LinkFaults faults = LinkFaults.NONE.withSeed(42).withLatency(10_000).withLoss(loss)
                .withDuplication(duplication).withReordering(reorder, 1_000, 20_000).withCorruption(corruption);
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, faults)) {
            Station a = Station.a(link.a());
            Station b = Station.b(link.b());
            int[] copiesSeen = new int[FRAMES];
            int[] damaged = {0};
            int[] outOfOrder = {0};
            int[] highest = {-1};
            Station.FrameConsumer check = (m, at, length) -> {
                if (!Frames.intactUdp(m, at, length)) {
                    damaged[0]++;
                    return;
                }
                int sequence = Frames.sequence(m, at);
                copiesSeen[sequence]++;
                if (sequence < highest[0]) {
                    outOfOrder[0]++;
                }
                highest[0] = Math.max(highest[0], sequence);
            };
            for (int i = 0; i < FRAMES; i++) {
                assertEquals(1, a.send(i, 1, 18 + (i % 64)));
                link.advanceTo(clock.now() + 1_000);
                b.receive(check);
            }
            while (link.nextEventTime() != Long.MAX_VALUE) {
                link.advanceTo(link.nextEventTime());
                b.receive(check);
            }

            Counters<LinkCounter> c = link.counters(A_TO_B);
            long sent = c.get(LinkCounter.SENT);
            long lost = c.get(LinkCounter.DROPPED_LOSS);
            long duplicated = c.get(LinkCounter.DUPLICATED);
            long copies = sent - lost + duplicated;
            assertEquals(FRAMES, sent);
            assertRate("loss", loss, lost, sent);
            assertRate("duplication", duplication, duplicated, sent - lost);
            assertRate("reordering", reorder, c.get(LinkCounter.REORDERED), copies);
            assertRate("corruption", corruption, c.get(LinkCounter.CORRUPTED), copies);
            assertEquals(copies, c.get(LinkCounter.DELIVERED));
            assertEquals(0, c.get(LinkCounter.DROPPED_NO_BUFFER));

            // Every corrupted copy, and only those, fails the receiver's checks.
            assertEquals(c.get(LinkCounter.CORRUPTED), damaged[0]);
            long seenTwice = Arrays.stream(copiesSeen).filter(n -> n == 2).count();
            long seenNever = Arrays.stream(copiesSeen).filter(n -> n == 0).count();
            assertTrue(seenTwice > 0.9 * duplicated && seenTwice <= duplicated, "duplicates seen: " + seenTwice);
            assertTrue(seenNever >= lost, "frames never seen: " + seenNever + ", lost: " + lost);
            assertTrue(outOfOrder[0] > 0.5 * c.get(LinkCounter.REORDERED),
                    "reordered copies should mostly arrive after later frames: " + outOfOrder[0]);
            assertEquals(link.a().bufferCount(), link.a().freeBuffers());
            assertEquals(link.b().bufferCount(), link.b().freeBuffers());
        }
    }

    /** Asserts {@code events} of {@code trials} is within five standard deviations of {@code p}. */
    private static void assertRate(String what, double p, long events, long trials) {
        double mean = p * trials;
        double sigma = Math.sqrt(trials * p * (1 - p));
        assertTrue(Math.abs(events - mean) <= 5 * sigma, what + ": " + events + " of " + trials
                + " trials, expected " + mean + " ± " + 5 * sigma);
    }

    @Test
    void theSameSeedReplaysTheSameRunEventForEvent() throws Exception {
        LinkFaults faults = LinkFaults.NONE.withLatency(20_000).withRate(1_000_000_000).withQueueLimit(16)
                .withLoss(0.05).withDuplication(0.03).withReordering(0.1, 0, 30_000).withCorruption(0.02);
        String first = digestOfRun(faults.withSeed(7));
        String second = digestOfRun(faults.withSeed(7));
        String other = digestOfRun(faults.withSeed(8));
        assertEquals(first, second);
        assertNotEquals(first, other);
    }

    /** Runs traffic both ways and digests every event and every byte delivered. */
    private static String digestOfRun(LinkFaults faults) throws IOException, NoSuchAlgorithmException {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        ByteBuffer scratch = ByteBuffer.allocate(64);
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, faults, faults, 64, 2048)) {
            Set<LinkCounter> seen = new HashSet<>();
            link.trace((nanos, direction, event, frame, length) -> {
                seen.add(event);
                scratch.clear();
                scratch.putLong(nanos).putInt(direction.ordinal()).putInt(event.ordinal()).putLong(frame)
                        .putInt(length).flip();
                digest.update(scratch);
            });
            Station a = Station.a(link.a());
            Station b = Station.b(link.b());
            Station.FrameConsumer bytes = (m, at, length) -> digest.update(m.asSlice(at, length).asByteBuffer());
            for (int i = 0; i < 10_000; i++) {
                a.send(2 * i, 1 + i % 3, 18 + i % 200);
                b.send(2 * i + 1, 1 + i % 2, 18 + i % 100);
                link.advanceTo(clock.now() + 2_000);
                a.receive(bytes);
                b.receive(bytes);
            }
            while (link.nextEventTime() != Long.MAX_VALUE) {
                link.advanceTo(link.nextEventTime());
                a.receive(bytes);
                b.receive(bytes);
            }
            // The run exercised every fault, so the digest covers them.
            for (LinkCounter event : List.of(LinkCounter.DROPPED_QUEUE_FULL, LinkCounter.DROPPED_LOSS,
                    LinkCounter.DUPLICATED, LinkCounter.REORDERED, LinkCounter.CORRUPTED, LinkCounter.DELIVERED)) {
                assertTrue(seen.contains(event), "no " + event + " in the run");
            }
            for (Direction d : Direction.values()) {
                digest.update(link.counters(d).snapshot().toString().getBytes());
            }
        }
        return java.util.HexFormat.of().formatHex(digest.digest());
    }
}

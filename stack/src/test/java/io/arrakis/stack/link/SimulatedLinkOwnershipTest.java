package io.arrakis.stack.link;

import static io.arrakis.stack.link.SimulatedLink.Direction.A_TO_B;
import static io.arrakis.stack.link.SimulatedLink.Direction.B_TO_A;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.arrakis.device.Counters;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.RateLimit;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.link.SimulatedLink.Direction;
import java.io.IOException;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;

class SimulatedLinkOwnershipTest {

    /**
     * Whatever the faults and however the two ends interleave sending, receiving, holding and
     * releasing buffers and moving time, no buffer leaks or is freed twice: once everything has
     * arrived and been released, both pools are full again, and the counters add up.
     */
    @Property(tries = 300, seed = "20251124")
    void everyBufferOfBothPoolsComesBackAndTheCountersBalance(@ForAll long seed,
            @ForAll @DoubleRange(max = 0.5) double loss, @ForAll @DoubleRange(max = 0.5) double duplication,
            @ForAll @DoubleRange(max = 0.5) double reorder, @ForAll @DoubleRange(max = 0.5) double corruption,
            @ForAll @LongRange(max = 50_000) long latency, @ForAll @IntRange(max = 4) int rateChoice,
            @ForAll @IntRange(max = 8) int queueLimit, @ForAll @IntRange(min = 4, max = 32) int buffers,
            @ForAll @Size(min = 20, max = 300) List<@IntRange(max = 799) Integer> steps) throws IOException {
        long rate = rateChoice == 0 ? 0 : (long) Math.pow(10, 6 + rateChoice); // 0, 10 Mbit/s .. 10 Gbit/s
        LinkFaults aToB = new LinkFaults(seed, loss, duplication, reorder, 0, latency, corruption, latency, rate,
                queueLimit);
        LinkFaults bToA = aToB.withSeed(~seed).withLoss(duplication).withDuplication(loss);
        VirtualClock clock = new VirtualClock();
        try (SimulatedLink link = new SimulatedLink(clock, aToB, bToA, buffers, 2048)) {
            Side a = new Side(Station.a(link.a()));
            Side b = new Side(Station.b(link.b()));
            int sequence = 0;
            for (int step : steps) {
                int arg = step / 8;
                Side side = (arg & 1) == 0 ? a : b;
                switch (step % 8) {
                    case 0, 1 -> sequence += side.station.send(sequence, 1 + arg % 5, 18 + arg * 14);
                    case 2 -> side.receiveSome(1 + arg % 8);
                    case 3 -> side.station.drain();
                    case 4 -> side.hold(1 + arg % 8);
                    case 5 -> side.releaseHeld();
                    case 6 -> link.advanceTo(clock.now() + arg * 200L);
                    case 7 -> {
                        if (link.nextEventTime() != Long.MAX_VALUE) {
                            link.advanceTo(Math.max(clock.now(), link.nextEventTime()));
                        }
                    }
                    default -> throw new AssertionError(step);
                }
                if (step == 799) {
                    // Now and then, a VNIC rate limit on virtual time: refused frames go back too.
                    (side == a ? link.a() : link.b()).control().setRateLimit(new RateLimit(1_000_000, 0, 0, 0));
                }
            }
            a.releaseHeld();
            b.releaseHeld();
            while (link.nextEventTime() != Long.MAX_VALUE) {
                link.advanceTo(Math.max(clock.now(), link.nextEventTime()));
                a.station.drain();
                b.station.drain();
            }
            a.station.drain();
            b.station.drain();

            assertEquals(link.a().bufferCount(), link.a().freeBuffers(), "A's pool");
            assertEquals(link.b().bufferCount(), link.b().freeBuffers(), "B's pool");
            for (Direction d : Direction.values()) {
                Counters<LinkCounter> c = link.counters(d);
                assertEquals(0, link.inFlight(d));
                assertEquals(c.get(LinkCounter.SENT) + c.get(LinkCounter.DUPLICATED),
                        c.get(LinkCounter.DELIVERED) + c.get(LinkCounter.DROPPED_QUEUE_FULL)
                                + c.get(LinkCounter.DROPPED_LOSS) + c.get(LinkCounter.DROPPED_NO_BUFFER)
                                + c.get(LinkCounter.DROPPED_RECEIVER_CLOSED), d + ": " + c.snapshot());
            }
            checkQueueCounters(link.a().queue(0), link.b().queue(0), link.counters(A_TO_B));
            checkQueueCounters(link.b().queue(0), link.a().queue(0), link.counters(B_TO_A));
            collect("receiver out of buffers", link, LinkCounter.DROPPED_NO_BUFFER);
            collect("link queue full", link, LinkCounter.DROPPED_QUEUE_FULL);
            collect("duplicated", link, LinkCounter.DUPLICATED);
            collect("delivered", link, LinkCounter.DELIVERED);
        }
    }

    /** Records whether the try exercised {@code counter}, and checks enough tries did. */
    private static void collect(String label, SimulatedLink link, LinkCounter counter) {
        boolean happened = link.counters(A_TO_B).get(counter) + link.counters(B_TO_A).get(counter) > 0;
        Statistics.label(label).collect(happened)
                .coverage(coverage -> coverage.check(true).percentage(p -> p >= 10));
    }

    private static void checkQueueCounters(VnicQueue sender, VnicQueue receiver, Counters<LinkCounter> link) {
        assertEquals(sender.counters().get(VnicCounter.TX_PACKETS), link.get(LinkCounter.SENT));
        assertEquals(receiver.counters().get(VnicCounter.RX_PACKETS), link.get(LinkCounter.DELIVERED));
        assertEquals(receiver.counters().get(VnicCounter.RX_DROPPED_NO_BUFFER),
                link.get(LinkCounter.DROPPED_NO_BUFFER));
    }

    /** One end under test: a station plus buffers it holds on to for a while (received or allocated). */
    private static final class Side {
        final Station station;
        final PacketBatch held = new PacketBatch(64);
        final PacketBatch scratch = new PacketBatch(8);

        Side(Station station) {
            this.station = station;
        }

        void receiveSome(int n) throws IOException {
            scratch.clear();
            int got = station.queue.receive(scratch);
            // Keep up to n of them (they may sit in the stack for a while), release the rest.
            for (int i = 0; i < got; i++) {
                if (i < n && !held.isFull()) {
                    held.add(scratch.buffer(i), scratch.offset(i), scratch.length(i));
                } else {
                    PacketBatch one = new PacketBatch(1);
                    one.add(scratch.buffer(i), scratch.offset(i), scratch.length(i));
                    station.queue.release(one);
                }
            }
        }

        void hold(int n) {
            station.queue.allocate(held, Math.min(n, held.capacity() - held.size()));
        }

        void releaseHeld() {
            station.queue.release(held);
        }
    }
}

package io.arrakis.stack.link;

import io.arrakis.device.Counters;
import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicQueue;
import java.io.IOException;
import java.util.Set;

/**
 * A {@link Vnic} that applies {@link LinkFaults} to the frames its queues receive and transmit,
 * on the time of a {@link Clock}: netem in our own link layer, for real devices (a TAP, a VF)
 * where the kernel cannot inject faults, or when the faults must stay out of the kernel's sight.
 * Each direction has its own faults; {@link LinkFaults#NONE} leaves a direction untouched.
 *
 * <p>A frame's fate is decided once, when it enters the decorator (when the wrapped queue hands
 * it out on receive; when the caller offers it on transmit), exactly as {@link SimulatedLink}
 * decides it, in the same order and with the same draws: queue limit, serialization at
 * {@link LinkFaults#bitsPerSecond()}, loss, duplication, then for each copy reordering delay and
 * corruption (one bit flipped after the Ethernet header). A copy is held until
 * {@link LinkFaults#latencyNanos()} (plus any reorder delay) after its serialization ends, then
 * delivered: to the caller's batch on receive, to the wrapped queue on transmit. A direction
 * without latency, reordering or rate passes frames through in the same call.
 *
 * <p>Randomness: on queue {@code q}, the receive direction draws from
 * {@code new SplittableRandom(receiveFaults.seed() ^ q × 0x9E3779B97F4A7C15)} and the transmit
 * direction from {@code new SplittableRandom(transmitFaults.seed() ^ …).split()}, so one seed for
 * both directions still gives independent faults each way, and traffic in one direction never
 * shifts the faults of the other. The same frames at the same clock readings replay the same
 * fates.
 *
 * <p>Buffer ownership follows the {@link VnicQueue} rules, with the decorator as one more
 * holder: a lost frame's buffer is released to the wrapped queue at once; a held frame's buffer
 * stays with the decorator (received frames: lent to it by the wrapped queue; transmitted ones:
 * given to it by the caller) until it is delivered. A duplicate needs a second buffer: it is
 * allocated from the wrapped queue and the frame copied into it (at the same offset); when none
 * is free the duplicate is not made and is counted as {@link LinkCounter#DROPPED_NO_BUFFER}.
 *
 * <p>Transmission accepts every frame offered (they are the link's from then on); frames the
 * wrapped queue refuses when they are due (its ring is full, its rate limit) wait, in order, and
 * are offered again on every later call of the queue ({@code transmit}, {@code receive},
 * {@code awaitReceive}), so the caller must keep polling, as a stack does. Held frames are
 * delivered when the queue is called at or after their time: {@code awaitReceive} shortens its
 * wait to the next held frame. {@code readinessFd()} is the wrapped queue's only when no
 * direction holds frames back (no latency, reordering or rate), -1 otherwise (a selector must
 * poll).
 *
 * <p>Counters ({@link LinkCounter}), per queue and direction, with the meaning a
 * {@link SimulatedLink} gives them: {@code SENT} frames that entered, {@code DELIVERED} frames
 * (and duplicates) handed on, {@code DROPPED_LOSS}, {@code DROPPED_QUEUE_FULL},
 * {@code DROPPED_NO_BUFFER} (a duplicate without a spare buffer), {@code DUPLICATED},
 * {@code REORDERED} and {@code CORRUPTED} as decided. For each direction:
 * {@code SENT + DUPLICATED = DELIVERED + DROPPED_LOSS + DROPPED_QUEUE_FULL + DROPPED_NO_BUFFER + held}.
 * Written by the queue's thread, readable from any.
 *
 * <p>Identity and {@link #control()} are the wrapped VNIC's. {@link #close()} closes the wrapped
 * VNIC; frames still held go with its memory.
 */
public final class FaultyVnic implements Vnic {
    /** Which frames a {@link LinkFaults} applies to. */
    public enum Direction {
        /** Frames the wrapped queue received, before the caller sees them. */
        RECEIVE,
        /** Frames the caller transmits, before the wrapped queue gets them. */
        TRANSMIT
    }

    private final Vnic inner;
    private final LinkFaults receiveFaults;
    private final LinkFaults transmitFaults;
    private final Clock clock;
    private final FaultyQueue[] queues;

    /**
     * Wraps {@code inner}: {@code receiveFaults} apply to what its queues receive,
     * {@code transmitFaults} to what they are given to transmit, on {@code clock}'s time (use
     * {@link Clock#SYSTEM} on a real device: the same time the stack runs on).
     */
    public FaultyVnic(Vnic inner, LinkFaults receiveFaults, LinkFaults transmitFaults, Clock clock) {
        if (inner == null || receiveFaults == null || transmitFaults == null || clock == null) {
            throw new NullPointerException("a faulty VNIC needs a VNIC, faults for both directions and a clock");
        }
        this.inner = inner;
        this.receiveFaults = receiveFaults;
        this.transmitFaults = transmitFaults;
        this.clock = clock;
        this.queues = new FaultyQueue[inner.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new FaultyQueue(inner.queue(i), receiveFaults, transmitFaults, clock);
        }
    }

    /** The same faults both ways (independent draws each way: see the class comment). */
    public FaultyVnic(Vnic inner, LinkFaults faults, Clock clock) {
        this(inner, faults, faults, clock);
    }

    /** The VNIC the faults are applied to. */
    public Vnic inner() {
        return inner;
    }

    public LinkFaults faults(Direction direction) {
        return direction == Direction.RECEIVE ? receiveFaults : transmitFaults;
    }

    public Clock clock() {
        return clock;
    }

    /** What queue {@code queue} did to the frames of {@code direction}. Any thread may read them. */
    public Counters<LinkCounter> counters(int queue, Direction direction) {
        return queues[queue].counters(direction);
    }

    /** {@code counter} of {@code direction} summed over the queues (any thread). */
    public long total(Direction direction, LinkCounter counter) {
        long sum = 0;
        for (FaultyQueue queue : queues) {
            sum += queue.counters(direction).get(counter);
        }
        return sum;
    }

    /**
     * Frames of {@code direction} that queue {@code queue} holds (delayed, or refused by the
     * wrapped queue and waiting). Read it on the queue's thread.
     */
    public int held(int queue, Direction direction) {
        return queues[queue].held(direction);
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public String backend() {
        return inner.backend();
    }

    @Override
    public MacAddress mac() {
        return inner.mac();
    }

    @Override
    public int mtu() {
        return inner.mtu();
    }

    @Override
    public Set<Offload> offloads() {
        return inner.offloads();
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public VnicQueue queue(int index) {
        if (index < 0 || index >= queues.length) {
            return inner.queue(index); // let the wrapped VNIC word the error
        }
        return queues[index];
    }

    @Override
    public VnicControl control() {
        return inner.control();
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }

    @Override
    public String toString() {
        return "FaultyVnic[" + inner + ", receive " + receiveFaults + ", transmit " + transmitFaults + "]";
    }
}

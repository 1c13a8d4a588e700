package io.arrakis.stack.link;

/**
 * What a {@link SimulatedLink} does to the frames crossing it in one direction, in the style of
 * smoltcp's fault injector: propagation delay, a rate limit with a bounded transmit queue, and
 * random loss, duplication, reordering and corruption. Every random decision comes from one
 * {@link java.util.SplittableRandom} seeded with {@link #seed}, so a seed replays a run exactly
 * (see {@link SimulatedLink} for how the two directions of a link get independent streams). Immutable; build one
 * from {@link #NONE} with the {@code with…} methods.
 *
 * <p>The link decides a frame's fate when it is transmitted, in this order, drawing from the
 * generator only for faults whose probability is above 0 (a fault-free link draws nothing):
 * <ol>
 *   <li>queue: if {@link #queueLimit} frames already wait to be serialized (the one being
 *       serialized included), the frame is tail-dropped;
 *   <li>serialization: the frame starts when the frames before it are out and takes
 *       {@code length × 8 / bitsPerSecond} seconds (frame bytes only: no preamble, FCS or gap);
 *   <li>loss: with {@link #lossProbability} it is lost on the wire (after using its time on it);
 *   <li>duplication: with {@link #duplicationProbability} it arrives twice;
 *   <li>for each copy: with {@link #reorderProbability} it is held back a further uniform
 *       {@code [reorderDelayMinNanos, reorderDelayMaxNanos]}, so later frames overtake it; with
 *       {@link #corruptionProbability} one random bit after the Ethernet header is flipped.
 * </ol>
 * A copy arrives {@link #latencyNanos} after its last bit left (plus any reorder delay).
 *
 * <p>Corruption flips exactly one bit, never in the 14-byte Ethernet header (a frame damaged
 * there would fail the Ethernet FCS and never reach a host): the IPv4 header checksum or the
 * TCP/UDP checksum always catches a single flipped bit, unless it lands in Ethernet padding or
 * in a UDP datagram sent without a checksum.
 *
 * @param seed seeds the generator of every random decision
 * @param lossProbability chance that a frame is lost, 0..1
 * @param duplicationProbability chance that a frame arrives twice, 0..1
 * @param reorderProbability chance that a copy of a frame is delayed further, 0..1
 * @param reorderDelayMinNanos least extra delay of a reordered copy
 * @param reorderDelayMaxNanos most extra delay of a reordered copy
 * @param corruptionProbability chance that a copy has one bit flipped, 0..1
 * @param latencyNanos one-way propagation delay
 * @param bitsPerSecond serialization rate; 0: infinitely fast
 * @param queueLimit frames the link's transmit queue holds; 0: unbounded
 */
public record LinkFaults(long seed, double lossProbability, double duplicationProbability,
        double reorderProbability, long reorderDelayMinNanos, long reorderDelayMaxNanos,
        double corruptionProbability, long latencyNanos, long bitsPerSecond, int queueLimit) {

    /** A perfect link: no delay, no limit, no faults. */
    public static final LinkFaults NONE = new LinkFaults(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    public LinkFaults {
        checkProbability("loss", lossProbability);
        checkProbability("duplication", duplicationProbability);
        checkProbability("reorder", reorderProbability);
        checkProbability("corruption", corruptionProbability);
        if (reorderDelayMinNanos < 0 || reorderDelayMaxNanos < reorderDelayMinNanos) {
            throw new IllegalArgumentException("reorder delay range must satisfy 0 <= min <= max: ["
                    + reorderDelayMinNanos + ", " + reorderDelayMaxNanos + "] ns");
        }
        if (latencyNanos < 0) {
            throw new IllegalArgumentException("link latency must not be negative: " + latencyNanos + " ns");
        }
        if (bitsPerSecond < 0) {
            throw new IllegalArgumentException("link rate must not be negative (0: unlimited): " + bitsPerSecond
                    + " bit/s");
        }
        if (queueLimit < 0) {
            throw new IllegalArgumentException("link queue limit must not be negative (0: unbounded): " + queueLimit
                    + " frames");
        }
    }

    private static void checkProbability(String what, double p) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException(what + " probability must be within 0..1: " + p);
        }
    }

    public LinkFaults withSeed(long seed) {
        return new LinkFaults(seed, lossProbability, duplicationProbability, reorderProbability,
                reorderDelayMinNanos, reorderDelayMaxNanos, corruptionProbability, latencyNanos, bitsPerSecond,
                queueLimit);
    }

    public LinkFaults withLoss(double probability) {
        return new LinkFaults(seed, probability, duplicationProbability, reorderProbability, reorderDelayMinNanos,
                reorderDelayMaxNanos, corruptionProbability, latencyNanos, bitsPerSecond, queueLimit);
    }

    public LinkFaults withDuplication(double probability) {
        return new LinkFaults(seed, lossProbability, probability, reorderProbability, reorderDelayMinNanos,
                reorderDelayMaxNanos, corruptionProbability, latencyNanos, bitsPerSecond, queueLimit);
    }

    public LinkFaults withReordering(double probability, long minExtraDelayNanos, long maxExtraDelayNanos) {
        return new LinkFaults(seed, lossProbability, duplicationProbability, probability, minExtraDelayNanos,
                maxExtraDelayNanos, corruptionProbability, latencyNanos, bitsPerSecond, queueLimit);
    }

    public LinkFaults withCorruption(double probability) {
        return new LinkFaults(seed, lossProbability, duplicationProbability, reorderProbability,
                reorderDelayMinNanos, reorderDelayMaxNanos, probability, latencyNanos, bitsPerSecond, queueLimit);
    }

    public LinkFaults withLatency(long nanos) {
        return new LinkFaults(seed, lossProbability, duplicationProbability, reorderProbability,
                reorderDelayMinNanos, reorderDelayMaxNanos, corruptionProbability, nanos, bitsPerSecond, queueLimit);
    }

    /** Serialization rate in bits per second; 0: unlimited. */
    public LinkFaults withRate(long bitsPerSecond) {
        return new LinkFaults(seed, lossProbability, duplicationProbability, reorderProbability,
                reorderDelayMinNanos, reorderDelayMaxNanos, corruptionProbability, latencyNanos, bitsPerSecond,
                queueLimit);
    }

    /** Frames the transmit queue holds before it tail-drops; 0: unbounded. */
    public LinkFaults withQueueLimit(int frames) {
        return new LinkFaults(seed, lossProbability, duplicationProbability, reorderProbability,
                reorderDelayMinNanos, reorderDelayMaxNanos, corruptionProbability, latencyNanos, bitsPerSecond,
                frames);
    }

    /**
     * Nanoseconds to serialize {@code bytes} at {@link #bitsPerSecond}, rounded up; 0 when the
     * rate is unlimited.
     */
    public long serializationNanos(int bytes) {
        if (bitsPerSecond == 0) {
            return 0;
        }
        long bits = 8L * bytes;
        // bits × 10⁹ fits a long for any frame below ~1 GB.
        return Math.ceilDiv(bits * 1_000_000_000L, bitsPerSecond);
    }
}

package io.arrakis.stack.link;

/**
 * What a {@link SimulatedLink} counts in each direction, and the kinds of event a
 * {@link LinkTrace} sees (the byte counters are never events). Decisions are counted when they
 * are made, at transmit time; arrivals when they happen. For each direction, at any moment:
 * {@code SENT + DUPLICATED = DELIVERED + DROPPED_QUEUE_FULL + DROPPED_LOSS + DROPPED_NO_BUFFER
 * + DROPPED_RECEIVER_CLOSED + frames in flight}.
 */
public enum LinkCounter {
    /** Frames the sender's queue handed to the link (after its transmit filter and rate limit). */
    SENT,
    SENT_BYTES,
    /** Frames (duplicates included) copied into a receive buffer of the other end. */
    DELIVERED,
    DELIVERED_BYTES,
    /** Tail drops: the link's transmit queue already held {@link LinkFaults#queueLimit()} frames. */
    DROPPED_QUEUE_FULL,
    /** Random loss on the wire. */
    DROPPED_LOSS,
    /** A frame arrived and the receiver had no free buffer (its queue counts RX_DROPPED_NO_BUFFER too). */
    DROPPED_NO_BUFFER,
    /** A frame arrived at an endpoint that had been closed. */
    DROPPED_RECEIVER_CLOSED,
    /** Frames that were sent twice (each counts once here and its second copy adds to DELIVERED). */
    DUPLICATED,
    /** Copies given an extra reorder delay. */
    REORDERED,
    /** Copies with a bit flipped (counted at the decision, so also if the copy is later dropped). */
    CORRUPTED
}

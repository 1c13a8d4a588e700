package io.arrakis.control;

/**
 * What an {@code shm} queue counts beyond {@link io.arrakis.device.VnicCounter}: the protection
 * checks the receiver makes, and membership. Spoofed or malformed frames are also counted in the
 * generic {@code RX_DROPPED_FILTERED} / {@code RX_DROPPED_MALFORMED}; these say which check fired.
 */
public enum ShmCounter {
    /** A frame from a peer whose source MAC, IPv4 source or ARP sender was not the peer's own. */
    RX_SPOOFED,
    /** A descriptor whose offset or length fell outside the channel's frame area or the MTU. */
    RX_BAD_DESCRIPTOR,
    /** A unicast frame for another VNIC's MAC arrived on one of our channels. */
    RX_NOT_FOR_US,
    /**
     * A frame that arrived on this queue although our receive filters steer it to another one:
     * its sender ignored the filters (or steered by a table older than the grace period).
     */
    RX_MISSTEERED,
    /** The receiver-side policer dropped a frame beyond the sender's configured rate. */
    RX_POLICED,
    /** Channels given up because the peer wrote impossible positions into them. */
    CHANNELS_BROKEN,
    /** A unicast frame for a MAC no channel leads to. */
    TX_NO_PEER,
    /** A frame dropped because the receiver's channel was full (a switch port dropping). */
    TX_CHANNEL_FULL,
    /** ARP requests answered locally from the control plane's directory. */
    PROXY_ARP_REPLIES,
    /** Frames to our own MAC, looped back without a channel. */
    LOOPED_BACK,
    PEERS_ADDED,
    PEERS_REMOVED,
    /** Times we wrote a peer's readiness eventfd (its selector slept in epoll). */
    READINESS_SIGNALS
}

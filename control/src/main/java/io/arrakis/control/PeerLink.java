package io.arrakis.control;

import io.arrakis.device.RateLimit;
import io.arrakis.device.TokenBucket;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import java.lang.foreign.MemorySegment;

/**
 * Everything one process holds about one peer VNIC: the channel to it (we produce), the channel
 * from it (we consume), its bell and readiness eventfd, and the cursors of both channels.
 * Built by the control connection's thread, handed to the queue's polling thread through its
 * mailbox, then owned by that thread alone (which also closes it).
 */
final class PeerLink implements AutoCloseable {
    final int id;
    final String name;
    final long mac;
    final int address;

    final Mapping outForward;
    final Mapping outReturn;
    final Mapping inForward;
    final Mapping inReturn;
    final Mapping bellMapping;
    final Bell bell;
    private final int eventFd;

    // Segments, cached for the fast path.
    final MemorySegment outForwardSegment;
    final MemorySegment outReturnSegment;
    final MemorySegment inForwardSegment;
    final MemorySegment inReturnSegment;

    // Outbound cursors (the polling thread only).
    long claimed;
    long committed;
    long consumerCache;
    boolean outBroken;
    boolean dirty;

    // Inbound cursors (the polling thread only).
    long polled;
    long released;
    long producerCache;
    boolean inBroken;

    /** The receiver-side policer of what this peer sends us. */
    final TokenBucket policer = new TokenBucket();
    RateLimit senderLimit;

    PeerLink(int id, String name, long mac, int address, RateLimit senderLimit, Mapping outForward,
            Mapping outReturn, Mapping inForward, Mapping inReturn, Mapping bellMapping, int eventFd) {
        this.id = id;
        this.name = name;
        this.mac = mac;
        this.address = address;
        this.senderLimit = senderLimit;
        this.outForward = outForward;
        this.outReturn = outReturn;
        this.inForward = inForward;
        this.inReturn = inReturn;
        this.bellMapping = bellMapping;
        this.eventFd = eventFd;
        this.bell = new Bell(bellMapping.segment(), eventFd);
        this.outForwardSegment = outForward.segment();
        this.outReturnSegment = outReturn.segment();
        this.inForwardSegment = inForward.segment();
        this.inReturnSegment = inReturn.segment();
    }

    /** Unmaps everything and closes the peer's eventfd. Only once no thread uses the link. */
    @Override
    public void close() {
        for (Mapping mapping : new Mapping[] {outForward, outReturn, inForward, inReturn, bellMapping}) {
            mapping.close();
        }
        try {
            Unistd.close(eventFd);
        } catch (LinuxException e) {
            throw new IllegalStateException("closing the readiness eventfd of peer " + name, e);
        }
    }

    @Override
    public String toString() {
        return "peer " + id + " (" + name + ")";
    }
}

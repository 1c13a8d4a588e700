package io.arrakis.control;

import io.arrakis.device.RateLimit;
import io.arrakis.device.TokenBucket;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What one of our queues holds about one peer VNIC: the channels from this queue to each of the
 * peer's queues (we produce), the channels from each of the peer's queues to this queue (we
 * consume), with their cursors, and the policer of what the peer sends to this queue. Built by
 * the control connection's thread, handed to the queue's polling thread through its mailbox,
 * then owned by that thread alone (which also closes it). The mappings, bells and eventfds it
 * uses belong to a {@link Shared} that every queue's link to the same peer holds a reference to.
 */
final class PeerLink implements AutoCloseable {
    /**
     * The files of one peer, mapped once per process and shared by the links of all our queues:
     * unmapped (and its eventfds closed) when the last link lets go. Its steering table is
     * replaced by the control connection's thread and read by the polling threads. Thread-safe.
     */
    static final class Shared {
        final int id;
        final String name;
        final long mac;
        final int address;
        final int queues;
        final Mapping outForward;
        final Mapping outReturn;
        final Mapping inForward;
        final Mapping inReturn;
        final Mapping bellMapping;
        private final int[] eventFds;
        final Bell[] bells;
        /** The peer's receive filters, by which we steer what we send it. */
        volatile Steering steering = Steering.NONE;
        private final AtomicInteger holders;

        Shared(int id, String name, long mac, int address, int queues, Mapping outForward, Mapping outReturn,
                Mapping inForward, Mapping inReturn, Mapping bellMapping, int[] eventFds, int holders) {
            this.id = id;
            this.name = name;
            this.mac = mac;
            this.address = address;
            this.queues = queues;
            this.outForward = outForward;
            this.outReturn = outReturn;
            this.inForward = inForward;
            this.inReturn = inReturn;
            this.bellMapping = bellMapping;
            this.eventFds = eventFds;
            this.bells = new Bell[queues];
            for (int q = 0; q < queues; q++) {
                bells[q] = new Bell(bellMapping.segment().asSlice(q * ChannelLayout.BELL_BYTES, ChannelLayout.BELL_BYTES),
                        eventFds[q]);
            }
            this.holders = new AtomicInteger(holders);
        }

        /** One holder lets go; the last unmaps everything and closes the peer's eventfds. */
        void release() {
            if (holders.decrementAndGet() != 0) {
                return;
            }
            for (Mapping mapping : new Mapping[] {outForward, outReturn, inForward, inReturn, bellMapping}) {
                mapping.close();
            }
            LinuxException failure = null;
            for (int fd : eventFds) {
                try {
                    Unistd.close(fd);
                } catch (LinuxException e) {
                    failure = e;
                }
            }
            if (failure != null) {
                throw new IllegalStateException("closing a readiness eventfd of peer " + name, failure);
            }
        }
    }

    /** The channel from our queue to one queue of the peer: cursors owned by our polling thread. */
    static final class Outbound {
        final PeerLink link;
        final int toQueue;
        final MemorySegment forward;
        final MemorySegment returnPage;
        final Bell bell;
        long claimed;
        long committed;
        long consumerCache;
        boolean broken;
        boolean dirty;

        Outbound(PeerLink link, int toQueue, MemorySegment forward, MemorySegment returnPage, Bell bell) {
            this.link = link;
            this.toQueue = toQueue;
            this.forward = forward;
            this.returnPage = returnPage;
            this.bell = bell;
        }
    }

    /** The channel from one queue of the peer to our queue: cursors owned by our polling thread. */
    static final class Inbound {
        final int fromQueue;
        final MemorySegment forward;
        final MemorySegment returnPage;
        long polled;
        long released;
        long producerCache;
        boolean broken;

        Inbound(int fromQueue, MemorySegment forward, MemorySegment returnPage) {
            this.fromQueue = fromQueue;
            this.forward = forward;
            this.returnPage = returnPage;
        }
    }

    final Shared peer;
    final int id;
    final String name;
    final long mac;
    final int address;
    /** Indexed by the peer's queue. */
    final Outbound[] out;
    final Inbound[] in;
    /** Which inbound channel {@code receive} drains first next time (round robin; polling thread only). */
    int nextInbound;

    /** The receiver-side policer of what this peer sends to our queue. */
    final TokenBucket policer = new TokenBucket();
    RateLimit senderLimit;
    private boolean closed;

    /**
     * The link of our queue {@code ownQueue} (of {@code ownQueues}) to {@code peer}: slices of
     * the shared mappings for the channels between that queue and each of the peer's.
     */
    PeerLink(Shared peer, int ownQueue, int ownQueues, RateLimit senderLimit, int capacity, int frameSlot) {
        this.peer = peer;
        this.id = peer.id;
        this.name = peer.name;
        this.mac = peer.mac;
        this.address = peer.address;
        this.senderLimit = senderLimit;
        long stride = ChannelLayout.channelStride(capacity, frameSlot);
        long region = ChannelLayout.forwardBytes(capacity, frameSlot);
        out = new Outbound[peer.queues];
        in = new Inbound[peer.queues];
        for (int q = 0; q < peer.queues; q++) {
            int outIndex = ChannelLayout.channelIndex(ownQueue, q, peer.queues);
            out[q] = new Outbound(this, q, peer.outForward.segment().asSlice(outIndex * stride, region),
                    peer.outReturn.segment().asSlice(outIndex * ChannelLayout.RETURN_BYTES, ChannelLayout.RETURN_BYTES),
                    peer.bells[q]);
            int inIndex = ChannelLayout.channelIndex(q, ownQueue, ownQueues);
            in[q] = new Inbound(q, peer.inForward.segment().asSlice(inIndex * stride, region),
                    peer.inReturn.segment().asSlice(inIndex * ChannelLayout.RETURN_BYTES, ChannelLayout.RETURN_BYTES));
        }
    }

    /** Lets go of the shared mappings (the last link to the peer unmaps them). Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            peer.release();
        }
    }

    @Override
    public String toString() {
        return "peer " + id + " (" + name + ")";
    }
}

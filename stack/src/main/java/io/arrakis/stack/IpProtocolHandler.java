package io.arrakis.stack;

import java.lang.foreign.MemorySegment;

/**
 * A transport protocol plugged into a {@link NetworkStack} (TCP is one): it receives the
 * validated payload of IPv4 datagrams carrying its protocol number, and the ICMP errors that
 * name datagrams it sent. Called on the stack's polling thread only.
 */
public interface IpProtocolHandler {
    /**
     * A datagram arrived: {@code length} bytes of transport header and payload at {@code at},
     * from {@code source} to {@code destination} (host order). The bytes are valid only during
     * the call.
     */
    void received(MemorySegment packet, long at, int length, int source, int destination, long now);

    /**
     * ICMP reported a datagram we sent as undeliverable: {@code original} holds its IP header
     * and at least the first 8 bytes of its transport header, at {@code at}.
     * {@code nextHopMtu} is positive for "fragmentation needed".
     */
    void unreachable(int icmpCode, MemorySegment original, long at, int length, int nextHopMtu, long now);

    /** The earliest time this transport has timer work; Long.MAX_VALUE if none. */
    default long nextDeadline() {
        return Long.MAX_VALUE;
    }

    /** Runs the timers due at {@code now}; called by every {@link NetworkStack#poll}. */
    default void runTimers(long now) {}

    /** Whether output waits for packet buffers, so a later poll must retry it even if nothing arrives. */
    default boolean outputBlocked() {
        return false;
    }
}

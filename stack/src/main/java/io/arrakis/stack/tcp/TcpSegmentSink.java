package io.arrakis.stack.tcp;

import java.lang.foreign.MemorySegment;

/**
 * Where the engine writes the segments it sends; implemented by the stack core (and by the test
 * network). The engine asks for room with {@link #begin}, writes the TCP header, options and
 * payload at the returned offset of {@link #memory()}, and hands the segment over with
 * {@link #send}. The core then fills the TCP checksum (it knows the pseudo-header), the IPv4 and
 * Ethernet headers, and transmits. Called only from the thread that runs the engine.
 */
public interface TcpSegmentSink {
    /**
     * Starts a segment from {@code sourceAddress} to {@code destinationAddress} (IPv4, host
     * order) of at most {@code maxTcpBytes} bytes (TCP header included). Returns the offset in
     * {@link #memory()} at which to write the TCP header, or -1 when no packet buffer is free
     * right now: not an error; the engine keeps its state, reports
     * {@link TcpConnection#outputBlocked()}, and sends on the next {@code flush}, which the core
     * calls once buffers are free again.
     */
    long begin(int sourceAddress, int destinationAddress, int maxTcpBytes);

    /** The memory the offset from the last {@link #begin} points into. */
    MemorySegment memory();

    /** Finishes the segment begun last: {@code tcpBytes} (≤ the size asked for) are to be sent. */
    void send(int tcpBytes);
}

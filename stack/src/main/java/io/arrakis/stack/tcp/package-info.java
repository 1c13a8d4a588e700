/**
 * TCP as a deterministic, "sans-IO" state machine: the engine never performs I/O, never reads a
 * clock and never starts a thread. The stack core feeds it segments and time, and lends it a place
 * to write segments; everything else (IPv4, checksums, demultiplexing, buffers, threads) belongs
 * to the core and the provider.
 *
 * <h2>Contract with the stack core</h2>
 * <ul>
 *   <li><b>{@link io.arrakis.stack.tcp.TcpSegmentSink}</b> (the core implements it):
 *       {@code long begin(int sourceAddress, int destinationAddress, int maxTcpBytes)} returns the
 *       offset in {@code memory()} at which to write a TCP segment of at most that many bytes, or
 *       -1 when no packet buffer is free (not an error: the engine keeps its state, reports
 *       {@code outputBlocked()}, and sends on the next {@code flush(now)}); {@code send(int
 *       tcpBytes)} finishes it. The engine writes header, options and payload (copied once from
 *       its send ring); the core fills the TCP checksum, the IPv4 and Ethernet headers. The
 *       addresses are arguments (a refinement of the first sketch) so one sink per stack queue
 *       serves every connection and listener.</li>
 *   <li><b>Input:</b> the core validates IPv4 and the TCP checksum, then demultiplexes by
 *       4-tuple: {@code connection.segmentArrived(p, tcpOffset, tcpLength, now)}; if no
 *       connection matches, {@code listener.segmentArrived(p, tcpOffset, tcpLength, localAddress,
 *       remoteAddress, now)} for the local port, which returns a newly established connection for
 *       the core to add to its table (also queued for {@code accept()}); if no listener matches,
 *       {@link io.arrakis.stack.tcp.TcpReset#replyToStray}. {@code segmentArrived} returns false
 *       only when a SYN reopens a 4-tuple in TIME_WAIT: the connection is then CLOSED and the same
 *       segment goes to the listener. No input, however malformed, makes the engine throw; it is
 *       dropped and counted ({@link io.arrakis.stack.tcp.TcpCounter}{@code .DROP_*}).</li>
 *   <li><b>Timers:</b> {@code nextDeadline()} ({@code TcpConnection.NEVER} when none) and
 *       {@code onTimer(now)} on connections and listeners. Calling {@code onTimer} early is
 *       harmless. A connection that reaches {@code CLOSED} is finished: the core drops it from its
 *       table (the application may still read what it had received).</li>
 *   <li><b>Output:</b> every engine call may send; {@code flush(now)} retries what a full sink
 *       blocked ({@code outputBlocked()}), and sends what {@code setNoDelay} released.</li>
 * </ul>
 *
 * <h2>Application side (the provider, on the engine's thread)</h2>
 * <pre>{@code
 * new TcpConnection(config, sink, aggregateCounters, localAddress, localPort, remoteAddress, remotePort,
 *                   iss, mss, sendBufferSize, receiveBufferSize)   // SYN_SENT; flush(now) sends the SYN
 * int  read(MemorySegment dst, long off, int len, long now)       // n, 0 = nothing yet, -1 = EOF/failed/closed
 * int  write(MemorySegment src, long off, int len, long now)      // n accepted, 0 = buffer full, -1 = cannot send
 * void shutdownOutput(long now)   void close(long now)   void abort(long now)
 * TcpState state()   TcpFailure failure()   boolean isReadable() / isWritable() / isConnected()
 * setNoDelay, setKeepAlive, setKeepAliveParameters(idle, interval, probes), setLinger(seconds)
 * srttNanos, rttVarNanos, rtoNanos, congestionWindow, slowStartThreshold, sendMss, retransmittedSegments,
 * bytesInFlight, sendQueueBytes, receiveQueueBytes, sendWindow, receiveWindow, counters(), info()
 * setEvents(TcpEvents)   // connected, readable, writable, closed; acceptable for listeners
 *
 * new TcpListener(config, sink, aggregateCounters, isn, localAddress, localPort, mss, backlog,
 *                 sendBufferSize, receiveBufferSize)
 * TcpConnection accept()   void close(long now)   acceptQueueLength(), synQueueLength(), counters()
 * }</pre>
 * {@link io.arrakis.stack.tcp.TcpFailure} says why a connection failed: REFUSED (RST to our SYN),
 * RESET (an acceptable RST later), TIMED_OUT (retransmissions, probes or keep-alives unanswered),
 * ABORTED (this side aborted). {@code close} is graceful unless linger is 0 or unread data
 * remains (then a RST, RFC 1122 §4.2.2.13). Buffer sizes are fixed at construction; the receive
 * buffer size is the most the engine ever advertises.
 *
 * <h2>What is implemented</h2>
 * RFC 9293 (all states, simultaneous open and close, half-close, TIME_WAIT with reopening by a
 * newer SYN per RFC 6191, RST generation for closed ports); RFC 5961 (exact-RST, challenge ACKs
 * for in-window RSTs, for SYNs and for too-old ACKs, rate-limited per connection); RFC 7323 (window
 * scaling, timestamps with RTTM and PAWS); RFC 2018 (SACK blocks generated most recent first;
 * the sender keeps a scoreboard and retransmits only holes, RFC 6675-style pipe); RFC 6298 (RTO,
 * Karn's rule, exponential back-off); RFC 5681 and 6582 (NewReno) and RFC 9438 (CUBIC); delayed
 * ACKs (every second full segment or after a delay, at once for out-of-order data); Nagle;
 * receiver and sender silly-window avoidance; zero-window probing with back-off; keep-alive;
 * SYN cookies (RFC 4987) and ISNs per RFC 6528 with SipHash-2-4.
 *
 * <h2>Design notes</h2>
 * <ul>
 *   <li>Each connection owns two off-heap rings (Arena.ofAuto: reclaimed with the connection,
 *       counted against MaxDirectMemorySize). Out-of-order data is written into the receive ring
 *       at its final offset; only the received intervals are tracked, in a bounded table
 *       ({@code maxOutOfOrderIntervals}), so reassembly costs no extra copy and no allocation.</li>
 *   <li>The advertised right edge never moves left. With window scaling, the window is rounded
 *       up to the scale unit, and the ring has that much slack, so no advertised byte is ever
 *       refused.</li>
 *   <li>Pure ACKs carry SND.MAX, not SND.NXT: after an RTO pulls SND.NXT back, an ACK below the
 *       peer's RCV.NXT would be unacceptable (BSD does the same). A zero-length segment at the
 *       right window edge is acceptable (as in BSD and Linux).</li>
 *   <li>A window update with the same SEQ and ACK as the last one may only grow the window
 *       (Linux's rule), so a reordered old ACK cannot close it.</li>
 *   <li>The head segment is retransmitted on RTO whatever the window, and a closed window does
 *       not use up retransmissions while the peer keeps answering.</li>
 *   <li>Timestamp RTT samples whose echo predates our last retransmission are skipped: they time
 *       the original transmission plus a lost ACK.</li>
 *   <li>Window and keep-alive probes are Linux-style (SEQ = SND.UNA − 1, no data).</li>
 *   <li>Nothing on the segment path allocates on the Java heap: option parsing, SACK blocks,
 *       scoreboard and interval tables are preallocated per connection; events pass the
 *       connection itself.</li>
 * </ul>
 *
 * <p>Threading: a connection or listener belongs to one thread (its stack queue's); the
 * application calls it from that thread too. Counters may be read from elsewhere (plain reads).
 */
package io.arrakis.stack.tcp;

package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpCounter.*;

import io.arrakis.stack.wire.Ipv4;
import io.arrakis.stack.wire.Tcp;
import io.arrakis.stack.wire.TcpOptions;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One TCP connection as a deterministic state machine that does no I/O itself ("sans-IO"): the
 * stack core hands it validated segments ({@link #segmentArrived}), calls its timers
 * ({@link #nextDeadline}, {@link #onTimer}) and lends it a {@link TcpSegmentSink} to write the
 * segments it sends; the application side ({@link #read}, {@link #write}, {@link #shutdownOutput},
 * {@link #close}, {@link #abort}) is called by the provider. Time is always passed in.
 *
 * <p>Implements RFC 9293 (all states, simultaneous open and close, half-close, TIME_WAIT),
 * RFC 5961 (challenge ACKs), RFC 7323 (window scaling, timestamps, RTTM, PAWS), RFC 2018 (SACK,
 * both directions), RFC 6298 (RTO), RFC 5681/6582 (NewReno) or RFC 9438 (CUBIC), SACK-based
 * recovery in the spirit of RFC 6675, delayed ACKs, Nagle, zero-window probes and keep-alives.
 *
 * <p>Memory: the send and receive buffers are off-heap rings allocated with the connection;
 * out-of-order data is written straight into the receive ring at its offset and only the
 * received intervals are tracked (bounded table). Processing a segment, sending one, and every
 * application call allocate nothing on the Java heap.
 *
 * <p>Not thread-safe: every method must be called from the one thread that runs this
 * connection's stack queue (the application's calls included).
 */
public final class TcpConnection {
    /** "No deadline" for {@link #nextDeadline()}. */
    public static final long NEVER = Long.MAX_VALUE;

    private static final long SECOND = 1_000_000_000L;
    private static final long MILLI = 1_000_000L;
    /** RFC 7323 §5.5: TS.Recent older than 24 days is invalid. */
    private static final long PAWS_IDLE_NANOS = 24L * 24 * 3600 * SECOND;
    /** RFC 6298 §5.7: RTO after the SYN had to be retransmitted and no sample exists. */
    private static final long FALLBACK_RTO_NANOS = 3 * SECOND;
    private static final int MIN_MSS = 64;
    private static final int TIMESTAMP_OPTION = 12;

    private static final int EV_CONNECTED = 1;
    private static final int EV_READABLE = 2;
    private static final int EV_WRITABLE = 4;
    private static final int EV_CLOSED = 8;

    // --- identity and collaborators
    private final TcpConfig config;
    /** Not final: {@link #rehome} moves the connection to another stack's TCP layer. */
    private TcpSegmentSink sink;
    private final TcpCounters counters;
    private final TcpOptions options = new TcpOptions();
    private final int localAddress;
    private final int localPort;
    private final int remoteAddress;
    private final int remotePort;
    private final int localMss;
    private TcpEvents events = TcpEvents.NONE;
    private int pendingEvents;

    private TcpState state;
    private TcpFailure failure;
    private boolean appClosed;
    private boolean established;
    private boolean outputBlocked;

    // --- negotiated options
    private boolean windowScaleOk;
    private boolean timestampsOk;
    private boolean sackOk;
    private int sendShift;
    private int receiveShift;
    /** min(peer MSS, our MSS): the payload of a segment without options. */
    private int mssBase;
    /** Payload of a full-sized segment with the options every segment carries (RFC 9293 §3.7.1). */
    private int smss;

    // --- send sequence space (RFC 9293 §3.3.1)
    private final int iss;
    private int sndUna;
    private int sndNxt;
    /** Highest sequence number sent + 1; SND.NXT goes back to SND.UNA after an RTO, this does not. */
    private int sndMax;
    private int sndWnd;
    private int sndWl1;
    private int sndWl2;
    private int maxSndWnd;

    // --- send buffer: bytes [sndBufSeq, sndBufSeq + sndQueued) in the ring from sndHead
    private final MemorySegment sendRing;
    private final int sendCapacity;
    private int sndBufSeq;
    private int sndHead;
    private int sndQueued;
    private boolean finQueued;
    private int finSeq;
    private boolean writeBlocked;

    // --- receive sequence space and buffer: bytes [rcvUser, dataEnd) readable from rcvHead
    private final MemorySegment receiveRing;
    private final int receiveCapacity;
    private final int receiveBufferSize;
    private int irs;
    private int rcvNxt;
    private int rcvUser;
    private int rcvHead;
    /** The right edge we mean to offer (moves by SWS-avoiding steps, never back). */
    private int rcvWndRight;
    /** The right edge the peer was told (≥ rcvWndRight, by scale rounding); data beyond is trimmed. */
    private int rcvAdv;
    private boolean finReceived;
    private int rcvFinSeq;
    private boolean finOutOfOrder;
    private int outOfOrderFinSeq;
    private final SeqIntervals outOfOrder;
    private final int[] sackLeft = new int[TcpOptions.MAX_SACK_BLOCKS];
    private final int[] sackRight = new int[TcpOptions.MAX_SACK_BLOCKS];
    private int rcvMss = 536;

    // --- acknowledgment state
    private boolean ackNow;
    private int unackedBytes;
    private long delayedAckDeadline = NEVER;
    private int lastAckSent;

    // --- timestamps
    private final int tsOffset;
    private int tsRecent;
    private long tsRecentNanos;

    // --- RTT and retransmission timer (RFC 6298)
    private long srtt;
    private long rttvar;
    private long rtoBase;
    private long rto;
    private boolean hasRttSample;
    private boolean rttTiming;
    private int rttSeq;
    private long rttStart;
    private int retries;
    private boolean synRetransmitted;
    private boolean retransmittedSinceSample;
    private int lastRetransmitTs;
    private long rtoDeadline = NEVER;
    private long lastSendNanos;

    // --- congestion control and loss recovery
    private final CongestionController cc;
    private int dupAcks;
    private boolean inRecovery;
    private int recover;
    private boolean retransmitHead;
    private final SeqIntervals scoreboard;
    private int rxtNext;

    // --- other timers
    private long persistDeadline = NEVER;
    private int persistBackoff;
    private int unansweredProbes;
    private long timeWaitDeadline = NEVER;
    private long finWait2Deadline = NEVER;
    private long lastReceiveNanos;
    private int keepAliveProbesSent;

    // --- rate limits
    private long challengeWindowStart = Long.MIN_VALUE;
    private int challengeCount;
    private long lastOutOfWindowAck = Long.MIN_VALUE;

    // --- per-connection options
    private boolean noDelay;
    private boolean keepAlive;
    private long keepAliveIdle;
    private long keepAliveInterval;
    private int keepAliveCount;
    private int lingerSeconds = -1;

    /**
     * An active open: the connection starts in SYN_SENT and its first {@link #flush} sends the SYN.
     *
     * @param aggregate counters of the whole stack (or null)
     * @param iss the initial sequence number (from {@link TcpIsn})
     * @param mss the MSS this host can receive (route MTU − 40), advertised in the SYN
     * @param sendBufferSize send ring size in bytes
     * @param receiveBufferSize receive ring size in bytes: the most we ever advertise
     */
    public TcpConnection(TcpConfig config, TcpSegmentSink sink, TcpCounters aggregate, int localAddress,
            int localPort, int remoteAddress, int remotePort, int iss, int mss, int sendBufferSize,
            int receiveBufferSize) {
        if (localPort < 0 || localPort > 0xFFFF || remotePort < 0 || remotePort > 0xFFFF) {
            throw new IllegalArgumentException("ports " + localPort + "/" + remotePort + " outside 0..65535");
        }
        if (mss < MIN_MSS || mss > 65495) {
            throw new IllegalArgumentException("mss " + mss + " outside " + MIN_MSS + "..65495");
        }
        if (sendBufferSize < 1 || sendBufferSize > 1 << 30 || receiveBufferSize < 1 || receiveBufferSize > 1 << 30) {
            throw new IllegalArgumentException(
                    "buffer sizes " + sendBufferSize + "/" + receiveBufferSize + " outside 1..2^30");
        }
        this.config = config;
        this.sink = sink;
        this.counters = new TcpCounters(aggregate);
        this.localAddress = localAddress;
        this.localPort = localPort;
        this.remoteAddress = remoteAddress;
        this.remotePort = remotePort;
        this.iss = iss;
        this.localMss = mss;
        this.receiveBufferSize = receiveBufferSize;
        this.receiveShift = config.windowScaling ? windowShiftFor(receiveBufferSize) : 0;
        // Slack for the window rounded up to the scale unit (see windowField()).
        this.receiveCapacity = receiveBufferSize + (1 << receiveShift);
        this.sendCapacity = sendBufferSize;
        Arena arena = Arena.ofAuto();
        this.sendRing = arena.allocate(sendBufferSize);
        this.receiveRing = arena.allocate(receiveCapacity);
        this.outOfOrder = new SeqIntervals(config.maxOutOfOrderIntervals);
        this.scoreboard = new SeqIntervals(config.maxSackScoreboard);
        this.cc = CongestionController.create(config.congestionControl);
        this.tsOffset = tsOffsetFor(iss);
        this.keepAliveIdle = config.keepAliveIdleNanos;
        this.keepAliveInterval = config.keepAliveIntervalNanos;
        this.keepAliveCount = config.keepAliveProbes;

        this.state = TcpState.SYN_SENT;
        this.sndUna = iss;
        this.sndNxt = iss;
        this.sndMax = iss;
        this.sndBufSeq = iss + 1;
        this.recover = iss;
        this.rtoBase = config.initialRtoNanos;
        this.rto = rtoBase;
        this.mssBase = Math.min(mss, config.defaultMss);
        this.smss = mssBase;
        this.cc.cwnd = (long) config.initialWindowSegments * smss;
    }

    /**
     * Moves this connection to another stack's TCP layer (same address, same clock): from now on
     * its segments are written into {@code newSink} and its counters roll up into
     * {@code newAggregate}. For {@code TcpLayer.adopt}, which the caller runs with both stacks'
     * locks held; the state machine, rings and timers' deadlines are unchanged.
     */
    public void rehome(TcpSegmentSink newSink, TcpCounters newAggregate) {
        this.sink = java.util.Objects.requireNonNull(newSink, "newSink");
        counters.rollUpInto(newAggregate);
    }

    /**
     * A passive open completed by {@link TcpListener}: ESTABLISHED from the start, with what the
     * SYN negotiated. The segment completing the handshake is then fed to {@link #segmentArrived}.
     */
    static TcpConnection accepted(TcpConfig config, TcpSegmentSink sink, TcpCounters aggregate, int localAddress,
            int localPort, int remoteAddress, int remotePort, int iss, int irs, int mss, int sendBufferSize,
            int receiveBufferSize, int peerMss, int peerWindowShift, boolean sackPermitted, boolean timestamps,
            int tsRecent, long rttSampleNanos, long nowNanos) {
        TcpConnection c = new TcpConnection(config, sink, aggregate, localAddress, localPort, remoteAddress, remotePort,
                iss, mss, sendBufferSize, receiveBufferSize);
        c.irs = irs;
        c.negotiate(peerMss, config.windowScaling ? peerWindowShift : -1, config.sack && sackPermitted,
                config.timestamps && timestamps, tsRecent, nowNanos);
        c.initReceive(irs);
        c.sndUna = iss + 1;
        c.sndNxt = iss + 1;
        c.sndMax = iss + 1;
        c.recover = iss + 1;
        c.sndWl1 = irs; // so the ACK completing the handshake sets the window
        c.sndWl2 = iss;
        c.lastAckSent = irs + 1;
        if (rttSampleNanos >= 0) {
            c.updateRtt(rttSampleNanos);
        }
        c.state = TcpState.ESTABLISHED;
        c.established = true;
        c.cc.cwnd = (long) config.initialWindowSegments * c.smss;
        c.lastReceiveNanos = nowNanos;
        c.lastSendNanos = nowNanos;
        return c;
    }

    // ------------------------------------------------------------------------------------------
    // Helpers shared with the listener

    /** The window shift we offer for a receive buffer: the least that fits it in 16 bits. */
    static int windowShiftFor(int receiveBufferSize) {
        int shift = 0;
        while (shift < TcpOptions.MAX_WINDOW_SHIFT && (receiveBufferSize >>> shift) > 0xFFFF) {
            shift++;
        }
        return shift;
    }

    /** The window field of a SYN or SYN-ACK (never scaled, RFC 7323 §2.2). */
    static int synWindow(int receiveBufferSize) {
        return Math.min(receiveBufferSize, 0xFFFF);
    }

    /** The per-connection timestamp offset (RFC 7323 §5.4), derived from the ISN so the listener agrees. */
    static int tsOffsetFor(int iss) {
        return iss * 0x9E3779B1;
    }

    static int tsClock(long nowNanos, int offset) {
        return (int) (nowNanos / MILLI) + offset;
    }

    /**
     * Writes SYN options: MSS, then window scale (shift ≥ 0), SACK-permitted, timestamps, as
     * enabled; returns the end offset (a multiple of 4 from {@code header}).
     */
    static long writeSynOptions(MemorySegment m, long header, int mss, int shift, boolean sack, boolean timestamps,
            int tsVal, int tsEcr) {
        long o = TcpOptions.writeMss(m, header + Tcp.MIN_HEADER_LENGTH, mss);
        if (shift >= 0) {
            o = TcpOptions.writeWindowScale(m, o, shift);
        }
        if (sack) {
            o = TcpOptions.writeSackPermitted(m, o);
        }
        if (timestamps) {
            o = TcpOptions.writeTimestamps(m, o, tsVal, tsEcr);
        }
        return TcpOptions.writeEndPadding(m, header, o);
    }

    static int synOptionsLength(boolean windowScale, boolean sack, boolean timestamps) {
        return 4 + (windowScale ? 4 : 0) + (sack ? 4 : 0) + (timestamps ? TIMESTAMP_OPTION : 0);
    }

    // ------------------------------------------------------------------------------------------
    // Input

    /**
     * Processes one received segment: {@code tcpLength} bytes of TCP header and payload at
     * {@code tcpOffset} of {@code p}, already checksummed and demultiplexed to this 4-tuple by the
     * core. Never throws on any bytes: a segment that makes no sense is dropped and counted.
     *
     * @return true normally; false when the segment is a SYN that reopens this connection's
     *     4-tuple from TIME_WAIT (RFC 9293 §3.10.7.4 / RFC 6191): the connection is now CLOSED and
     *     the core should hand the same segment to the listener of the local port.
     */
    public boolean segmentArrived(MemorySegment p, long tcpOffset, int tcpLength, long nowNanos) {
        boolean consumed = true;
        if (tcpOffset < 0 || tcpLength < Tcp.MIN_HEADER_LENGTH || tcpOffset > p.byteSize() - tcpLength) {
            counters.increment(SEGMENTS_IN);
            counters.increment(DROP_MALFORMED_HEADER);
            return true;
        }
        counters.increment(SEGMENTS_IN);
        int headerLength = Tcp.headerLength(p, tcpOffset);
        if (headerLength < Tcp.MIN_HEADER_LENGTH || headerLength > tcpLength) {
            counters.increment(DROP_MALFORMED_HEADER);
            return true;
        }
        if (Tcp.sourcePort(p, tcpOffset) != remotePort || Tcp.destinationPort(p, tcpOffset) != localPort) {
            counters.increment(DROP_WRONG_PORTS);
            return true;
        }
        if (!options.parse(p, tcpOffset, headerLength)) {
            counters.increment(DROP_MALFORMED_OPTIONS);
            return true;
        }
        int flags = Tcp.flags(p, tcpOffset);
        int seq = Tcp.sequence(p, tcpOffset);
        int ack = Tcp.acknowledgment(p, tcpOffset);
        int window = Tcp.window(p, tcpOffset);
        long dataOffset = tcpOffset + headerLength;
        int dataLength = tcpLength - headerLength;
        switch (state) {
            case CLOSED, LISTEN -> counters.increment(DROP_CLOSED);
            case SYN_SENT -> synSentArrived(p, flags, seq, ack, window, dataOffset, dataLength, nowNanos);
            default -> consumed = synchronizedArrived(p, flags, seq, ack, window, dataOffset, dataLength, nowNanos);
        }
        if (state != TcpState.CLOSED) {
            output(nowNanos);
        }
        fireEvents();
        return consumed;
    }

    /** RFC 9293 §3.10.7.3. */
    private void synSentArrived(MemorySegment p, int flags, int seq, int ack, int window, long dataOffset,
            int dataLength, long now) {
        boolean ackOk = false;
        if ((flags & Tcp.ACK) != 0) {
            if (le(ack, iss) || gt(ack, sndMax)) {
                if ((flags & Tcp.RST) == 0) {
                    sendReset(ack, 0, Tcp.RST);
                }
                counters.increment(DROP_UNACCEPTABLE_ACK);
                return;
            }
            ackOk = true;
        }
        if ((flags & Tcp.RST) != 0) {
            counters.increment(RESETS_IN);
            if (ackOk) {
                fail(TcpFailure.REFUSED);
            } else {
                counters.increment(DROP_RST_NOT_EXACT);
            }
            return;
        }
        if ((flags & Tcp.SYN) == 0) {
            counters.increment(DROP_UNEXPECTED);
            return;
        }
        irs = seq;
        negotiate(options.mss(), options.windowShift(), options.sackPermitted(), options.hasTimestamps(),
                options.timestampValue(), now);
        initReceive(seq);
        lastReceiveNanos = now;
        if (ackOk) {
            sndWnd = window; // a SYN's window is never scaled
            sndWl1 = seq;
            sndWl2 = ack;
            maxSndWnd = sndWnd;
            acknowledge(ack, now);
            establish(now);
            ackNow = true;
            // Data or FIN on the SYN-ACK: continue at RFC 9293's sixth step.
            boolean fin = (flags & Tcp.FIN) != 0;
            if (dataLength > 0 || fin) {
                receiveText(p, seq + 1, dataOffset, dataLength, fin, now);
            }
        } else {
            // Simultaneous open: SYN-RECEIVED, and our SYN goes again with an ACK.
            sndWnd = window;
            sndWl1 = seq;
            sndWl2 = iss;
            maxSndWnd = sndWnd;
            state = TcpState.SYN_RECEIVED;
            sndNxt = iss;
        }
    }

    /** RFC 9293 §3.10.7.4 for every synchronized state (and SYN-RECEIVED). */
    private boolean synchronizedArrived(MemorySegment p, int flags, int seq, int ack, int window, long dataOffset,
            int dataLength, long now) {
        boolean syn = (flags & Tcp.SYN) != 0;
        boolean rst = (flags & Tcp.RST) != 0;
        boolean fin = (flags & Tcp.FIN) != 0;
        boolean hasAck = (flags & Tcp.ACK) != 0;
        boolean windowUnscaled = syn;

        if (state == TcpState.TIME_WAIT && syn && !rst && !hasAck && timeWaitReopenable(seq)) {
            enterClosed(); // the new incarnation starts at the listener
            return false;
        }
        if (state == TcpState.SYN_RECEIVED && syn && hasAck && seq == irs) {
            // Simultaneous open: the peer's SYN-ACK repeats its SYN, which we already have.
            syn = false;
            seq++;
        }
        int segLength = dataLength + (syn ? 1 : 0) + (fin ? 1 : 0);

        // RFC 7323 §3.2 and §5.3 R1: timestamps and PAWS, before the sequence check.
        if (timestampsOk && !rst) {
            if (!options.hasTimestamps()) {
                counters.increment(DROP_MISSING_TIMESTAMP);
                return true;
            }
            if (lt(options.timestampValue(), tsRecent) && now - tsRecentNanos < PAWS_IDLE_NANOS) {
                counters.increment(DROP_PAWS);
                answerUnacceptable(seq, segLength, now);
                return true;
            }
        }
        // RFC 5961 §4: a SYN in a synchronized state, wherever it falls, gets a challenge ACK.
        if (syn && !rst) {
            counters.increment(DROP_SYN_SYNCHRONIZED);
            challengeAck(now);
            return true;
        }
        // First check: sequence number.
        if (!acceptable(seq, segLength)) {
            if (rst) {
                counters.increment(DROP_RST_NOT_EXACT);
            } else {
                counters.increment(DROP_OUT_OF_WINDOW);
                if (state == TcpState.TIME_WAIT && fin) {
                    timeWaitDeadline = now + 2 * config.mslNanos; // a retransmitted FIN: restart 2 MSL
                }
                answerUnacceptable(seq, segLength, now);
            }
            return true;
        }
        // Second check: RST (RFC 5961 §3.2: only exactly RCV.NXT resets; in-window gets challenged).
        if (rst) {
            counters.increment(RESETS_IN);
            if (seq == rcvNxt) {
                resetReceived();
            } else {
                counters.increment(DROP_RST_NOT_EXACT);
                challengeAck(now);
            }
            return true;
        }
        // RFC 7323 §4.3: remember the timestamp to echo.
        if (timestampsOk && ge(options.timestampValue(), tsRecent) && le(seq, lastAckSent)) {
            tsRecent = options.timestampValue();
            tsRecentNanos = now;
        }
        lastReceiveNanos = now;
        keepAliveProbesSent = 0;
        // Fifth check: ACK.
        if (!hasAck) {
            counters.increment(DROP_NO_ACK);
            return true;
        }
        if (state == TcpState.SYN_RECEIVED) {
            if (lt(sndUna, ack) && le(ack, sndMax)) {
                sndWnd = windowUnscaled ? window : window << sendShift;
                sndWl1 = seq;
                sndWl2 = ack;
                maxSndWnd = Math.max(maxSndWnd, sndWnd);
                establish(now);
                if (windowUnscaled) {
                    ackNow = true; // the peer's SYN-ACK: answer it, so it completes too
                }
            } else {
                counters.increment(DROP_UNACCEPTABLE_ACK);
                sendReset(ack, 0, Tcp.RST);
                return true;
            }
        }
        if (gt(ack, sndMax)) {
            counters.increment(DROP_UNACCEPTABLE_ACK);
            answerUnacceptable(seq, segLength, now);
            return true;
        }
        if (lt(ack, sndUna - maxSndWnd)) {
            counters.increment(DROP_UNACCEPTABLE_ACK);
            challengeAck(now);
            return true;
        }
        processAck(seq, ack, windowUnscaled ? window : window << sendShift, dataLength, flags, now);
        if (state == TcpState.CLOSED) {
            return true;
        }
        // Sixth to eighth steps: (URG is not supported: urgent data is delivered inline), text, FIN.
        if (dataLength > 0 || fin) {
            receiveText(p, seq, dataOffset, dataLength, fin, now);
        }
        return true;
    }

    private boolean timeWaitReopenable(int seq) {
        if (timestampsOk && options.hasTimestamps()) {
            return gt(options.timestampValue(), tsRecent);
        }
        return gt(seq, rcvNxt);
    }

    /** RFC 9293 §3.10.7.4, first check, with the zero-window allowance for ACKs and RSTs. */
    private boolean acceptable(int seq, int segLength) {
        int wnd = rcvAdv - rcvNxt;
        if (wnd < 0) {
            wnd = 0;
        }
        if (segLength == 0) {
            // Up to and including the right edge: a sender that filled our window sends its pure
            // ACKs with SEQ = RCV.NXT + RCV.WND (BSD and Linux accept these too).
            return le(rcvNxt, seq) && le(seq, rcvNxt + wnd);
        }
        if (wnd == 0) {
            return seq == rcvNxt; // processed for its ACK/RST/FIN; data beyond the window is trimmed
        }
        int last = seq + segLength - 1;
        return (le(rcvNxt, seq) && lt(seq, rcvNxt + wnd)) || (le(rcvNxt, last) && lt(last, rcvNxt + wnd));
    }

    /**
     * An unacceptable segment gets an ACK (RFC 9293), but an ACK for an unacceptable pure ACK is
     * rate-limited so two confused ends cannot ping-pong forever (window and keep-alive probes,
     * at RCV.NXT − 1, share the challenge-ACK budget instead).
     */
    private void answerUnacceptable(int seq, int segLength, long now) {
        if (segLength > 0) {
            ackNow = true;
        } else if (seq == rcvNxt - 1) {
            if (challengeBudget(now)) {
                ackNow = true;
            }
        } else if (lastOutOfWindowAck == Long.MIN_VALUE || now - lastOutOfWindowAck >= config.outOfWindowAckIntervalNanos) {
            lastOutOfWindowAck = now;
            ackNow = true;
        } else {
            counters.increment(CHALLENGE_ACKS_SUPPRESSED);
        }
    }

    private void challengeAck(long now) {
        if (challengeBudget(now)) {
            counters.increment(CHALLENGE_ACKS);
            ackNow = true;
        }
    }

    /** RFC 5961 §7: at most challengeAckLimitPerSecond per connection per second. */
    private boolean challengeBudget(long now) {
        if (challengeWindowStart == Long.MIN_VALUE || now - challengeWindowStart >= SECOND) {
            challengeWindowStart = now;
            challengeCount = 0;
        }
        if (challengeCount >= config.challengeAckLimitPerSecond) {
            counters.increment(CHALLENGE_ACKS_SUPPRESSED);
            return false;
        }
        challengeCount++;
        return true;
    }

    private void resetReceived() {
        switch (state) {
            case SYN_RECEIVED -> fail(TcpFailure.REFUSED);
            case ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT -> fail(TcpFailure.RESET);
            default -> enterClosed(); // CLOSING, LAST_ACK, TIME_WAIT: no user signal
        }
    }

    // ------------------------------------------------------------------------------------------
    // ACK processing, RTT, congestion control and loss recovery

    private void processAck(int seq, int ack, int windowBytes, int dataLength, int flags, long now) {
        if (lt(ack, sndUna)) {
            return; // an old duplicate: ignore its ACK field
        }
        unansweredProbes = 0;
        boolean windowChanged = false;
        // RFC 9293's SND.WL1/WL2 rule, except that a segment with the same SEQ and ACK as the last
        // update may only grow the window: a reordered older ACK must not close it (Linux does so too).
        if (lt(sndWl1, seq) || (sndWl1 == seq && (lt(sndWl2, ack) || (sndWl2 == ack && windowBytes > sndWnd)))) {
            windowChanged = windowBytes != sndWnd;
            sndWnd = windowBytes;
            sndWl1 = seq;
            sndWl2 = ack;
            if (sndWnd > maxSndWnd) {
                maxSndWnd = sndWnd;
            }
            if (sndWnd > 0) {
                persistBackoff = 0;
            }
        }
        if (sackOk && options.sackBlockCount() > 0) {
            for (int b = 0; b < options.sackBlockCount(); b++) {
                int left = options.sackLeft(b);
                int right = options.sackRight(b);
                if (lt(sndUna, right) && le(right, sndMax) && lt(left, right)) {
                    scoreboard.add(lt(left, sndUna) ? sndUna : left, right);
                }
            }
        }
        int acked = ack - sndUna;
        if (acked > 0) {
            int flightBefore = sndMax - sndUna;
            acknowledge(ack, now);
            if (inRecovery) {
                if (ge(ack, recover)) {
                    inRecovery = false;
                    dupAcks = 0;
                    long flight = sndMax - sndUna;
                    cc.cwnd = Math.max(smss, Math.min(cc.ssthresh, Math.max(flight, smss) + smss));
                } else if (sackOk) {
                    if (lt(rxtNext, sndUna)) {
                        rxtNext = sndUna;
                    }
                    if (scoreboard.count() == 0) {
                        retransmitHead = true; // no SACK information left: NewReno's guess
                    }
                } else {
                    retransmitHead = true; // RFC 6582 partial ACK
                    cc.cwnd = Math.max(smss, cc.cwnd - acked + (acked >= smss ? smss : 0));
                }
            } else {
                dupAcks = 0;
                // Grow only while the window is the limit (RFC 7661's spirit; Linux's
                // tcp_is_cwnd_limited): an application-limited sender must not inflate it.
                if (cc.inSlowStart() ? 2L * flightBefore >= cc.cwnd : flightBefore + smss >= cc.cwnd) {
                    cc.onAck(acked, smss, now, srtt);
                }
            }
        } else if (dataLength == 0 && (flags & (Tcp.SYN | Tcp.FIN)) == 0 && !windowChanged && sndMax != sndUna) {
            counters.increment(DUP_ACKS_IN);
            dupAcks++;
            if (inRecovery && !sackOk) {
                cc.cwnd = Math.min(CongestionController.MAX_CWND, cc.cwnd + smss); // window inflation
            }
        }
        if (!inRecovery && ge(sndUna, recover) && sndMax != sndUna
                && (dupAcks >= 3 || (sackOk && scoreboard.coveredBytes() >= 3L * smss))) {
            enterRecovery(now);
        }
        if (sndUna == sndMax) {
            rtoDeadline = NEVER;
        }
        // Our FIN acknowledged?
        if (finQueued && gt(sndUna, finSeq)) {
            switch (state) {
                case FIN_WAIT_1 -> {
                    state = TcpState.FIN_WAIT_2;
                    if (appClosed) {
                        finWait2Deadline = now + config.finWait2TimeoutNanos;
                    }
                }
                case CLOSING -> enterTimeWait(now);
                case LAST_ACK -> enterClosed();
                default -> { }
            }
        }
    }

    /** SND.UNA advances to {@code ack}: free the buffer, take an RTT sample, restart the timer. */
    private void acknowledge(int ack, long now) {
        int freeUpTo = gt(ack, sndBufSeq + sndQueued) ? sndBufSeq + sndQueued : ack;
        int freed = freeUpTo - sndBufSeq;
        if (freed > 0) {
            sndBufSeq += freed;
            sndHead += freed;
            if (sndHead >= sendCapacity) {
                sndHead -= sendCapacity;
            }
            sndQueued -= freed;
            if (writeBlocked || sndQueued + freed == sendCapacity) {
                writeBlocked = false;
                pendingEvents |= EV_WRITABLE;
            }
        }
        sndUna = ack;
        if (lt(sndNxt, sndUna)) {
            sndNxt = sndUna;
        }
        scoreboard.trimBelow(sndUna);
        long sample = -1;
        if (rttTiming && ge(ack, rttSeq)) {
            sample = now - rttStart;
            rttTiming = false;
        } else if (timestampsOk && options.hasTimestamps()
                && !(retransmittedSinceSample && lt(options.timestampEcho(), lastRetransmitTs))) {
            // An echo older than our last retransmission times the original transmission plus a
            // lost ACK (the peer echoes TS.Recent for a duplicate): not a round trip, skip it.
            int ms = tsClock(now, tsOffset) - options.timestampEcho();
            if (ms >= 0 && ms < 600_000) {
                sample = ms * MILLI;
            }
        }
        if (sample >= 0) {
            updateRtt(sample);
        }
        retries = 0;
        rtoDeadline = sndUna == sndMax ? NEVER : now + rto;
    }

    /** RFC 6298 §2. */
    private void updateRtt(long r) {
        retransmittedSinceSample = false;
        if (!hasRttSample) {
            srtt = r;
            rttvar = r / 2;
            hasRttSample = true;
        } else {
            long err = r - srtt;
            srtt += err / 8;
            rttvar += (Math.abs(err) - rttvar) / 4;
        }
        long base = srtt + Math.max(config.clockGranularityNanos, 4 * rttvar);
        rtoBase = Math.min(config.maxRtoNanos, Math.max(config.minRtoNanos, base));
        rto = rtoBase;
    }

    private void enterRecovery(long now) {
        counters.increment(FAST_RETRANSMITS);
        cc.onLoss(sndMax - sndUna, smss, now);
        recover = sndMax;
        inRecovery = true;
        retransmitHead = true;
        rttTiming = false;
        if (sackOk) {
            cc.cwnd = cc.ssthresh;
            rxtNext = sndUna;
        } else {
            cc.cwnd = cc.ssthresh + 3L * smss;
        }
    }

    /** RFC 6675-style estimate of bytes in the network during SACK recovery. */
    private long pipe() {
        int high = scoreboard.highestEnd(sndUna);
        if (lt(high, sndUna)) {
            high = sndUna;
        }
        int rxt = lt(rxtNext, sndUna) ? sndUna : rxtNext;
        long retransmitted = (long) (rxt - sndUna) - scoreboard.coveredBytesBelow(rxt);
        return (long) (sndMax - high) + Math.max(0, retransmitted);
    }

    // ------------------------------------------------------------------------------------------
    // Receiving data

    private void receiveText(MemorySegment p, int seq, long dataOffset, int dataLength, boolean fin, long now) {
        if (state != TcpState.ESTABLISHED && state != TcpState.FIN_WAIT_1 && state != TcpState.FIN_WAIT_2) {
            if (fin && (state == TcpState.CLOSE_WAIT || state == TcpState.CLOSING || state == TcpState.LAST_ACK
                    || state == TcpState.TIME_WAIT)) {
                ackNow = true; // a retransmitted FIN
                if (state == TcpState.TIME_WAIT) {
                    timeWaitDeadline = now + 2 * config.mslNanos;
                }
            }
            return;
        }
        int start = seq;
        int end = seq + dataLength;
        if (dataLength > 0) {
            if (lt(start, rcvNxt)) {
                start = rcvNxt;
            }
            if (gt(end, rcvAdv)) {
                end = rcvAdv;
                fin = false; // the FIN lies beyond the window too
                ackNow = true;
            }
            if (gt(end, start)) {
                if (appClosed) {
                    // RFC 1122 §4.2.2.13: data for a closed socket is lost; say so with a RST.
                    sendReset(sndMax, 0, Tcp.RST);
                    fail(TcpFailure.ABORTED);
                    return;
                }
                if (dataLength > rcvMss) {
                    rcvMss = Math.min(dataLength, localMss);
                }
                if (start == rcvNxt) {
                    copyIn(p, dataOffset + (start - seq), start, end - start);
                    counters.add(DATA_BYTES_IN, end - start);
                    rcvNxt = end;
                    if (outOfOrder.count() > 0) {
                        int before = rcvNxt;
                        rcvNxt = outOfOrder.advance(rcvNxt);
                        ackNow = true; // filled (part of) a gap: ACK at once (RFC 5681 §4.2)
                        if (rcvNxt != before && outOfOrder.count() == 0) {
                            ackNow = true;
                        }
                    }
                    pendingEvents |= EV_READABLE;
                    unackedBytes += end - start;
                    if (unackedBytes >= 2 * rcvMss || config.delayedAckNanos == 0) {
                        ackNow = true;
                    } else if (delayedAckDeadline == NEVER) {
                        delayedAckDeadline = now + config.delayedAckNanos;
                    }
                } else {
                    if (!outOfOrder.covers(start, end)) {
                        if (outOfOrder.add(start, end)) {
                            copyIn(p, dataOffset + (start - seq), start, end - start);
                            counters.add(DATA_BYTES_IN, end - start);
                        } else {
                            counters.increment(DROP_OUT_OF_ORDER_FULL);
                        }
                    }
                    ackNow = true; // out of order: duplicate ACK with SACK at once
                }
            } else {
                ackNow = true; // nothing new: a duplicate
            }
        }
        if (fin) {
            int at = seq + dataLength;
            if (at == rcvNxt) {
                finArrived(now);
            } else if (gt(at, rcvNxt) && lt(at, rcvAdv + 1)) {
                finOutOfOrder = true;
                outOfOrderFinSeq = at;
                ackNow = true;
            }
        }
        if (finOutOfOrder && !finReceived && outOfOrderFinSeq == rcvNxt && outOfOrder.count() == 0) {
            finArrived(now);
        }
    }

    private void finArrived(long now) {
        finReceived = true;
        finOutOfOrder = false;
        rcvFinSeq = rcvNxt;
        rcvNxt++;
        ackNow = true;
        pendingEvents |= EV_READABLE;
        switch (state) {
            case ESTABLISHED -> state = TcpState.CLOSE_WAIT;
            case FIN_WAIT_1 -> {
                if (finQueued && gt(sndUna, finSeq)) {
                    enterTimeWait(now);
                } else {
                    state = TcpState.CLOSING;
                }
            }
            case FIN_WAIT_2 -> enterTimeWait(now);
            default -> { }
        }
    }

    private void copyIn(MemorySegment p, long from, int seq, int length) {
        int pos = rcvHead + (seq - rcvUser);
        if (pos >= receiveCapacity) {
            pos -= receiveCapacity;
        }
        int first = Math.min(length, receiveCapacity - pos);
        MemorySegment.copy(p, from, receiveRing, pos, first);
        if (first < length) {
            MemorySegment.copy(p, from + first, receiveRing, 0, length - first);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Output

    /**
     * Sends what the windows allow (data, FIN, retransmissions, a pending ACK). Call after the
     * core freed packet buffers when {@link #outputBlocked()} was true, and after changing
     * {@link #setNoDelay}. Allocation-free.
     */
    public void flush(long nowNanos) {
        if (state != TcpState.CLOSED) {
            output(nowNanos);
        }
        fireEvents();
    }

    /** True when a segment could not be sent for want of a packet buffer; cleared by {@link #flush}. */
    public boolean outputBlocked() {
        return outputBlocked;
    }

    private void output(long now) {
        outputBlocked = false;
        if (state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED) {
            if (sndNxt == iss) {
                boolean again = sndMax != iss;
                if (!emitSyn(now)) {
                    return;
                }
                if (again && state == TcpState.SYN_SENT) {
                    counters.increment(RETRANSMITTED_SEGMENTS);
                }
                if (!again) {
                    rttTiming = true;
                    rttSeq = iss + 1;
                    rttStart = now;
                }
                sndNxt = iss + 1;
                sndMax = iss + 1;
                if (rtoDeadline == NEVER) {
                    rtoDeadline = now + rto;
                }
            }
            if (ackNow && state == TcpState.SYN_RECEIVED) {
                emitControl(sndMax, Tcp.ACK, now);
            }
            return;
        }
        boolean sending = state == TcpState.ESTABLISHED || state == TcpState.CLOSE_WAIT
                || state == TcpState.FIN_WAIT_1 || state == TcpState.CLOSING || state == TcpState.LAST_ACK;
        if (sending && !sendSegments(now)) {
            return;
        }
        if (ackNow) {
            emitControl(pureAckSequence(), Tcp.ACK, now);
        }
        if (sending) {
            armPersist(now);
        }
    }

    /** The send loop. Returns false if the sink ran out of buffers. */
    private boolean sendSegments(long now) {
        int dataEnd = sndBufSeq + sndQueued;
        while (true) {
            int maxPayload = maxPayload();
            if (retransmitHead) {
                retransmitHead = false;
                // Only what was sent before: SND.MAX must cover everything ever sent.
                int sentEnd = lt(sndMax, dataEnd) ? sndMax : dataEnd;
                int payload = Math.max(0, Math.min(maxPayload, sentEnd - sndUna));
                boolean fin = finQueued && sndUna + payload == finSeq && gt(sndMax, finSeq);
                if (payload > 0 || fin) {
                    if (!emitData(sndUna, payload, fin, true, now)) {
                        retransmitHead = true;
                        return false;
                    }
                    int end = sndUna + payload + (fin ? 1 : 0);
                    if (lt(rxtNext, end)) {
                        rxtNext = end;
                    }
                    if (lt(sndNxt, end)) {
                        sndNxt = end;
                    }
                }
                continue;
            }
            if (inRecovery && sackOk) {
                if (pipe() >= cc.cwnd) {
                    return true;
                }
                int high = scoreboard.highestEnd(sndUna);
                int hole = scoreboard.firstUncovered(lt(rxtNext, sndUna) ? sndUna : rxtNext);
                if (lt(hole, high)) {
                    int holeEnd = scoreboard.nextStartAfter(hole, high);
                    int payload = Math.min(maxPayload, Math.min(holeEnd, dataEnd) - hole);
                    if (payload <= 0) {
                        rxtNext = holeEnd;
                        continue;
                    }
                    if (!emitData(hole, payload, false, true, now)) {
                        return false;
                    }
                    rxtNext = hole + payload;
                    continue;
                }
            }
            // New data (or data again after an RTO pulled SND.NXT back), then the FIN.
            int nxt = sndNxt;
            int pending = Math.max(0, dataEnd - nxt);
            boolean finPending = finQueued && le(nxt, finSeq);
            if (pending == 0 && !finPending) {
                return true;
            }
            boolean retransmission = lt(nxt, sndMax);
            long flight = inRecovery && sackOk ? pipe() : (long) (nxt - sndUna);
            if (!retransmission && sndMax == sndUna && lastSendNanos != 0 && now - lastSendNanos > rto) {
                // RFC 5681 §4.1: restart from the initial window after an idle period.
                cc.cwnd = Math.min(cc.cwnd, (long) config.initialWindowSegments * smss);
            }
            int len = Math.min(pending, maxPayload);
            if (len > 0) {
                long windowRoom = (long) sndWnd - (nxt - sndUna);
                if (windowRoom < len) {
                    // Sender SWS avoidance (RFC 9293 §3.8.6.2.1), unless nothing is in flight.
                    if (windowRoom > 0 && (windowRoom >= maxSndWnd / 2 || flight == 0)) {
                        len = (int) windowRoom;
                    } else {
                        len = 0;
                    }
                }
                long cwndRoom = cc.cwnd - flight;
                if (!inRecovery && !retransmission && dupAcks > 0 && dupAcks < 3) {
                    // Limited transmit (RFC 3042): each of the first two duplicate ACKs lets one new
                    // segment out beyond cwnd, so a small window still gathers the third dupack
                    // for fast retransmit instead of waiting for the RTO.
                    cwndRoom += (long) dupAcks * smss;
                }
                if (len > 0 && cwndRoom < len) {
                    len = 0;
                }
                // Nagle (RFC 9293 §3.7.4): hold a small segment while data is unacknowledged.
                if (len > 0 && len < maxPayload && len == pending && !noDelay && !finQueued && !retransmission
                        && sndMax != sndUna) {
                    len = 0;
                }
            }
            boolean fin = finPending && nxt + len == finSeq;
            if (len == 0 && !fin) {
                return true;
            }
            if (!emitData(nxt, len, fin, retransmission, now)) {
                return false;
            }
            sndNxt = nxt + len + (fin ? 1 : 0);
            if (gt(sndNxt, sndMax)) {
                sndMax = sndNxt;
            }
        }
    }

    private void armPersist(long now) {
        int dataEnd = sndBufSeq + sndQueued;
        boolean blocked = sndMax == sndUna && lt(sndNxt, dataEnd) && (long) sndWnd - (sndNxt - sndUna) <= 0;
        if (!blocked) {
            persistDeadline = NEVER;
        } else if (persistDeadline == NEVER) {
            long interval = Math.min(config.maxPersistNanos, Math.max(config.minRtoNanos, rtoBase << Math.min(persistBackoff, 20)));
            persistDeadline = now + interval;
        }
    }

    private int maxPayload() {
        return mssBase - (timestampsOk ? TIMESTAMP_OPTION : 0) - sackOptionLength();
    }

    private int sackBlocksToSend() {
        return sackOk ? Math.min(outOfOrder.count(), timestampsOk ? 3 : 4) : 0;
    }

    private int sackOptionLength() {
        int blocks = sackBlocksToSend();
        return blocks == 0 ? 0 : 4 + 8 * blocks;
    }

    private boolean emitSyn(long now) {
        boolean synSent = state == TcpState.SYN_SENT;
        boolean ws = synSent ? config.windowScaling : windowScaleOk;
        boolean sack = synSent ? config.sack : sackOk;
        boolean ts = synSent ? config.timestamps : timestampsOk;
        int headerLength = Tcp.MIN_HEADER_LENGTH + synOptionsLength(ws, sack, ts);
        long at = sink.begin(localAddress, remoteAddress, headerLength);
        if (at < 0) {
            blocked();
            return false;
        }
        MemorySegment m = sink.memory();
        int flags = synSent ? Tcp.SYN : Tcp.SYN | Tcp.ACK;
        Tcp.write(m, at, localPort, remotePort, iss, synSent ? 0 : rcvNxt, headerLength, flags,
                synWindow(receiveBufferSize));
        writeSynOptions(m, at, localMss, ws ? receiveShift : -1, sack, ts, tsClock(now, tsOffset),
                synSent ? 0 : tsRecent);
        sink.send(headerLength);
        counters.increment(SEGMENTS_OUT);
        if (!synSent) {
            ackSent();
        }
        lastSendNanos = now;
        return true;
    }

    private boolean emitData(int seq, int len, boolean fin, boolean retransmission, long now) {
        int sackBlocks = sackBlocksToSend();
        int optionLength = (timestampsOk ? TIMESTAMP_OPTION : 0) + (sackBlocks == 0 ? 0 : 4 + 8 * sackBlocks);
        int headerLength = Tcp.MIN_HEADER_LENGTH + optionLength;
        long at = sink.begin(localAddress, remoteAddress, headerLength + len);
        if (at < 0) {
            blocked();
            return false;
        }
        MemorySegment m = sink.memory();
        int flags = Tcp.ACK | (fin ? Tcp.FIN : 0) | (len > 0 && seq + len == sndBufSeq + sndQueued ? Tcp.PSH : 0);
        Tcp.write(m, at, localPort, remotePort, seq, rcvNxt, headerLength, flags, windowField());
        writeOptions(m, at, sackBlocks, now);
        if (len > 0) {
            copyOut(m, at + headerLength, seq, len);
        }
        sink.send(headerLength + len);
        counters.increment(SEGMENTS_OUT);
        counters.add(DATA_BYTES_OUT, len);
        ackSent();
        lastSendNanos = now;
        if (retransmission) {
            counters.increment(RETRANSMITTED_SEGMENTS);
            rttTiming = false; // Karn's algorithm
            retransmittedSinceSample = true;
            lastRetransmitTs = tsClock(now, tsOffset);
        } else if (!rttTiming) {
            rttTiming = true;
            rttSeq = seq + len + (fin ? 1 : 0);
            rttStart = now;
        }
        if (rtoDeadline == NEVER) {
            rtoDeadline = now + rto;
        }
        return true;
    }

    /** A segment without data: ACK, window probe, keep-alive probe. */
    /**
     * The sequence number of a pure ACK: the next new one (SND.MAX, not SND.NXT pulled back by an
     * RTO, which could fall below the peer's RCV.NXT), but no further than the right edge of the
     * peer's window, as Linux's tcp_acceptable_seq. A peer whose window is closed accepts a
     * zero-length segment only at SEQ = RCV.NXT (RFC 9293 §3.10.7.4): if data we sent beyond its
     * window was lost, SND.MAX lies past RCV.NXT and the peer would ignore every ACK we send,
     * while we ignore its retransmissions into our own closed window: a deadlock both ends'
     * backed-off RTOs cannot break.
     */
    private int pureAckSequence() {
        int windowEnd = sndUna + sndWnd;
        return lt(windowEnd, sndMax) ? windowEnd : sndMax;
    }

    private boolean emitControl(int seq, int flags, long now) {
        int sackBlocks = sackBlocksToSend();
        int optionLength = (timestampsOk ? TIMESTAMP_OPTION : 0) + (sackBlocks == 0 ? 0 : 4 + 8 * sackBlocks);
        int headerLength = Tcp.MIN_HEADER_LENGTH + optionLength;
        long at = sink.begin(localAddress, remoteAddress, headerLength);
        if (at < 0) {
            blocked();
            return false;
        }
        MemorySegment m = sink.memory();
        Tcp.write(m, at, localPort, remotePort, seq, rcvNxt, headerLength, flags, windowField());
        writeOptions(m, at, sackBlocks, now);
        sink.send(headerLength);
        counters.increment(SEGMENTS_OUT);
        ackSent();
        return true;
    }

    private void writeOptions(MemorySegment m, long at, int sackBlocks, long now) {
        long o = at + Tcp.MIN_HEADER_LENGTH;
        if (timestampsOk) {
            o = TcpOptions.writeTimestamps(m, o, tsClock(now, tsOffset), tsRecent);
        }
        if (sackBlocks > 0) {
            int n = outOfOrder.mostRecentFirst(sackLeft, sackRight, sackBlocks);
            TcpOptions.writeSack(m, o, sackLeft, sackRight, n);
        }
    }

    private void blocked() {
        outputBlocked = true;
        counters.increment(SINK_FULL);
    }

    private void ackSent() {
        ackNow = false;
        unackedBytes = 0;
        delayedAckDeadline = NEVER;
        lastAckSent = rcvNxt;
    }

    private void sendReset(int seq, int ack, int flags) {
        if (TcpReset.send(sink, localAddress, remoteAddress, localPort, remotePort, seq, ack, flags)) {
            counters.increment(SEGMENTS_OUT);
            counters.increment(RESETS_OUT);
        } else {
            counters.increment(SINK_FULL);
        }
    }

    private void copyOut(MemorySegment m, long to, int seq, int len) {
        int pos = sndHead + (seq - sndBufSeq);
        if (pos >= sendCapacity) {
            pos -= sendCapacity;
        }
        int first = Math.min(len, sendCapacity - pos);
        MemorySegment.copy(sendRing, pos, m, to, first);
        if (first < len) {
            MemorySegment.copy(sendRing, 0, m, to + first, len - first);
        }
    }

    /**
     * The window field for a non-SYN segment (RFC 7323 §2.3): the free receive space, with the
     * right edge moved only by SWS-avoiding steps (RFC 9293 §3.8.6.2.2) and never moved left,
     * rounded up to the scale unit (the ring has that much slack).
     */
    private int windowField() {
        int dataEnd = finReceived ? rcvFinSeq : rcvNxt;
        int right = rcvUser + receiveBufferSize;
        if (gt(right, rcvWndRight)) {
            int increase = right - rcvWndRight;
            int used = dataEnd - rcvUser;
            if (increase >= Math.min(receiveBufferSize / 2, localMss) || used == 0) {
                rcvWndRight = right;
            }
        }
        int wnd = rcvWndRight - rcvNxt;
        if (wnd <= 0) {
            return 0;
        }
        int field = (int) (((long) wnd + (1 << receiveShift) - 1) >>> receiveShift);
        if (field > 0xFFFF) {
            field = 0xFFFF;
        }
        int peerRight = rcvNxt + (field << receiveShift);
        if (gt(peerRight, rcvAdv)) {
            rcvAdv = peerRight;
        }
        return field;
    }

    // ------------------------------------------------------------------------------------------
    // Timers

    /** The earliest time {@link #onTimer} has something to do, or {@link #NEVER}. */
    public long nextDeadline() {
        long d = Math.min(rtoDeadline, Math.min(persistDeadline, delayedAckDeadline));
        d = Math.min(d, Math.min(timeWaitDeadline, finWait2Deadline));
        return Math.min(d, keepAliveDeadline());
    }

    private long keepAliveDeadline() {
        if (!keepAlive || sndMax != sndUna || !(state == TcpState.ESTABLISHED || state == TcpState.CLOSE_WAIT
                || state == TcpState.FIN_WAIT_2)) {
            return NEVER;
        }
        return lastReceiveNanos + keepAliveIdle + keepAliveProbesSent * keepAliveInterval;
    }

    /** Runs the timers due at {@code nowNanos} (calling it early is harmless). */
    public void onTimer(long nowNanos) {
        if (state == TcpState.CLOSED) {
            return;
        }
        if (timeWaitDeadline <= nowNanos || finWait2Deadline <= nowNanos) {
            enterClosed();
            fireEvents();
            return;
        }
        if (rtoDeadline <= nowNanos) {
            retransmissionTimeout(nowNanos);
        }
        if (state != TcpState.CLOSED && persistDeadline <= nowNanos) {
            persistTimeout(nowNanos);
        }
        if (state != TcpState.CLOSED && keepAliveDeadline() <= nowNanos) {
            keepAliveTimeout(nowNanos);
        }
        if (delayedAckDeadline <= nowNanos) {
            delayedAckDeadline = NEVER;
            ackNow = true;
        }
        if (state != TcpState.CLOSED) {
            output(nowNanos);
        }
        fireEvents();
    }

    private void retransmissionTimeout(long now) {
        rtoDeadline = NEVER;
        counters.increment(RTO_EXPIRATIONS);
        retries++;
        io.arrakis.observe.RetransmissionTimeoutEvent event = new io.arrakis.observe.RetransmissionTimeoutEvent();
        if (event.isEnabled()) {
            event.local = ipv4(localAddress) + ":" + localPort;
            event.remote = ipv4(remoteAddress) + ":" + remotePort;
            event.state = state.name();
            event.rto = rto;
            event.retries = retries;
            event.bytesInFlight = bytesInFlight();
            event.congestionWindow = cc.cwnd;
            event.commit();
        }
        if (state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED) {
            if (retries > config.maxSynRetransmissions) {
                fail(TcpFailure.TIMED_OUT);
                return;
            }
            synRetransmitted = true;
            sndNxt = iss;
            rttTiming = false;
            rto = Math.min(config.maxRtoNanos, rto * 2);
            if (state == TcpState.SYN_RECEIVED) {
                counters.increment(RETRANSMITTED_SEGMENTS);
            }
            return;
        }
        if (sndMax == sndUna) {
            return;
        }
        if (sndWnd == 0 && now - lastReceiveNanos < config.maxRtoNanos) {
            retries--; // a closed window: these are window probes, and the peer is still answering
        }
        if (retries > config.maxRetransmissions) {
            fail(TcpFailure.TIMED_OUT);
            return;
        }
        // RFC 5681 §3.1 and RFC 6298 §5.5-5.6: one segment, back off, go back to SND.UNA. The first
        // segment goes whatever the window says (it doubles as a window probe).
        cc.onRetransmissionTimeout(sndMax - sndUna, smss, now);
        inRecovery = false;
        dupAcks = 0;
        recover = sndMax;
        retransmitHead = false;
        scoreboard.clear(); // the receiver may have reneged; resend from SND.UNA
        rxtNext = sndUna;
        sndNxt = sndUna;
        retransmitHead = true;
        rttTiming = false;
        rto = Math.min(config.maxRtoNanos, rto * 2);
    }

    /**
     * Whether an ICMP error quoting a segment with sequence number {@code seq} can be about one
     * of ours in flight (RFC 5927 §4.1): blind ICMP attacks must guess it, as they would for RST.
     */
    public boolean icmpQuoteAcceptable(int seq) {
        if (state == TcpState.SYN_SENT) {
            return seq == iss;
        }
        return !lt(seq, sndUna) && lt(seq, sndMax);
    }

    /**
     * ICMP "fragmentation needed" (RFC 1191): the path to the peer carries at most
     * {@code pathMtu} bytes per IP packet. Lowers the MSS and sends what was in flight again at
     * the new size at once, which is not a congestion signal (no change to cwnd).
     */
    public void pathMtuDecreased(int pathMtu, long nowNanos) {
        int newBase = Math.max(MIN_MSS, pathMtu - Ipv4.MIN_HEADER_LENGTH - Tcp.MIN_HEADER_LENGTH);
        if (newBase >= mssBase || state == TcpState.CLOSED) {
            return;
        }
        mssBase = newBase;
        smss = mssBase - (timestampsOk ? TIMESTAMP_OPTION : 0);
        counters.increment(PATH_MTU_DECREASES);
        if (state.synchronizedState() && sndMax != sndUna) {
            scoreboard.clear();
            inRecovery = false;
            dupAcks = 0;
            rxtNext = sndUna;
            sndNxt = sndUna;
            retransmitHead = true;
            rttTiming = false;
        }
        output(nowNanos);
        fireEvents();
    }

    /**
     * ICMP protocol or port unreachable (RFC 1122 §4.2.3.9: hard errors): a connection still
     * opening fails as refused; an established one carries on, as Linux does, and its
     * retransmission timeout decides.
     */
    public void hardError(long nowNanos) {
        if (state == TcpState.SYN_SENT) {
            fail(TcpFailure.REFUSED);
            fireEvents();
        }
    }

    private void persistTimeout(long now) {
        persistDeadline = NEVER;
        if (unansweredProbes >= config.maxRetransmissions) {
            fail(TcpFailure.TIMED_OUT);
            return;
        }
        // A zero-window probe: an old sequence number, which any receiver must answer with its window.
        if (emitControl(sndUna - 1, Tcp.ACK, now)) {
            counters.increment(WINDOW_PROBES);
            unansweredProbes++;
            persistBackoff++;
        }
        long interval = Math.min(config.maxPersistNanos,
                Math.max(config.minRtoNanos, rtoBase << Math.min(persistBackoff, 20)));
        persistDeadline = now + interval;
    }

    private void keepAliveTimeout(long now) {
        if (keepAliveProbesSent >= keepAliveCount) {
            sendReset(sndMax, 0, Tcp.RST);
            fail(TcpFailure.TIMED_OUT);
            return;
        }
        if (emitControl(sndUna - 1, Tcp.ACK, now)) {
            counters.increment(KEEPALIVE_PROBES);
        }
        keepAliveProbesSent++;
    }

    // ------------------------------------------------------------------------------------------
    // State changes

    private void negotiate(int peerMss, int peerShift, boolean peerSack, boolean peerTimestamps, int tsVal, long now) {
        int peer = peerMss > 0 ? peerMss : config.defaultMss;
        mssBase = Math.max(MIN_MSS, Math.min(peer, localMss));
        windowScaleOk = config.windowScaling && peerShift >= 0;
        sendShift = windowScaleOk ? Math.min(peerShift, TcpOptions.MAX_WINDOW_SHIFT) : 0;
        if (!windowScaleOk) {
            receiveShift = 0;
        }
        sackOk = config.sack && peerSack;
        timestampsOk = config.timestamps && peerTimestamps;
        if (timestampsOk) {
            tsRecent = tsVal;
            tsRecentNanos = now;
        }
        smss = mssBase - (timestampsOk ? TIMESTAMP_OPTION : 0);
        rcvMss = Math.min(536, smss);
    }

    private void initReceive(int peerIss) {
        rcvNxt = peerIss + 1;
        rcvUser = rcvNxt;
        rcvHead = 0;
        rcvWndRight = rcvNxt + synWindow(receiveBufferSize);
        rcvAdv = rcvWndRight;
    }

    private void establish(long now) {
        state = TcpState.ESTABLISHED;
        established = true;
        if (synRetransmitted && !hasRttSample) {
            rtoBase = Math.min(config.maxRtoNanos, Math.max(rtoBase, FALLBACK_RTO_NANOS));
            rto = rtoBase;
        }
        // RFC 5681 §3.1: a lost SYN or SYN-ACK leaves an initial window of one segment.
        cc.cwnd = synRetransmitted ? smss : (long) config.initialWindowSegments * smss;
        retries = 0;
        lastSendNanos = now;
        if (sndUna == sndMax) {
            rtoDeadline = NEVER;
        }
        pendingEvents |= EV_CONNECTED | EV_WRITABLE;
        if (finQueued) {
            state = TcpState.FIN_WAIT_1;
        }
    }

    private void enterTimeWait(long now) {
        state = TcpState.TIME_WAIT;
        timeWaitDeadline = now + 2 * config.mslNanos;
        rtoDeadline = NEVER;
        persistDeadline = NEVER;
        finWait2Deadline = NEVER;
        retransmitHead = false;
        inRecovery = false;
    }

    private void fail(TcpFailure reason) {
        if (failure == null) {
            failure = reason;
        }
        // RFC 9293: on reset or abort, the queues are flushed.
        rcvUser = finReceived ? rcvFinSeq : rcvNxt;
        rcvHead = 0;
        outOfOrder.clear();
        sndQueued = 0;
        enterClosed();
    }

    private void enterClosed() {
        state = TcpState.CLOSED;
        rtoDeadline = NEVER;
        persistDeadline = NEVER;
        delayedAckDeadline = NEVER;
        timeWaitDeadline = NEVER;
        finWait2Deadline = NEVER;
        ackNow = false;
        retransmitHead = false;
        pendingEvents |= EV_CLOSED | EV_READABLE | EV_WRITABLE;
    }

    private void fireEvents() {
        while (pendingEvents != 0) {
            int e = pendingEvents;
            pendingEvents = 0;
            if ((e & EV_CONNECTED) != 0) {
                events.connected(this);
            }
            if ((e & EV_READABLE) != 0) {
                events.readable(this);
            }
            if ((e & EV_WRITABLE) != 0) {
                events.writable(this);
            }
            if ((e & EV_CLOSED) != 0) {
                events.closed(this);
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Application side

    /**
     * Copies up to {@code length} received bytes into {@code dst} at {@code offset}. Returns the
     * number copied, 0 when nothing is available yet, or -1 when nothing more will ever arrive:
     * end of stream after the peer's FIN, or the connection failed or was closed (see
     * {@link #failure()}). Reading opens the receive window and may send a window update.
     */
    public int read(MemorySegment dst, long offset, int length, long nowNanos) {
        if (length < 0) {
            throw new IllegalArgumentException("negative length " + length);
        }
        int available = receiveQueueBytes();
        if (available == 0) {
            return finReceived || state == TcpState.CLOSED || appClosed ? -1 : 0;
        }
        if (appClosed) {
            return -1;
        }
        int n = Math.min(length, available);
        int first = Math.min(n, receiveCapacity - rcvHead);
        MemorySegment.copy(receiveRing, rcvHead, dst, offset, first);
        if (first < n) {
            MemorySegment.copy(receiveRing, 0, dst, offset + first, n - first);
        }
        consume(n, nowNanos);
        return n;
    }

    // --- The native (Arrakis/N) interface: the application reads received bytes where they lie in
    // the receive ring and writes bytes to send straight into the send ring, saving the copy that
    // read() and write() make. Same thread rules as read/write.

    /** The receive ring; readable bytes start at {@link #readableOffset()}. */
    public MemorySegment receiveBuffer() {
        return receiveRing;
    }

    /** Where in {@link #receiveBuffer()} the next unread byte is. */
    public long readableOffset() {
        return rcvHead;
    }

    /**
     * How many unread bytes lie contiguously from {@link #readableOffset()} (the ring may hold
     * more after it wraps); 0 when none, -1 at end of stream, as {@link #read} reports it.
     */
    public int readableContiguous() {
        int available = receiveQueueBytes();
        if (available == 0 || appClosed) {
            return available == 0 && !(finReceived || state == TcpState.CLOSED || appClosed) ? 0 : -1;
        }
        return Math.min(available, receiveCapacity - rcvHead);
    }

    /** Marks {@code n} bytes read in place as consumed, freeing window for the peer. */
    public void consume(int n, long nowNanos) {
        if (n < 0 || n > receiveQueueBytes()) {
            throw new IllegalArgumentException("cannot consume " + n + " bytes; " + receiveQueueBytes() + " are unread");
        }
        if (n == 0) {
            return;
        }
        rcvUser += n;
        rcvHead += n;
        if (rcvHead >= receiveCapacity) {
            rcvHead -= receiveCapacity;
        }
        if (!finReceived && (state == TcpState.ESTABLISHED || state == TcpState.FIN_WAIT_1
                || state == TcpState.FIN_WAIT_2)) {
            int increase = rcvUser + receiveBufferSize - rcvWndRight;
            if (increase >= Math.min(receiveBufferSize / 2, localMss)) {
                ackNow = true; // a window update worth sending
                output(nowNanos);
            }
        }
        fireEvents();
    }

    /**
     * Copies up to {@code length} bytes from {@code src} into the send buffer and sends what the
     * windows allow. Returns the number accepted (0 when the buffer is full: wait for
     * {@link TcpEvents#writable}), or -1 when this side can no longer send (output shut down,
     * connection closed or failed).
     */
    public int write(MemorySegment src, long offset, int length, long nowNanos) {
        if (length < 0) {
            throw new IllegalArgumentException("negative length " + length);
        }
        if (!canWrite()) {
            return -1;
        }
        int n = Math.min(length, sendCapacity - sndQueued);
        if (n > 0) {
            int pos = writablePosition();
            int first = Math.min(n, sendCapacity - pos);
            MemorySegment.copy(src, offset, sendRing, pos, first);
            if (first < n) {
                MemorySegment.copy(src, offset + first, sendRing, 0, n - first);
            }
        }
        return commitWritten(n, length, nowNanos);
    }

    /** The send ring; free space starts at {@link #writableOffset()}. */
    public MemorySegment sendBuffer() {
        return sendRing;
    }

    /** Where in {@link #sendBuffer()} the application may write the next bytes to send. */
    public long writableOffset() {
        return writablePosition();
    }

    /**
     * How many bytes may be written contiguously at {@link #writableOffset()} (more may be free
     * after the ring wraps); -1 when the connection can no longer send, as {@link #write} says.
     */
    public int writableContiguous() {
        if (!canWrite()) {
            return -1;
        }
        return Math.min(sendCapacity - sndQueued, sendCapacity - writablePosition());
    }

    /** Queues {@code n} bytes the application wrote in place at {@link #writableOffset()} for sending. */
    public void commit(int n, long nowNanos) {
        int room = writableContiguous();
        if (n < 0 || n > Math.max(room, 0)) {
            throw new IllegalArgumentException("cannot commit " + n + " bytes; " + room + " were writable in place");
        }
        commitWritten(n, n, nowNanos);
    }

    private int writablePosition() {
        int pos = sndHead + sndQueued;
        return pos >= sendCapacity ? pos - sendCapacity : pos;
    }

    private int commitWritten(int n, int wanted, long nowNanos) {
        if (n > 0) {
            sndQueued += n;
            if (state.synchronizedState()) {
                output(nowNanos);
            }
        }
        if (n < wanted) {
            writeBlocked = true;
        }
        fireEvents();
        return n;
    }

    private boolean canWrite() {
        return !finQueued && !appClosed && (state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED
                || state == TcpState.ESTABLISHED || state == TcpState.CLOSE_WAIT);
    }

    /** Half-close: a FIN follows the data already written (RFC 9293 CLOSE on the sending side). */
    public void shutdownOutput(long nowNanos) {
        if (finQueued || state == TcpState.CLOSED) {
            return;
        }
        finQueued = true;
        finSeq = sndBufSeq + sndQueued;
        if (state == TcpState.ESTABLISHED) {
            state = TcpState.FIN_WAIT_1;
        } else if (state == TcpState.CLOSE_WAIT) {
            state = TcpState.LAST_ACK;
        }
        if (state.synchronizedState()) {
            output(nowNanos);
        }
        fireEvents();
    }

    /**
     * The application closes the socket. Gracefully (a FIN after the queued data) unless linger
     * is 0 or received data is still unread, which abort with a RST (RFC 1122 §4.2.2.13). After
     * close, {@link #read} returns -1 and data arriving from the peer is answered with a RST.
     */
    public void close(long nowNanos) {
        if (appClosed) {
            return;
        }
        appClosed = true;
        if (state == TcpState.CLOSED) {
            fireEvents();
            return;
        }
        if (state == TcpState.SYN_SENT) {
            enterClosed();
        } else if (lingerSeconds == 0 || receiveQueueBytes() > 0) {
            abort(nowNanos);
            return;
        } else {
            shutdownOutput(nowNanos);
            if (state == TcpState.FIN_WAIT_2) {
                finWait2Deadline = nowNanos + config.finWait2TimeoutNanos;
            }
        }
        fireEvents();
    }

    /** Aborts: a RST to the peer if it knows us (RFC 9293 ABORT), queues dropped, failure ABORTED. */
    public void abort(long nowNanos) {
        if (state == TcpState.CLOSED) {
            return;
        }
        switch (state) {
            case SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT -> sendReset(sndMax, 0, Tcp.RST);
            default -> { }
        }
        fail(TcpFailure.ABORTED);
        fireEvents();
    }

    // ------------------------------------------------------------------------------------------
    // Queries

    public TcpState state() {
        return state;
    }

    /** Why the connection failed, or null (also null after a normal close). */
    public TcpFailure failure() {
        return failure;
    }

    /** A read would not return 0: data, end of stream, or a failure. */
    public boolean isReadable() {
        return receiveQueueBytes() > 0 || finReceived || state == TcpState.CLOSED;
    }

    /** A write would not return 0: room in the send buffer, or an error to report (-1). */
    public boolean isWritable() {
        if (!canWrite()) {
            return state != TcpState.SYN_SENT && state != TcpState.SYN_RECEIVED;
        }
        return state.synchronizedState() && sndQueued < sendCapacity;
    }

    /** In a synchronized state: the handshake completed and the connection is not CLOSED yet. */
    public boolean isConnected() {
        return state.synchronizedState();
    }

    /** The handshake completed at some point (stays true after the connection closes). */
    public boolean wasEstablished() {
        return established;
    }

    public int localAddress() {
        return localAddress;
    }

    public int localPort() {
        return localPort;
    }

    public int remoteAddress() {
        return remoteAddress;
    }

    public int remotePort() {
        return remotePort;
    }

    public void setEvents(TcpEvents events) {
        this.events = events == null ? TcpEvents.NONE : events;
    }

    /** TCP_NODELAY: disables Nagle; call {@link #flush} afterwards to send what Nagle held. */
    public void setNoDelay(boolean on) {
        noDelay = on;
    }

    public boolean noDelay() {
        return noDelay;
    }

    public void setKeepAlive(boolean on) {
        keepAlive = on;
    }

    public boolean keepAlive() {
        return keepAlive;
    }

    /** TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT. */
    public void setKeepAliveParameters(long idleNanos, long intervalNanos, int probes) {
        if (idleNanos <= 0 || intervalNanos <= 0 || probes < 1) {
            throw new IllegalArgumentException("keep-alive idle " + idleNanos + " ns, interval " + intervalNanos
                    + " ns, probes " + probes + ": all must be positive");
        }
        keepAliveIdle = idleNanos;
        keepAliveInterval = intervalNanos;
        keepAliveCount = probes;
    }

    /** SO_LINGER in seconds, -1 for off. Only 0 changes what the engine does (abortive close). */
    public void setLinger(int seconds) {
        lingerSeconds = seconds < 0 ? -1 : seconds;
    }

    public int linger() {
        return lingerSeconds;
    }

    public int sendBufferSize() {
        return sendCapacity;
    }

    public int receiveBufferSize() {
        return receiveBufferSize;
    }

    public TcpCounters counters() {
        return counters;
    }

    /** Smoothed RTT (0 before the first sample). */
    public long srttNanos() {
        return srtt;
    }

    public long rttVarNanos() {
        return rttvar;
    }

    /** The current retransmission timeout, back-off included. */
    public long rtoNanos() {
        return rto;
    }

    public long congestionWindow() {
        return cc.cwnd;
    }

    public long slowStartThreshold() {
        return cc.ssthresh;
    }

    /** Payload bytes of a full-sized segment. */
    public int sendMss() {
        return smss;
    }

    public long retransmittedSegments() {
        return counters.get(RETRANSMITTED_SEGMENTS);
    }

    /** Sequence space sent and not yet acknowledged. */
    /** SND.UNA: the oldest sequence number not yet acknowledged (for tools and ICMP checks). */
    public int sendUnacknowledged() {
        return sndUna;
    }

    public int bytesInFlight() {
        return sndMax - sndUna;
    }

    /** Bytes in the send buffer: unacknowledged plus not yet sent. */
    public int sendQueueBytes() {
        return sndQueued;
    }

    /** Bytes received in order and not yet read. */
    public int receiveQueueBytes() {
        int end = finReceived ? rcvFinSeq : rcvNxt;
        return end - rcvUser;
    }

    /** The peer's current window, in bytes. */
    public int sendWindow() {
        return sndWnd;
    }

    /** The window we last advertised, in bytes. */
    public int receiveWindow() {
        return Math.max(0, rcvAdv - rcvNxt);
    }

    public boolean windowScalingNegotiated() {
        return windowScaleOk;
    }

    public boolean timestampsNegotiated() {
        return timestampsOk;
    }

    public boolean sackNegotiated() {
        return sackOk;
    }

    /** Our window shift (what the peer multiplies our window field by). */
    public int receiveWindowShift() {
        return receiveShift;
    }

    public int sendWindowShift() {
        return sendShift;
    }

    // Package-private views for tests.
    int receiveNext() {
        return rcvNxt;
    }

    int sendMax() {
        return sndMax;
    }

    int timestampRecent() {
        return tsRecent;
    }

    int initialSendSequence() {
        return iss;
    }

    /** Timer deadlines, for diagnostics. */
    String timers() {
        return "rto=" + rtoDeadline + " persist=" + persistDeadline + " delack=" + delayedAckDeadline + " tw="
                + timeWaitDeadline + " fw2=" + finWait2Deadline + " keepalive=" + keepAliveDeadline() + " ackNow="
                + ackNow + " blocked=" + outputBlocked + " una=" + Integer.toUnsignedString(sndUna) + " nxt="
                + Integer.toUnsignedString(sndNxt) + " max=" + Integer.toUnsignedString(sndMax) + " dataEnd="
                + Integer.toUnsignedString(sndBufSeq + sndQueued) + " fin=" + finQueued + "@"
                + Integer.toUnsignedString(finSeq) + " rcvNxt=" + Integer.toUnsignedString(rcvNxt) + " rcvAdv="
                + Integer.toUnsignedString(rcvAdv) + " wl1=" + Integer.toUnsignedString(sndWl1) + " wl2="
                + Integer.toUnsignedString(sndWl2) + " recovery=" + inRecovery + " recover="
                + Integer.toUnsignedString(recover) + " sacked=" + scoreboard.count() + " state=" + state;
    }

    /** One line in the spirit of {@code ss -ti}; allocates (diagnostics only). */
    public String info() {
        return state + " " + ipv4(localAddress) + ":" + localPort + " " + ipv4(remoteAddress) + ":" + remotePort
                + " " + cc.name() + (windowScaleOk ? " wscale:" + sendShift + "," + receiveShift : "")
                + (timestampsOk ? " ts" : "") + (sackOk ? " sack" : "")
                + " rto:" + rto / MILLI + " rtt:" + srtt / 1000 / 1000.0 + "/" + rttvar / 1000 / 1000.0
                + " mss:" + smss + " cwnd:" + cc.cwnd / Math.max(1, smss)
                + (cc.ssthresh < CongestionController.MAX_CWND ? " ssthresh:" + cc.ssthresh / Math.max(1, smss) : "")
                + " unacked:" + bytesInFlight() + " retrans:" + retransmittedSegments()
                + " send-q:" + sendQueueBytes() + " recv-q:" + receiveQueueBytes() + " snd_wnd:" + sndWnd
                + " rcv_wnd:" + receiveWindow() + (failure != null ? " failure:" + failure : "");
    }

    @Override
    public String toString() {
        return "TcpConnection[" + info() + "]";
    }

    static String ipv4(int a) {
        return (a >>> 24) + "." + ((a >>> 16) & 0xFF) + "." + ((a >>> 8) & 0xFF) + "." + (a & 0xFF);
    }

    // ------------------------------------------------------------------------------------------
    // Sequence arithmetic (RFC 9293 §3.4)

    static boolean lt(int a, int b) {
        return a - b < 0;
    }

    static boolean le(int a, int b) {
        return a - b <= 0;
    }

    static boolean gt(int a, int b) {
        return a - b > 0;
    }

    static boolean ge(int a, int b) {
        return a - b >= 0;
    }
}

package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpConnection.gt;

import io.arrakis.stack.wire.Tcp;
import io.arrakis.stack.wire.TcpOptions;
import java.lang.foreign.MemorySegment;

/**
 * A listening port (RFC 9293 LISTEN): answers SYNs with SYN-ACKs, keeps half-open connections in
 * a bounded SYN queue (with SYN-ACK retransmission), turns the ACK that completes a handshake into
 * an ESTABLISHED {@link TcpConnection} queued for {@link #accept()}, and, when the SYN queue is
 * full, answers with SYN cookies (RFC 4987 §3.6) instead: the ISN carries a 5-bit clock, a 3-bit
 * MSS index and a 24-bit keyed hash, and when timestamps are on, our TSval's low 6 bits carry the
 * peer's window scale and SACK permission, so nothing is stored until the ACK proves the peer.
 *
 * <p>The SYN queue is preallocated (arrays sized by the backlog, with an open-addressing index),
 * so a SYN flood allocates nothing. Not thread-safe: one thread, the stack queue's.
 */
public final class TcpListener {
    /** MSS values a cookie can encode (3 bits). */
    private static final int[] COOKIE_MSS = {216, 536, 1200, 1360, 1440, 1460, 4312, 8960};
    private static final int TS_COOKIE_MARK = 0x20;
    private static final int TS_COOKIE_SACK = 0x10;
    private static final int TS_COOKIE_NO_SCALE = 0x0F;

    private final TcpConfig config;
    private final TcpSegmentSink sink;
    private final TcpCounters aggregate;
    private final TcpCounters counters;
    private final TcpIsn isn;
    private final TcpOptions options = new TcpOptions();
    private final int boundAddress;
    private final int localPort;
    private final int mss;
    private final int backlog;
    private final int sendBufferSize;
    private final int receiveBufferSize;
    private TcpEvents events = TcpEvents.NONE;
    private boolean closed;

    // SYN queue: slot arrays, a free-slot stack and a linear-probing index keyed by the 4-tuple.
    private final int[] hLocal;
    private final int[] hRemote;
    private final int[] hRemotePort;
    private final int[] hIss;
    private final int[] hIrs;
    private final int[] hPeerMss;
    private final int[] hPeerShift;
    private final boolean[] hSack;
    private final boolean[] hTimestamps;
    private final int[] hTsRecent;
    private final int[] hRetries;
    private final long[] hSentAt;
    private final long[] hDeadline;
    private final boolean[] hUsed;
    private final int[] freeSlots;
    private int freeCount;
    private final int[] index;
    private final int indexMask;
    private long synQueueDeadline = TcpConnection.NEVER;

    // Accept queue: a ring of established connections.
    private final TcpConnection[] acceptQueue;
    private int acceptHead;
    private int acceptCount;

    /**
     * @param localAddress the bound address, or 0 for any (SYN-ACKs go from the address the SYN was sent to)
     * @param mss the MSS this host can receive on the route
     * @param backlog bound of both the SYN queue and the accept queue
     * @param sendBufferSize, receiveBufferSize buffer sizes of accepted connections
     */
    public TcpListener(TcpConfig config, TcpSegmentSink sink, TcpCounters aggregate, TcpIsn isn, int localAddress,
            int localPort, int mss, int backlog, int sendBufferSize, int receiveBufferSize) {
        if (localPort <= 0 || localPort > 0xFFFF) {
            throw new IllegalArgumentException("listening port " + localPort + " outside 1..65535");
        }
        if (backlog < 1) {
            throw new IllegalArgumentException("backlog " + backlog + " must be >= 1");
        }
        this.config = config;
        this.sink = sink;
        this.aggregate = aggregate;
        this.counters = new TcpCounters(aggregate);
        this.isn = isn;
        this.boundAddress = localAddress;
        this.localPort = localPort;
        this.mss = mss;
        this.backlog = backlog;
        this.sendBufferSize = sendBufferSize;
        this.receiveBufferSize = receiveBufferSize;
        hLocal = new int[backlog];
        hRemote = new int[backlog];
        hRemotePort = new int[backlog];
        hIss = new int[backlog];
        hIrs = new int[backlog];
        hPeerMss = new int[backlog];
        hPeerShift = new int[backlog];
        hSack = new boolean[backlog];
        hTimestamps = new boolean[backlog];
        hTsRecent = new int[backlog];
        hRetries = new int[backlog];
        hSentAt = new long[backlog];
        hDeadline = new long[backlog];
        hUsed = new boolean[backlog];
        freeSlots = new int[backlog];
        for (int i = 0; i < backlog; i++) {
            freeSlots[i] = backlog - 1 - i;
        }
        freeCount = backlog;
        int size = Integer.highestOneBit(backlog * 2 - 1) << 1;
        index = new int[Math.max(4, size)];
        indexMask = index.length - 1;
        acceptQueue = new TcpConnection[backlog];
    }

    /**
     * Processes a segment addressed to the listening port from {@code remoteAddress} to
     * {@code localAddress} (IPv4, host order). Returns the connection this segment established
     * (already fed the segment, and queued for {@link #accept()}; the core adds it to its
     * demultiplexing table), or null. Never throws on any bytes.
     */
    public TcpConnection segmentArrived(MemorySegment p, long tcpOffset, int tcpLength, int localAddress,
            int remoteAddress, long nowNanos) {
        counters.increment(TcpCounter.SEGMENTS_IN);
        if (tcpOffset < 0 || tcpLength < Tcp.MIN_HEADER_LENGTH || tcpOffset > p.byteSize() - tcpLength) {
            counters.increment(TcpCounter.DROP_MALFORMED_HEADER);
            return null;
        }
        int headerLength = Tcp.headerLength(p, tcpOffset);
        if (headerLength < Tcp.MIN_HEADER_LENGTH || headerLength > tcpLength) {
            counters.increment(TcpCounter.DROP_MALFORMED_HEADER);
            return null;
        }
        if (Tcp.destinationPort(p, tcpOffset) != localPort || closed) {
            counters.increment(closed ? TcpCounter.DROP_CLOSED : TcpCounter.DROP_WRONG_PORTS);
            return null;
        }
        if (!options.parse(p, tcpOffset, headerLength)) {
            counters.increment(TcpCounter.DROP_MALFORMED_OPTIONS);
            return null;
        }
        int flags = Tcp.flags(p, tcpOffset);
        int seq = Tcp.sequence(p, tcpOffset);
        int ack = Tcp.acknowledgment(p, tcpOffset);
        int remotePort = Tcp.sourcePort(p, tcpOffset);
        int slot = find(localAddress, remoteAddress, remotePort);
        if ((flags & Tcp.RST) != 0) {
            // RFC 5961 §3.2 for a half-open connection: only exactly RCV.NXT removes it.
            if (slot >= 0 && seq == hIrs[slot] + 1) {
                counters.increment(TcpCounter.RESETS_IN);
                remove(slot);
            } else {
                counters.increment(TcpCounter.DROP_RST_NOT_EXACT);
            }
            return null;
        }
        if ((flags & Tcp.ACK) != 0) {
            if ((flags & Tcp.SYN) == 0) {
                TcpConnection c = slot >= 0
                        ? completeFromQueue(slot, p, tcpOffset, tcpLength, seq, ack, nowNanos)
                        : completeFromCookie(p, tcpOffset, tcpLength, localAddress, remoteAddress, remotePort, seq,
                                ack, nowNanos);
                return c;
            }
            // RFC 9293 LISTEN: any ACK is bad here.
            counters.increment(TcpCounter.DROP_UNACCEPTABLE_ACK);
            reset(localAddress, remoteAddress, remotePort, ack, 0, Tcp.RST);
            return null;
        }
        if ((flags & Tcp.SYN) == 0) {
            counters.increment(TcpCounter.DROP_UNEXPECTED);
            return null;
        }
        synArrived(slot, localAddress, remoteAddress, remotePort, seq, nowNanos);
        return null;
    }

    private void synArrived(int slot, int localAddress, int remoteAddress, int remotePort, int seq, long now) {
        int peerMss = options.mss() > 0 ? options.mss() : config.defaultMss;
        int peerShift = config.windowScaling ? options.windowShift() : -1;
        boolean sack = config.sack && options.sackPermitted();
        boolean ts = config.timestamps && options.hasTimestamps();
        if (slot >= 0) {
            if (hIrs[slot] == seq) {
                sendSynAck(slot, now); // the peer retransmitted its SYN
                return;
            }
            remove(slot); // a new SYN for the same 4-tuple: start over
        }
        if (acceptCount >= backlog) {
            counters.increment(TcpCounter.DROP_LISTEN_OVERFLOW);
            return;
        }
        boolean queueFull = freeCount == 0;
        if (config.synCookies == TcpConfig.SynCookies.ALWAYS
                || (queueFull && config.synCookies == TcpConfig.SynCookies.WHEN_SYN_QUEUE_FULL)) {
            sendCookieSynAck(localAddress, remoteAddress, remotePort, seq, peerMss, peerShift, sack, ts, now);
            return;
        }
        if (queueFull) {
            counters.increment(TcpCounter.DROP_LISTEN_OVERFLOW);
            return;
        }
        int s = freeSlots[--freeCount];
        hUsed[s] = true;
        hLocal[s] = localAddress;
        hRemote[s] = remoteAddress;
        hRemotePort[s] = remotePort;
        hIrs[s] = seq;
        hIss[s] = isn.isn(localAddress, localPort, remoteAddress, remotePort, now);
        hPeerMss[s] = peerMss;
        hPeerShift[s] = peerShift;
        hSack[s] = sack;
        hTimestamps[s] = ts;
        hTsRecent[s] = ts ? options.timestampValue() : 0;
        hRetries[s] = 0;
        hSentAt[s] = now;
        hDeadline[s] = now + config.initialRtoNanos;
        insert(s);
        sendSynAck(s, now);
        recomputeDeadline();
    }

    private TcpConnection completeFromQueue(int slot, MemorySegment p, long tcpOffset, int tcpLength, int seq, int ack,
            long now) {
        if (ack != hIss[slot] + 1) {
            counters.increment(TcpCounter.DROP_UNACCEPTABLE_ACK);
            reset(hLocal[slot], hRemote[slot], hRemotePort[slot], ack, 0, Tcp.RST);
            return null;
        }
        int rcvNxt = hIrs[slot] + 1;
        if (TcpConnection.lt(seq, rcvNxt) || !TcpConnection.lt(seq, rcvNxt + TcpConnection.synWindow(receiveBufferSize))) {
            counters.increment(TcpCounter.DROP_OUT_OF_WINDOW);
            return null;
        }
        if (acceptCount >= backlog) {
            counters.increment(TcpCounter.DROP_LISTEN_OVERFLOW); // the SYN-ACK retransmission will try again
            return null;
        }
        long rtt = hRetries[slot] == 0 ? now - hSentAt[slot] : -1;
        TcpConnection c = TcpConnection.accepted(config, sink, aggregate, hLocal[slot], localPort, hRemote[slot],
                hRemotePort[slot], hIss[slot], hIrs[slot], mss, sendBufferSize, receiveBufferSize, hPeerMss[slot],
                hPeerShift[slot], hSack[slot], hTimestamps[slot], hTsRecent[slot], rtt, now);
        remove(slot);
        return enqueue(c, p, tcpOffset, tcpLength, now);
    }

    private TcpConnection completeFromCookie(MemorySegment p, long tcpOffset, int tcpLength, int localAddress,
            int remoteAddress, int remotePort, int seq, int ack, long now) {
        int cookie = ack - 1;
        int irs = seq - 1;
        if (config.synCookies == TcpConfig.SynCookies.NEVER
                || !cookieValid(cookie, localAddress, remoteAddress, remotePort, irs, now)) {
            counters.increment(config.synCookies == TcpConfig.SynCookies.NEVER
                    ? TcpCounter.DROP_UNACCEPTABLE_ACK : TcpCounter.DROP_BAD_COOKIE);
            reset(localAddress, remoteAddress, remotePort, ack, 0, Tcp.RST);
            return null;
        }
        if (acceptCount >= backlog) {
            counters.increment(TcpCounter.DROP_LISTEN_OVERFLOW);
            return null;
        }
        int peerMss = COOKIE_MSS[(cookie >>> 24) & 7];
        int peerShift = -1;
        boolean sack = false;
        boolean ts = false;
        int tsRecent = 0;
        if (options.hasTimestamps() && (options.timestampEcho() & TS_COOKIE_MARK) != 0) {
            int bits = options.timestampEcho();
            ts = true;
            tsRecent = options.timestampValue();
            sack = (bits & TS_COOKIE_SACK) != 0;
            peerShift = (bits & 0x0F) == TS_COOKIE_NO_SCALE ? -1 : bits & 0x0F;
        }
        counters.increment(TcpCounter.SYN_COOKIES_VALID);
        TcpConnection c = TcpConnection.accepted(config, sink, aggregate, localAddress, localPort, remoteAddress,
                remotePort, cookie, irs, mss, sendBufferSize, receiveBufferSize, peerMss, peerShift, sack, ts, tsRecent,
                -1, now);
        return enqueue(c, p, tcpOffset, tcpLength, now);
    }

    private TcpConnection enqueue(TcpConnection c, MemorySegment p, long tcpOffset, int tcpLength, long now) {
        acceptQueue[(acceptHead + acceptCount) % backlog] = c;
        acceptCount++;
        counters.increment(TcpCounter.CONNECTIONS_ACCEPTED);
        c.segmentArrived(p, tcpOffset, tcpLength, now); // the ACK, and any data riding on it
        events.acceptable(this);
        return c;
    }

    private boolean cookieValid(int cookie, int localAddress, int remoteAddress, int remotePort, int irs, long now) {
        long counter = now / config.synCookiePeriodNanos;
        for (int age = 0; age <= 1; age++) {
            int c = (int) (counter - age);
            if ((c & 0x1F) == cookie >>> 27) {
                int h = isn.cookieHash(localAddress, localPort, remoteAddress, remotePort, irs, c);
                if ((h & 0xFFFFFF) == (cookie & 0xFFFFFF)) {
                    return true;
                }
            }
        }
        return false;
    }

    private void sendCookieSynAck(int localAddress, int remoteAddress, int remotePort, int irs, int peerMss,
            int peerShift, boolean sack, boolean ts, long now) {
        int counter = (int) (now / config.synCookiePeriodNanos);
        int mssIndex = 0;
        for (int i = COOKIE_MSS.length - 1; i >= 0; i--) {
            if (COOKIE_MSS[i] <= peerMss) {
                mssIndex = i;
                break;
            }
        }
        int h = isn.cookieHash(localAddress, localPort, remoteAddress, remotePort, irs, counter);
        int cookie = ((counter & 0x1F) << 27) | (mssIndex << 24) | (h & 0xFFFFFF);
        // Without timestamps there is nowhere to keep window scale and SACK: offer neither.
        int tsVal = 0;
        if (ts) {
            int clock = TcpConnection.tsClock(now, TcpConnection.tsOffsetFor(cookie));
            int bits = TS_COOKIE_MARK | (sack ? TS_COOKIE_SACK : 0) | (peerShift >= 0 ? peerShift : TS_COOKIE_NO_SCALE);
            tsVal = (clock & ~0x3F) | bits;
            if (gt(tsVal, clock)) {
                tsVal -= 0x40; // never ahead of the clock the connection will use
            }
        }
        boolean ws = ts && peerShift >= 0;
        if (synAck(localAddress, remoteAddress, remotePort, cookie, irs + 1, ws, ts && sack, ts, tsVal,
                ts ? options.timestampValue() : 0)) {
            counters.increment(TcpCounter.SYN_COOKIES_SENT);
        }
    }

    private void sendSynAck(int s, long now) {
        int tsVal = TcpConnection.tsClock(now, TcpConnection.tsOffsetFor(hIss[s]));
        synAck(hLocal[s], hRemote[s], hRemotePort[s], hIss[s], hIrs[s] + 1, hPeerShift[s] >= 0, hSack[s],
                hTimestamps[s], tsVal, hTsRecent[s]);
    }

    private boolean synAck(int localAddress, int remoteAddress, int remotePort, int seq, int ack, boolean ws,
            boolean sack, boolean ts, int tsVal, int tsEcr) {
        int headerLength = Tcp.MIN_HEADER_LENGTH + TcpConnection.synOptionsLength(ws, sack, ts);
        long at = sink.begin(localAddress, remoteAddress, headerLength);
        if (at < 0) {
            counters.increment(TcpCounter.SINK_FULL);
            return false;
        }
        MemorySegment m = sink.memory();
        Tcp.write(m, at, localPort, remotePort, seq, ack, headerLength, Tcp.SYN | Tcp.ACK,
                TcpConnection.synWindow(receiveBufferSize));
        TcpConnection.writeSynOptions(m, at, mss, ws ? TcpConnection.windowShiftFor(receiveBufferSize) : -1, sack, ts,
                tsVal, tsEcr);
        sink.send(headerLength);
        counters.increment(TcpCounter.SEGMENTS_OUT);
        return true;
    }

    private void reset(int localAddress, int remoteAddress, int remotePort, int seq, int ack, int flags) {
        if (TcpReset.send(sink, localAddress, remoteAddress, localPort, remotePort, seq, ack, flags)) {
            counters.increment(TcpCounter.SEGMENTS_OUT);
            counters.increment(TcpCounter.RESETS_OUT);
        } else {
            counters.increment(TcpCounter.SINK_FULL);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Timers

    /** When a SYN-ACK is due for retransmission, or {@link TcpConnection#NEVER}. */
    public long nextDeadline() {
        return synQueueDeadline;
    }

    /** Retransmits due SYN-ACKs; drops half-open connections that used up their retransmissions. */
    public void onTimer(long nowNanos) {
        if (synQueueDeadline > nowNanos) {
            return;
        }
        for (int s = 0; s < backlog; s++) {
            if (hUsed[s] && hDeadline[s] <= nowNanos) {
                if (hRetries[s] >= config.maxSynAckRetransmissions) {
                    remove(s);
                    continue;
                }
                hRetries[s]++;
                counters.increment(TcpCounter.RETRANSMITTED_SEGMENTS);
                sendSynAck(s, nowNanos);
                long backoff = Math.min(config.maxRtoNanos, config.initialRtoNanos << Math.min(hRetries[s], 20));
                hDeadline[s] = nowNanos + backoff;
            }
        }
        recomputeDeadline();
    }

    private void recomputeDeadline() {
        long d = TcpConnection.NEVER;
        for (int s = 0; s < backlog; s++) {
            if (hUsed[s] && hDeadline[s] < d) {
                d = hDeadline[s];
            }
        }
        synQueueDeadline = d;
    }

    // ------------------------------------------------------------------------------------------
    // Application side

    /** The next established connection, or null. */
    public TcpConnection accept() {
        if (acceptCount == 0) {
            return null;
        }
        TcpConnection c = acceptQueue[acceptHead];
        acceptQueue[acceptHead] = null;
        acceptHead = (acceptHead + 1) % backlog;
        acceptCount--;
        return c;
    }

    /** Stops listening: queued, not yet accepted connections are reset; half-open ones forgotten. */
    public void close(long nowNanos) {
        if (closed) {
            return;
        }
        closed = true;
        TcpConnection c;
        while ((c = accept()) != null) {
            c.abort(nowNanos);
        }
        for (int s = 0; s < backlog; s++) {
            if (hUsed[s]) {
                remove(s);
            }
        }
        synQueueDeadline = TcpConnection.NEVER;
    }

    public TcpState state() {
        return closed ? TcpState.CLOSED : TcpState.LISTEN;
    }

    public void setEvents(TcpEvents events) {
        this.events = events == null ? TcpEvents.NONE : events;
    }

    public int localPort() {
        return localPort;
    }

    /** The bound address (0: any). */
    public int localAddress() {
        return boundAddress;
    }

    public int backlog() {
        return backlog;
    }

    /** Connections waiting for {@link #accept()}. */
    public int acceptQueueLength() {
        return acceptCount;
    }

    /** Half-open connections in the SYN queue. */
    public int synQueueLength() {
        return backlog - freeCount;
    }

    public TcpCounters counters() {
        return counters;
    }

    // ------------------------------------------------------------------------------------------
    // SYN queue index: linear probing over slot numbers + 1 (0 = empty), backward-shift deletion.

    private static int hash(int localAddress, int remoteAddress, int remotePort) {
        int h = remoteAddress * 0x9E3779B1 + remotePort * 0x85EBCA6B + localAddress * 0xC2B2AE35;
        return h ^ (h >>> 16);
    }

    private int find(int localAddress, int remoteAddress, int remotePort) {
        int i = hash(localAddress, remoteAddress, remotePort) & indexMask;
        while (index[i] != 0) {
            int s = index[i] - 1;
            if (hRemote[s] == remoteAddress && hRemotePort[s] == remotePort && hLocal[s] == localAddress) {
                return s;
            }
            i = (i + 1) & indexMask;
        }
        return -1;
    }

    private void insert(int s) {
        int i = hash(hLocal[s], hRemote[s], hRemotePort[s]) & indexMask;
        while (index[i] != 0) {
            i = (i + 1) & indexMask;
        }
        index[i] = s + 1;
    }

    private void remove(int s) {
        int i = hash(hLocal[s], hRemote[s], hRemotePort[s]) & indexMask;
        while (index[i] != s + 1) {
            i = (i + 1) & indexMask;
        }
        index[i] = 0;
        int j = i;
        while (true) {
            j = (j + 1) & indexMask;
            if (index[j] == 0) {
                break;
            }
            int t = index[j] - 1;
            int home = hash(hLocal[t], hRemote[t], hRemotePort[t]) & indexMask;
            // Move the entry at j into the hole at i unless its home lies cyclically in (i, j].
            boolean homeBetween = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!homeBetween) {
                index[i] = index[j];
                index[j] = 0;
                i = j;
            }
        }
        hUsed[s] = false;
        freeSlots[freeCount++] = s;
    }
}

package io.arrakis.stack.tcp;

/**
 * What {@link TcpCounters} count. Names starting with {@code DROP_} are segments the engine
 * discarded, one reason each, so that "why did my packet vanish" has an answer.
 */
public enum TcpCounter {
    SEGMENTS_IN,
    SEGMENTS_OUT,
    DATA_BYTES_IN,
    DATA_BYTES_OUT,
    /** Segments sent again (after RTO, fast retransmit, SACK recovery, SYN/FIN retransmission). */
    RETRANSMITTED_SEGMENTS,
    RTO_EXPIRATIONS,
    FAST_RETRANSMITS,
    DUP_ACKS_IN,
    /** RFC 5961 challenge ACKs sent. */
    CHALLENGE_ACKS,
    /** Challenge ACKs (and out-of-window ACKs) suppressed by the rate limit. */
    CHALLENGE_ACKS_SUPPRESSED,
    RESETS_IN,
    RESETS_OUT,
    WINDOW_PROBES,
    KEEPALIVE_PROBES,
    /** ICMP "fragmentation needed" lowered the MSS (RFC 1191). */
    PATH_MTU_DECREASES,
    /** {@link TcpSegmentSink#begin} returned -1: a segment waits for a packet buffer. */
    SINK_FULL,
    /** Listener: SYN-ACKs sent with a SYN cookie instead of a SYN queue entry. */
    SYN_COOKIES_SENT,
    /** Listener: connections created from a valid SYN cookie. */
    SYN_COOKIES_VALID,
    CONNECTIONS_ACCEPTED,

    /** tcpLength/offset outside the segment, or a data offset below 5 or beyond the segment. */
    DROP_MALFORMED_HEADER,
    /** Options with an impossible length (RFC 9293 MUST-7: we drop rather than reset). */
    DROP_MALFORMED_OPTIONS,
    /** Ports do not match the connection (a demultiplexing mistake upstream). */
    DROP_WRONG_PORTS,
    /** RFC 7323 PAWS: timestamp older than TS.Recent. */
    DROP_PAWS,
    /** RFC 7323 §3.2: a non-RST segment without timestamps on a connection that uses them. */
    DROP_MISSING_TIMESTAMP,
    /** RFC 9293 §3.10.7.4 first check: sequence number not acceptable. */
    DROP_OUT_OF_WINDOW,
    /** A RST not exactly at RCV.NXT (RFC 5961 §3.2: in-window ones get a challenge ACK). */
    DROP_RST_NOT_EXACT,
    /** A SYN on a synchronized connection (RFC 5961 §4: answered by a challenge ACK). */
    DROP_SYN_SYNCHRONIZED,
    /** No ACK bit on a synchronized connection. */
    DROP_NO_ACK,
    /** SEG.ACK outside [SND.UNA − MAX.SND.WND, SND.NXT] (RFC 5961 §5.2), or a bad ACK in SYN states. */
    DROP_UNACCEPTABLE_ACK,
    /** Out-of-order data that would need more receive intervals than the bounded table holds. */
    DROP_OUT_OF_ORDER_FULL,
    /** A segment for a connection already CLOSED. */
    DROP_CLOSED,
    /** A segment that cannot start anything in the state it found (e.g. SYN_SENT without SYN or RST). */
    DROP_UNEXPECTED,
    /** Listener: SYN dropped because the accept queue is full (or the SYN queue, without cookies). */
    DROP_LISTEN_OVERFLOW,
    /** Listener: ACK carrying a cookie that did not validate. */
    DROP_BAD_COOKIE;

    /** True for the drop reasons. */
    public boolean isDrop() {
        return name().startsWith("DROP_");
    }
}

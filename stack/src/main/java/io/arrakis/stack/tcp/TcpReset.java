package io.arrakis.stack.tcp;

import io.arrakis.stack.wire.Tcp;
import java.lang.foreign.MemorySegment;

/**
 * Resets for segments that reach no connection (RFC 9293 §3.10.7.1, "CLOSED" state): the core
 * calls {@link #replyToStray} when neither a connection nor a listener matches. Stateless;
 * allocation-free.
 */
public final class TcpReset {
    private TcpReset() {}

    /**
     * Answers a segment for which no connection exists, unless it is itself a RST: with
     * {@code <SEQ=SEG.ACK><CTL=RST>} if it carries an ACK, else with
     * {@code <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>}. {@code localAddress} is the segment's
     * destination. Returns true if a RST was sent. Never throws on malformed bytes.
     */
    public static boolean replyToStray(MemorySegment p, long tcpOffset, int tcpLength, int localAddress,
            int remoteAddress, TcpSegmentSink sink, TcpCounters counters) {
        if (tcpOffset < 0 || tcpLength < Tcp.MIN_HEADER_LENGTH || tcpOffset > p.byteSize() - tcpLength) {
            count(counters, TcpCounter.DROP_MALFORMED_HEADER);
            return false;
        }
        int headerLength = Tcp.headerLength(p, tcpOffset);
        if (headerLength < Tcp.MIN_HEADER_LENGTH || headerLength > tcpLength) {
            count(counters, TcpCounter.DROP_MALFORMED_HEADER);
            return false;
        }
        int flags = Tcp.flags(p, tcpOffset);
        if ((flags & Tcp.RST) != 0) {
            count(counters, TcpCounter.DROP_CLOSED);
            return false;
        }
        int localPort = Tcp.destinationPort(p, tcpOffset);
        int remotePort = Tcp.sourcePort(p, tcpOffset);
        boolean sent;
        if ((flags & Tcp.ACK) != 0) {
            sent = send(sink, localAddress, remoteAddress, localPort, remotePort, Tcp.acknowledgment(p, tcpOffset), 0,
                    Tcp.RST);
        } else {
            int segLength = tcpLength - headerLength + ((flags & Tcp.SYN) != 0 ? 1 : 0) + ((flags & Tcp.FIN) != 0 ? 1 : 0);
            sent = send(sink, localAddress, remoteAddress, localPort, remotePort, 0,
                    Tcp.sequence(p, tcpOffset) + segLength, Tcp.RST | Tcp.ACK);
        }
        count(counters, sent ? TcpCounter.RESETS_OUT : TcpCounter.SINK_FULL);
        return sent;
    }

    /** Writes and sends a bare RST (no options: RFC 7323 §4.2 recommends none). */
    static boolean send(TcpSegmentSink sink, int localAddress, int remoteAddress, int localPort, int remotePort,
            int seq, int ack, int flags) {
        long at = sink.begin(localAddress, remoteAddress, Tcp.MIN_HEADER_LENGTH);
        if (at < 0) {
            return false;
        }
        Tcp.write(sink.memory(), at, localPort, remotePort, seq, ack, Tcp.MIN_HEADER_LENGTH, flags, 0);
        sink.send(Tcp.MIN_HEADER_LENGTH);
        return true;
    }

    private static void count(TcpCounters counters, TcpCounter counter) {
        if (counters != null) {
            counters.increment(counter);
        }
    }
}

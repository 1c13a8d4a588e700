package io.arrakis.stack.tcp;

/**
 * The congestion window and slow-start threshold of one connection, in bytes, and how they grow
 * and shrink; loss recovery itself (fast retransmit, NewReno partial ACKs, SACK holes) lives in
 * {@link TcpConnection} and is the same for every controller. One instance per connection,
 * allocated with it. Not thread-safe.
 */
abstract class CongestionController {
    static final long MAX_CWND = 1L << 30;

    long cwnd;
    long ssthresh = MAX_CWND;

    static CongestionController create(TcpConfig.CongestionControl kind) {
        return switch (kind) {
            case NEW_RENO -> new NewReno();
            case CUBIC -> new Cubic();
        };
    }

    final boolean inSlowStart() {
        return cwnd < ssthresh;
    }

    /** RFC 5681 §3.1 slow start with RFC 3465 appropriate byte counting (L = 2 SMSS). */
    final void slowStart(int acked, int smss) {
        cwnd = Math.min(MAX_CWND, cwnd + Math.min(acked, 2L * smss));
    }

    /** New data was acknowledged while not in loss recovery. */
    abstract void onAck(int acked, int smss, long nowNanos, long srttNanos);

    /** A loss was detected by duplicate ACKs or SACK: sets {@link #ssthresh}. */
    abstract void onLoss(long flightBytes, int smss, long nowNanos);

    /** The retransmission timer expired (RFC 5681 §3.1 (4)): threshold as for a loss, window one segment. */
    final void onRetransmissionTimeout(long flightBytes, int smss, long nowNanos) {
        onLoss(flightBytes, smss, nowNanos);
        cwnd = smss;
    }

    abstract String name();

    /** RFC 5681 congestion avoidance: about one SMSS per RTT; loss halves the flight. */
    static final class NewReno extends CongestionController {
        private long bytesAcked;

        @Override
        void onAck(int acked, int smss, long nowNanos, long srttNanos) {
            if (inSlowStart()) {
                slowStart(acked, smss);
                return;
            }
            bytesAcked += acked;
            if (bytesAcked >= cwnd) {
                bytesAcked -= cwnd;
                cwnd = Math.min(MAX_CWND, cwnd + smss);
            }
        }

        @Override
        void onLoss(long flightBytes, int smss, long nowNanos) {
            ssthresh = Math.max(flightBytes / 2, 2L * smss);
            bytesAcked = 0;
        }

        @Override
        String name() {
            return "reno";
        }
    }

    /**
     * RFC 9438 CUBIC: after a loss the window follows W(t) = C (t − K)³ + W_max (in segments, t in
     * seconds since the congestion event), never below the Reno-friendly estimate W_est; fast
     * convergence on; no HyStart.
     */
    static final class Cubic extends CongestionController {
        private static final double C = 0.4;
        private static final double BETA = 0.7;
        private static final double ALPHA = 3 * (1 - BETA) / (1 + BETA);

        private double wMax;
        private double k;
        private double wEst;
        private long epochStart = -1;
        private double fraction;

        @Override
        void onAck(int acked, int smss, long nowNanos, long srttNanos) {
            if (inSlowStart()) {
                slowStart(acked, smss);
                return;
            }
            double cw = (double) cwnd / smss;
            if (epochStart < 0) {
                epochStart = nowNanos;
                if (cw < wMax) {
                    k = Math.cbrt((wMax - cw) / C);
                } else {
                    k = 0;
                    wMax = cw;
                }
                wEst = cw;
            }
            double t = (nowNanos - epochStart + srttNanos) / 1e9;
            double d = t - k;
            double wCubic = C * d * d * d + wMax;
            double target = Math.max(cw, Math.min(wCubic, 1.5 * cw));
            double segmentsAcked = (double) acked / smss;
            wEst += ALPHA * segmentsAcked / cw;
            if (wCubic < wEst) {
                target = Math.max(target, wEst); // the Reno-friendly region
            }
            fraction += (target - cw) / cw * segmentsAcked * smss;
            if (fraction >= 1) {
                long whole = (long) fraction;
                fraction -= whole;
                cwnd = Math.min(MAX_CWND, cwnd + whole);
            }
        }

        @Override
        void onLoss(long flightBytes, int smss, long nowNanos) {
            double cw = (double) cwnd / smss;
            epochStart = -1;
            fraction = 0;
            wMax = cw < wMax ? cw * (1 + BETA) / 2 : cw; // fast convergence (RFC 9438 §4.7)
            ssthresh = Math.max((long) (cwnd * BETA), 2L * smss);
        }

        @Override
        String name() {
            return "cubic";
        }
    }
}

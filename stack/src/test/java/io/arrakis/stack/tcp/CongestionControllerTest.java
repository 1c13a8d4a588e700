package io.arrakis.stack.tcp;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The window arithmetic of RFC 5681 (NewReno) and RFC 9438 (CUBIC). */
class CongestionControllerTest {
    static final int MSS = 1000;
    static final long MS = 1_000_000L;

    @Test
    void slowStartGrowsByTheBytesAcknowledgedUpToTwoSegmentsPerAck() {
        CongestionController cc = CongestionController.create(TcpConfig.CongestionControl.NEW_RENO);
        cc.cwnd = 10 * MSS;
        cc.onAck(MSS, MSS, 0, MS);
        assertEquals(11 * MSS, cc.cwnd);
        cc.onAck(5 * MSS, MSS, 0, MS);
        assertEquals(13 * MSS, cc.cwnd, "appropriate byte counting caps one ACK at 2 SMSS");
    }

    @Test
    void newRenoGrowsOneSegmentPerWindowInCongestionAvoidance() {
        CongestionController cc = CongestionController.create(TcpConfig.CongestionControl.NEW_RENO);
        cc.cwnd = 10 * MSS;
        cc.ssthresh = 10 * MSS;
        for (int i = 0; i < 10; i++) {
            cc.onAck(MSS, MSS, 0, MS);
        }
        assertEquals(11 * MSS, cc.cwnd);
    }

    @Test
    void newRenoHalvesTheFlightOnLossAndAnRtoLeavesOneSegment() {
        CongestionController cc = CongestionController.create(TcpConfig.CongestionControl.NEW_RENO);
        cc.cwnd = 100 * MSS;
        cc.onLoss(80 * MSS, MSS, 0);
        assertEquals(40 * MSS, cc.ssthresh);
        cc.onRetransmissionTimeout(3 * MSS, MSS, 0);
        assertEquals(2 * MSS, cc.ssthresh, "never below 2 SMSS");
        assertEquals(MSS, cc.cwnd);
    }

    @Test
    void cubicReducesToSeventyPercentAndRegainsTheOldWindowAfterK() {
        CongestionController cc = CongestionController.create(TcpConfig.CongestionControl.CUBIC);
        cc.cwnd = 100 * MSS;
        cc.onLoss(100 * MSS, MSS, 0);
        assertEquals(70 * MSS, cc.ssthresh);
        cc.cwnd = cc.ssthresh;
        // K = cbrt(W_max (1 - β) / C) = cbrt(100 × 0.3 / 0.4) ≈ 4.22 s. Feed a window of ACKs per 100 ms RTT
        // (long enough that the cubic curve, not the Reno-friendly estimate, leads).
        long rtt = 100 * MS;
        long t = 0;
        long atK = 0;
        while (t < 8_000 * MS) {
            long window = cc.cwnd;
            for (long acked = 0; acked < window; acked += MSS) {
                cc.onAck(MSS, MSS, t, rtt);
            }
            t += rtt;
            if (atK == 0 && t >= 4_217 * MS) {
                atK = cc.cwnd;
            }
        }
        assertTrue(Math.abs(atK - 100 * MSS) <= 5 * MSS, "at K the window is back near W_max: " + atK);
        assertTrue(cc.cwnd > 110 * MSS, "beyond K it probes convexly: " + cc.cwnd);
    }

    @Test
    void cubicFollowsRenoWhenThatIsFasterAtShortRtts() {
        CongestionController cc = CongestionController.create(TcpConfig.CongestionControl.CUBIC);
        cc.cwnd = 100 * MSS;
        cc.onLoss(100 * MSS, MSS, 0);
        cc.cwnd = cc.ssthresh;
        long rtt = 1 * MS;
        for (long t = 0; t < 1_000 * MS; t += rtt) {
            long window = cc.cwnd;
            for (long acked = 0; acked < window; acked += MSS) {
                cc.onAck(MSS, MSS, t, rtt);
            }
        }
        // 1000 RTTs at α ≈ 0.53 segments per RTT: W_est ≈ 70 + 529, far above the cubic curve at 1 s.
        assertTrue(cc.cwnd > 500 * MSS, "Reno-friendly region: " + cc.cwnd / MSS);
    }

    @Test
    void cubicFastConvergenceLowersWmaxWhenLossesComeEarlier() {
        CongestionController.Cubic cc = new CongestionController.Cubic();
        cc.cwnd = 100 * MSS;
        cc.onLoss(100 * MSS, MSS, 0);
        cc.cwnd = 80 * MSS; // a second loss below the previous W_max
        cc.onLoss(80 * MSS, MSS, 0);
        assertEquals(56 * MSS, cc.ssthresh);
    }
}

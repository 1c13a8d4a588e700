package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpFixture.CLIENT_PORT;
import static io.arrakis.stack.tcp.TcpFixture.SERVER_PORT;
import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;
import static io.arrakis.stack.tcp.TcpTestNetwork.segment;
import static org.junit.jupiter.api.Assertions.*;

import io.arrakis.stack.wire.Tcp;
import java.util.List;
import org.junit.jupiter.api.Test;

/** RST generation (RFC 9293 §3.10.7) and blind-attack hardening (RFC 5961). */
class TcpResetTest {
    static final TcpConfig NO_TS = TcpFixture.testConfig().timestamps(false).build();

    /** An established pair with nothing in flight. */
    static TcpFixture quiet(TcpConfig config) {
        TcpFixture f = TcpFixture.connected(config, 65536);
        f.net.runFor(100 * MS);
        return f;
    }

    /** Injects a segment from the client's 4-tuple to the server; returns what B sent in answer. */
    static List<TcpTestNetwork.Segment> injectToServer(TcpFixture f, int seq, int ack, int flags, byte[] payload) {
        int before = f.net.log.size();
        f.net.inject(A, B, segment(CLIENT_PORT, SERVER_PORT, seq, ack, flags, 1000, payload, null));
        return List.copyOf(f.net.log.subList(before, f.net.log.size()));
    }

    @Test
    void aResetAtExactlyRcvNxtResetsTheConnection() {
        TcpFixture f = quiet(NO_TS);
        List<TcpTestNetwork.Segment> answer = injectToServer(f, f.server.receiveNext(), 0, Tcp.RST, null);
        assertTrue(answer.isEmpty());
        assertEquals(TcpState.CLOSED, f.server.state());
        assertEquals(TcpFailure.RESET, f.server.failure());
    }

    @Test
    void aResetInsideTheWindowButNotAtRcvNxtGetsAChallengeAck() {
        TcpFixture f = quiet(NO_TS);
        int rcvNxt = f.server.receiveNext();
        List<TcpTestNetwork.Segment> answer = injectToServer(f, rcvNxt + 100, 0, Tcp.RST, null);
        assertEquals(TcpState.ESTABLISHED, f.server.state());
        assertEquals(1, answer.size());
        assertTrue(answer.get(0).pureAck());
        assertEquals(rcvNxt, answer.get(0).ack());
        assertEquals(1, f.server.counters().get(TcpCounter.CHALLENGE_ACKS));
        f.net.runFor(10 * MS);
        assertEquals(TcpState.ESTABLISHED, f.client.state(), "the real peer takes it as a duplicate ACK");
    }

    @Test
    void aResetOutsideTheWindowIsDroppedSilently() {
        TcpFixture f = quiet(NO_TS);
        List<TcpTestNetwork.Segment> answer = injectToServer(f, f.server.receiveNext() + 10_000_000, 0, Tcp.RST, null);
        assertTrue(answer.isEmpty());
        assertEquals(TcpState.ESTABLISHED, f.server.state());
        assertEquals(1, f.server.counters().get(TcpCounter.DROP_RST_NOT_EXACT));
    }

    @Test
    void aSynOnAnEstablishedConnectionGetsAChallengeAckWhereverItFalls() {
        TcpFixture f = quiet(NO_TS);
        int rcvNxt = f.server.receiveNext();
        for (int seq : new int[] {rcvNxt + 10, rcvNxt - 5_000_000, rcvNxt}) {
            List<TcpTestNetwork.Segment> answer = injectToServer(f, seq, 0, Tcp.SYN, null);
            assertEquals(1, answer.size());
            assertTrue(answer.get(0).pureAck());
            assertEquals(rcvNxt, answer.get(0).ack());
        }
        assertEquals(TcpState.ESTABLISHED, f.server.state());
        assertEquals(3, f.server.counters().get(TcpCounter.CHALLENGE_ACKS));
    }

    @Test
    void anAckTooFarBelowSndUnaIsDroppedWithAChallengeAck() {
        TcpFixture f = quiet(NO_TS);
        int oldAck = f.server.sendUnacknowledged() - 1_000_000;
        List<TcpTestNetwork.Segment> answer = injectToServer(f, f.server.receiveNext(), oldAck, Tcp.ACK | Tcp.PSH,
                new byte[] {1, 2, 3});
        assertEquals(1, answer.size());
        assertEquals(0, f.server.receiveQueueBytes(), "the data of a blind injection is not accepted");
        assertEquals(1, f.server.counters().get(TcpCounter.CHALLENGE_ACKS));
        assertEquals(1, f.server.counters().get(TcpCounter.DROP_UNACCEPTABLE_ACK));
    }

    @Test
    void anAckForDataNeverSentIsDroppedAndAnswered() {
        TcpFixture f = quiet(NO_TS);
        List<TcpTestNetwork.Segment> answer = injectToServer(f, f.server.receiveNext(), f.server.sendMax() + 1000,
                Tcp.ACK, new byte[] {1});
        assertEquals(1, answer.size());
        assertTrue(answer.get(0).pureAck());
        assertEquals(0, f.server.receiveQueueBytes());
        assertEquals(1, f.server.counters().get(TcpCounter.DROP_UNACCEPTABLE_ACK));
    }

    @Test
    void anAckInsideTheRangeBelowSndUnaStillDeliversItsData() {
        TcpFixture f = quiet(NO_TS);
        List<TcpTestNetwork.Segment> answer = injectToServer(f, f.server.receiveNext(),
                f.server.sendUnacknowledged() - 10, Tcp.ACK, new byte[] {7});
        assertEquals(1, f.server.receiveQueueBytes(), "an old (duplicate) ACK field is ignored, not the segment");
        assertTrue(answer.isEmpty() || answer.get(0).pureAck());
    }

    @Test
    void challengeAcksAreRateLimitedPerSecond() {
        TcpFixture f = quiet(TcpFixture.testConfig().timestamps(false).challengeAckLimitPerSecond(2).build());
        int rcvNxt = f.server.receiveNext();
        int answered = 0;
        for (int i = 0; i < 5; i++) {
            answered += injectToServer(f, rcvNxt + 1 + i, 0, Tcp.RST, null).size();
        }
        assertEquals(2, answered);
        assertEquals(3, f.server.counters().get(TcpCounter.CHALLENGE_ACKS_SUPPRESSED));
        f.net.runFor(1000 * MS);
        assertEquals(1, injectToServer(f, rcvNxt + 50, 0, Tcp.RST, null).size());
    }

    @Test
    void inSynSentOnlyAResetThatAcknowledgesOurSynRefusesTheConnection() {
        TcpTestNetwork net = new TcpTestNetwork(30);
        net.dropIf = s -> true; // nothing reaches B
        TcpConnection c = net.a.connect(NO_TS, 1234, B, 80, 5000, 1460, 4096, 4096);
        net.inject(B, A, segment(80, 1234, 1, 5000 + 7, Tcp.RST | Tcp.ACK, 0, null, null));
        assertEquals(TcpState.SYN_SENT, c.state(), "the ACK does not cover our SYN");
        net.inject(B, A, segment(80, 1234, 1, 0, Tcp.RST, 0, null, null));
        assertEquals(TcpState.SYN_SENT, c.state(), "a RST without ACK is ignored in SYN_SENT");
        net.inject(B, A, segment(80, 1234, 1, 5001, Tcp.RST | Tcp.ACK, 0, null, null));
        assertEquals(TcpState.CLOSED, c.state());
        assertEquals(TcpFailure.REFUSED, c.failure());
    }

    @Test
    void inSynSentABadAckIsAnsweredWithAReset() {
        TcpTestNetwork net = new TcpTestNetwork(31);
        net.dropIf = s -> true;
        TcpConnection c = net.a.connect(NO_TS, 1234, B, 80, 5000, 1460, 4096, 4096);
        int before = net.log.size();
        net.inject(B, A, segment(80, 1234, 77, 9999, Tcp.SYN | Tcp.ACK, 1000, null, null));
        assertEquals(TcpState.SYN_SENT, c.state());
        TcpTestNetwork.Segment rst = net.log.get(before);
        assertEquals(Tcp.RST, rst.flags());
        assertEquals(9999, rst.seq());
    }

    @Test
    void aStrayAckIsAnsweredWithAResetCarryingItsAckNumber() {
        TcpTestNetwork net = new TcpTestNetwork(32);
        net.inject(A, B, segment(1234, 81, 5, 777, Tcp.ACK, 1000, new byte[3], null));
        TcpTestNetwork.Segment rst = net.log.get(0);
        assertEquals(Tcp.RST, rst.flags());
        assertEquals(777, rst.seq());
        assertEquals(81, rst.sourcePort());
        assertEquals(1234, rst.destinationPort());
    }

    @Test
    void aStraySynIsAnsweredWithResetAckCoveringIt() {
        TcpTestNetwork net = new TcpTestNetwork(33);
        net.inject(A, B, segment(1234, 81, 1000, 0, Tcp.SYN, 1000, null, null));
        TcpTestNetwork.Segment rst = net.log.get(0);
        assertEquals(Tcp.RST | Tcp.ACK, rst.flags());
        assertEquals(0, rst.seq());
        assertEquals(1001, rst.ack());
        net.inject(A, B, segment(1234, 81, 1000, 0, Tcp.FIN, 1000, new byte[10], null));
        assertEquals(1011, net.log.get(1).ack(), "SEG.LEN counts the data and the FIN");
    }

    @Test
    void aStrayResetIsNeverAnswered() {
        TcpTestNetwork net = new TcpTestNetwork(34);
        net.inject(A, B, segment(1234, 81, 1000, 5, Tcp.RST | Tcp.ACK, 0, null, null));
        assertTrue(net.log.isEmpty());
    }
}

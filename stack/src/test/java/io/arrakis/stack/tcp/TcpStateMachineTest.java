package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;
import static io.arrakis.stack.tcp.TcpTestNetwork.US;
import static org.junit.jupiter.api.Assertions.*;

import io.arrakis.stack.wire.Tcp;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** RFC 9293 states and transitions: opens, closes, half-closes, TIME_WAIT. */
class TcpStateMachineTest {
    static final TcpConfig CONFIG = TcpFixture.testConfig().build();

    @Test
    void simultaneousOpenEstablishesBothSidesWithoutAListener() {
        TcpTestNetwork net = new TcpTestNetwork(10);
        TcpConnection a = net.a.connect(CONFIG, 5000, B, 6000, 100, 1460, 65536, 65536);
        TcpConnection b = net.b.connect(CONFIG, 6000, A, 5000, 900_000, 1460, 65536, 65536);
        assertEquals(TcpState.SYN_SENT, a.state());
        net.runFor(1 * MS + 10 * US); // the SYNs crossed
        assertEquals(TcpState.SYN_RECEIVED, a.state());
        assertEquals(TcpState.SYN_RECEIVED, b.state());
        net.runUntil(() -> a.isConnected() && b.isConnected(), 10_000 * MS, 1000);
        assertEquals(TcpState.ESTABLISHED, a.state());
        assertEquals(TcpState.ESTABLISHED, b.state());
        assertTrue(net.log.stream().noneMatch(s -> s.has(Tcp.RST)), net.trace(20));
        assertEquals(2, net.log.stream().filter(s -> s.flags() == (Tcp.SYN | Tcp.ACK)).count(), net.trace(20));
        assertTrue(a.timestampsNegotiated() && b.sackNegotiated() && a.windowScalingNegotiated());
        // Data flows both ways.
        TcpFixture.drain(a, new java.io.ByteArrayOutputStream(), net.now);
        a.write(MemorySegment.ofArray(new byte[] {1, 2, 3}), 0, 3, net.now);
        b.write(MemorySegment.ofArray(new byte[] {4, 5}), 0, 2, net.now);
        net.runFor(10 * MS);
        assertEquals(2, a.receiveQueueBytes());
        assertEquals(3, b.receiveQueueBytes());
    }

    @Test
    void simultaneousCloseGoesThroughClosingToTimeWaitOnBothSides() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.net.runFor(100 * MS); // let the handshake's last ACK and delayed ACKs settle
        f.client.close(f.net.now);
        f.server.close(f.net.now);
        assertEquals(TcpState.FIN_WAIT_1, f.client.state());
        assertEquals(TcpState.FIN_WAIT_1, f.server.state());
        f.net.runFor(1 * MS + 10 * US); // each FIN arrives before its ACK
        assertEquals(TcpState.CLOSING, f.client.state());
        assertEquals(TcpState.CLOSING, f.server.state());
        f.net.runFor(1 * MS);
        assertEquals(TcpState.TIME_WAIT, f.client.state());
        assertEquals(TcpState.TIME_WAIT, f.server.state());
        f.net.runFor(2 * 100 * MS + 1 * MS);
        assertEquals(TcpState.CLOSED, f.client.state());
        assertEquals(TcpState.CLOSED, f.server.state());
        assertNull(f.client.failure());
        assertNull(f.server.failure());
    }

    @Test
    void halfCloseByTheClientLetsTheServerKeepSending() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.writeAll(f.client, TcpTestNetwork.bytes(1000, 1));
        f.client.shutdownOutput(f.net.now);
        assertEquals(TcpState.FIN_WAIT_1, f.client.state());
        assertArrayEquals(TcpTestNetwork.bytes(1000, 1), f.readToEof(f.server));
        assertEquals(TcpState.CLOSE_WAIT, f.server.state());
        assertEquals(TcpState.FIN_WAIT_2, f.client.state());
        assertEquals(-1, f.client.write(MemorySegment.ofArray(new byte[1]), 0, 1, f.net.now), "output is shut down");
        byte[] reply = TcpTestNetwork.bytes(50_000, 2);
        f.writeAll(f.server, reply);
        assertArrayEquals(reply, f.readExactly(f.client, reply.length));
        f.server.close(f.net.now);
        assertEquals(TcpState.LAST_ACK, f.server.state());
        assertEquals(0, f.readToEof(f.client).length);
        assertEquals(TcpState.TIME_WAIT, f.client.state());
        f.net.runUntil(() -> f.server.state() == TcpState.CLOSED, 10_000 * MS, 1000);
    }

    @Test
    void halfCloseByTheServerLetsTheClientKeepSending() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.server.shutdownOutput(f.net.now);
        assertEquals(0, f.readToEof(f.client).length);
        assertEquals(TcpState.CLOSE_WAIT, f.client.state());
        byte[] data = TcpTestNetwork.bytes(80_000, 3);
        f.writeAll(f.client, data);
        assertArrayEquals(data, f.readExactly(f.server, data.length));
        f.client.shutdownOutput(f.net.now);
        assertEquals(TcpState.LAST_ACK, f.client.state());
        f.readToEof(f.server);
        f.net.runUntil(() -> f.client.state() == TcpState.CLOSED, 10_000 * MS, 1000);
        assertEquals(TcpState.TIME_WAIT, f.server.state(), "the side that closed first waits");
    }

    @Test
    void timeWaitLastsTwiceTheMsl() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.client.close(f.net.now);
        f.net.runUntil(() -> f.server.state() == TcpState.CLOSE_WAIT, 1000 * MS, 100);
        f.server.close(f.net.now);
        f.net.runUntil(() -> f.client.state() == TcpState.TIME_WAIT, 1000 * MS, 100);
        long entered = f.net.now;
        assertEquals(entered + 200 * MS, f.client.nextDeadline());
        f.net.runUntil(() -> f.client.state() == TcpState.CLOSED, 10_000 * MS, 100);
        assertEquals(200 * MS, f.net.now - entered);
    }

    @Test
    void timeWaitAcknowledgesARetransmittedFinAndRestartsItsTimer() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.client.close(f.net.now);
        f.net.runUntil(() -> f.server.state() == TcpState.CLOSE_WAIT, 1000 * MS, 100);
        boolean[] dropped = new boolean[1];
        f.net.dropIf = s -> {
            // Lose the client's ACK of the server's FIN, once.
            if (!dropped[0] && s.source() == A && s.pureAck() && f.client.state() == TcpState.TIME_WAIT) {
                dropped[0] = true;
                return true;
            }
            return false;
        };
        f.server.close(f.net.now);
        f.net.runUntil(() -> f.server.state() == TcpState.CLOSED, 10_000 * MS, 1000);
        assertTrue(dropped[0]);
        assertNull(f.server.failure(), "the retransmitted FIN was acknowledged from TIME_WAIT");
        List<TcpTestNetwork.Segment> fins = f.net.log.stream().filter(s -> s.source() == B && s.has(Tcp.FIN)).toList();
        assertEquals(2, fins.size());
        long finAgainArrived = fins.get(1).sentAt() + 1 * MS;
        assertEquals(TcpState.TIME_WAIT, f.client.state());
        assertEquals(finAgainArrived + 200 * MS, f.client.nextDeadline(), "2 MSL from the retransmitted FIN");
    }

    @Test
    void aSynWithAHigherTimestampReopensAConnectionInTimeWait() {
        TcpFixture f = serverInTimeWait(CONFIG);
        f.net.runFor(20 * MS);
        TcpConnection again = f.net.a.connect(CONFIG, TcpFixture.CLIENT_PORT, B, TcpFixture.SERVER_PORT, 5, 1460,
                65536, 65536);
        f.net.runUntil(() -> again.isConnected() && f.listener.acceptQueueLength() > 0, 10_000 * MS, 1000);
        assertEquals(TcpState.CLOSED, f.server.state(), "the old incarnation gave way");
        TcpConnection accepted = f.listener.accept();
        assertEquals(TcpState.ESTABLISHED, accepted.state());
        assertNotSame(f.server, accepted);
    }

    @Test
    void aSynWithAHigherSequenceNumberReopensTimeWaitWithoutTimestamps() {
        TcpConfig noTs = TcpFixture.testConfig().timestamps(false).build();
        TcpFixture f = serverInTimeWait(noTs);
        int higher = f.server.receiveNext() + 100_000;
        TcpConnection again = f.net.a.connect(noTs, TcpFixture.CLIENT_PORT, B, TcpFixture.SERVER_PORT, higher, 1460,
                65536, 65536);
        f.net.runUntil(() -> again.isConnected() && f.listener.acceptQueueLength() == 1, 10_000 * MS, 1000);
        assertEquals(0, f.net.b.aggregate.get(TcpCounter.CHALLENGE_ACKS));
    }

    @Test
    void aSynWithALowerSequenceNumberIsChallengedThenTheClientsResetClearsTimeWait() {
        TcpConfig noTs = TcpFixture.testConfig().timestamps(false).build();
        TcpFixture f = serverInTimeWait(noTs);
        int lower = f.server.receiveNext() - 100_000;
        TcpConnection again = f.net.a.connect(noTs, TcpFixture.CLIENT_PORT, B, TcpFixture.SERVER_PORT, lower, 1460,
                65536, 65536);
        f.net.runUntil(() -> again.isConnected() && f.listener.acceptQueueLength() == 1, 60_000 * MS, 1000);
        // RFC 5961 §4: challenge ACK; the client answers a bad ACK with a RST at exactly RCV.NXT,
        // which ends TIME_WAIT; the retransmitted SYN then reaches the listener.
        assertEquals(1, f.net.b.aggregate.get(TcpCounter.CHALLENGE_ACKS), f.net.trace(12));
        assertEquals(TcpState.CLOSED, f.server.state());
        assertTrue(f.net.log.stream().anyMatch(s -> s.source() == A && s.flags() == Tcp.RST));
        assertEquals(1, f.listener.acceptQueueLength());
    }

    /** The server closes first, so it ends in TIME_WAIT; the client's connection is gone. */
    static TcpFixture serverInTimeWait(TcpConfig config) {
        TcpFixture f = new TcpFixture(20, TcpFixture.testConfig().mslNanos(30_000 * MS).timestamps(config.timestamps)
                .build(), config, 65536, 65536).established();
        f.server.close(f.net.now);
        f.net.runUntil(() -> f.client.state() == TcpState.CLOSE_WAIT, 1000 * MS, 100);
        f.client.close(f.net.now);
        f.net.runUntil(() -> f.client.state() == TcpState.CLOSED && f.server.state() == TcpState.TIME_WAIT,
                1000 * MS, 100);
        return f;
    }

    @Test
    void closeWithLingerZeroSendsAResetAndThePeerSeesConnectionReset() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.client.setLinger(0);
        f.client.close(f.net.now);
        assertEquals(TcpState.CLOSED, f.client.state());
        TcpTestNetwork.Segment last = f.net.log.get(f.net.log.size() - 1);
        assertEquals(Tcp.RST, last.flags());
        f.net.runFor(10 * MS);
        assertEquals(TcpFailure.RESET, f.server.failure());
        assertEquals(TcpState.CLOSED, f.server.state());
        assertTrue(f.server.isReadable(), "a selector must wake up to see the reset");
        assertEquals(-1, f.server.read(MemorySegment.ofArray(new byte[10]), 0, 10, f.net.now));
    }

    @Test
    void closeWithUnreadDataResetsTheConnection() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.writeAll(f.server, new byte[100]);
        f.net.runFor(10 * MS);
        assertEquals(100, f.client.receiveQueueBytes());
        f.client.close(f.net.now);
        f.net.runFor(10 * MS);
        assertEquals(TcpFailure.RESET, f.server.failure());
    }

    @Test
    void dataArrivingAfterCloseIsAnsweredWithAReset() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.client.close(f.net.now);
        f.net.runUntil(() -> f.client.state() == TcpState.FIN_WAIT_2, 1000 * MS, 100);
        f.writeAll(f.server, new byte[10]);
        f.net.runFor(10 * MS);
        assertEquals(TcpFailure.RESET, f.server.failure());
        assertEquals(TcpState.CLOSED, f.client.state());
    }

    @Test
    void anOrphanedConnectionLeavesFinWait2AfterTheTimeout() {
        TcpConfig config = TcpFixture.testConfig().finWait2TimeoutNanos(5_000 * MS).build();
        TcpFixture f = new TcpFixture(21, config, 65536).established();
        f.client.close(f.net.now);
        f.net.runUntil(() -> f.client.state() == TcpState.FIN_WAIT_2, 1000 * MS, 100);
        long at = f.net.now;
        f.net.runUntil(() -> f.client.state() == TcpState.CLOSED, 60_000 * MS, 100);
        assertTrue(f.net.now - at <= 5_000 * MS);
        assertEquals(TcpState.CLOSE_WAIT, f.server.state(), "the peer never closed");
    }

    @Test
    void abortSendsAResetAndReportsAborted() {
        TcpFixture f = TcpFixture.connected(CONFIG, 65536);
        f.server.abort(f.net.now);
        assertEquals(TcpFailure.ABORTED, f.server.failure());
        f.net.runFor(10 * MS);
        assertEquals(TcpFailure.RESET, f.client.failure());
        assertEquals(-1, f.client.write(MemorySegment.ofArray(new byte[1]), 0, 1, f.net.now));
    }

    @Test
    void dataWrittenBeforeTheHandshakeCompletesIsSentAfterIt() {
        TcpFixture f = new TcpFixture(22, CONFIG, 65536);
        byte[] data = TcpTestNetwork.bytes(3000, 5);
        assertEquals(3000, f.client.write(MemorySegment.ofArray(data), 0, data.length, f.net.now));
        f.client.shutdownOutput(f.net.now);
        assertEquals(TcpState.SYN_SENT, f.client.state());
        f.established();
        assertArrayEquals(data, f.readToEof(f.server));
    }

    @Test
    void connectTimesOutWhenSynsGoUnanswered() {
        TcpConfig config = TcpFixture.testConfig().maxSynRetransmissions(2).build();
        TcpTestNetwork net = new TcpTestNetwork(23);
        net.dropIf = s -> true;
        TcpConnection c = net.a.connect(config, 1234, B, 80, 1, 1460, 4096, 4096);
        net.runUntil(() -> c.state() == TcpState.CLOSED, 60_000 * MS, 100);
        assertEquals(TcpFailure.TIMED_OUT, c.failure());
        assertEquals(7_000 * MS, net.now, "1 s, then 2 s, then 4 s");
        assertEquals(3, net.log.size());
    }
}

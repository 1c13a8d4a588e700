package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;
import static org.junit.jupiter.api.Assertions.*;

import io.arrakis.stack.wire.Tcp;
import java.lang.foreign.MemorySegment;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Passive opens: SYN queue, accept queue, backlog, SYN cookies (RFC 4987). */
class TcpListenerTest {

    /** A SYN as a client with all options would send it. */
    static byte[] syn(int sourcePort, int seq, boolean timestamps) {
        int options = TcpConnection.synOptionsLength(true, true, timestamps);
        byte[] b = new byte[20 + options];
        MemorySegment m = MemorySegment.ofArray(b);
        Tcp.write(m, 0, sourcePort, 80, seq, 0, b.length, Tcp.SYN, 65535);
        TcpConnection.writeSynOptions(m, 0, 1460, 7, true, timestamps, 12345, 0);
        return b;
    }

    /** A listener on B:80 with {@code backlog}, and two half-open connections from ports that never answer. */
    static TcpTestNetwork withFullSynQueue(TcpConfig config, int backlog) {
        TcpTestNetwork net = new TcpTestNetwork(60);
        net.b.listen(config, 80, 1460, backlog, 65536, 1 << 20);
        Set<Integer> ghosts = Set.of(1001, 1002);
        net.dropIf = s -> ghosts.contains(s.destinationPort());
        net.inject(A, B, syn(1001, 111, true));
        net.inject(A, B, syn(1002, 222, true));
        return net;
    }

    @Test
    void synCookiesAnswerWhenTheSynQueueIsFullAndCarryTheNegotiatedOptions() {
        TcpConfig config = TcpFixture.testConfig().build();
        TcpTestNetwork net = withFullSynQueue(config, 2);
        TcpListener l = net.b.listeners.get(80);
        assertEquals(2, l.synQueueLength());
        TcpConnection c = net.a.connect(config, 40000, B, 80, 1, 1460, 1 << 20, 1 << 20);
        net.runUntil(() -> c.isConnected() && l.acceptQueueLength() == 1, 10_000 * MS, 100);
        assertEquals(2, l.synQueueLength(), "nothing was stored for the cookie");
        assertEquals(1, l.counters().get(TcpCounter.SYN_COOKIES_SENT));
        assertEquals(1, l.counters().get(TcpCounter.SYN_COOKIES_VALID));
        TcpConnection s = l.accept();
        assertTrue(s.timestampsNegotiated());
        assertTrue(s.sackNegotiated(), "SACK came back through the timestamp");
        assertTrue(s.windowScalingNegotiated());
        assertEquals(c.receiveWindowShift(), s.sendWindowShift());
        assertEquals(1460 - 12, s.sendMss(), "1460 is in the cookie's MSS table");
        byte[] data = TcpTestNetwork.bytes(300_000, 1);
        c.write(MemorySegment.ofArray(data), 0, data.length, net.now);
        c.shutdownOutput(net.now);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        net.runUntil(() -> TcpFixture.drain(s, out, net.now) < 0, 60_000 * MS, 100_000);
        assertArrayEquals(data, out.toByteArray());
    }

    @Test
    void synCookiesWithoutTimestampsOfferNeitherWindowScalingNorSack() {
        TcpConfig config = TcpFixture.testConfig().timestamps(false).build();
        TcpTestNetwork net = withFullSynQueue(config, 2);
        TcpListener l = net.b.listeners.get(80);
        TcpConnection c = net.a.connect(config, 40000, B, 80, 1, 1460, 1 << 20, 1 << 20);
        net.runUntil(() -> c.isConnected() && l.acceptQueueLength() == 1, 10_000 * MS, 100);
        TcpConnection s = l.accept();
        assertFalse(c.windowScalingNegotiated());
        assertFalse(s.windowScalingNegotiated());
        assertFalse(s.sackNegotiated());
        assertEquals(1, l.counters().get(TcpCounter.SYN_COOKIES_VALID));
    }

    @Test
    void anAckWithAForgedCookieIsAnsweredWithAReset() {
        TcpTestNetwork net = new TcpTestNetwork(61);
        TcpListener l = net.b.listen(TcpFixture.testConfig().build(), 80, 1460, 4, 4096, 4096);
        net.inject(A, B, TcpTestNetwork.segment(3333, 80, 1000, 0xCAFEBABE, Tcp.ACK, 1000, null, null));
        assertEquals(1, l.counters().get(TcpCounter.DROP_BAD_COOKIE));
        TcpTestNetwork.Segment rst = net.log.get(0);
        assertEquals(Tcp.RST, rst.flags());
        assertEquals(0xCAFEBABE, rst.seq());
        assertEquals(0, l.acceptQueueLength());
    }

    @Test
    void aCookieIsValidForTwoPeriodsOnly() {
        TcpConfig config = TcpFixture.testConfig().synCookies(TcpConfig.SynCookies.ALWAYS)
                .synCookiePeriodNanos(1_000 * MS).timestamps(false).build();
        for (long wait : new long[] {500, 1500, 2500}) {
            TcpTestNetwork net = new TcpTestNetwork(62);
            TcpListener l = net.b.listen(config, 80, 1460, 4, 4096, 4096);
            net.dropIf = s -> true;
            net.inject(A, B, syn(5555, 1000, false));
            TcpTestNetwork.Segment synAck = net.log.get(0);
            assertEquals(Tcp.SYN | Tcp.ACK, synAck.flags());
            net.runFor(wait * MS);
            net.inject(A, B, TcpTestNetwork.segment(5555, 80, 1001, synAck.seq() + 1, Tcp.ACK, 1000, null, null));
            assertEquals(wait < 2000 ? 1 : 0, l.acceptQueueLength(), "after " + wait + " ms");
        }
    }

    @Test
    void theSynAndAcceptQueuesAreBoundedByTheBacklog() {
        TcpConfig config = TcpFixture.testConfig().synCookies(TcpConfig.SynCookies.NEVER).build();
        TcpTestNetwork net = new TcpTestNetwork(63);
        TcpListener l = net.b.listen(config, 80, 1460, 2, 4096, 4096);
        TcpConnection c1 = net.a.connect(config, 1, B, 80, 100, 1460, 4096, 4096);
        TcpConnection c2 = net.a.connect(config, 2, B, 80, 200, 1460, 4096, 4096);
        TcpConnection c3 = net.a.connect(config, 3, B, 80, 300, 1460, 4096, 4096);
        net.runFor(500 * MS);
        assertEquals(2, l.acceptQueueLength());
        assertTrue(c1.isConnected() && c2.isConnected());
        assertEquals(TcpState.SYN_SENT, c3.state(), "its SYN was dropped, to be retransmitted");
        assertTrue(l.counters().get(TcpCounter.DROP_LISTEN_OVERFLOW) >= 1);
        net.runFor(1_500 * MS);
        assertEquals(TcpState.SYN_SENT, c3.state(), "the retransmitted SYN found the accept queue full");
        assertNotNull(l.accept());
        net.runUntil(() -> c3.isConnected() && l.acceptQueueLength() == 2, 10_000 * MS, 100);
    }

    @Test
    void aSynQueueOverflowWithCookiesStillConnectsWhenTheAcceptQueueHasRoom() {
        TcpConfig config = TcpFixture.testConfig().build();
        TcpTestNetwork net = new TcpTestNetwork(68);
        TcpListener l = net.b.listen(config, 80, 1460, 2, 4096, 4096);
        TcpConnection c1 = net.a.connect(config, 1, B, 80, 100, 1460, 4096, 4096);
        TcpConnection c2 = net.a.connect(config, 2, B, 80, 200, 1460, 4096, 4096);
        TcpConnection c3 = net.a.connect(config, 3, B, 80, 300, 1460, 4096, 4096);
        net.runUntil(() -> c3.isConnected() && l.acceptQueueLength() == 2, 1_000 * MS, 100);
        assertEquals(1, l.counters().get(TcpCounter.SYN_COOKIES_SENT));
        assertNotNull(l.accept());
        // The third ACK was dropped (accept queue full); its first data segment completes the handshake.
        c3.setNoDelay(true);
        c3.write(MemorySegment.ofArray(new byte[5]), 0, 5, net.now);
        net.runUntil(() -> l.acceptQueueLength() == 2, 1_000 * MS, 100);
        assertTrue(c1.isConnected() && c2.isConnected());
    }

    @Test
    void aLostFinalAckIsRecoveredWhenTheSynAckIsRetransmitted() {
        TcpConfig config = TcpFixture.testConfig().build();
        TcpTestNetwork net = new TcpTestNetwork(64);
        TcpListener l = net.b.listen(config, 80, 1460, 4, 4096, 4096);
        boolean[] dropped = new boolean[1];
        net.dropIf = s -> {
            if (!dropped[0] && s.source() == A && s.pureAck()) {
                dropped[0] = true;
                return true;
            }
            return false;
        };
        TcpConnection c = net.a.connect(config, 7, B, 80, 100, 1460, 4096, 4096);
        net.runUntil(() -> l.acceptQueueLength() == 1, 10_000 * MS, 100);
        assertTrue(net.now >= 1_000 * MS, "after the SYN-ACK retransmission timer");
        assertEquals(1, c.counters().get(TcpCounter.CHALLENGE_ACKS), "RFC 5961: the repeated SYN-ACK is challenged");
        assertEquals(1, l.counters().get(TcpCounter.RETRANSMITTED_SEGMENTS));
    }

    @Test
    void halfOpenConnectionsAreForgottenAfterTheSynAckRetransmissions() {
        TcpConfig config = TcpFixture.testConfig().maxSynAckRetransmissions(2).build();
        TcpTestNetwork net = new TcpTestNetwork(65);
        TcpListener l = net.b.listen(config, 80, 1460, 4, 4096, 4096);
        net.dropIf = s -> true;
        net.inject(A, B, syn(1001, 1, true));
        assertEquals(1, l.synQueueLength());
        net.runFor(6_500 * MS);
        assertEquals(1, l.synQueueLength(), "SYN-ACKs at 0, 1 s and 3 s; given up at 7 s");
        net.runFor(1_000 * MS);
        assertEquals(0, l.synQueueLength());
        assertEquals(3, net.log.size());
        assertEquals(TcpConnection.NEVER, l.nextDeadline());
    }

    @Test
    void dataRidingOnTheFinalAckIsDelivered() {
        TcpConfig config = TcpFixture.testConfig().build();
        TcpTestNetwork net = new TcpTestNetwork(66);
        TcpListener l = net.b.listen(config, 80, 1460, 4, 4096, 4096);
        net.dropIf = s -> s.source() == A && s.pureAck(); // every pure ACK from the client is lost
        TcpConnection c = net.a.connect(config, 7, B, 80, 100, 1460, 4096, 4096);
        net.runUntil(c::isConnected, 10_000 * MS, 100);
        c.setNoDelay(true);
        c.write(MemorySegment.ofArray(new byte[] {42}), 0, 1, net.now);
        net.runUntil(() -> l.acceptQueueLength() == 1, 10_000 * MS, 100);
        assertEquals(1, l.accept().receiveQueueBytes());
    }

    @Test
    void closingTheListenerResetsConnectionsNotYetAccepted() {
        TcpConfig config = TcpFixture.testConfig().build();
        TcpTestNetwork net = new TcpTestNetwork(67);
        TcpListener l = net.b.listen(config, 80, 1460, 4, 4096, 4096);
        TcpConnection c = net.a.connect(config, 7, B, 80, 100, 1460, 4096, 4096);
        net.runUntil(() -> l.acceptQueueLength() == 1, 10_000 * MS, 100);
        l.close(net.now);
        assertEquals(TcpState.CLOSED, l.state());
        net.runFor(10 * MS);
        assertEquals(TcpFailure.RESET, c.failure());
    }

    @Test
    void isnsFollowTheFourMicrosecondClockAndDifferPerConnection() {
        TcpIsn isn = new TcpIsn(1, 2);
        int a0 = isn.isn(A, 1000, B, 80, 0);
        assertEquals(a0 + 250, isn.isn(A, 1000, B, 80, 1_000_000), "1 ms = 250 ticks of 4 µs");
        assertNotEquals(a0, isn.isn(A, 1001, B, 80, 0));
        assertNotEquals(a0, new TcpIsn(1, 3).isn(A, 1000, B, 80, 0), "the secret matters");
        assertEquals(a0, new TcpIsn(1, 2).isn(A, 1000, B, 80, 0));
    }
}

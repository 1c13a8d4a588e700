package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;
import static org.junit.jupiter.api.Assertions.*;

import io.arrakis.stack.wire.Tcp;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Retransmission (RFC 6298), fast retransmit (RFC 5681/6582), SACK recovery, persist and keep-alive. */
class TcpReliabilityTest {

    static TcpFixture quiet(TcpConfig config, int clientBuffers, int serverBuffers) {
        TcpFixture f = new TcpFixture(40, config, config, clientBuffers, serverBuffers).established();
        f.net.runFor(100 * MS);
        return f;
    }

    static List<TcpTestNetwork.Segment> dataFrom(TcpTestNetwork net, int source, int seq) {
        return net.log.stream().filter(s -> s.source() == source && s.seq() == seq && s.payloadLength() > 0).toList();
    }

    /** Drops the first {@code times} transmissions of the data segment starting at each of {@code seqs}. */
    static void dropFirstTransmissions(TcpTestNetwork net, int times, int... seqs) {
        Map<Integer, Integer> seen = new HashMap<>();
        Set<Integer> targets = new HashSet<>();
        for (int s : seqs) {
            targets.add(s);
        }
        net.dropIf = s -> {
            if (s.source() != A || s.payloadLength() == 0 || !targets.contains(s.seq())) {
                return false;
            }
            return seen.merge(s.seq(), 1, Integer::sum) <= times;
        };
    }

    @Test
    void retransmitsAfterRtoWithExponentialBackoff() {
        TcpFixture f = quiet(TcpFixture.testConfig().build(), 65536, 65536);
        f.client.setNoDelay(true);
        int seq = f.client.sendMax();
        dropFirstTransmissions(f.net, 3, seq);
        f.writeAll(f.client, TcpTestNetwork.bytes(100, 1));
        assertArrayEquals(TcpTestNetwork.bytes(100, 1), f.readExactly(f.server, 100));
        List<TcpTestNetwork.Segment> sent = dataFrom(f.net, A, seq);
        assertEquals(4, sent.size());
        // RTT is 2 ms, so the RTO is the 200 ms minimum, doubled after each expiry.
        assertEquals(200 * MS, sent.get(1).sentAt() - sent.get(0).sentAt());
        assertEquals(400 * MS, sent.get(2).sentAt() - sent.get(1).sentAt());
        assertEquals(800 * MS, sent.get(3).sentAt() - sent.get(2).sentAt());
        assertEquals(3, f.client.counters().get(TcpCounter.RTO_EXPIRATIONS));
        assertEquals(3, f.client.retransmittedSegments());
        f.net.runFor(100 * MS); // the (delayed) ACK of the retransmission
        assertEquals(200 * MS, f.client.rtoNanos(), "a new RTT sample resets the back-off");
    }

    @Test
    void givesUpWithTimedOutWhenRetransmissionsAreExhausted() {
        TcpFixture f = quiet(TcpFixture.testConfig().maxRetransmissions(3).build(), 65536, 65536);
        f.net.dropIf = s -> s.source() == A;
        long start = f.net.now;
        f.client.write(MemorySegment.ofArray(new byte[10]), 0, 10, f.net.now);
        f.net.runUntil(() -> f.client.state() == TcpState.CLOSED, 60_000 * MS, 1000);
        assertEquals(TcpFailure.TIMED_OUT, f.client.failure());
        assertEquals((200 + 400 + 800 + 1600) * MS, f.net.now - start);
    }

    @Test
    void fastRetransmitAfterThreeDuplicateAcksWithoutWaitingForTheTimer() {
        TcpConfig config = TcpFixture.testConfig().sack(false).timestamps(false)
                .congestionControl(TcpConfig.CongestionControl.NEW_RENO).build();
        TcpFixture f = quiet(config, 1 << 20, 1 << 20);
        f.client.setNoDelay(true);
        int mss = f.client.sendMss();
        assertEquals(1460, mss);
        int lost = f.client.sendMax() + mss; // the second segment
        dropFirstTransmissions(f.net, 1, lost);
        byte[] data = TcpTestNetwork.bytes(10 * mss, 2);
        f.client.write(MemorySegment.ofArray(data), 0, data.length, f.net.now);
        assertArrayEquals(data, f.readExactly(f.server, data.length));
        List<TcpTestNetwork.Segment> sent = dataFrom(f.net, A, lost);
        assertEquals(2, sent.size());
        assertTrue(sent.get(1).sentAt() - sent.get(0).sentAt() < 10 * MS, "well before the 200 ms RTO");
        assertEquals(1, f.client.counters().get(TcpCounter.FAST_RETRANSMITS));
        assertEquals(0, f.client.counters().get(TcpCounter.RTO_EXPIRATIONS));
        assertTrue(f.client.counters().get(TcpCounter.DUP_ACKS_IN) >= 3);
        // At the third duplicate ACK, nine segments were in flight: ssthresh = FlightSize / 2.
        assertEquals(9L * mss / 2, f.client.slowStartThreshold());
    }

    @Test
    void newRenoRetransmitsEachHoleOnPartialAcks() {
        TcpConfig config = TcpFixture.testConfig().sack(false).timestamps(false)
                .congestionControl(TcpConfig.CongestionControl.NEW_RENO).build();
        TcpFixture f = quiet(config, 1 << 20, 1 << 20);
        f.client.setNoDelay(true);
        int mss = f.client.sendMss();
        int first = f.client.sendMax();
        dropFirstTransmissions(f.net, 1, first + mss, first + 4 * mss);
        byte[] data = TcpTestNetwork.bytes(10 * mss, 3);
        f.client.write(MemorySegment.ofArray(data), 0, data.length, f.net.now);
        assertArrayEquals(data, f.readExactly(f.server, data.length));
        assertEquals(1, f.client.counters().get(TcpCounter.FAST_RETRANSMITS), "one recovery episode");
        assertEquals(0, f.client.counters().get(TcpCounter.RTO_EXPIRATIONS));
        assertEquals(2, f.client.retransmittedSegments());
    }

    @Test
    void sackRecoveryRetransmitsOnlyTheHoles() {
        TcpConfig config = TcpFixture.testConfig().build();
        TcpFixture f = quiet(config, 1 << 20, 1 << 20);
        f.client.setNoDelay(true);
        int mss = f.client.sendMss();
        int first = f.client.sendMax();
        dropFirstTransmissions(f.net, 1, first + mss, first + 4 * mss, first + 6 * mss);
        byte[] data = TcpTestNetwork.bytes(10 * mss, 4);
        f.client.write(MemorySegment.ofArray(data), 0, data.length, f.net.now);
        assertArrayEquals(data, f.readExactly(f.server, data.length));
        for (int i = 0; i < 10; i++) {
            int expected = i == 1 || i == 4 || i == 6 ? 2 : 1;
            assertEquals(expected, dataFrom(f.net, A, first + i * mss).size(), "segment " + i + "\n" + f.net.trace(40));
        }
        assertEquals(3, f.client.retransmittedSegments());
        assertEquals(0, f.client.counters().get(TcpCounter.RTO_EXPIRATIONS));
        assertTrue(f.net.log.stream().anyMatch(s -> s.source() == B && s.options().sackBlockCount() > 0));
    }

    @Test
    void zeroWindowIsProbedWithBackoffAndTransferResumesWhenTheReaderCatchesUp() {
        TcpConfig config = TcpFixture.testConfig().build();
        TcpFixture f = quiet(config, 65536, 4096);
        byte[] data = TcpTestNetwork.bytes(20_000, 5);
        f.client.write(MemorySegment.ofArray(data), 0, data.length, f.net.now);
        f.net.runFor(5_000 * MS);
        assertEquals(4096, f.server.receiveQueueBytes(), "the receive buffer bounds what is accepted");
        assertEquals(0, f.client.sendWindow());
        assertEquals(TcpState.ESTABLISHED, f.client.state());
        int sndUna = f.client.sendUnacknowledged();
        List<Long> probes = f.net.log.stream().filter(s -> s.source() == A && s.seq() == sndUna - 1)
                .map(TcpTestNetwork.Segment::sentAt).toList();
        assertTrue(probes.size() >= 3, "probes: " + probes);
        for (int i = 2; i < probes.size(); i++) {
            assertTrue(probes.get(i) - probes.get(i - 1) > probes.get(i - 1) - probes.get(i - 2), "back-off " + probes);
        }
        // The reader drains; its window update is lost; the next probe finds the window open.
        boolean[] droppedUpdate = new boolean[1];
        f.net.dropIf = s -> {
            if (!droppedUpdate[0] && s.source() == B && s.pureAck() && s.window() > 0) {
                droppedUpdate[0] = true;
                return true;
            }
            return false;
        };
        byte[] got = f.readExactly(f.server, data.length);
        assertTrue(droppedUpdate[0]);
        assertArrayEquals(data, got);
        assertTrue(f.client.counters().get(TcpCounter.WINDOW_PROBES) > probes.size(), "a probe revived the transfer");
    }

    @Test
    void keepAliveDetectsADeadPeer() {
        TcpFixture f = quiet(TcpFixture.testConfig().build(), 65536, 65536);
        f.client.setKeepAlive(true);
        f.client.setKeepAliveParameters(1_000 * MS, 200 * MS, 3);
        long lastHeard = f.net.log.stream().filter(s -> s.source() == B).mapToLong(TcpTestNetwork.Segment::sentAt)
                .max().orElseThrow() + 1 * MS; // one-way delay
        f.net.dropIf = s -> s.destination() == B; // the server's host died
        f.net.runUntil(() -> f.client.state() == TcpState.CLOSED, 60_000 * MS, 1000);
        assertEquals(TcpFailure.TIMED_OUT, f.client.failure());
        int probeSeq = f.client.sendUnacknowledged() - 1;
        List<TcpTestNetwork.Segment> probes = f.net.log.stream()
                .filter(s -> s.source() == A && s.pureAck() && s.seq() == probeSeq).toList();
        assertEquals(3, probes.size());
        assertEquals(3, f.client.counters().get(TcpCounter.KEEPALIVE_PROBES));
        TcpTestNetwork.Segment last = f.net.log.get(f.net.log.size() - 1);
        assertEquals(Tcp.RST, last.flags(), "the connection is reset when keep-alive gives up");
        assertEquals(lastHeard + 1_000 * MS, probes.get(0).sentAt(), "the first probe after the idle time");
        assertEquals(200 * MS, probes.get(1).sentAt() - probes.get(0).sentAt());
    }

    @Test
    void answeredKeepAliveProbesKeepAnIdleConnectionOpen() {
        TcpFixture f = quiet(TcpFixture.testConfig().build(), 65536, 65536);
        f.client.setKeepAlive(true);
        f.client.setKeepAliveParameters(1_000 * MS, 200 * MS, 2);
        f.net.runFor(10_000 * MS);
        assertEquals(TcpState.ESTABLISHED, f.client.state());
        assertTrue(f.client.counters().get(TcpCounter.KEEPALIVE_PROBES) >= 8);
    }

    @Test
    void aLostFinIsRetransmitted() {
        TcpFixture f = quiet(TcpFixture.testConfig().build(), 65536, 65536);
        boolean[] dropped = new boolean[1];
        f.net.dropIf = s -> {
            if (!dropped[0] && s.source() == A && s.has(Tcp.FIN)) {
                dropped[0] = true;
                return true;
            }
            return false;
        };
        f.client.shutdownOutput(f.net.now);
        assertEquals(0, f.readToEof(f.server).length);
        f.net.runFor(10 * MS);
        assertEquals(2, f.net.log.stream().filter(s -> s.source() == A && s.has(Tcp.FIN)).count());
        assertEquals(TcpState.FIN_WAIT_2, f.client.state());
    }

    @Test
    void packetBufferExhaustionDefersSendingUntilFlush() {
        TcpFixture f = quiet(TcpFixture.testConfig().build(), 65536, 65536);
        f.client.setNoDelay(true);
        f.net.noBufferRate = 1.0;
        f.client.write(MemorySegment.ofArray(new byte[100]), 0, 100, f.net.now);
        assertTrue(f.client.outputBlocked());
        assertEquals(0, f.client.bytesInFlight());
        f.net.noBufferRate = 0;
        f.client.flush(f.net.now);
        assertFalse(f.client.outputBlocked());
        assertEquals(100, f.client.bytesInFlight());
        assertEquals(100, f.readExactly(f.server, 100).length);
    }
}

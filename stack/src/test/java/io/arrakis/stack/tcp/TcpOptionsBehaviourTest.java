package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpFixture.CLIENT_PORT;
import static io.arrakis.stack.tcp.TcpFixture.SERVER_PORT;
import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;
import static io.arrakis.stack.tcp.TcpTestNetwork.segment;
import static io.arrakis.stack.tcp.TcpTestNetwork.timestampOption;
import static org.junit.jupiter.api.Assertions.*;

import io.arrakis.stack.wire.Tcp;
import io.arrakis.stack.wire.TcpOptions;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Timestamps and PAWS (RFC 7323), SACK blocks (RFC 2018). */
class TcpOptionsBehaviourTest {

    static TcpFixture quiet(TcpConfig config) {
        TcpFixture f = TcpFixture.connected(config, 1 << 20);
        f.net.runFor(100 * MS);
        return f;
    }

    @Test
    void pawsDropsASegmentWithAnOlderTimestampAndAcknowledgesIt() {
        TcpFixture f = quiet(TcpFixture.testConfig().build());
        int tsRecent = f.server.timestampRecent();
        int before = f.net.log.size();
        f.net.inject(A, B, segment(CLIENT_PORT, SERVER_PORT, f.server.receiveNext(), f.server.sendMax(),
                Tcp.ACK | Tcp.PSH, 1000, new byte[10], timestampOption(tsRecent - 1000, 0)));
        assertEquals(1, f.server.counters().get(TcpCounter.DROP_PAWS));
        assertEquals(0, f.server.receiveQueueBytes());
        assertTrue(f.net.log.get(before).pureAck(), "an unacceptable segment is acknowledged");
        f.net.inject(A, B, segment(CLIENT_PORT, SERVER_PORT, f.server.receiveNext(), f.server.sendMax(),
                Tcp.ACK | Tcp.PSH, 1000, new byte[10], timestampOption(tsRecent + 1, 0)));
        assertEquals(10, f.server.receiveQueueBytes());
        assertEquals(tsRecent + 1, f.server.timestampRecent());
    }

    @Test
    void onceTimestampsAreNegotiatedASegmentWithoutThemIsDropped() {
        TcpFixture f = quiet(TcpFixture.testConfig().build());
        f.net.inject(A, B, segment(CLIENT_PORT, SERVER_PORT, f.server.receiveNext(), f.server.sendMax(), Tcp.ACK, 1000,
                new byte[10], null));
        assertEquals(1, f.server.counters().get(TcpCounter.DROP_MISSING_TIMESTAMP));
        assertEquals(0, f.server.receiveQueueBytes());
        f.net.inject(A, B, segment(CLIENT_PORT, SERVER_PORT, f.server.receiveNext(), 0, Tcp.RST, 0, null, null));
        assertEquals(TcpFailure.RESET, f.server.failure(), "but a RST needs none");
    }

    @Test
    void acknowledgmentsEchoTheTimestampOfTheSegmentTheyAcknowledge() {
        TcpFixture f = quiet(TcpFixture.testConfig().delayedAckNanos(0).build());
        f.client.write(MemorySegment.ofArray(new byte[100]), 0, 100, f.net.now);
        TcpTestNetwork.Segment data = f.net.log.get(f.net.log.size() - 1);
        f.net.runFor(5 * MS);
        TcpTestNetwork.Segment ack = f.net.log.stream().filter(s -> s.source() == B && s.ack() == data.seq() + 100)
                .findFirst().orElseThrow();
        assertEquals(data.options().timestampValue(), ack.options().timestampEcho());
        assertTrue(f.client.srttNanos() >= 1 * MS && f.client.srttNanos() <= 3 * MS, "srtt " + f.client.srttNanos());
    }

    @Test
    void sackBlocksReportTheMostRecentlyReceivedBlockFirst() {
        TcpFixture f = quiet(TcpFixture.testConfig().build());
        f.client.setNoDelay(true);
        int mss = f.client.sendMss();
        int first = f.client.sendMax();
        TcpReliabilityTest.dropFirstTransmissions(f.net, 1, first + mss, first + 3 * mss, first + 5 * mss);
        f.client.write(MemorySegment.ofArray(new byte[8 * mss]), 0, 8 * mss, f.net.now);
        f.net.runFor(1 * MS + 1);
        // Received 0, 2, 4, 6, 7: the last ACK reports 6-7, then 4, then 2 (three blocks fit beside timestamps).
        List<TcpTestNetwork.Segment> acks = f.net.log.stream().filter(s -> s.source() == B).toList();
        TcpOptions o = acks.get(acks.size() - 1).options();
        assertEquals(3, o.sackBlockCount());
        assertEquals(first + 6 * mss, o.sackLeft(0));
        assertEquals(first + 8 * mss, o.sackRight(0));
        assertEquals(first + 4 * mss, o.sackLeft(1));
        assertEquals(first + 2 * mss, o.sackLeft(2));
        assertEquals(8 * mss, f.readExactly(f.server, 8 * mss).length);
    }

    @Test
    void outOfOrderDataBeyondTheIntervalTableIsDroppedAndRecovered() {
        TcpFixture f = quiet(TcpFixture.testConfig().maxOutOfOrderIntervals(2).build());
        f.client.setNoDelay(true);
        int mss = f.client.sendMss();
        int first = f.client.sendMax();
        TcpReliabilityTest.dropFirstTransmissions(f.net, 1, first, first + 2 * mss, first + 4 * mss, first + 6 * mss);
        byte[] data = TcpTestNetwork.bytes(8 * mss, 9);
        f.client.write(MemorySegment.ofArray(data), 0, data.length, f.net.now);
        assertArrayEquals(data, f.readExactly(f.server, data.length));
        assertTrue(f.server.counters().get(TcpCounter.DROP_OUT_OF_ORDER_FULL) > 0);
    }
}

package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.MS;
import static org.junit.jupiter.api.Assertions.*;

import io.arrakis.stack.wire.Tcp;
import org.junit.jupiter.api.Test;

class TcpHandshakeTest {

    @Test
    void threeWayHandshakeNegotiatesMssWindowScaleTimestampsAndSack() {
        TcpFixture f = TcpFixture.connected(TcpFixture.testConfig().build(), 1 << 20);
        assertEquals(TcpState.ESTABLISHED, f.client.state());
        assertEquals(TcpState.ESTABLISHED, f.server.state());
        TcpTestNetwork.Segment syn = f.net.log.get(0);
        assertEquals(Tcp.SYN, syn.flags());
        assertEquals(1460, syn.options().mss());
        assertEquals(5, syn.options().windowShift()); // 1 MiB needs 2^5 units in 16 bits
        assertTrue(syn.options().sackPermitted());
        assertTrue(syn.options().hasTimestamps());
        TcpTestNetwork.Segment synAck = f.net.log.get(1);
        assertEquals(Tcp.SYN | Tcp.ACK, synAck.flags());
        assertEquals(syn.seq() + 1, synAck.ack());
        assertEquals(syn.options().timestampValue(), synAck.options().timestampEcho());
        assertEquals(65535, syn.window(), "a SYN's window is never scaled");
        for (TcpConnection c : new TcpConnection[] {f.client, f.server}) {
            assertTrue(c.windowScalingNegotiated());
            assertTrue(c.timestampsNegotiated());
            assertTrue(c.sackNegotiated());
            assertEquals(1460 - 12, c.sendMss());
            assertEquals(5, c.sendWindowShift());
        }
        assertEquals(1 << 20, f.server.sendWindow() & ~31, "the window grows to the whole buffer after the handshake");
    }

    @Test
    void optionsAreOnlyUsedWhenBothSidesOfferThem() {
        TcpConfig plain = TcpFixture.testConfig().windowScaling(false).timestamps(false).sack(false).build();
        TcpFixture f = new TcpFixture(2, plain, TcpFixture.testConfig().build(), 1 << 20, 1 << 20).established();
        for (TcpConnection c : new TcpConnection[] {f.client, f.server}) {
            assertFalse(c.windowScalingNegotiated());
            assertFalse(c.timestampsNegotiated());
            assertFalse(c.sackNegotiated());
            assertEquals(1460, c.sendMss());
        }
        TcpTestNetwork.Segment synAck = f.net.log.get(1);
        assertEquals(-1, synAck.options().windowShift());
        assertFalse(synAck.options().hasTimestamps());
        assertFalse(synAck.options().sackPermitted());
        assertEquals(65535, f.server.sendWindow(), "unscaled windows cap at 65535");
    }

    @Test
    void mssIsTheSmallerOfBothSides() {
        TcpTestNetwork net = new TcpTestNetwork(3);
        TcpConfig config = TcpFixture.testConfig().timestamps(false).build();
        TcpListener l = net.b.listen(config, 80, 536, 4, 65536, 65536);
        TcpConnection c = net.a.connect(config, 1234, TcpTestNetwork.B, 80, 77, 1460, 65536, 65536);
        net.runUntil(() -> c.isConnected() && l.acceptQueueLength() == 1, 10_000 * MS, 1000);
        assertEquals(536, c.sendMss());
        assertEquals(536, l.accept().sendMss());
    }

    @Test
    void connectionRefusedWhenNothingListens() {
        TcpTestNetwork net = new TcpTestNetwork(4);
        TcpConnection c = net.a.connect(TcpFixture.testConfig().build(), 1234, TcpTestNetwork.B, 81, 77, 1460, 4096, 4096);
        net.runUntil(() -> c.state() == TcpState.CLOSED, 10_000 * MS, 1000);
        assertEquals(TcpFailure.REFUSED, c.failure());
        TcpTestNetwork.Segment rst = net.log.get(1);
        assertEquals(Tcp.RST | Tcp.ACK, rst.flags());
        assertEquals(78, rst.ack());
    }
}

package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static io.arrakis.stack.tcp.TcpTestNetwork.MS;
import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Nagle, delayed ACKs, and buffer sizes as windows (RFC 9293 §3.8.6, RFC 1122 §4.2.3). */
class TcpFlowControlTest {
    static final TcpConfig CONFIG = TcpFixture.testConfig().build();

    static TcpFixture quiet(int clientBuffers, int serverBuffers) {
        TcpFixture f = new TcpFixture(50, CONFIG, CONFIG, clientBuffers, serverBuffers).established();
        f.net.runFor(100 * MS);
        return f;
    }

    static List<TcpTestNetwork.Segment> data(TcpTestNetwork net, int source) {
        return net.log.stream().filter(s -> s.source() == source && s.payloadLength() > 0).toList();
    }

    static void write(TcpFixture f, TcpConnection c, int bytes) {
        assertEquals(bytes, c.write(MemorySegment.ofArray(new byte[bytes]), 0, bytes, f.net.now));
    }

    @Test
    void nagleHoldsASmallSegmentUntilTheOutstandingOneIsAcknowledged() {
        TcpFixture f = quiet(65536, 65536);
        long t0 = f.net.now;
        write(f, f.client, 1);
        write(f, f.client, 1);
        f.net.runFor(200 * MS);
        List<TcpTestNetwork.Segment> sent = data(f.net, A);
        assertEquals(2, sent.size());
        assertEquals(t0, sent.get(0).sentAt());
        // The server delays its ACK by 40 ms; the second byte waits for it (1 ms each way).
        assertEquals(t0 + 42 * MS, sent.get(1).sentAt());
    }

    @Test
    void noDelaySendsSmallSegmentsAtOnce() {
        TcpFixture f = quiet(65536, 65536);
        f.client.setNoDelay(true);
        long t0 = f.net.now;
        write(f, f.client, 1);
        write(f, f.client, 1);
        List<TcpTestNetwork.Segment> sent = data(f.net, A);
        assertEquals(2, sent.size());
        assertEquals(t0, sent.get(1).sentAt());
    }

    @Test
    void nagleReleasesTheLastSmallSegmentWhenTheOutputIsShutDown() {
        TcpFixture f = quiet(65536, 65536);
        write(f, f.client, 1);
        write(f, f.client, 1);
        long t0 = f.net.now;
        f.client.shutdownOutput(f.net.now);
        assertEquals(t0, data(f.net, A).get(1).sentAt());
    }

    @Test
    void aLoneSmallSegmentIsAcknowledgedAfterTheDelayedAckTimeout() {
        TcpFixture f = quiet(65536, 65536);
        long t0 = f.net.now;
        write(f, f.client, 10);
        f.net.runFor(100 * MS);
        TcpTestNetwork.Segment ack = f.net.log.stream().filter(s -> s.source() == B && s.sentAt() > t0).findFirst()
                .orElseThrow();
        assertTrue(ack.pureAck());
        assertEquals(t0 + 1 * MS + 40 * MS, ack.sentAt());
    }

    @Test
    void everySecondFullSizedSegmentIsAcknowledgedAtOnce() {
        TcpFixture f = quiet(65536, 65536);
        long t0 = f.net.now;
        write(f, f.client, 2 * f.client.sendMss());
        f.net.runFor(100 * MS);
        TcpTestNetwork.Segment ack = f.net.log.stream().filter(s -> s.source() == B && s.sentAt() > t0).findFirst()
                .orElseThrow();
        assertEquals(t0 + 1 * MS, ack.sentAt());
        assertEquals(f.client.sendMax(), ack.ack());
    }

    @Test
    void anOutOfOrderSegmentIsAcknowledgedAtOnceWithASackBlock() {
        TcpFixture f = quiet(65536, 65536);
        f.client.setNoDelay(true);
        int first = f.client.sendMax();
        TcpReliabilityTest.dropFirstTransmissions(f.net, 1, first);
        long t0 = f.net.now;
        write(f, f.client, 100);
        write(f, f.client, 100);
        f.net.runFor(1 * MS + 1);
        TcpTestNetwork.Segment dupAck = f.net.log.stream().filter(s -> s.source() == B && s.sentAt() > t0)
                .findFirst().orElseThrow();
        assertEquals(t0 + 1 * MS, dupAck.sentAt());
        assertEquals(first, dupAck.ack());
        assertEquals(1, dupAck.options().sackBlockCount());
        assertEquals(first + 100, dupAck.options().sackLeft(0));
        assertEquals(first + 200, dupAck.options().sackRight(0));
    }

    @Test
    void theReceiveBufferSizeIsTheWindowAndBoundsWhatIsAccepted() {
        TcpFixture f = quiet(65536, 10_000);
        assertEquals(10_000, f.client.sendWindow());
        assertEquals(0, f.server.receiveWindowShift());
        write(f, f.client, 50_000);
        f.net.runFor(2_000 * MS);
        assertEquals(10_000, f.server.receiveQueueBytes());
        assertEquals(0, f.client.sendWindow());
        assertEquals(40_000, f.client.sendQueueBytes());
    }

    @Test
    void aLargeReceiveBufferIsAdvertisedWithWindowScaling() {
        TcpFixture f = quiet(4 << 20, 65536);
        assertEquals(7, f.client.receiveWindowShift());
        // The client's final handshake ACK carried its first scaled window.
        assertTrue(f.server.sendWindow() >= (4 << 20) - 127, "window " + f.server.sendWindow());
        assertTrue(f.server.sendWindow() <= (4 << 20) + 127);
    }

    @Test
    void theSendBufferSizeBoundsWhatAWriteAccepts() {
        TcpFixture f = quiet(5_000, 65536);
        assertEquals(5_000, f.client.write(MemorySegment.ofArray(new byte[100_000]), 0, 100_000, f.net.now));
        assertFalse(f.client.isWritable());
        assertEquals(0, f.client.write(MemorySegment.ofArray(new byte[1]), 0, 1, f.net.now));
        boolean[] writable = new boolean[1];
        f.client.setEvents(new TcpEvents() {
            @Override
            public void writable(TcpConnection connection) {
                writable[0] = true;
            }
        });
        f.net.runFor(10 * MS);
        assertTrue(writable[0], "acknowledged data frees room and says so");
        assertTrue(f.client.isWritable());
    }

    @Test
    void readingSendsAWindowUpdateAndTheSenderResumes() {
        TcpFixture f = quiet(65536, 10_000);
        write(f, f.client, 30_000);
        f.net.runFor(100 * MS);
        assertEquals(0, f.client.sendWindow());
        long before = f.net.now;
        f.server.read(MemorySegment.ofArray(new byte[6_000]), 0, 6_000, f.net.now);
        TcpTestNetwork.Segment update = f.net.log.get(f.net.log.size() - 1);
        assertEquals(B, update.source());
        assertEquals(before, update.sentAt(), "the update goes out with the read");
        assertEquals(6_000, update.window());
        f.net.runFor(10 * MS);
        assertEquals(10_000, f.server.receiveQueueBytes());
    }

    @Test
    void aSmallReadDoesNotOpenASillyWindow() {
        TcpFixture f = quiet(65536, 10_000);
        write(f, f.client, 30_000);
        f.net.runFor(100 * MS);
        int logged = f.net.log.size();
        f.server.read(MemorySegment.ofArray(new byte[100]), 0, 100, f.net.now);
        assertEquals(logged, f.net.log.size(), "100 bytes is below min(buffer/2, MSS): no update");
    }

    @Test
    void theAdvertisedRightEdgeNeverMovesLeft() {
        SplittableRandom r = new SplittableRandom(7);
        TcpFixture f = quiet(65536, 3_000 + 7);
        f.net.lossRate = 0.1;
        f.net.reorderRate = 0.2;
        byte[] data = TcpTestNetwork.bytes(200_000, 8);
        MemorySegment src = MemorySegment.ofArray(data);
        byte[] buf = new byte[5000];
        int written = 0;
        int read = 0;
        while (read < data.length) {
            if (written < data.length) {
                written += f.client.write(src, written, Math.min(data.length - written, 1 + r.nextInt(4000)), f.net.now);
            }
            int n = f.server.read(MemorySegment.ofArray(buf), 0, 1 + r.nextInt(buf.length), f.net.now);
            read += Math.max(0, n);
            f.net.runFor(r.nextInt(5) * MS);
        }
        long maxRight = Long.MIN_VALUE;
        int shift = f.server.receiveWindowShift();
        int base = f.server.receiveNext();
        for (TcpTestNetwork.Segment s : f.net.log) {
            if (s.source() == B && s.has(io.arrakis.stack.wire.Tcp.ACK)) {
                long right = (long) (s.ack() - base) + ((long) s.window() << shift);
                assertTrue(right >= maxRight, "right edge moved left at " + s);
                maxRight = Math.max(maxRight, right);
            }
        }
    }
}

package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpCounter;
import io.arrakis.stack.tcp.TcpListener;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A live connection moved from one {@link TcpLayer} to another of the same address
 * ({@link TcpLayer#release}, {@link TcpLayer#adopt}), as the provider does between the stacks of
 * two queues: on a lossy link, on virtual time. After the move every segment still arrives at
 * the old layer (the stack's handler), which hands it over through its {@link TcpLayer.StrayDiverter}
 * instead of answering with a RST; the new layer's timers retransmit what the link loses.
 */
class TcpLayerMoveTest {
    private static final int B = Ipv4Text.parse(StackPair.B);
    private static final long SECOND = 1_000_000_000L;

    /** A segment the old layer handed over: a copy, with its addresses. */
    private record Diverted(MemorySegment segment, int source, int destination) {
    }

    @Test
    void aMovedConnectionKeepsItsStreamRetransmitsFromItsNewLayerAndHalfClosesWithoutReset() throws Exception {
        int bytes = 600_000;
        try (StackPair pair = new StackPair(LinkFaults.NONE.withLatency(50_000).withRate(1_000_000_000)
                .withLoss(0.03).withSeed(11))) {
            TcpLayer client = new TcpLayer(pair.a, TcpConfig.DEFAULT, 1);
            TcpLayer before = new TcpLayer(pair.b, TcpConfig.DEFAULT, 2);
            TcpListener listener = before.listen(9000, 4, 64 * 1024, 64 * 1024);
            TcpConnection c = client.connect(B, 9000, 0, 64 * 1024, 64 * 1024, pair.now());
            Random random = new Random(3);
            byte[] up = new byte[bytes];
            byte[] down = new byte[bytes];
            random.nextBytes(up);
            random.nextBytes(down);
            ByteArrayOutputStream atClient = new ByteArrayOutputStream();
            ByteArrayOutputStream atServer = new ByteArrayOutputStream();
            int[] sent = new int[2];
            boolean[] shut = new boolean[2];
            MemorySegment scratch = MemorySegment.ofArray(new byte[16 * 1024]);

            // Half the client's stream first, on the first layer.
            TcpConnection[] server = new TcpConnection[1];
            assertTrue(pair.runUntil(() -> {
                if (server[0] == null) {
                    server[0] = before.accept(listener);
                }
                pump(client, c, up, sent, 0, shut, atClient, scratch, pair.now(), bytes / 2);
                if (server[0] != null) {
                    pump(before, server[0], down, sent, 1, shut, atServer, scratch, pair.now(), 0);
                }
                return atServer.size() >= bytes / 4;
            }, 60 * SECOND));
            TcpConnection s = server[0];
            assertNotNull(s);

            // The move: a second layer on the same address takes the connection; the stack's
            // handler stays the first layer, so every later segment meets the diverter there.
            TcpLayer after = new TcpLayer(pair.b, TcpConfig.DEFAULT, 4);
            pair.b.setTcpHandler(before);
            ArrayDeque<Diverted> handedOver = new ArrayDeque<>();
            before.setStrayDiverter((packet, at, length, source, destination, localPort, remotePort) -> {
                MemorySegment copy = Arena.ofAuto().allocate(length, 8);
                MemorySegment.copy(packet, at, copy, 0, length);
                handedOver.add(new Diverted(copy, source, destination));
                return true;
            });
            assertTrue(before.release(s));
            assertFalse(before.release(s), "released once");
            after.adopt(s, pair.now());
            assertThrows(IllegalStateException.class, () -> after.adopt(s, pair.now()), "one connection per 4-tuple");
            assertEquals(0, before.connectionCount());
            assertEquals(1, after.connectionCount());

            long divertedSegments = 0;
            boolean done = false;
            for (int step = 0; step < 2_000_000 && !done; step++) {
                long now = pair.now();
                Diverted d;
                while ((d = handedOver.poll()) != null) {
                    after.received(d.segment(), 0, (int) d.segment().byteSize(), d.source(), d.destination(), now);
                    divertedSegments++;
                }
                after.runTimers(now); // the stack runs its handler's timers only: the test runs the new layer's
                pump(client, c, up, sent, 0, shut, atClient, scratch, now, bytes);
                pump(after, s, down, sent, 1, shut, atServer, scratch, now, bytes);
                pair.b.flush();
                pair.a.poll(now);
                pair.b.poll(now);
                done = atClient.size() == bytes && atServer.size() == bytes
                        && client.read(c, scratch, 0, 1, now) == -1 && after.read(s, scratch, 0, 1, now) == -1;
                if (done || !handedOver.isEmpty()) {
                    continue;
                }
                long next = Math.min(Math.min(pair.link.nextEventTime(), after.nextDeadline()),
                        Math.min(pair.a.nextDeadline(), pair.b.nextDeadline()));
                assertTrue(next != Long.MAX_VALUE, "nothing left to do before the exchange ended");
                pair.clock.advanceTo(Math.max(next, pair.clock.now()));
                pair.link.deliverDue();
            }
            assertTrue(done, "the exchange ended: client got " + atClient.size() + ", server got " + atServer.size());
            assertArrayEquals(up, atServer.toByteArray(), "the client's stream, exact, across the move");
            assertArrayEquals(down, atClient.toByteArray(), "the server's stream, exact, across the move");
            assertTrue(divertedSegments > 100, "segments handed over: " + divertedSegments);
            assertTrue(after.counters().get(TcpCounter.RETRANSMITTED_SEGMENTS) > 0,
                    "the new layer's timers retransmitted what the link lost");
            assertEquals(0, before.counters().get(TcpCounter.RESETS_OUT), "the old layer answered nothing with a RST");
            assertEquals(0, client.counters().get(TcpCounter.RESETS_IN));
        }
    }

    /** Writes what fits (up to {@code limit} bytes in all), reads what arrived, half-closes once all is written. */
    private static void pump(TcpLayer tcp, TcpConnection connection, byte[] data, int[] sent, int side,
            boolean[] shut, ByteArrayOutputStream received, MemorySegment scratch, long now, int limit) {
        if (!connection.isConnected() && connection.state() != io.arrakis.stack.tcp.TcpState.CLOSE_WAIT) {
            return;
        }
        while (sent[side] < Math.min(limit, data.length)) {
            int chunk = Math.min(Math.min(limit, data.length) - sent[side], (int) scratch.byteSize());
            MemorySegment.copy(MemorySegment.ofArray(data), sent[side], scratch, 0, chunk);
            int n = tcp.write(connection, scratch, 0, chunk, now);
            sent[side] += n;
            if (n < chunk) {
                break;
            }
        }
        if (sent[side] == data.length && !shut[side]) {
            tcp.shutdownOutput(connection, now);
            shut[side] = true;
        }
        int n;
        while ((n = tcp.read(connection, scratch, 0, (int) scratch.byteSize(), now)) > 0) {
            received.write(scratch.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), 0, n);
        }
    }
}

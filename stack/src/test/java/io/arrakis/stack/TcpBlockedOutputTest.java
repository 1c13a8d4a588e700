package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.link.SimulatedLink;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpCounter;
import io.arrakis.stack.tcp.TcpListener;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/**
 * The sink contract ({@code TcpSegmentSink.begin}): when no packet buffer is free the engine
 * keeps its state and reports {@code outputBlocked()}, and "sends on the next flush, which the
 * core calls once buffers are free again". The core here is {@link TcpLayer} on a
 * {@link NetworkStack}: it must retry by itself, since a blocked connection with nothing in
 * flight has no timer armed and no ACK to wait for.
 */
class TcpBlockedOutputTest {
    private static final int B = Ipv4Text.parse(StackPair.B);
    private static final long SECOND = 1_000_000_000L;

    @Test
    void dataWrittenWhileThePoolWasEmptyIsSentOnceBuffersAreFreeAgain() throws Exception {
        try (StackPair pair = new StackPair(LinkFaults.NONE.withLatency(10_000))) {
            TcpLayer tcpA = new TcpLayer(pair.a, TcpConfig.DEFAULT, 1);
            TcpLayer tcpB = new TcpLayer(pair.b, TcpConfig.DEFAULT, 2);
            TcpListener listener = tcpB.listen(7000, 4, 64 * 1024, 64 * 1024);
            TcpConnection client = tcpA.connect(B, 7000, 0, 64 * 1024, 64 * 1024, pair.now());
            TcpConnection[] server = new TcpConnection[1];
            assertTrue(pair.runUntil(() -> client.isConnected()
                    && (server[0] = server[0] != null ? server[0] : tcpB.accept(listener)) != null, SECOND));
            pair.runUntil(() -> false, SECOND / 10); // let the handshake's last ACK settle

            // Other traffic (or frames a slow device still holds) took every free buffer of A's queue.
            VnicQueue queue = pair.link.a().queue(0);
            PacketBatch hog = new PacketBatch(SimulatedLink.DEFAULT_BUFFERS);
            assertTrue(queue.allocate(hog, SimulatedLink.DEFAULT_BUFFERS) > 0);
            byte[] data = new byte[10_000];
            assertEquals(data.length, tcpA.write(client, MemorySegment.ofArray(data), 0, data.length, pair.now()));
            assertTrue(client.outputBlocked(), "no buffer: the engine waits for a flush");
            assertTrue(client.counters().get(TcpCounter.SINK_FULL) > 0);
            queue.release(hog);

            // Nothing else will happen on this connection: the stack must flush it by itself.
            assertTrue(pair.runUntil(() -> server[0].receiveQueueBytes() == data.length, 10 * SECOND),
                    "the written bytes never left: " + client.info() + ", next deadline " + client.nextDeadline());
        }
    }
}

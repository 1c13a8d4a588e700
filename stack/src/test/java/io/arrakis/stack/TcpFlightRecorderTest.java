package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpCounter;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.tcp.TcpState;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stack's JFR events: a recording of a transfer over a link that loses a quarter of its frames
 * holds one retransmission-timeout event per RTO the engines counted, and the opening and closing
 * of both ends of the connection.
 */
class TcpFlightRecorderTest {
    private static final long SECOND = 1_000_000_000L;
    private static final int BYTES = 64 * 1024;

    @TempDir
    Path directory;

    @Test
    void aRecordingOfALossyTransferHoldsEveryRetransmissionTimeoutAndTheConnectionsOpeningAndClosing()
            throws Exception {
        Path file = directory.resolve("lossy.jfr");
        long rtos;
        int port;
        long clientRetransmits;
        long clientRetransmittedBytes;
        try (Recording recording = new Recording()) {
            recording.enable("io.arrakis.RetransmissionTimeout");
            recording.enable("io.arrakis.ConnectionOpened");
            recording.enable("io.arrakis.ConnectionClosed");
            recording.start();
            try (StackPair pair = new StackPair(LinkFaults.NONE.withLoss(0.25).withSeed(7))) {
                TcpLayer a = new TcpLayer(pair.a, TcpConfig.DEFAULT, 1);
                TcpLayer b = new TcpLayer(pair.b, TcpConfig.DEFAULT, 2);
                TcpListener listener = b.listen(8080, 4, 64 * 1024, 64 * 1024);
                TcpConnection client = a.connect(Ipv4Text.parse(StackPair.B), 8080, 0, 64 * 1024, 64 * 1024, pair.now());
                port = client.localPort();
                TcpConnection[] server = new TcpConnection[1];
                MemorySegment data = MemorySegment.ofArray(new byte[BYTES]);
                MemorySegment sink = MemorySegment.ofArray(new byte[BYTES]);
                int[] written = new int[1];
                long[] read = new long[1];
                boolean[] closed = new boolean[2];
                boolean done = pair.runUntil(() -> {
                    long now = pair.now();
                    if (server[0] == null) {
                        server[0] = b.accept(listener);
                    }
                    if (client.isConnected() && written[0] < BYTES) {
                        written[0] += a.write(client, data, written[0], BYTES - written[0], now);
                    }
                    if (written[0] == BYTES && !closed[0]) {
                        a.close(client, now);
                        closed[0] = true;
                    }
                    if (server[0] != null) {
                        int n;
                        while ((n = b.read(server[0], sink, 0, BYTES, now)) > 0) {
                            read[0] += n;
                        }
                        if (n < 0 && !closed[1]) {
                            b.close(server[0], now);
                            closed[1] = true;
                        }
                    }
                    return closed[1] && client.state() == TcpState.CLOSED && server[0].state() == TcpState.CLOSED;
                }, 3600 * SECOND);
                assertTrue(done, "the transfer finished and both ends closed: client " + client.info() + ", server "
                        + (server[0] == null ? "never accepted" : server[0].info()));
                assertEquals(BYTES, read[0]);
                // Connections reach CLOSED, and the layers forget them, in TIME_WAIT's wake.
                pair.runUntil(() -> a.connectionCount() == 0 && b.connectionCount() == 0, 3600 * SECOND);
                rtos = a.counters().get(TcpCounter.RTO_EXPIRATIONS) + b.counters().get(TcpCounter.RTO_EXPIRATIONS);
                clientRetransmits = client.retransmittedSegments();
                clientRetransmittedBytes = a.counters().get(TcpCounter.DATA_BYTES_OUT) - BYTES;
            }
            recording.stop();
            recording.dump(file);
        }
        assertTrue(rtos > 0, "a quarter of the frames lost: some losses only a timeout repairs");
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);
        List<RecordedEvent> timeouts = events.stream()
                .filter(e -> e.getEventType().getName().equals("io.arrakis.RetransmissionTimeout")).toList();
        assertEquals(rtos, timeouts.size(), "one event per RTO the engines counted");
        for (RecordedEvent e : timeouts) {
            assertTrue(e.getString("local").startsWith("198.18.0."), e.toString());
            assertTrue(e.getLong("rto") > 0 && e.getInt("retries") >= 1, e.toString());
            assertEquals("Arrakis", e.getEventType().getCategoryNames().getFirst());
        }
        String clientEnd = StackPair.A + ":" + port;
        assertEquals(2, events.stream().filter(e -> e.getEventType().getName().equals("io.arrakis.ConnectionOpened")
                && (e.getString("local").equals(clientEnd) || e.getString("remote").equals(clientEnd))).count(),
                "both ends opened");
        List<RecordedEvent> closes = events.stream()
                .filter(e -> e.getEventType().getName().equals("io.arrakis.ConnectionClosed")
                        && (e.getString("local").equals(clientEnd) || e.getString("remote").equals(clientEnd))).toList();
        assertEquals(2, closes.size(), "both ends closed");
        RecordedEvent serverClosed = closes.stream().filter(e -> e.getString("remote").equals(clientEnd)).findFirst()
                .orElseThrow();
        assertEquals(BYTES, serverClosed.getLong("bytesIn"), serverClosed.toString());
        assertEquals("NONE", serverClosed.getString("failure"));
        RecordedEvent clientClosed = closes.stream().filter(e -> e.getString("local").equals(clientEnd)).findFirst()
                .orElseThrow();
        assertEquals(clientRetransmits, clientClosed.getLong("retransmits"), clientClosed.toString());
        assertEquals(BYTES + clientRetransmittedBytes, clientClosed.getLong("bytesOut"),
                "data bytes sent, retransmissions included (as Linux's bytes_sent): " + clientClosed);
    }
}

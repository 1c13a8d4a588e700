package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.link.LinkCounter;
import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.link.SimulatedLink;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpCounter;
import io.arrakis.stack.tcp.TcpFailure;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.tcp.TcpState;
import io.arrakis.stack.wire.Ethernet;
import io.arrakis.stack.wire.Icmp;
import io.arrakis.stack.wire.Ipv4;
import io.arrakis.stack.wire.NetworkOrder;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** ICMP destination-unreachable reaching TCP: path MTU (RFC 1191) and hard errors (RFC 1122 §4.2.3.9). */
class PathMtuTest {
    private static final int A = Ipv4Text.parse(StackPair.A);
    private static final int B = Ipv4Text.parse(StackPair.B);
    private static final long SECOND = 1_000_000_000L;

    /** Makes b's VNIC emit an ICMP unreachable to a about a TCP segment a sent with {@code seq}. */
    private static void injectUnreachable(StackPair pair, int code, int nextHopMtu, int localPort, int remotePort,
            int seq) throws Exception {
        VnicQueue rogue = pair.link.b().queue(0);
        PacketBatch batch = new PacketBatch(1);
        rogue.allocate(batch, 1);
        MemorySegment m = rogue.memory();
        long frame = (long) batch.buffer(0) * rogue.bufferSize() + batch.offset(0);
        int icmpLength = Icmp.HEADER_LENGTH + 20 + 8;
        Ethernet.write(m, frame, pair.link.a().mac().bits(), pair.link.b().mac().bits(), Ethernet.TYPE_IPV4);
        long ip = frame + Ethernet.HEADER_LENGTH;
        Ipv4.write(m, ip, 0, 20 + icmpLength, 1, 0, 64, Ipv4.PROTOCOL_ICMP, B, A);
        long icmp = ip + 20;
        Icmp.setTypeAndCode(m, icmp, Icmp.TYPE_DESTINATION_UNREACHABLE, code);
        Icmp.setRestOfHeader(m, icmp, nextHopMtu);
        long quote = icmp + Icmp.HEADER_LENGTH;
        Ipv4.write(m, quote, 0, 1500, 7, Ipv4.FLAG_DF, 64, Ipv4.PROTOCOL_TCP, A, B);
        NetworkOrder.setU16(m, quote + 20, localPort);
        NetworkOrder.setU16(m, quote + 22, remotePort);
        NetworkOrder.setU32(m, quote + 24, seq);
        Icmp.fillChecksum(m, icmp, icmpLength);
        batch.setLength(0, Ethernet.HEADER_LENGTH + 20 + icmpLength);
        assertEquals(1, rogue.transmit(batch));
    }

    @Test
    void fragmentationNeededShrinksTheSegmentsInFlightAndTheTransferStillCompletes() throws Exception {
        try (StackPair pair = new StackPair(LinkFaults.NONE.withLatency(50_000).withRate(1_000_000_000))) {
            TcpLayer tcpA = new TcpLayer(pair.a, TcpConfig.DEFAULT, 1);
            TcpLayer tcpB = new TcpLayer(pair.b, TcpConfig.DEFAULT, 2);
            TcpListener listener = tcpB.listen(8080, 4, 65_536, 65_536);
            TcpConnection client = tcpA.connect(B, 8080, 0, 65_536, 65_536, pair.now());
            byte[] data = new byte[400_000];
            new Random(3).nextBytes(data);
            int[] written = new int[1];
            TcpConnection[] server = new TcpConnection[1];
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            MemorySegment scratch = MemorySegment.ofArray(new byte[65_536]);
            java.util.function.BooleanSupplier step = () -> {
                if (server[0] == null) {
                    server[0] = tcpB.accept(listener);
                }
                if (client.isConnected() && written[0] < data.length) {
                    written[0] += tcpA.write(client, MemorySegment.ofArray(data), written[0], data.length - written[0],
                            pair.now());
                }
                int n;
                while (server[0] != null && (n = tcpB.read(server[0], scratch, 0, 65_536, pair.now())) > 0) {
                    received.write(scratch.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), 0, n);
                }
                return received.size() == data.length;
            };
            assertTrue(pair.runUntil(() -> step.getAsBoolean() || client.bytesInFlight() > 20_000, SECOND));
            assertTrue(client.bytesInFlight() > 0);
            int[] largestAfter = new int[1];
            pair.link.trace((nanos, direction, event, frame, length) -> {
                if (direction == SimulatedLink.Direction.A_TO_B && event == LinkCounter.SENT
                        && pair.a.counters().get(StackCounter.PATH_MTU_LEARNT) > 0) {
                    largestAfter[0] = Math.max(largestAfter[0], length);
                }
            });
            // Quote the newest byte in flight: it is still unacknowledged when the ICMP arrives.
            injectUnreachable(pair, Icmp.CODE_FRAGMENTATION_NEEDED, 1000, client.localPort(), 8080,
                    client.sendUnacknowledged() + client.bytesInFlight() - 1);
            assertTrue(pair.runUntil(step, 60 * SECOND));
            assertArrayEquals(data, received.toByteArray());
            assertEquals(1000, pair.a.mtuTo(B));
            assertEquals(1, client.counters().get(TcpCounter.PATH_MTU_DECREASES));
            assertTrue(largestAfter[0] <= Ethernet.HEADER_LENGTH + 1000, "frames after the ICMP: " + largestAfter[0]);
        }
    }

    @Test
    void anIcmpQuotingASequenceNotInFlightIsIgnoredByTheConnection() throws Exception {
        try (StackPair pair = new StackPair(LinkFaults.NONE.withLatency(50_000))) {
            TcpLayer tcpA = new TcpLayer(pair.a, TcpConfig.DEFAULT, 1);
            TcpLayer tcpB = new TcpLayer(pair.b, TcpConfig.DEFAULT, 2);
            tcpB.listen(8080, 4, 65_536, 65_536);
            TcpConnection client = tcpA.connect(B, 8080, 0, 65_536, 65_536, pair.now());
            assertTrue(pair.runUntil(client::isConnected, SECOND));
            injectUnreachable(pair, Icmp.CODE_FRAGMENTATION_NEEDED, 1000, client.localPort(), 8080,
                    client.sendUnacknowledged() + 1_000_000);
            pair.runUntil(() -> false, SECOND);
            assertEquals(0, client.counters().get(TcpCounter.PATH_MTU_DECREASES));
            assertEquals(1448, client.sendMss(), "MSS unchanged (1460 less the timestamp option)");
        }
    }

    @Test
    void portUnreachableForOurSynFailsTheConnectAsRefused() throws Exception {
        StackConfig aConfig = StackConfig.of(StackPair.A, 24, null);
        StackConfig bConfig = StackConfig.of(StackPair.B, 24, null);
        try (StackPair pair = new StackPair(LinkFaults.NONE.withLatency(50_000).withLoss(1.0),
                LinkFaults.NONE.withLatency(50_000), aConfig, bConfig)) {
            TcpLayer tcpA = new TcpLayer(pair.a, TcpConfig.DEFAULT, 1);
            TcpConnection client = tcpA.connect(B, 8080, 0, 4096, 4096, pair.now());
            pair.runUntil(() -> false, 10_000_000);
            assertEquals(TcpState.SYN_SENT, client.state());
            injectUnreachable(pair, Icmp.CODE_PORT_UNREACHABLE, 0, client.localPort(), 8080,
                    client.sendUnacknowledged());
            // The link drops everything a sends, but b's rogue frame goes the other way.
            pair.runUntil(() -> client.state() == TcpState.CLOSED, SECOND);
            assertEquals(TcpFailure.REFUSED, client.failure());
        }
    }
}

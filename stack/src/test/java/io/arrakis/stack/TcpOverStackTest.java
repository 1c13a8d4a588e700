package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpFailure;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.tcp.TcpState;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * TCP through the whole stack (IPv4, ARP, the simulated link), as opposed to the engine-only
 * tests in {@code io.arrakis.stack.tcp}: what the provider will stand on.
 */
class TcpOverStackTest {
    private static final int A = Ipv4Text.parse(StackPair.A);
    private static final int B = Ipv4Text.parse(StackPair.B);
    private static final long SECOND = 1_000_000_000L;

    /** One bulk exchange both ways; returns a description of what went wrong, or null. */
    static String exchange(long seed, LinkFaults faults, int bytesEachWay) throws Exception {
        return exchange(seed, faults, bytesEachWay, -1);
    }

    /**
     * As {@link #exchange(long, LinkFaults, int)}; with {@code abortAt >= 0} the client aborts
     * (RST) once it has written that many bytes, and the server must then fail with RESET,
     * having received an exact prefix of what was sent.
     */
    static String exchange(long seed, LinkFaults faults, int bytesEachWay, int abortAt) throws Exception {
        try (StackPair pair = new StackPair(faults.withSeed(seed))) {
            TcpLayer tcpA = new TcpLayer(pair.a, TcpConfig.DEFAULT, seed);
            TcpLayer tcpB = new TcpLayer(pair.b, TcpConfig.DEFAULT, ~seed);
            TcpListener listener = tcpB.listen(8080, 16, 64 * 1024, 64 * 1024);
            TcpConnection client = tcpA.connect(B, 8080, 0, 64 * 1024, 64 * 1024, pair.now());
            TcpConnection[] server = new TcpConnection[1];
            Random random = new Random(seed);
            byte[] fromA = new byte[bytesEachWay];
            byte[] fromB = new byte[bytesEachWay];
            random.nextBytes(fromA);
            random.nextBytes(fromB);
            ByteArrayOutputStream atA = new ByteArrayOutputStream();
            ByteArrayOutputStream atB = new ByteArrayOutputStream();
            int[] sent = new int[2];
            boolean[] shut = new boolean[2];
            MemorySegment scratch = MemorySegment.ofArray(new byte[16 * 1024]);
            boolean[] aborted = new boolean[1];
            boolean done = pair.runUntil(() -> {
                long now = pair.now();
                if (server[0] == null) {
                    server[0] = tcpB.accept(listener);
                }
                if (abortAt >= 0 && !aborted[0] && sent[0] >= abortAt && client.isConnected()) {
                    tcpA.abort(client, now);
                    aborted[0] = true;
                }
                if (aborted[0]) {
                    if (server[0] != null) {
                        pump(tcpB, server[0], fromB, sent, 1, shut, atB, scratch, random, now);
                    }
                    return server[0] != null && server[0].state() == TcpState.CLOSED;
                }
                pump(tcpA, client, fromA, sent, 0, shut, atA, scratch, random, now);
                if (server[0] != null) {
                    pump(tcpB, server[0], fromB, sent, 1, shut, atB, scratch, random, now);
                }
                return atA.size() == bytesEachWay && atB.size() == bytesEachWay && client.isReadable()
                        && server[0] != null && tcpA.read(client, scratch, 0, 1, now) == -1
                        && tcpB.read(server[0], scratch, 0, 1, now) == -1;
            }, 3600 * SECOND);
            if (aborted[0]) {
                if (!isPrefix(atB.toByteArray(), fromA)) {
                    return "seed " + seed + ": bytes before the abort differ";
                }
                // RFC 9293 §3.10.7.4: a RST in CLOSING, LAST-ACK or TIME-WAIT (the client's FIN came
                // first, when it had written everything before aborting) closes without a signal.
                boolean finFirst = atB.size() == fromA.length && sent[0] == fromA.length && shut[0];
                // If the RST was lost after the server's FIN was acknowledged, the half-closed server
                // sends nothing that could draw another RST: without keep-alive it rightly waits in
                // FIN-WAIT-2 for ever (RFC 9293; Linux times out only orphaned sockets).
                boolean quietlyHalfClosed = server[0] != null && server[0].state() == TcpState.FIN_WAIT_2
                        && server[0].bytesInFlight() == 0;
                if (quietlyHalfClosed) {
                    return null;
                }
                if (server[0] != null && server[0].wasEstablished() && server[0].failure() != TcpFailure.RESET
                        && server[0].failure() != TcpFailure.TIMED_OUT && !(finFirst && server[0].failure() == null)) {
                    return "seed " + seed + ": after the client's abort the server ended with " + server[0].failure()
                            + " in " + server[0].info();
                }
                return null;
            }
            if (!done && (client.failure() == TcpFailure.TIMED_OUT
                    || server[0] != null && server[0].failure() == TcpFailure.TIMED_OUT)) {
                // Retransmissions ran out (possible at 20% loss): what arrived must still be exact.
                return isPrefix(atA.toByteArray(), fromB) && isPrefix(atB.toByteArray(), fromA) ? null
                        : "seed " + seed + ": timed out with corrupted bytes";
            }
            if (!done) {
                return "seed " + seed + ": not finished in an hour of virtual time: A got " + atA.size() + ", B got "
                        + atB.size() + " of " + bytesEachWay + "; client " + client.info() + " failure " + client.failure()
                        + " next deadline " + client.nextDeadline()
                        + (server[0] == null ? "; never accepted" : "; server " + server[0].info() + " next deadline "
                                + server[0].nextDeadline()) + "; now " + pair.now();
            }
            if (!java.util.Arrays.equals(fromB, atA.toByteArray()) || !java.util.Arrays.equals(fromA, atB.toByteArray())) {
                return "seed " + seed + ": bytes differ";
            }
            return null;
        }
    }

    private static boolean isPrefix(byte[] prefix, byte[] whole) {
        return prefix.length <= whole.length
                && java.util.Arrays.equals(prefix, 0, prefix.length, whole, 0, prefix.length);
    }

    /** Writes what fits, reads what arrived, and half-closes once everything is written. */
    private static void pump(TcpLayer tcp, TcpConnection connection, byte[] data, int[] sent, int side,
            boolean[] shut, ByteArrayOutputStream received, MemorySegment scratch, Random random, long now) {
        if (!connection.isConnected() && connection.state() != TcpState.CLOSE_WAIT) {
            return;
        }
        while (sent[side] < data.length) {
            int chunk = Math.min(data.length - sent[side], 1 + random.nextInt((int) scratch.byteSize()));
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

    @Test
    void aConnectionThroughArpAndIpv4CarriesBytesBothWaysAndHalfClosesCleanly() throws Exception {
        assertEquals(null, exchange(1, LinkFaults.NONE.withLatency(50_000).withRate(1_000_000_000), 1_000_000));
    }

    /** A random hostile link for one seed: up to 20% loss, reordering, duplication and corruption. */
    static LinkFaults hostileLink(Random random) {
        return LinkFaults.NONE.withLatency(10_000 + random.nextInt(2_000_000)).withRate(100_000_000L << random.nextInt(4))
                .withLoss(random.nextDouble() * 0.2).withReordering(random.nextDouble() * 0.1, 10_000, 1_000_000)
                .withDuplication(random.nextDouble() * 0.05).withCorruption(random.nextDouble() * 0.05)
                .withQueueLimit(64 + random.nextInt(512));
    }

    static void runSeeds(long first, int count, int maxBytes) throws Exception {
        java.util.List<String> failures = new java.util.ArrayList<>();
        for (long seed = first; seed < first + count; seed++) {
            Random random = new Random(seed * 0x9E37_79B9L);
            LinkFaults faults = hostileLink(random);
            int bytes = 1 + random.nextInt(maxBytes);
            int abortAt = random.nextInt(20) == 0 ? random.nextInt(bytes) : -1;
            String failure = exchange(seed, faults, bytes, abortAt);
            if (failure != null) {
                failures.add(failure + " [" + faults + ", " + bytes + " bytes each way, abort at " + abortAt + "]");
            }
        }
        assertEquals(java.util.List.of(), failures, "replay a seed with TcpOverStackTest.runSeeds(seed, 1, "
                + maxBytes + ")");
    }

    @Test
    void bulkTransfersBothWaysSurviveHostileLinksAndAbortsAcrossTwoThousandSeeds() throws Exception {
        runSeeds(1, 2_000, 64 * 1024);
    }

    @Tag("long")
    @Test
    void manyMoreSeedsWithLargerTransfers() throws Exception {
        runSeeds(1_000_000, 20_000, 256 * 1024);
    }

    @Test
    void theNativePathWritesIntoTheSendRingAndReadsFromTheReceiveRingInPlace() throws Exception {
        try (StackPair pair = new StackPair(LinkFaults.NONE.withLatency(10_000).withLoss(0.02).withSeed(9))) {
            TcpLayer tcpA = new TcpLayer(pair.a, TcpConfig.DEFAULT, 5);
            TcpLayer tcpB = new TcpLayer(pair.b, TcpConfig.DEFAULT, 6);
            TcpListener listener = tcpB.listen(7000, 4, 8192, 8192);
            TcpConnection client = tcpA.connect(B, 7000, 0, 8192, 8192, pair.now());
            TcpConnection[] server = new TcpConnection[1];
            byte[] data = new byte[300_000];
            new Random(9).nextBytes(data);
            int[] written = new int[1];
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            assertTrue(pair.runUntil(() -> {
                long now = pair.now();
                if (server[0] == null) {
                    server[0] = tcpB.accept(listener);
                }
                int room;
                while (client.isConnected() && written[0] < data.length && (room = client.writableContiguous()) > 0) {
                    int n = Math.min(room, data.length - written[0]);
                    // The application writes its bytes straight into the connection's send ring.
                    MemorySegment.copy(MemorySegment.ofArray(data), written[0], client.sendBuffer(),
                            client.writableOffset(), n);
                    tcpA.commit(client, n, now);
                    written[0] += n;
                }
                int ready;
                while (server[0] != null && (ready = server[0].readableContiguous()) > 0) {
                    // ... and reads the peer's bytes where they lie in the receive ring.
                    received.write(server[0].receiveBuffer().asSlice(server[0].readableOffset(), ready)
                            .toArray(ValueLayout.JAVA_BYTE), 0, ready);
                    tcpB.consume(server[0], ready, now);
                }
                return received.size() == data.length;
            }, 600 * SECOND));
            assertArrayEquals(data, received.toByteArray());
        }
    }

    @Test
    void aSynToAPortNobodyListensOnIsRefusedWithAReset() throws Exception {
        try (StackPair pair = new StackPair(LinkFaults.NONE.withLatency(10_000))) {
            TcpLayer tcpA = new TcpLayer(pair.a, TcpConfig.DEFAULT, 1);
            new TcpLayer(pair.b, TcpConfig.DEFAULT, 2);
            TcpConnection client = tcpA.connect(B, 9, 0, 4096, 4096, pair.now());
            assertTrue(pair.runUntil(() -> client.state() == TcpState.CLOSED, 10 * SECOND));
            assertEquals(TcpFailure.REFUSED, client.failure());
            assertEquals(0, tcpA.connectionCount(), "a closed connection leaves the table");
        }
    }

    @Test
    void anAcceptedConnectionKnowsItsPeerAndTheClientsEphemeralPortIsInTheDynamicRange() throws Exception {
        try (StackPair pair = new StackPair(LinkFaults.NONE.withLatency(10_000))) {
            TcpLayer tcpA = new TcpLayer(pair.a, TcpConfig.DEFAULT, 3);
            TcpLayer tcpB = new TcpLayer(pair.b, TcpConfig.DEFAULT, 4);
            TcpListener listener = tcpB.listen(6379, 8, 4096, 4096);
            TcpConnection client = tcpA.connect(B, 6379, 0, 4096, 4096, pair.now());
            TcpConnection[] accepted = new TcpConnection[1];
            assertTrue(pair.runUntil(() -> (accepted[0] = accepted[0] != null ? accepted[0] : tcpB.accept(listener)) != null
                    && client.isConnected(), SECOND));
            assertNotNull(accepted[0]);
            assertEquals(A, accepted[0].remoteAddress());
            assertEquals(client.localPort(), accepted[0].remotePort());
            assertTrue(client.localPort() >= 32_768 && client.localPort() <= 60_999);
            byte[] hello = "PING\r\n".getBytes();
            tcpA.write(client, MemorySegment.ofArray(hello), 0, hello.length, pair.now());
            assertTrue(pair.runUntil(accepted[0]::isReadable, SECOND));
            byte[] got = new byte[16];
            int n = tcpB.read(accepted[0], MemorySegment.ofArray(got), 0, got.length, pair.now());
            assertArrayEquals(hello, java.util.Arrays.copyOf(got, n));
        }
    }
}

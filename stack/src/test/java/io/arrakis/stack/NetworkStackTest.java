package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.udp.UdpSocket;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class NetworkStackTest {
    private static final int A = Ipv4Text.parse(StackPair.A);
    private static final int B = Ipv4Text.parse(StackPair.B);
    private static final long SECOND = 1_000_000_000L;
    private static final LinkFaults TEN_MICROSECONDS = LinkFaults.NONE.withLatency(10_000);

    private static byte[] bytes(int length, long seed) {
        byte[] data = new byte[length];
        new Random(seed).nextBytes(data);
        return data;
    }

    private static byte[] receive(UdpSocket socket) {
        MemorySegment buffer = MemorySegment.ofArray(new byte[70_000]);
        int length = socket.receive(buffer, 0, 70_000);
        return buffer.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void aDatagramToAnUnresolvedNeighbourWaitsForArpAndThenArrivesIntact() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket sender = pair.a.openUdp(5000, 65_536);
            UdpSocket receiver = pair.b.openUdp(6000, 65_536);
            byte[] payload = bytes(512, 1);
            assertTrue(pair.a.sendUdp(sender, B, 6000, MemorySegment.ofArray(payload), 0, payload.length));
            assertTrue(pair.runUntil(receiver::isReadable, SECOND));
            assertArrayEquals(payload, receive(receiver));
            assertEquals(A, receiver.lastSourceAddress());
            assertEquals(5000, receiver.lastSourcePort());
            assertEquals(1, pair.a.counters().get(StackCounter.ARP_REQUESTS_OUT));
            assertEquals(1, pair.b.counters().get(StackCounter.ARP_REPLIES_OUT));
            // One round trip of ARP (2 × 10 µs) then the datagram (10 µs).
            assertEquals(30_000, pair.now());
        }
    }

    @Test
    void aGratuitousArpAtStartRefreshesAPeersStaleEntrySoItSendsWithoutAsking() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket atA = pair.a.openUdp(7, 4096);
            UdpSocket atB = pair.b.openUdp(7, 4096);
            pair.b.sendUdp(atB, A, 7, MemorySegment.ofArray(new byte[] {1}), 0, 1);
            assertTrue(pair.runUntil(atA::isReadable, SECOND));
            receive(atA);
            // Let b's entry for a go stale (reachable for 30 s), then a announces itself.
            pair.clock.advanceBy(31 * SECOND);
            pair.a.start(pair.now());
            pair.runUntil(() -> false, SECOND);
            long requestsBefore = pair.b.counters().get(StackCounter.ARP_REQUESTS_OUT);
            pair.b.sendUdp(atB, A, 7, MemorySegment.ofArray(new byte[] {2}), 0, 1);
            assertTrue(pair.runUntil(atA::isReadable, SECOND));
            assertEquals(requestsBefore, pair.b.counters().get(StackCounter.ARP_REQUESTS_OUT));
            assertEquals(0, pair.b.counters().get(StackCounter.ARP_REPLIES_OUT), "an announcement is not answered");
        }
    }

    @Property(tries = 30)
    void largeDatagramsAreFragmentedAndReassembledByteExact(@ForAll @IntRange(min = 1473, max = 65_507) int length) throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket sender = pair.a.openUdp(5000, 4096);
            UdpSocket receiver = pair.b.openUdp(6000, 200_000);
            byte[] payload = bytes(length, length);
            assertTrue(pair.a.sendUdp(sender, B, 6000, MemorySegment.ofArray(payload), 0, length));
            assertTrue(pair.runUntil(receiver::isReadable, SECOND));
            assertArrayEquals(payload, receive(receiver));
            assertTrue(pair.a.counters().get(StackCounter.FRAGMENTS_OUT) >= 2);
            assertEquals(1, pair.b.counters().get(StackCounter.DATAGRAMS_REASSEMBLED));
        }
    }

    @Test
    void aStackBuiltOnOneThreadIsDrivenFromAnotherWithFragmentsAndSocketBuffers() throws Exception {
        // The provider builds its stack on whichever thread needs it first, then any thread
        // (its poller, the application's) runs it under a lock: its memory must not be confined.
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket sender = pair.a.openUdp(5000, 4096);
            UdpSocket receiver = pair.b.openUdp(6000, 200_000);
            byte[] payload = bytes(20_000, 5);
            java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newSingleThreadExecutor();
            try {
                byte[] received = other.submit(() -> {
                    assertTrue(pair.a.sendUdp(sender, B, 6000, MemorySegment.ofArray(payload), 0, payload.length));
                    assertTrue(pair.runUntil(receiver::isReadable, SECOND));
                    return receive(receiver);
                }).get();
                assertArrayEquals(payload, received);
            } finally {
                other.shutdownNow();
            }
        }
    }

    @Test
    void aDatagramMissingAFragmentIsDroppedWholeAfterTheReassemblyTimeout() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS.withLoss(0.3).withSeed(4))) {
            UdpSocket sender = pair.a.openUdp(5000, 4096);
            UdpSocket receiver = pair.b.openUdp(6000, 200_000);
            pair.a.start(0);
            pair.b.start(0);
            pair.runUntil(() -> false, SECOND);
            long delivered = 0;
            for (int i = 0; i < 20; i++) {
                byte[] payload = bytes(20_000, i);
                pair.a.sendUdp(sender, B, 6000, MemorySegment.ofArray(payload), 0, payload.length);
                pair.runUntil(() -> false, 31 * SECOND);
                while (receiver.isReadable()) {
                    assertArrayEquals(payload, receive(receiver), "never a partial or mixed datagram");
                    delivered++;
                }
            }
            assertTrue(delivered < 20, "with 30% loss of 14 fragments almost every datagram loses one");
            assertTrue(pair.b.counters().get(StackCounter.FRAGMENTS_DROPPED) > 0);
        }
    }

    @Test
    void theNativeUdpPathSendsFromAndDeliversIntoPacketBuffersWithoutCopies() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket sender = pair.a.openUdp(5000, 4096);
            UdpSocket receiver = pair.b.openUdp(6000, 4096);
            MemorySegment packetMemory = pair.link.b().queue(0).memory();
            byte[][] seen = new byte[1][];
            boolean[] inPacketMemory = new boolean[1];
            receiver.setReceiver((memory, offset, length, source, port) -> {
                inPacketMemory[0] = memory == packetMemory;
                seen[0] = memory.asSlice(offset, length).toArray(ValueLayout.JAVA_BYTE);
                assertEquals(A, source);
                assertEquals(5000, port);
            });
            long at = pair.a.beginDatagram(100);
            assertTrue(at >= 0);
            for (int i = 0; i < 100; i++) {
                pair.a.memory().set(ValueLayout.JAVA_BYTE, at + i, (byte) i);
            }
            pair.a.sendDatagram(sender, B, 6000, 100);
            assertTrue(pair.runUntil(() -> seen[0] != null, SECOND));
            assertTrue(inPacketMemory[0], "handed over in the packet buffer it arrived in");
            for (int i = 0; i < 100; i++) {
                assertEquals((byte) i, seen[0][i]);
            }
            assertEquals(0, receiver.queuedDatagrams(), "nothing went through the copying receive buffer");
        }
    }

    @Test
    void multicastReachesOnlySocketsThatJoinedTheGroupAndJoiningAnnouncesItWithIgmp() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            int group = Ipv4Text.parse("239.1.2.3");
            UdpSocket member = pair.a.openUdp(5000, 4096);
            int[] igmpSeen = new int[1];
            pair.link.trace((nanos, direction, event, frame, length) -> {
                if (direction == io.arrakis.stack.link.SimulatedLink.Direction.A_TO_B
                        && event == io.arrakis.stack.link.LinkCounter.SENT && length == 14 + 24 + 8) {
                    igmpSeen[0]++;
                }
            });
            pair.a.joinGroup(member, group);
            assertEquals(1, igmpSeen[0], "one IGMPv2 report (IP header with Router Alert, 8-byte message)");
            UdpSocket sender = pair.b.openUdp(6000, 4096);
            byte[] payload = {4, 5, 6};
            pair.b.sendUdp(sender, group, 5000, MemorySegment.ofArray(payload), 0, 3);
            assertTrue(pair.runUntil(member::isReadable, SECOND));
            assertArrayEquals(payload, receive(member));
            assertEquals(0, pair.b.counters().get(StackCounter.ARP_REQUESTS_OUT), "multicast needs no ARP");

            // A socket on the port that did not join hears nothing; after leaving, neither does the member.
            pair.a.leaveGroup(member, group);
            pair.b.sendUdp(sender, group, 5000, MemorySegment.ofArray(payload), 0, 3);
            pair.runUntil(() -> false, SECOND);
            assertFalse(member.isReadable());
            assertEquals(2, igmpSeen[0], "and one IGMPv2 leave");
        }
    }

    @Test
    void broadcastDatagramsReachEveryStackOnTheLinkWithoutArp() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket listener = pair.b.openUdp(67, 4096);
            UdpSocket sender = pair.a.openUdp(68, 4096);
            byte[] payload = {1, 2, 3, 4};
            for (String to : new String[] {"255.255.255.255", "198.18.0.255"}) {
                pair.a.sendUdp(sender, Ipv4Text.parse(to), 67, MemorySegment.ofArray(payload), 0, 4);
                assertTrue(pair.runUntil(listener::isReadable, SECOND), "to " + to);
                assertArrayEquals(payload, receive(listener));
            }
            assertEquals(0, pair.a.counters().get(StackCounter.ARP_REQUESTS_OUT));
            // Nobody answers a broadcast to a closed port with an ICMP error (RFC 1122 §3.2.2).
            pair.a.sendUdp(sender, Ipv4Text.parse("255.255.255.255"), 99, MemorySegment.ofArray(payload), 0, 4);
            pair.runUntil(() -> false, SECOND);
            assertEquals(0, pair.b.counters().get(StackCounter.ICMP_UNREACHABLE_OUT));
        }
    }

    @Test
    void aDatagramToAClosedPortComesBackAsPortUnreachableToAConnectedSocket() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket sender = pair.a.openUdp(5000, 4096);
            sender.connect(B, 9);
            pair.a.sendUdp(sender, B, 9, MemorySegment.ofArray(new byte[8]), 0, 8);
            assertTrue(pair.runUntil(sender::isReadable, SECOND));
            assertEquals(UdpSocket.ERROR_PORT_UNREACHABLE, sender.takeError());
            assertEquals(UdpSocket.ERROR_NONE, sender.takeError(), "reported once");
            assertEquals(1, pair.b.counters().get(StackCounter.ICMP_UNREACHABLE_OUT));
        }
    }

    @Test
    void aSocketsListenerHearsOfEachQueuedDatagramAndOfAPortUnreachableButNotOfDrops() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket sender = pair.a.openUdp(5000, 4096);
            UdpSocket receiver = pair.b.openUdp(6000, 2048);
            int[] heard = new int[2];
            receiver.setReadableListener(() -> heard[0]++);
            sender.setReadableListener(() -> heard[1]++);
            byte[] payload = bytes(1000, 3);
            for (int i = 0; i < 3; i++) {
                pair.a.sendUdp(sender, B, 6000, MemorySegment.ofArray(payload), 0, payload.length);
            }
            pair.runUntil(() -> false, SECOND);
            assertEquals(2, receiver.queuedDatagrams(), "a 2048-byte ring holds two of them");
            assertEquals(2, heard[0], "told once per queued datagram, not of the dropped one");
            assertEquals(0, heard[1]);
            sender.connect(B, 9);
            pair.a.sendUdp(sender, B, 9, MemorySegment.ofArray(payload), 0, 8);
            assertTrue(pair.runUntil(sender::hasPendingError, SECOND));
            assertEquals(1, heard[1], "told of the ICMP port unreachable");
            assertEquals(UdpSocket.ERROR_PORT_UNREACHABLE, sender.takeError());
            assertFalse(sender.hasPendingError());
        }
    }

    @Test
    void packetsToANeighbourThatNeverAnswersAreDroppedAfterThreeArpRequests() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            UdpSocket sender = pair.a.openUdp(5000, 4096);
            int nobody = Ipv4Text.parse("198.18.0.99");
            for (int i = 0; i < 6; i++) {
                pair.a.sendUdp(sender, nobody, 9, MemorySegment.ofArray(new byte[8]), 0, 8);
            }
            pair.runUntil(() -> false, 10 * SECOND);
            assertEquals(3, pair.a.counters().get(StackCounter.ARP_REQUESTS_OUT));
            assertEquals(6, pair.a.counters().get(StackCounter.DROPPED_NO_NEIGHBOUR),
                    "2 evicted from the pending queue of 4, then 4 when resolution failed");
            assertEquals(pair.link.a().bufferCount(), pair.link.a().freeBuffers(), "no buffer leaked");
        }
    }

    @Test
    void trafficOffTheSubnetGoesToTheGatewaysMac() throws Exception {
        StackConfig aConfig = StackConfig.of(StackPair.A, 24, StackPair.B);
        try (StackPair pair = new StackPair(TEN_MICROSECONDS, aConfig, StackConfig.of(StackPair.B, 24, null))) {
            UdpSocket sender = pair.a.openUdp(5000, 4096);
            int faraway = Ipv4Text.parse("198.19.7.7");
            pair.a.sendUdp(sender, faraway, 9, MemorySegment.ofArray(new byte[8]), 0, 8);
            pair.runUntil(() -> false, SECOND);
            // b is the gateway: it resolved through ARP and received the frame, addressed to 198.19.7.7.
            assertEquals(1, pair.b.counters().get(StackCounter.ARP_REPLIES_OUT));
            assertEquals(1, pair.b.counters().get(StackCounter.DROPPED_NOT_OUR_ADDRESS));
        }
    }

    /**
     * b's entry for a goes stale while a still trusts its entry for b (a longer reachable time),
     * so a's next datagram arrives with no ARP before it: with gleaning b answers from that
     * frame's source MAC without asking; without, it must ask (an address shared with the
     * kernel never hears the answer).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void aGleaningStackAnswersFromTheSourceOfAReceivedDatagramWithoutArp(boolean glean) throws Exception {
        StackConfig b = StackConfig.of(StackPair.B, 24, null);
        StackConfig patientA = new StackConfig(A, 24, 0, 1500, 1000 * SECOND, SECOND, 3, 30 * SECOND, 64);
        try (StackPair pair = new StackPair(TEN_MICROSECONDS, patientA, b)) {
            pair.b.setGleanNeighbours(glean);
            UdpSocket atA = pair.a.openUdp(7, 4096);
            UdpSocket atB = pair.b.openUdp(7, 4096);
            pair.a.sendUdp(atA, B, 7, MemorySegment.ofArray(new byte[] {1}), 0, 1);
            assertTrue(pair.runUntil(atB::isReadable, SECOND));
            receive(atB);
            pair.clock.advanceBy(31 * SECOND);
            long requestsBefore = pair.b.counters().get(StackCounter.ARP_REQUESTS_OUT);
            long gleanedBefore = pair.b.counters().get(StackCounter.NEIGHBOURS_GLEANED);
            pair.a.sendUdp(atA, B, 7, MemorySegment.ofArray(new byte[] {2}), 0, 1);
            assertTrue(pair.runUntil(atB::isReadable, SECOND));
            receive(atB);
            pair.b.sendUdp(atB, A, 7, MemorySegment.ofArray(new byte[] {3}), 0, 1);
            assertTrue(pair.runUntil(atA::isReadable, SECOND));
            assertArrayEquals(new byte[] {3}, receive(atA));
            assertEquals(glean ? 0 : 1, pair.b.counters().get(StackCounter.ARP_REQUESTS_OUT) - requestsBefore);
            assertEquals(glean ? 1 : 0, pair.b.counters().get(StackCounter.NEIGHBOURS_GLEANED) - gleanedBefore);
        }
    }

    /** With a neighbour source (the kernel's table, in shared mode), a stack asks it instead of sending ARP. */
    @Test
    void aNeighbourSourceReplacesArpRequests() throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            java.util.List<Integer> asked = new java.util.ArrayList<>();
            pair.a.setNeighbourSource(address -> {
                asked.add(address);
                return asked.size() < 2 ? -1 : pair.b.mac(); // unknown at first, known at the retry
            });
            UdpSocket atA = pair.a.openUdp(7, 4096);
            UdpSocket atB = pair.b.openUdp(7, 4096);
            pair.a.sendUdp(atA, B, 7, MemorySegment.ofArray(new byte[] {9}), 0, 1);
            assertTrue(pair.runUntil(atB::isReadable, 5 * SECOND));
            assertArrayEquals(new byte[] {9}, receive(atB));
            assertEquals(java.util.List.of(B, B), asked);
            assertEquals(0, pair.a.counters().get(StackCounter.ARP_REQUESTS_OUT));
            assertTrue(pair.now() >= SECOND && pair.now() < 2 * SECOND, "delivered at the first retry, a second"
                    + " later: " + pair.now());
        }
    }

    /**
     * A datagram to b from {@code source}, sent as a raw frame from MAC 02:00:00:00:00:99: an
     * on-link source is learnt at that MAC; an off-link one is not (its frame carries whichever
     * router's MAC forwarded it), though the datagram is delivered either way.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"198.18.0.9", "198.19.7.7"})
    void gleaningLearnsOnlyOnLinkSources(String sourceText) throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            pair.b.setGleanNeighbours(true);
            UdpSocket atB = pair.b.openUdp(7, 4096);
            VnicQueue rogue = pair.link.a().queue(0);
            PacketBatch batch = new PacketBatch(1);
            assertEquals(1, rogue.allocate(batch, 1));
            long at = (long) batch.buffer(0) * rogue.bufferSize() + batch.offset(0);
            java.nio.ByteBuffer f = java.nio.ByteBuffer.allocate(14 + 20 + 8 + 1);
            long bMac = pair.b.mac();
            for (int i = 5; i >= 0; i--) {
                f.put((byte) (bMac >>> (8 * i)));
            }
            f.put(new byte[] {2, 0, 0, 0, 0, (byte) 0x99}).putShort((short) 0x0800);
            f.put((byte) 0x45).put((byte) 0).putShort((short) 29).putInt(0).put((byte) 64).put((byte) 17)
                    .putShort((short) 0).putInt(Ipv4Text.parse(sourceText)).putInt(B);
            int sum = 0;
            for (int i = 14; i < 34; i += 2) {
                sum += f.getShort(i) & 0xFFFF;
            }
            while ((sum >>> 16) != 0) {
                sum = (sum & 0xFFFF) + (sum >>> 16);
            }
            f.putShort(24, (short) ~sum);
            f.putShort((short) 9).putShort((short) 7).putShort((short) 9).putShort((short) 0).put((byte) 42);
            MemorySegment.copy(MemorySegment.ofArray(f.array()), 0, rogue.memory(), at, f.capacity());
            batch.setLength(0, f.capacity());
            rogue.transmit(batch);
            assertTrue(pair.runUntil(atB::isReadable, SECOND));
            boolean onLink = sourceText.startsWith("198.18.0.");
            assertEquals(onLink ? 1 : 0, pair.b.counters().get(StackCounter.NEIGHBOURS_GLEANED));
        }
    }

    @Property(tries = 20)
    void arbitraryFramesNeverBreakTheReceiverAndLeakNoBuffers(@ForAll long seed) throws Exception {
        try (StackPair pair = new StackPair(TEN_MICROSECONDS)) {
            Random random = new Random(seed);
            VnicQueue rogue = pair.link.a().queue(0);
            PacketBatch batch = new PacketBatch(32);
            for (int round = 0; round < 200; round++) {
                int n = rogue.allocate(batch, 32);
                for (int i = 0; i < n; i++) {
                    int length = 34 + random.nextInt(1480);
                    long at = (long) batch.buffer(i) * rogue.bufferSize() + batch.offset(i);
                    byte[] junk = new byte[length];
                    random.nextBytes(junk);
                    // Half the frames look like IPv4 or ARP to us, so they get past the first checks.
                    if (random.nextBoolean()) {
                        junk[0] = (byte) 0xFF;
                        junk[1] = (byte) 0xFF; junk[2] = (byte) 0xFF; junk[3] = (byte) 0xFF;
                        junk[4] = (byte) 0xFF; junk[5] = (byte) 0xFF;
                        junk[12] = 0x08;
                        junk[13] = (byte) (random.nextBoolean() ? 0x00 : 0x06);
                        junk[14] = 0x45;
                    }
                    MemorySegment.copy(MemorySegment.ofArray(junk), 0, rogue.memory(), at, length);
                    batch.setLength(i, length);
                }
                rogue.transmit(batch);
                pair.runUntil(() -> false, SECOND);
            }
            pair.runUntil(() -> false, 60 * SECOND);
            assertEquals(pair.link.b().bufferCount(), pair.link.b().freeBuffers(), "receiver leaked buffers");
            assertFalse(pair.b.counters().get(StackCounter.FRAMES_IN) == 0);
        }
    }
}

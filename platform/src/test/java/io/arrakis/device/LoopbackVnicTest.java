package io.arrakis.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class LoopbackVnicTest {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int OUR_ADDRESS = Ipv4Text.parse("198.18.0.1");

    private Vnic vnic;
    private VnicQueue queue;

    @BeforeEach
    void open() throws Exception {
        vnic = DeviceBackends.vnicBackend("loopback").open(new VnicConfig("lo-test", 1, 64, 2048, Map.of()));
        queue = vnic.queue(0);
    }

    @AfterEach
    void close() throws Exception {
        vnic.close();
    }

    /** Fills buffer {@code batch[i]} with an IPv4-over-Ethernet frame of {@code length} bytes. */
    private void writeFrame(PacketBatch batch, int i, long sourceMac, int sourceAddress, int length, byte fill) {
        MemorySegment memory = queue.memory();
        long at = (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i);
        memory.asSlice(at, length).fill(fill);
        memory.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), at + 6, (short) (sourceMac >>> 32));
        memory.set(U32, at + 8, (int) sourceMac);
        memory.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), at + 12, (short) 0x0800);
        memory.set(U32, at + 14 + 12, sourceAddress);
        batch.setLength(i, length);
    }

    @Test
    void theRegistryFindsTheLoopbackBackendAndNamesTheKnownOnesForAnUnknownName() {
        assertTrue(DeviceBackends.vnicBackends().stream().anyMatch(b -> b.name().equals("loopback")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DeviceBackends.vnicBackend("sr-iov-of-dreams"));
        assertTrue(e.getMessage().contains("no VNIC backend named 'sr-iov-of-dreams'"), e.getMessage());
        assertTrue(e.getMessage().contains("loopback"), e.getMessage());
    }

    @Test
    void aTransmittedFrameIsReceivedInTheSameBufferWithTheSameBytes() throws Exception {
        PacketBatch tx = new PacketBatch(8);
        assertEquals(3, queue.allocate(tx, 3));
        for (int i = 0; i < 3; i++) {
            writeFrame(tx, i, vnic.mac().bits(), OUR_ADDRESS, 60 + i, (byte) (i + 1));
        }
        int[] sent = {tx.buffer(0), tx.buffer(1), tx.buffer(2)};
        assertEquals(3, queue.transmit(tx));
        assertTrue(tx.isEmpty());

        PacketBatch rx = new PacketBatch(8);
        assertEquals(3, queue.receive(rx));
        for (int i = 0; i < 3; i++) {
            assertEquals(sent[i], rx.buffer(i), "zero copy: same buffer, same order");
            assertEquals(60 + i, rx.length(i));
            long at = (long) rx.buffer(i) * queue.bufferSize() + rx.offset(i);
            assertEquals((byte) (i + 1), queue.memory().get(ValueLayout.JAVA_BYTE, at + 40));
        }
        queue.release(rx);
        assertEquals(0, queue.receive(rx));
        assertEquals(3, queue.counters().get(VnicCounter.TX_PACKETS));
        assertEquals(3, queue.counters().get(VnicCounter.RX_PACKETS));
        assertEquals(60 + 61 + 62, queue.counters().get(VnicCounter.RX_BYTES));
    }

    @Test
    void theTransmitFilterDropsSpoofedSourcesAndCountsThem() throws Exception {
        vnic.control().setTransmitFilter(new TransmitFilter(vnic.mac(), OUR_ADDRESS));
        PacketBatch tx = new PacketBatch(8);
        queue.allocate(tx, 3);
        writeFrame(tx, 0, vnic.mac().bits(), OUR_ADDRESS, 64, (byte) 0);
        writeFrame(tx, 1, 0x0200_DEAD_BEEFL, OUR_ADDRESS, 64, (byte) 0);
        writeFrame(tx, 2, vnic.mac().bits(), Ipv4Text.parse("198.18.0.99"), 64, (byte) 0);
        assertEquals(3, queue.transmit(tx));
        PacketBatch rx = new PacketBatch(8);
        assertEquals(1, queue.receive(rx));
        assertEquals(2, queue.counters().get(VnicCounter.TX_DROPPED_FILTERED));
        queue.release(rx);
    }

    @Test
    void theRateLimitHoldsFramesBackInTheBatchInsteadOfLosingThem() throws Exception {
        vnic.control().setRateLimit(new RateLimit(0, 1000, 0, 2));
        PacketBatch tx = new PacketBatch(8);
        queue.allocate(tx, 5);
        for (int i = 0; i < 5; i++) {
            writeFrame(tx, i, vnic.mac().bits(), OUR_ADDRESS, 64, (byte) i);
        }
        int firstHeld = tx.buffer(2);
        assertEquals(2, queue.transmit(tx), "a burst of 2 packets passes at once");
        assertEquals(3, tx.size(), "the rest wait in the batch, in order");
        assertEquals(firstHeld, tx.buffer(0));
        assertTrue(queue.counters().get(VnicCounter.TX_RATE_LIMITED) >= 1);
        queue.release(tx);
    }

    @Test
    void aDescriptorForABufferNeverLentIsRefusedWithAClearError() {
        PacketBatch tx = new PacketBatch(2);
        tx.add(7, 0, 64);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> queue.transmit(tx));
        assertTrue(e.getMessage().contains("buffer 7 was not lent"), e.getMessage());
        assertEquals(1, tx.size(), "the refused frame stays with the caller");
    }

    @Test
    void receiveFiltersAreRefusedRatherThanIgnored() {
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, OUR_ADDRESS, 80, 0, 0), 0));
        assertTrue(e.getMessage().contains("no receive filters"), e.getMessage());
    }

    @Test
    void awaitReceiveTimesOutWhenIdleAndReturnsAtOnceAfterWakeup() throws Exception {
        assertFalse(queue.awaitReceive(1_000_000));
        Thread waker = Thread.ofPlatform().start(() -> {
            try {
                queue.wakeup();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        waker.join();
        assertTrue(queue.awaitReceive(5_000_000_000L));
    }

    @Test
    void flowFiltersMatchWithWildcardsAndTheMoreSpecificOneRanksHigher() {
        FlowFilter listener = new FlowFilter(FlowFilter.Protocol.TCP, OUR_ADDRESS, 6379, 0, 0);
        int peer = Ipv4Text.parse("198.18.0.2");
        FlowFilter connection = new FlowFilter(FlowFilter.Protocol.TCP, OUR_ADDRESS, 6379, peer, 40000);
        assertTrue(listener.matches(6, OUR_ADDRESS, 6379, peer, 40000));
        assertTrue(connection.matches(6, OUR_ADDRESS, 6379, peer, 40000));
        assertFalse(connection.matches(6, OUR_ADDRESS, 6379, peer, 40001));
        assertFalse(listener.matches(17, OUR_ADDRESS, 6379, peer, 40000));
        assertTrue(connection.specificity() > listener.specificity());
        assertEquals("TCP 198.18.0.1:6379 <- 0.0.0.0:0", listener.toString());
    }

    @Test
    void macAddressesParseAndPrintAndRejectGarbage() {
        MacAddress mac = MacAddress.parse("02:00:5e:10:00:01");
        assertEquals("02:00:5e:10:00:01", mac.toString());
        assertFalse(mac.isMulticast());
        assertTrue(MacAddress.BROADCAST.isMulticast());
        assertThrows(IllegalArgumentException.class, () -> MacAddress.parse("02:00:5e:10:00"));
        assertThrows(IllegalArgumentException.class, () -> MacAddress.parse("zz:00:5e:10:00:01"));
    }
}

package io.arrakis.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

class WireViewsRoundTripTest {

    @Property
    void ipv4HeaderFieldsReadBackAsWrittenAndTheChecksumValidates(@ForAll @IntRange(max = 255) int tos,
            @ForAll @IntRange(min = 21, max = 1500) int totalLength, @ForAll @IntRange(max = 0xFFFF) int id,
            @ForAll @IntRange(max = 0xFFFF) int fragmentField, @ForAll @IntRange(max = 255) int ttl,
            @ForAll @IntRange(max = 255) int protocol, @ForAll int source, @ForAll int destination,
            @ForAll @IntRange(max = 5) int at) {
        MemorySegment p = MemorySegment.ofArray(new byte[at + 1500]);
        Ipv4.write(p, at, tos, totalLength, id, fragmentField, ttl, protocol, source, destination);
        assertEquals(4, Ipv4.version(p, at));
        assertEquals(20, Ipv4.headerLength(p, at));
        assertEquals(tos, Ipv4.tos(p, at));
        assertEquals(totalLength, Ipv4.totalLength(p, at));
        assertEquals(id, Ipv4.identification(p, at));
        assertEquals(fragmentField, Ipv4.fragmentField(p, at));
        assertEquals(ttl, Ipv4.ttl(p, at));
        assertEquals(protocol, Ipv4.protocol(p, at));
        assertEquals(source, Ipv4.source(p, at));
        assertEquals(destination, Ipv4.destination(p, at));
        assertNull(Ipv4.validate(p, at, totalLength));
        assertEquals("IPv4 total length beyond the frame", Ipv4.validate(p, at, totalLength - 1));
    }

    @Property
    void aFlippedBitInAnIpv4HeaderFailsValidation(@ForAll int source, @ForAll int destination,
            @ForAll @IntRange(max = 20 * 8 - 1) int bit) {
        MemorySegment p = MemorySegment.ofArray(new byte[60]);
        Ipv4.write(p, 0, 0, 60, 1, Ipv4.FLAG_DF, 64, Ipv4.PROTOCOL_UDP, source, destination);
        NetworkOrder.setU8(p, bit / 8, NetworkOrder.u8(p, bit / 8) ^ (1 << (bit % 8)));
        // Every single-bit error is caught: by the checksum, or earlier by a field check.
        assertTrue(Ipv4.validate(p, 0, 60) != null);
    }

    @Property
    void arpPacketsReadBackAsWritten(@ForAll @IntRange(min = 1, max = 2) int operation, @ForAll long senderMac,
            @ForAll int senderAddress, @ForAll long targetMac, @ForAll int targetAddress) {
        MemorySegment p = MemorySegment.ofArray(new byte[Arp.LENGTH]);
        long sMac = senderMac & 0xFFFF_FFFF_FFFFL;
        long tMac = targetMac & 0xFFFF_FFFF_FFFFL;
        Arp.write(p, 0, operation, sMac, senderAddress, tMac, targetAddress);
        assertTrue(Arp.isEthernetIpv4(p, 0, Arp.LENGTH));
        assertFalse(Arp.isEthernetIpv4(p, 0, Arp.LENGTH - 1));
        assertEquals(operation, Arp.operation(p, 0));
        assertEquals(sMac, Arp.senderMac(p, 0));
        assertEquals(senderAddress, Arp.senderAddress(p, 0));
        assertEquals(tMac, Arp.targetMac(p, 0));
        assertEquals(targetAddress, Arp.targetAddress(p, 0));
    }

    @Property
    void udpDatagramsReadBackAndTheirChecksumCoversThePseudoHeader(@ForAll @IntRange(max = 0xFFFF) int sourcePort,
            @ForAll @IntRange(max = 0xFFFF) int destinationPort, @ForAll @Size(max = 1472) byte[] payload,
            @ForAll int sourceAddress, @ForAll int destinationAddress) {
        MemorySegment p = MemorySegment.ofArray(new byte[Udp.HEADER_LENGTH + payload.length]);
        MemorySegment.copy(MemorySegment.ofArray(payload), 0, p, Udp.HEADER_LENGTH, payload.length);
        Udp.write(p, 0, sourcePort, destinationPort, payload.length, sourceAddress, destinationAddress);
        int length = Udp.HEADER_LENGTH + payload.length;
        assertEquals(sourcePort, Udp.sourcePort(p, 0));
        assertEquals(destinationPort, Udp.destinationPort(p, 0));
        assertEquals(length, Udp.length(p, 0));
        assertTrue(Udp.checksum(p, 0) != 0);
        assertTrue(Udp.checksumValid(p, 0, length, sourceAddress, destinationAddress));
        assertFalse(Udp.checksumValid(p, 0, length, sourceAddress ^ 1, destinationAddress));
    }

    @Property
    void tcpHeadersAndOptionsReadBackAsWritten(@ForAll @IntRange(max = 0xFFFF) int sourcePort,
            @ForAll @IntRange(max = 0xFFFF) int destinationPort, @ForAll int sequence, @ForAll int ack,
            @ForAll @IntRange(max = 0xFF) int flags, @ForAll @IntRange(max = 0xFFFF) int window,
            @ForAll @IntRange(min = 1, max = 0xFFFF) int mss, @ForAll @IntRange(max = 14) int shift,
            @ForAll int tsValue, @ForAll int tsEcho, @ForAll @Size(max = 3) int[] sackEdges,
            @ForAll int sourceAddress, @ForAll int destinationAddress, @ForAll @Size(max = 100) byte[] payload) {
        int blocks = sackEdges.length;
        int[] left = new int[blocks];
        int[] right = new int[blocks];
        for (int b = 0; b < blocks; b++) {
            left[b] = sackEdges[b];
            right[b] = sackEdges[b] + 1000;
        }
        MemorySegment p = MemorySegment.ofArray(new byte[Tcp.MAX_HEADER_LENGTH + 100 + 64]);
        long end = Tcp.MIN_HEADER_LENGTH;
        end = TcpOptions.writeMss(p, end, mss);
        end = TcpOptions.writeWindowScale(p, end, shift);
        end = TcpOptions.writeSackPermitted(p, end);
        end = TcpOptions.writeTimestamps(p, end, tsValue, tsEcho);
        if (blocks > 0) {
            end = TcpOptions.writeSack(p, end, left, right, Math.min(blocks, 1));
        }
        end = TcpOptions.writeEndPadding(p, 0, end);
        int headerLength = (int) end;
        MemorySegment.copy(MemorySegment.ofArray(payload), 0, p, headerLength, payload.length);
        Tcp.write(p, 0, sourcePort, destinationPort, sequence, ack, headerLength, flags, window);
        int length = headerLength + payload.length;
        Tcp.fillChecksum(p, 0, length, sourceAddress, destinationAddress);

        assertEquals(sourcePort, Tcp.sourcePort(p, 0));
        assertEquals(destinationPort, Tcp.destinationPort(p, 0));
        assertEquals(sequence, Tcp.sequence(p, 0));
        assertEquals(ack, Tcp.acknowledgment(p, 0));
        assertEquals(headerLength, Tcp.headerLength(p, 0));
        assertEquals(flags, Tcp.flags(p, 0));
        assertEquals(window, Tcp.window(p, 0));
        assertTrue(Tcp.checksumValid(p, 0, length, sourceAddress, destinationAddress));

        TcpOptions options = new TcpOptions();
        assertTrue(options.parse(p, 0, headerLength));
        assertEquals(mss, options.mss());
        assertEquals(shift, options.windowShift());
        assertTrue(options.sackPermitted());
        assertTrue(options.hasTimestamps());
        assertEquals(tsValue, options.timestampValue());
        assertEquals(tsEcho, options.timestampEcho());
        assertEquals(Math.min(blocks, 1), options.sackBlockCount());
        if (blocks > 0) {
            assertEquals(left[0], options.sackLeft(0));
            assertEquals(right[0], options.sackRight(0));
        }
    }

    @Property(tries = 20_000)
    void optionParsingNeverThrowsOnArbitraryBytes(@ForAll @Size(min = 60, max = 60) byte[] header,
            @ForAll @IntRange(min = 5, max = 15) int dataOffsetWords) {
        MemorySegment p = MemorySegment.ofArray(header);
        TcpOptions options = new TcpOptions();
        options.parse(p, 0, dataOffsetWords * 4);
        assertTrue(options.windowShift() <= TcpOptions.MAX_WINDOW_SHIFT);
        assertTrue(options.sackBlockCount() <= TcpOptions.MAX_SACK_BLOCKS);
    }
}

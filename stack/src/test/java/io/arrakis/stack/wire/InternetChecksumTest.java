package io.arrakis.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class InternetChecksumTest {

    /** RFC 1071 as written: add 16-bit words with end-around carry, one at a time. */
    private static int reference(byte[] bytes, int from, int length, long initial) {
        long sum = initial;
        for (int i = 0; i < length; i += 2) {
            int hi = bytes[from + i] & 0xFF;
            int lo = i + 1 < length ? bytes[from + i + 1] & 0xFF : 0;
            sum += (hi << 8) | lo;
            while ((sum >>> 16) != 0) {
                sum = (sum & 0xFFFF) + (sum >>> 16);
            }
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) (~sum & 0xFFFF);
    }

    @Property(tries = 2000)
    void matchesTheWordByWordReferenceForAnyBytesOffsetAndLength(@ForAll @Size(max = 1600) byte[] bytes,
            @ForAll @IntRange(max = 7) int offset, @ForAll @IntRange(max = 0xFFFFF) int initial) {
        byte[] shifted = new byte[bytes.length + offset];
        System.arraycopy(bytes, 0, shifted, offset, bytes.length);
        MemorySegment segment = MemorySegment.ofArray(shifted);
        assertEquals(reference(shifted, offset, bytes.length, initial),
                InternetChecksum.finish(InternetChecksum.sum(segment, offset, bytes.length, initial)));
    }

    @Test
    void aHeaderWithItsChecksumFilledInSumsToZero() {
        // The IPv4 header from RFC 1071's companion example (Wikipedia's worked example): checksum 0xB861.
        byte[] header = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0,
                (byte) 0xC0, (byte) 0xA8, 0x00, 0x01, (byte) 0xC0, (byte) 0xA8, 0x00, (byte) 0xC7};
        MemorySegment segment = MemorySegment.ofArray(header);
        int checksum = InternetChecksum.of(segment, 0, header.length);
        assertEquals(0xB861, checksum);
        NetworkOrder.setU16(segment, 10, checksum);
        assertEquals(0, InternetChecksum.of(segment, 0, header.length));
    }

    @Test
    void ethernetHeaderFieldsRoundTripInNetworkOrder() {
        MemorySegment frame = MemorySegment.ofArray(new byte[Ethernet.HEADER_LENGTH + 2]);
        Ethernet.write(frame, 2, 0xFFFF_FFFF_FFFFL, 0x0200_0000_0001L, Ethernet.TYPE_ARP);
        assertEquals(0xFFFF_FFFF_FFFFL, Ethernet.destination(frame, 2));
        assertEquals(0x0200_0000_0001L, Ethernet.source(frame, 2));
        assertEquals(Ethernet.TYPE_ARP, Ethernet.etherType(frame, 2));
        assertEquals(0x02, NetworkOrder.u8(frame, 8));
        assertEquals(0x08, NetworkOrder.u8(frame, 14));
        assertEquals(0x06, NetworkOrder.u8(frame, 15));
    }
}

package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.stack.wire.InternetChecksum;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class VirtioNetHeaderTest {
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    @Test
    void fieldsSitWhereStructVirtioNetHdrPutsThem() {
        // u8 flags, u8 gso_type, le16 hdr_len, le16 gso_size, le16 csum_start, le16 csum_offset, le16 num_buffers
        byte[] bytes = {0x01, 0x00, 0x36, 0x00, (byte) 0xA8, 0x05, 0x22, 0x00, 0x10, 0x00, 0x03, 0x00};
        MemorySegment s = MemorySegment.ofArray(new byte[40]);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, s, 7, 12);
        assertEquals(12, VirtioNetHeader.BYTES);
        assertEquals(VirtioNetHeader.F_NEEDS_CSUM, VirtioNetHeader.flags(s, 7));
        assertEquals(0, VirtioNetHeader.gsoType(s, 7));
        assertEquals(0x22, VirtioNetHeader.checksumStart(s, 7));
        assertEquals(0x10, VirtioNetHeader.checksumOffset(s, 7));
        assertEquals(3, VirtioNetHeader.numBuffers(s, 7));
        VirtioNetHeader.writePlain(s, 7);
        for (int i = 0; i < 40; i++) {
            assertEquals(0, s.get(ValueLayout.JAVA_BYTE, i), "byte " + i);
        }
    }

    /**
     * A UDP or TCP frame as Linux hands one over with a partial checksum (CHECKSUM_PARTIAL: the
     * field holds the folded pseudo-header sum): once completed, the stack's own checksum code
     * (an independent implementation) verifies it.
     */
    @Property
    void aCompletedPartialChecksumVerifies(@ForAll @IntRange(min = 0, max = 1400) int payload, @ForAll boolean tcp,
            @ForAll long seed) {
        Random random = new Random(seed);
        int ipHeader = 20;
        int transportHeader = tcp ? 20 : 8;
        int checksumOffset = tcp ? 16 : 6;
        int transportLength = transportHeader + payload;
        int length = 14 + ipHeader + transportLength;
        MemorySegment frame = MemorySegment.ofArray(new byte[length + 8]);
        for (int i = 0; i < length; i++) {
            frame.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt());
        }
        int source = random.nextInt();
        int destination = random.nextInt();
        int protocol = tcp ? 6 : 17;
        long pseudo = InternetChecksum.pseudoHeaderSum(source, destination, protocol, transportLength);
        int start = 14 + ipHeader;
        frame.set(BE16, start + checksumOffset, (short) (~InternetChecksum.finish(pseudo) & 0xFFFF));

        assertTrue(VirtioNetHeader.completeChecksum(frame, 0, length, start, checksumOffset));

        assertEquals(0, InternetChecksum.finish(InternetChecksum.sum(frame, start, transportLength, pseudo)));
        assertTrue((frame.get(BE16, start + checksumOffset) & 0xFFFF) != 0, "0 would mean 'no checksum' to UDP");
    }

    @Test
    void aChecksumPositionOutsideTheFrameIsRefusedAndChangesNothing() {
        MemorySegment frame = MemorySegment.ofArray(new byte[100]);
        assertFalse(VirtioNetHeader.completeChecksum(frame, 0, 60, 60, 0));
        assertFalse(VirtioNetHeader.completeChecksum(frame, 0, 60, 40, 19));
        for (int i = 0; i < 100; i++) {
            assertEquals(0, frame.get(ValueLayout.JAVA_BYTE, i));
        }
    }
}

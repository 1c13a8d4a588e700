package io.arrakis.stack.link;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.arrakis.stack.link.Frames.PcapRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.Channels;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class PcapWriterTest {

    @Test
    void recordsKeepTheTimeToTheNanosecondAndCutFramesAtTheSnapLength() throws IOException {
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        byte[] big = new byte[300];
        Arrays.fill(big, (byte) 0x5A);
        byte[] small = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
        try (PcapWriter writer = new PcapWriter(Channels.newChannel(file), 128)) {
            writer.write(1_735_689_600_123_456_789L, MemorySegment.ofArray(big), 0, big.length);
            writer.write(5, MemorySegment.ofArray(small), 2, 10);
        }
        List<PcapRecord> records = Frames.readPcap(file.toByteArray());
        assertEquals(2, records.size());
        assertEquals(1_735_689_600_123_456_789L, records.get(0).nanos());
        assertEquals(300, records.get(0).originalLength());
        assertArrayEquals(Arrays.copyOf(big, 128), records.get(0).data());
        assertEquals(5, records.get(1).nanos());
        assertArrayEquals(Arrays.copyOfRange(small, 2, 12), records.get(1).data());
    }

    @Test
    void aTimeBeforeTheEpochStillGivesAValidNanosecondField() throws IOException {
        // System.nanoTime() may be negative; the record must stay readable (nanos within 0..999 999 999).
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        try (PcapWriter writer = new PcapWriter(Channels.newChannel(file), 64)) {
            writer.write(-1, MemorySegment.ofArray(new byte[14]), 0, 14);
        }
        PcapRecord record = Frames.readPcap(file.toByteArray()).getFirst();
        assertEquals(0xFFFF_FFFFL * 1_000_000_000L + 999_999_999L, record.nanos(), "one ns before 1970, wrapped");
    }

    @Test
    void aSnapLengthOutsideWhatReadersAcceptIsRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> new PcapWriter(Channels.newChannel(new ByteArrayOutputStream()), 63));
    }
}

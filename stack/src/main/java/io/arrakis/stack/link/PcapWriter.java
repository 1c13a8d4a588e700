package io.arrakis.stack.link;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;

/**
 * Writes Ethernet frames in the classic pcap format with nanosecond timestamps, which tcpdump,
 * tshark and Wireshark read: the only way to see user-level traffic, which the kernel's capture
 * never sees. Allocation-free per frame (frames are copied into one reusable buffer).
 * Not thread-safe: one writer per capture point.
 */
public final class PcapWriter implements AutoCloseable {
    /** pcap magic for nanosecond-resolution timestamps (written in our byte order, little-endian). */
    private static final int MAGIC_NANOSECONDS = 0xA1B2_3C4D;
    private static final int LINKTYPE_ETHERNET = 1;
    private static final int RECORD_HEADER = 16;

    private final WritableByteChannel out;
    private final int snapLength;
    private final ByteBuffer record;
    private final MemorySegment recordSegment;

    /** Starts a capture on {@code out}, keeping at most {@code snapLength} bytes of each frame. */
    public PcapWriter(WritableByteChannel out, int snapLength) throws IOException {
        if (snapLength < 64 || snapLength > 262_144) {
            throw new IllegalArgumentException("pcap snap length must be 64..262144 bytes: " + snapLength);
        }
        this.out = out;
        this.snapLength = snapLength;
        this.record = ByteBuffer.allocateDirect(RECORD_HEADER + snapLength).order(ByteOrder.LITTLE_ENDIAN);
        this.recordSegment = MemorySegment.ofBuffer(record);
        ByteBuffer header = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(MAGIC_NANOSECONDS).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0)
                .putInt(snapLength).putInt(LINKTYPE_ETHERNET).flip();
        writeFully(header);
    }

    /** Records one frame of {@code length} bytes at {@code offset}, seen at {@code epochNanos}. */
    public void write(long epochNanos, MemorySegment frame, long offset, int length) throws IOException {
        int captured = Math.min(length, snapLength);
        record.clear();
        // Floor division keeps the nanosecond field within 0..999 999 999 (readers reject more)
        // for a timestamp before 1970, e.g. a raw System.nanoTime(); seconds are unsigned 32-bit.
        record.putInt((int) Math.floorDiv(epochNanos, 1_000_000_000L))
                .putInt((int) Math.floorMod(epochNanos, 1_000_000_000L))
                .putInt(captured).putInt(length);
        MemorySegment.copy(frame, ValueLayout.JAVA_BYTE, offset, recordSegment, ValueLayout.JAVA_BYTE,
                RECORD_HEADER, captured);
        record.position(RECORD_HEADER + captured).flip();
        writeFully(record);
    }

    private void writeFully(ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            out.write(buffer);
        }
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}

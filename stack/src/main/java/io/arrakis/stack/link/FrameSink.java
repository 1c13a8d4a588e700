package io.arrakis.stack.link;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Where a {@link CaptureVnic} puts the frames that cross it: a pcap file ({@link PcapWriter}), or
 * the stats file's capture ring that {@code arrakis capture} drains. A sink is called by the
 * thread that owns the queue; one shared by several queues does its own locking.
 */
public interface FrameSink {
    /**
     * Whether frames are wanted now, asked once per batch before any descriptor is copied: a sink
     * that is idle most of the time (a tool capturing on demand) costs one read per batch.
     */
    default boolean wanted() {
        return true;
    }

    /** Records the {@code length} bytes at {@code offset} of {@code memory}, stamped {@code epochNanos}. */
    void frame(long epochNanos, MemorySegment memory, long offset, int length) throws IOException;

    /** A sink writing to {@code writer}, locked on it, so the queues of one VNIC may share it. */
    static FrameSink of(PcapWriter writer) {
        return (epochNanos, memory, offset, length) -> {
            synchronized (writer) {
                writer.write(epochNanos, memory, offset, length);
            }
        };
    }
}

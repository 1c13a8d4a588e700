package io.arrakis.control;

import io.arrakis.device.Counters;
import io.arrakis.device.VnicCounter;

/**
 * The shared-memory files of the {@code shm} data plane, all memfds created, sized and sealed
 * (no shrinking, no growing) by the control plane. Stateless constants.
 *
 * <p><b>Channels S→R</b> (for each ordered pair of VNICs, one channel per pair of a queue of S
 * and a queue of R: every channel has one producer thread and one consumer thread), in two
 * files per ordered pair, so that each side can write only what it owns. With Ns queues in S and
 * Nr in R, the forward file holds Ns x Nr channel regions of {@link #channelStride} bytes, the
 * channel from S's queue s to R's queue r at region s x Nr + r; the return file holds as many
 * pages, in the same order. Within a file, one process's queues can only harm that process.
 * <pre>
 * forward region (of the forward file: S maps read-write, R maps READ-ONLY through an O_RDONLY descriptor)
 *      0  int  magic 0x41434846 ("ACHF")    4 int version      8 int capacity (descriptors, power of two)
 *     12  int  frame slot size (bytes)     16 long area offset  24 long area size
 *    128  long producer position: descriptors ever published by S (release store)
 *   4096  descriptors: capacity x 16 B = { int offset in the area, int length, int 0, int 0 }
 *   area  (page aligned) capacity x frame slot size: descriptor at position p describes a frame
 *         S copied into slot (p &amp; (capacity - 1)); S reuses a slot only after R consumed p
 * return page (of the return file: R maps read-write, S maps READ-ONLY)
 *      0  int  magic 0x41434852 ("ACHR")
 *    128  long consumer position: descriptors ever consumed by R (release store)
 * </pre>
 * The geometry comes from the control plane's message, never from the header (which is
 * informational): a receiver trusts nothing the sender can write. It bounds every descriptor
 * ({@code 0 <= offset}, {@code offset + length <= area size}, {@code 14 <= length <= max
 * frame}) and every position (never backwards, never more than a capacity ahead of what it
 * consumed); the sender bounds the consumer position likewise.
 *
 * <p><b>Bells</b> (one file per VNIC, a page per queue, queue q's at q x 4096; read-write for the
 * owner and for every peer that sends to it):
 * <pre>
 *      0  Doorbell: int futex sequence, int waiter count (see io.arrakis.memory.Doorbell)
 *      8  int readiness armed: 1 while the owner's selector may sleep in epoll on its eventfd;
 *         a sender that flips it 1 -> 0 writes the eventfd once
 * </pre>
 * A peer that writes garbage here can only cause spurious wake-ups (or lost ones, bounded by
 * the receiver's wait timeout).
 *
 * <p><b>Counters</b> (one file per VNIC, a page per queue, queue q's at q x 4096; written by the
 * owner's queue, read by the control plane for status):
 * <pre>
 *      0  int magic 0x41435452 ("ACTR")
 *     64  VnicCounter values, one long each, in enum order
 *    512  ShmCounter values, one long each, in enum order
 * </pre>
 */
public final class ChannelLayout {
    public static final long PAGE = 4096;
    public static final int VERSION = 2;
    /** Most queue pairs a VNIC may have. */
    public static final int MAX_QUEUES = 16;

    public static final int FORWARD_MAGIC = 0x4143_4846;
    public static final int RETURN_MAGIC = 0x4143_4852;
    public static final int COUNTERS_MAGIC = 0x4143_5452;

    // forward file header
    static final long MAGIC = 0;
    static final long VERSION_WORD = 4;
    static final long CAPACITY_WORD = 8;
    static final long FRAME_SLOT_WORD = 12;
    static final long AREA_OFFSET_WORD = 16;
    static final long AREA_SIZE_WORD = 24;
    /** Producer position in the forward file; consumer position in the return file. */
    static final long POSITION = 128;
    static final long DESCRIPTORS = PAGE;
    static final int DESCRIPTOR_BYTES = 16;
    static final long DESCRIPTOR_OFFSET = 0;
    static final long DESCRIPTOR_LENGTH = 4;

    static final long RETURN_BYTES = PAGE;

    static final long BELL_BYTES = PAGE;
    static final long BELL_DOORBELL = 0;
    static final long BELL_ARMED = 8;

    static final long COUNTERS_BYTES = PAGE;
    static final long COUNTERS_VNIC = 64;
    static final long COUNTERS_SHM = 512;

    /** Largest descriptor ring a channel may have. */
    public static final int MAX_CAPACITY = 1 << 16;

    static {
        if (COUNTERS_VNIC + Counters.bytesFor(VnicCounter.class) > COUNTERS_SHM
                || COUNTERS_SHM + Counters.bytesFor(ShmCounter.class) > COUNTERS_BYTES) {
            throw new AssertionError("counter layout overflows its page");
        }
    }

    private ChannelLayout() {}

    /** Where the frame area of a channel with {@code capacity} descriptors starts in the forward file. */
    public static long areaOffset(int capacity) {
        return DESCRIPTORS + roundUpToPage((long) capacity * DESCRIPTOR_BYTES);
    }

    /** Bytes of the frame area. */
    public static long areaSize(int capacity, int frameSlotSize) {
        return (long) capacity * frameSlotSize;
    }

    /** Size of the region of one channel in a forward file. */
    public static long forwardBytes(int capacity, int frameSlotSize) {
        return areaOffset(capacity) + areaSize(capacity, frameSlotSize);
    }

    /** Distance between two channel regions of a forward file (a whole number of pages). */
    public static long channelStride(int capacity, int frameSlotSize) {
        return roundUpToPage(forwardBytes(capacity, frameSlotSize));
    }

    /** Size of the forward file of the channels from a VNIC of {@code fromQueues} queues to one of {@code toQueues}. */
    public static long forwardFileBytes(int capacity, int frameSlotSize, int fromQueues, int toQueues) {
        return channelStride(capacity, frameSlotSize) * fromQueues * toQueues;
    }

    /** Size of the matching return file (a page per channel). */
    public static long returnFileBytes(int fromQueues, int toQueues) {
        return RETURN_BYTES * fromQueues * toQueues;
    }

    /** Index of the channel from queue {@code fromQueue} to queue {@code toQueue} of a VNIC of {@code toQueues} queues. */
    static int channelIndex(int fromQueue, int toQueue, int toQueues) {
        return fromQueue * toQueues + toQueue;
    }

    static long roundUpToPage(long bytes) {
        return (bytes + PAGE - 1) & -PAGE;
    }

    /** Checks a geometry the control plane chose or announced. */
    static void checkGeometry(int capacity, int frameSlotSize) {
        if (capacity < 2 || capacity > MAX_CAPACITY || Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("channel capacity must be a power of two in 2.." + MAX_CAPACITY
                    + ", not " + capacity);
        }
        if (frameSlotSize < 128 || frameSlotSize > 65536 || (frameSlotSize & 63) != 0) {
            throw new IllegalArgumentException("frame slot size must be a multiple of 64 in 128..65536, not "
                    + frameSlotSize);
        }
    }
}

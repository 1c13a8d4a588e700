package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * AF_XDP sockets: {@code linux/if_xdp.h} (socket options at {@link Sockets#SOL_XDP}, struct
 * {@code xdp_umem_reg}, {@code xdp_mmap_offsets}, {@code sockaddr_xdp}, {@code xdp_desc},
 * {@code xdp_statistics}, {@code xdp_options}) and the calls that set one up and kick it.
 *
 * <p>Thread-safe: setup calls use a confined arena; {@link #kick} and {@link #wake} allocate
 * nothing and report the errno instead of throwing, because on the data path {@code EAGAIN},
 * {@code EBUSY} and {@code ENOBUFS} only mean "try again on the next poll".
 */
public final class Xsk {
    // linux/if_xdp.h: sockaddr_xdp.sxdp_flags
    public static final int XDP_SHARED_UMEM = 1;
    public static final int XDP_COPY = 1 << 1;
    public static final int XDP_ZEROCOPY = 1 << 2;
    public static final int XDP_USE_NEED_WAKEUP = 1 << 3;

    // linux/if_xdp.h: socket options at SOL_XDP
    public static final int XDP_MMAP_OFFSETS = 1;
    public static final int XDP_RX_RING = 2;
    public static final int XDP_TX_RING = 3;
    public static final int XDP_UMEM_REG = 4;
    public static final int XDP_UMEM_FILL_RING = 5;
    public static final int XDP_UMEM_COMPLETION_RING = 6;
    public static final int XDP_STATISTICS = 7;
    public static final int XDP_OPTIONS = 8;
    /** xdp_options.flags: the socket runs in zero-copy mode. */
    public static final int XDP_OPTIONS_ZEROCOPY = 1;

    // linux/if_xdp.h: mmap page offsets of the four rings
    public static final long XDP_PGOFF_RX_RING = 0;
    public static final long XDP_PGOFF_TX_RING = 0x80000000L;
    public static final long XDP_UMEM_PGOFF_FILL_RING = 0x100000000L;
    public static final long XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000L;
    /** xdp_ring_offset.flags word: the kernel wants a syscall to make progress. */
    public static final int XDP_RING_NEED_WAKEUP = 1;

    /** struct xdp_desc {u64 addr; u32 len; u32 options;} */
    public static final int DESC_SIZE = 16;
    /** Fill and completion ring entries are u64 UMEM addresses. */
    public static final int ADDR_SIZE = 8;

    /** struct xdp_ring_offset {u64 producer, consumer, desc, flags;}: the four rings' in xdp_mmap_offsets. */
    public enum Ring {
        RX(0, XDP_PGOFF_RX_RING, DESC_SIZE),
        TX(32, XDP_PGOFF_TX_RING, DESC_SIZE),
        FILL(64, XDP_UMEM_PGOFF_FILL_RING, ADDR_SIZE),
        COMPLETION(96, XDP_UMEM_PGOFF_COMPLETION_RING, ADDR_SIZE);

        final long offsetsAt;
        final long pageOffset;
        public final int entrySize;

        Ring(long offsetsAt, long pageOffset, int entrySize) {
            this.offsetsAt = offsetsAt;
            this.pageOffset = pageOffset;
            this.entrySize = entrySize;
        }
    }

    /** Where a mapped ring keeps its producer, consumer, flags words and descriptors. */
    public record RingOffsets(long producer, long consumer, long descriptors, long flags) {}

    /** struct xdp_statistics (six u64 in this order). */
    public record Statistics(long rxDropped, long rxInvalidDescriptors, long txInvalidDescriptors, long rxRingFull,
            long rxFillRingEmpty, long txRingEmpty) {}

    private static final int MMAP_OFFSETS_SIZE = 128;
    private static final int UMEM_REG_SIZE = 32;
    private static final int SOCKADDR_XDP_SIZE = 16;
    private static final int STATISTICS_SIZE = 48;

    private static final MethodHandle BIND = Native.function("bind",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle SENDTO = Native.function("sendto", FunctionDescriptor.of(Native.C_LONG,
            Native.C_INT, Native.C_POINTER, Native.C_SIZE_T, Native.C_INT, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle RECVFROM = Native.function("recvfrom", FunctionDescriptor.of(Native.C_LONG,
            Native.C_INT, Native.C_POINTER, Native.C_SIZE_T, Native.C_INT, Native.C_POINTER, Native.C_POINTER));

    private Xsk() {}

    /** A new AF_XDP socket (SOCK_RAW, close-on-exec). Needs CAP_NET_RAW. */
    public static int socket() throws LinuxException {
        return Sockets.socket(Sockets.AF_XDP, Sockets.SOCK_RAW | Sockets.SOCK_CLOEXEC, 0);
    }

    /**
     * XDP_UMEM_REG: registers {@code memory} (page-aligned, a whole number of chunks) as the
     * socket's UMEM, cut into chunks of {@code chunkSize} bytes, the kernel leaving
     * {@code headroom} bytes free before each received frame (beyond its own XDP headroom).
     */
    public static void registerUmem(int fd, MemorySegment memory, int chunkSize, int headroom) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment reg = arena.allocate(UMEM_REG_SIZE, 8);
            reg.set(ValueLayout.JAVA_LONG, 0, memory.address());
            reg.set(ValueLayout.JAVA_LONG, 8, memory.byteSize());
            reg.set(ValueLayout.JAVA_INT, 16, chunkSize);
            reg.set(ValueLayout.JAVA_INT, 20, headroom);
            try {
                Sockets.setsockopt(fd, Sockets.SOL_XDP, XDP_UMEM_REG, reg);
            } catch (LinuxException e) {
                throw new LinuxException("setsockopt(fd=" + fd + ", SOL_XDP, XDP_UMEM_REG, addr=0x"
                        + Long.toHexString(memory.address()) + ", len=" + memory.byteSize() + ", chunk_size="
                        + chunkSize + ", headroom=" + headroom + ")", e.errno());
            }
        }
    }

    /** Sets the number of entries (a power of two) of one of the four rings, before mapping it. */
    public static void setRingSize(int fd, Ring ring, int entries) throws LinuxException {
        int option = switch (ring) {
            case RX -> XDP_RX_RING;
            case TX -> XDP_TX_RING;
            case FILL -> XDP_UMEM_FILL_RING;
            case COMPLETION -> XDP_UMEM_COMPLETION_RING;
        };
        try {
            Sockets.setsockopt(fd, Sockets.SOL_XDP, option, entries);
        } catch (LinuxException e) {
            throw new LinuxException("setsockopt(fd=" + fd + ", SOL_XDP, " + ring + " ring size " + entries + ")",
                    e.errno());
        }
    }

    /** XDP_MMAP_OFFSETS for {@code ring}. */
    public static RingOffsets ringOffsets(int fd, Ring ring) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment offsets = arena.allocate(MMAP_OFFSETS_SIZE, 8);
            Sockets.getsockopt(fd, Sockets.SOL_XDP, XDP_MMAP_OFFSETS, offsets);
            long at = ring.offsetsAt;
            return new RingOffsets(offsets.get(ValueLayout.JAVA_LONG, at), offsets.get(ValueLayout.JAVA_LONG, at + 8),
                    offsets.get(ValueLayout.JAVA_LONG, at + 16), offsets.get(ValueLayout.JAVA_LONG, at + 24));
        }
    }

    /** Maps {@code ring} of {@code entries} entries; unmap with {@link Mman#munmap}. */
    public static MemorySegment mapRing(int fd, Ring ring, RingOffsets offsets, int entries) throws LinuxException {
        long length = offsets.descriptors() + (long) entries * ring.entrySize;
        return Mman.mmap(length, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED | Mman.MAP_POPULATE, fd,
                ring.pageOffset);
    }

    /** Binds to queue {@code queueId} of interface {@code ifindex} (in the socket's network namespace). */
    public static void bind(int fd, int ifindex, int queueId, int flags) throws LinuxException {
        int result;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = arena.allocate(SOCKADDR_XDP_SIZE, 8);
            address.set(ValueLayout.JAVA_SHORT, 0, (short) Sockets.AF_XDP);
            address.set(ValueLayout.JAVA_SHORT, 2, (short) flags);
            address.set(ValueLayout.JAVA_INT, 4, ifindex);
            address.set(ValueLayout.JAVA_INT, 8, queueId);
            result = (int) BIND.invokeExact(Native.errnoState(), fd, address, SOCKADDR_XDP_SIZE);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("bind(fd=" + fd + ", AF_XDP, ifindex=" + ifindex + ", queue_id=" + queueId
                    + ", flags=" + flagsName(flags) + ")", Native.errno());
        }
    }

    /** XDP_OPTIONS: whether the bound socket runs in zero-copy mode. */
    public static boolean isZeroCopy(int fd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment options = arena.allocate(ValueLayout.JAVA_INT);
            Sockets.getsockopt(fd, Sockets.SOL_XDP, XDP_OPTIONS, options);
            return (options.get(ValueLayout.JAVA_INT, 0) & XDP_OPTIONS_ZEROCOPY) != 0;
        }
    }

    /** Bytes of struct xdp_statistics, for {@link #readStatistics}. */
    public static final int STATISTICS_BYTES = 48;

    /**
     * XDP_STATISTICS into {@code into} ({@link #STATISTICS_BYTES}, 8-aligned native memory): six
     * u64 in the order of {@link Statistics}. Allocates nothing.
     */
    public static void readStatistics(int fd, MemorySegment into) throws LinuxException {
        Sockets.getsockopt(fd, Sockets.SOL_XDP, XDP_STATISTICS, into);
    }

    /** XDP_STATISTICS: the kernel's drop counters of this socket. */
    public static Statistics statistics(int fd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(STATISTICS_SIZE, 8);
            Sockets.getsockopt(fd, Sockets.SOL_XDP, XDP_STATISTICS, s);
            return new Statistics(s.get(ValueLayout.JAVA_LONG, 0), s.get(ValueLayout.JAVA_LONG, 8),
                    s.get(ValueLayout.JAVA_LONG, 16), s.get(ValueLayout.JAVA_LONG, 24), s.get(ValueLayout.JAVA_LONG, 32),
                    s.get(ValueLayout.JAVA_LONG, 40));
        }
    }

    /**
     * {@code sendto(fd, NULL, 0, MSG_DONTWAIT)}: tells the kernel the TX ring has frames (the
     * TX doorbell). Returns 0, or the errno: EAGAIN, EBUSY and ENOBUFS mean the kernel could not
     * take them all now and the caller tries again later; ENETDOWN that the link is down.
     */
    public static int kick(int fd) {
        long result;
        try {
            result = (long) SENDTO.invokeExact(Native.errnoState(), fd, MemorySegment.NULL, 0L,
                    Sockets.MSG_DONTWAIT, MemorySegment.NULL, 0);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        return result < 0 ? Native.errno() : 0;
    }

    /**
     * {@code recvfrom(fd, NULL, 0, MSG_DONTWAIT)}: tells a driver that asked for it (the fill
     * ring's need-wakeup flag) that the fill ring has buffers again. Returns 0 or the errno.
     */
    public static int wake(int fd) {
        long result;
        try {
            result = (long) RECVFROM.invokeExact(Native.errnoState(), fd, MemorySegment.NULL, 0L,
                    Sockets.MSG_DONTWAIT, MemorySegment.NULL, MemorySegment.NULL);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        return result < 0 ? Native.errno() : 0;
    }

    static String flagsName(int flags) {
        StringBuilder text = new StringBuilder();
        String[] names = {"XDP_SHARED_UMEM", "XDP_COPY", "XDP_ZEROCOPY", "XDP_USE_NEED_WAKEUP"};
        for (int bit = 0; bit < names.length; bit++) {
            if ((flags & 1 << bit) != 0) {
                text.append(text.isEmpty() ? "" : "|").append(names[bit]);
            }
        }
        int rest = flags & ~0xF;
        if (rest != 0) {
            text.append(text.isEmpty() ? "" : "|").append("0x").append(Integer.toHexString(rest));
        }
        return text.isEmpty() ? "0" : text.toString();
    }
}

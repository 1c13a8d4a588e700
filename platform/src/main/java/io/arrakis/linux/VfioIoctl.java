package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * VFIO, the kernel's interface for user-level device drivers: the ioctls of {@code linux/vfio.h}
 * on a container ({@code /dev/vfio/vfio}), a group ({@code /dev/vfio/N}) and a device descriptor,
 * their structs and constants, and one typed call per ioctl we use.
 *
 * <p>Thread-safe: every call is independent and uses a confined arena of its own (these are
 * control-path calls, made a few times per device).
 */
public final class VfioIoctl {
    // linux/vfio.h: every request is _IO(VFIO_TYPE, VFIO_BASE + n); the argument's size is not encoded.
    private static final char VFIO_TYPE = ';';
    private static final int VFIO_BASE = 100;

    public static final int VFIO_API_VERSION = 0;
    /** Extensions (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU): the x86 IOMMU driver with its v2 semantics. */
    public static final int VFIO_TYPE1_IOMMU = 1;
    public static final int VFIO_TYPE1v2_IOMMU = 3;

    // container
    public static final long VFIO_GET_API_VERSION = Ioctl.io(VFIO_TYPE, VFIO_BASE);
    public static final long VFIO_CHECK_EXTENSION = Ioctl.io(VFIO_TYPE, VFIO_BASE + 1);
    public static final long VFIO_SET_IOMMU = Ioctl.io(VFIO_TYPE, VFIO_BASE + 2);
    public static final long VFIO_IOMMU_GET_INFO = Ioctl.io(VFIO_TYPE, VFIO_BASE + 12);
    public static final long VFIO_IOMMU_MAP_DMA = Ioctl.io(VFIO_TYPE, VFIO_BASE + 13);
    public static final long VFIO_IOMMU_UNMAP_DMA = Ioctl.io(VFIO_TYPE, VFIO_BASE + 14);
    // group
    public static final long VFIO_GROUP_GET_STATUS = Ioctl.io(VFIO_TYPE, VFIO_BASE + 3);
    public static final long VFIO_GROUP_SET_CONTAINER = Ioctl.io(VFIO_TYPE, VFIO_BASE + 4);
    public static final long VFIO_GROUP_UNSET_CONTAINER = Ioctl.io(VFIO_TYPE, VFIO_BASE + 5);
    public static final long VFIO_GROUP_GET_DEVICE_FD = Ioctl.io(VFIO_TYPE, VFIO_BASE + 6);
    // device
    public static final long VFIO_DEVICE_GET_INFO = Ioctl.io(VFIO_TYPE, VFIO_BASE + 7);
    public static final long VFIO_DEVICE_GET_REGION_INFO = Ioctl.io(VFIO_TYPE, VFIO_BASE + 8);
    public static final long VFIO_DEVICE_GET_IRQ_INFO = Ioctl.io(VFIO_TYPE, VFIO_BASE + 9);
    public static final long VFIO_DEVICE_SET_IRQS = Ioctl.io(VFIO_TYPE, VFIO_BASE + 10);
    public static final long VFIO_DEVICE_RESET = Ioctl.io(VFIO_TYPE, VFIO_BASE + 11);

    // struct vfio_group_status.flags
    public static final int VFIO_GROUP_FLAGS_VIABLE = 1;
    public static final int VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;
    // struct vfio_device_info.flags
    public static final int VFIO_DEVICE_FLAGS_RESET = 1;
    public static final int VFIO_DEVICE_FLAGS_PCI = 1 << 1;
    // struct vfio_region_info.flags
    public static final int VFIO_REGION_INFO_FLAG_READ = 1;
    public static final int VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
    public static final int VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
    public static final int VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;
    // struct vfio_irq_info.flags
    public static final int VFIO_IRQ_INFO_EVENTFD = 1;
    public static final int VFIO_IRQ_INFO_NORESIZE = 1 << 3;
    // struct vfio_irq_set.flags
    public static final int VFIO_IRQ_SET_DATA_NONE = 1;
    public static final int VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
    public static final int VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
    public static final int VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
    public static final int VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
    public static final int VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;
    // struct vfio_iommu_type1_info.flags and its capability chain
    public static final int VFIO_IOMMU_INFO_PGSIZES = 1;
    public static final int VFIO_IOMMU_INFO_CAPS = 1 << 1;
    public static final int VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
    // struct vfio_iommu_type1_dma_map.flags
    public static final int VFIO_DMA_MAP_FLAG_READ = 1;
    public static final int VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;

    // vfio-pci's fixed region and interrupt indexes
    public static final int VFIO_PCI_BAR0_REGION_INDEX = 0;
    public static final int VFIO_PCI_ROM_REGION_INDEX = 6;
    public static final int VFIO_PCI_CONFIG_REGION_INDEX = 7;
    public static final int VFIO_PCI_INTX_IRQ_INDEX = 0;
    public static final int VFIO_PCI_MSI_IRQ_INDEX = 1;
    public static final int VFIO_PCI_MSIX_IRQ_INDEX = 2;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfInt U32_UNALIGNED = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64_UNALIGNED = ValueLayout.JAVA_LONG_UNALIGNED;

    /** struct vfio_group_status {u32 argsz; u32 flags;} */
    public static final StructLayout GROUP_STATUS = MemoryLayout.structLayout(U32.withName("argsz"),
            U32.withName("flags"));
    /** struct vfio_device_info: argsz, flags, num_regions, num_irqs, cap_offset, pad. */
    public static final StructLayout DEVICE_INFO = MemoryLayout.structLayout(U32.withName("argsz"),
            U32.withName("flags"), U32.withName("num_regions"), U32.withName("num_irqs"), U32.withName("cap_offset"),
            U32.withName("pad"));
    /** struct vfio_region_info: argsz, flags, index, cap_offset, u64 size, u64 offset. */
    public static final StructLayout REGION_INFO = MemoryLayout.structLayout(U32.withName("argsz"),
            U32.withName("flags"), U32.withName("index"), U32.withName("cap_offset"), U64.withName("size"),
            U64.withName("offset"));
    /** struct vfio_irq_info: argsz, flags, index, count. */
    public static final StructLayout IRQ_INFO = MemoryLayout.structLayout(U32.withName("argsz"),
            U32.withName("flags"), U32.withName("index"), U32.withName("count"));
    /** struct vfio_irq_set: argsz, flags, index, start, count, then {@code u8 data[]} (here: s32 eventfds). */
    public static final StructLayout IRQ_SET = MemoryLayout.structLayout(U32.withName("argsz"),
            U32.withName("flags"), U32.withName("index"), U32.withName("start"), U32.withName("count"));
    /** struct vfio_iommu_type1_info: argsz, flags, u64 iova_pgsizes, cap_offset, pad; capabilities follow. */
    public static final StructLayout IOMMU_TYPE1_INFO = MemoryLayout.structLayout(U32.withName("argsz"),
            U32.withName("flags"), U64.withName("iova_pgsizes"), U32.withName("cap_offset"), U32.withName("pad"));
    /** struct vfio_info_cap_header {u16 id; u16 version; u32 next;} */
    public static final StructLayout INFO_CAP_HEADER = MemoryLayout.structLayout(
            ValueLayout.JAVA_SHORT.withName("id"), ValueLayout.JAVA_SHORT.withName("version"), U32.withName("next"));
    /** struct vfio_iommu_type1_info_cap_iova_range: header, u32 nr_iovas, u32 reserved, then {u64 start; u64 end;}[]. */
    public static final long IOVA_RANGE_CAP_RANGES = 16;
    public static final long IOVA_RANGE_SIZE = 16;
    /** struct vfio_iommu_type1_dma_map: argsz, flags, u64 vaddr, u64 iova, u64 size. */
    public static final StructLayout DMA_MAP = MemoryLayout.structLayout(U32.withName("argsz"),
            U32.withName("flags"), U64.withName("vaddr"), U64.withName("iova"), U64.withName("size"));
    /** struct vfio_iommu_type1_dma_unmap: argsz, flags, u64 iova, u64 size (then data[], unused). */
    public static final StructLayout DMA_UNMAP = MemoryLayout.structLayout(U32.withName("argsz"),
            U32.withName("flags"), U64.withName("iova"), U64.withName("size"));

    /** What VFIO_DEVICE_GET_INFO reports. */
    public record DeviceInfo(int flags, int regionCount, int irqCount) {
        public boolean canReset() {
            return (flags & VFIO_DEVICE_FLAGS_RESET) != 0;
        }

        public boolean isPci() {
            return (flags & VFIO_DEVICE_FLAGS_PCI) != 0;
        }
    }

    /** What VFIO_DEVICE_GET_REGION_INFO reports: a region is {@code size} bytes at {@code offset} of the device fd. */
    public record RegionInfo(int index, int flags, long size, long offset) {
        public boolean mappable() {
            return (flags & VFIO_REGION_INFO_FLAG_MMAP) != 0;
        }
    }

    /** What VFIO_DEVICE_GET_IRQ_INFO reports. */
    public record IrqInfo(int index, int flags, int count) {}

    /** One usable IOVA range, both ends inclusive (as the kernel reports them). */
    public record IovaRange(long start, long end) {}

    /** What VFIO_IOMMU_GET_INFO reports: the IOMMU's page sizes (a bitmap) and the usable IOVA ranges. */
    public record IommuInfo(long pageSizes, List<IovaRange> ranges) {}

    private VfioIoctl() {}

    /** VFIO_GET_API_VERSION on a container: {@link #VFIO_API_VERSION} on every kernel so far. */
    public static int apiVersion(int containerFd) throws LinuxException {
        return Ioctl.ioctl(containerFd, VFIO_GET_API_VERSION, 0L);
    }

    /** VFIO_CHECK_EXTENSION: whether the container (its loaded IOMMU drivers) supports {@code extension}. */
    public static boolean checkExtension(int containerFd, int extension) throws LinuxException {
        return Ioctl.ioctl(containerFd, VFIO_CHECK_EXTENSION, extension) > 0;
    }

    /** VFIO_SET_IOMMU: chooses the container's IOMMU model; needs a group attached first. */
    public static void setIommu(int containerFd, int iommuType) throws LinuxException {
        Ioctl.ioctl(containerFd, VFIO_SET_IOMMU, iommuType);
    }

    /** VFIO_GROUP_GET_STATUS: the group's flags ({@link #VFIO_GROUP_FLAGS_VIABLE}, ...). */
    public static int groupStatus(int groupFd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(GROUP_STATUS);
            status.set(U32, 0, (int) GROUP_STATUS.byteSize());
            Ioctl.ioctl(groupFd, VFIO_GROUP_GET_STATUS, status);
            return status.get(U32, 4);
        }
    }

    /** VFIO_GROUP_SET_CONTAINER: the argument is a pointer to the container's descriptor. */
    public static void groupSetContainer(int groupFd, int containerFd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            Ioctl.ioctl(groupFd, VFIO_GROUP_SET_CONTAINER, arena.allocateFrom(U32, containerFd));
        }
    }

    /** VFIO_GROUP_GET_DEVICE_FD: a descriptor for the device named as in the group's sysfs devices directory. */
    public static int groupDeviceFd(int groupFd, String deviceName) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            return Ioctl.ioctl(groupFd, VFIO_GROUP_GET_DEVICE_FD, arena.allocateFrom(deviceName));
        }
    }

    public static DeviceInfo deviceInfo(int deviceFd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(DEVICE_INFO);
            info.set(U32, 0, (int) DEVICE_INFO.byteSize());
            Ioctl.ioctl(deviceFd, VFIO_DEVICE_GET_INFO, info);
            return new DeviceInfo(info.get(U32, 4), info.get(U32, 8), info.get(U32, 12));
        }
    }

    public static RegionInfo regionInfo(int deviceFd, int index) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(REGION_INFO);
            info.set(U32, 0, (int) REGION_INFO.byteSize());
            info.set(U32, 8, index);
            Ioctl.ioctl(deviceFd, VFIO_DEVICE_GET_REGION_INFO, info);
            return new RegionInfo(index, info.get(U32, 4), info.get(U64, 16), info.get(U64, 24));
        }
    }

    public static IrqInfo irqInfo(int deviceFd, int index) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(IRQ_INFO);
            info.set(U32, 0, (int) IRQ_INFO.byteSize());
            info.set(U32, 8, index);
            Ioctl.ioctl(deviceFd, VFIO_DEVICE_GET_IRQ_INFO, info);
            return new IrqInfo(index, info.get(U32, 4), info.get(U32, 12));
        }
    }

    /**
     * VFIO_DEVICE_SET_IRQS with DATA_EVENTFD|ACTION_TRIGGER: interrupts {@code start..start+n-1} of
     * {@code index} signal {@code eventFds[0..n-1]} ({@code -1} leaves one unassigned).
     */
    public static void setIrqEventFds(int deviceFd, int index, int start, int[] eventFds) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment set = irqSet(arena, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, start,
                    eventFds.length, eventFds.length * 4L);
            MemorySegment.copy(eventFds, 0, set, U32, IRQ_SET.byteSize(), eventFds.length);
            Ioctl.ioctl(deviceFd, VFIO_DEVICE_SET_IRQS, set);
        }
    }

    /** VFIO_DEVICE_SET_IRQS with DATA_NONE|ACTION_TRIGGER and count 0: disables interrupt index {@code index}. */
    public static void disableIrqs(int deviceFd, int index) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            Ioctl.ioctl(deviceFd, VFIO_DEVICE_SET_IRQS,
                    irqSet(arena, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 0, 0));
        }
    }

    /**
     * VFIO_DEVICE_SET_IRQS with DATA_NONE|ACTION_TRIGGER on one interrupt: the kernel signals its
     * eventfd as if the device had raised it (loopback, to test the wiring without the device).
     */
    public static void triggerIrq(int deviceFd, int index, int vector) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            Ioctl.ioctl(deviceFd, VFIO_DEVICE_SET_IRQS,
                    irqSet(arena, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, vector, 1, 0));
        }
    }

    static MemorySegment irqSet(Arena arena, int flags, int index, int start, int count, long dataBytes) {
        MemorySegment set = arena.allocate(IRQ_SET.byteSize() + dataBytes, 4);
        set.set(U32, 0, (int) set.byteSize());
        set.set(U32, 4, flags);
        set.set(U32, 8, index);
        set.set(U32, 12, start);
        set.set(U32, 16, count);
        return set;
    }

    public static void reset(int deviceFd) throws LinuxException {
        Ioctl.ioctl(deviceFd, VFIO_DEVICE_RESET, 0L);
    }

    /**
     * VFIO_IOMMU_GET_INFO with its capability chain: asked once with the bare struct, again with
     * the size the kernel says the chain needs.
     */
    public static IommuInfo iommuInfo(int containerFd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(IOMMU_TYPE1_INFO);
            info.set(U32, 0, (int) IOMMU_TYPE1_INFO.byteSize());
            Ioctl.ioctl(containerFd, VFIO_IOMMU_GET_INFO, info);
            int needed = info.get(U32, 0);
            if (needed > info.byteSize()) {
                info = arena.allocate(needed, 8);
                info.set(U32, 0, needed);
                Ioctl.ioctl(containerFd, VFIO_IOMMU_GET_INFO, info);
            }
            return parseIommuInfo(info);
        }
    }

    /**
     * Decodes a filled struct vfio_iommu_type1_info and its capability chain (pure; tested with
     * crafted bytes). Capabilities sit at whatever offsets the kernel chose, not necessarily 8-byte
     * aligned, so their fields are read unaligned.
     */
    public static IommuInfo parseIommuInfo(MemorySegment info) {
        int flags = info.get(U32, 4);
        long pageSizes = (flags & VFIO_IOMMU_INFO_PGSIZES) != 0 ? info.get(U64, 8) : 0;
        List<IovaRange> ranges = new ArrayList<>();
        long capability = (flags & VFIO_IOMMU_INFO_CAPS) != 0 ? Integer.toUnsignedLong(info.get(U32, 16)) : 0;
        int hops = 0;
        while (capability != 0 && capability + INFO_CAP_HEADER.byteSize() <= info.byteSize() && hops++ < 64) {
            int id = Short.toUnsignedInt(info.get(ValueLayout.JAVA_SHORT_UNALIGNED, capability));
            if (id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE && capability + IOVA_RANGE_CAP_RANGES <= info.byteSize()) {
                int count = info.get(U32_UNALIGNED, capability + 8);
                for (int i = 0; i < count; i++) {
                    long at = capability + IOVA_RANGE_CAP_RANGES + i * IOVA_RANGE_SIZE;
                    if (at + IOVA_RANGE_SIZE > info.byteSize()) {
                        break;
                    }
                    ranges.add(new IovaRange(info.get(U64_UNALIGNED, at), info.get(U64_UNALIGNED, at + 8)));
                }
            }
            capability = Integer.toUnsignedLong(info.get(U32_UNALIGNED, capability + 4));
        }
        return new IommuInfo(pageSizes, List.copyOf(ranges));
    }

    /** VFIO_IOMMU_MAP_DMA: the device may read and write {@code size} bytes at {@code vaddr} through {@code iova}. */
    public static void mapDma(int containerFd, long vaddr, long iova, long size) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment map = arena.allocate(DMA_MAP);
            map.set(U32, 0, (int) DMA_MAP.byteSize());
            map.set(U32, 4, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
            map.set(U64, 8, vaddr);
            map.set(U64, 16, iova);
            map.set(U64, 24, size);
            Ioctl.ioctl(containerFd, VFIO_IOMMU_MAP_DMA, map);
        }
    }

    /** VFIO_IOMMU_UNMAP_DMA: returns how many bytes the kernel unmapped. */
    public static long unmapDma(int containerFd, long iova, long size) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment unmap = arena.allocate(DMA_UNMAP);
            unmap.set(U32, 0, (int) DMA_UNMAP.byteSize());
            unmap.set(U64, 8, iova);
            unmap.set(U64, 16, size);
            Ioctl.ioctl(containerFd, VFIO_IOMMU_UNMAP_DMA, unmap);
            return unmap.get(U64, 16);
        }
    }

    /** The name of a VFIO request, for error messages. */
    public static String requestName(long request) {
        int nr = (int) (request & 0xff) - VFIO_BASE;
        return switch (nr) {
            case 0 -> "VFIO_GET_API_VERSION";
            case 1 -> "VFIO_CHECK_EXTENSION";
            case 2 -> "VFIO_SET_IOMMU";
            case 3 -> "VFIO_GROUP_GET_STATUS";
            case 4 -> "VFIO_GROUP_SET_CONTAINER";
            case 5 -> "VFIO_GROUP_UNSET_CONTAINER";
            case 6 -> "VFIO_GROUP_GET_DEVICE_FD";
            case 7 -> "VFIO_DEVICE_GET_INFO";
            case 8 -> "VFIO_DEVICE_GET_REGION_INFO";
            case 9 -> "VFIO_DEVICE_GET_IRQ_INFO";
            case 10 -> "VFIO_DEVICE_SET_IRQS";
            case 11 -> "VFIO_DEVICE_RESET";
            case 12 -> "VFIO_IOMMU_GET_INFO";
            case 13 -> "VFIO_IOMMU_MAP_DMA";
            case 14 -> "VFIO_IOMMU_UNMAP_DMA";
            default -> "0x" + Long.toHexString(request);
        };
    }
}

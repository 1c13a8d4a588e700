package io.arrakis.vfio;

import io.arrakis.linux.Errno;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.FileIo;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Mman;
import io.arrakis.linux.VfioIoctl;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A PCI function opened through VFIO: one container (type1v2 IOMMU) holding the function's group,
 * and the device descriptor. Thread-safe: every operation is synchronized on the function (they
 * are all control path); BAR segments and DMA memory are then used by any thread without locks.
 *
 * <p>BARs and allocated DMA memory are segments of a shared arena closed with the function (or
 * with the region), so a use after close is an {@link IllegalStateException}, not a stray write
 * into a page that is gone.
 */
final class VfioPciFunction implements PciFunction {
    // PCI configuration space (PCI Local Bus Specification 3.0, §6.2)
    static final int CONFIG_VENDOR_ID = 0x00;
    static final int CONFIG_DEVICE_ID = 0x02;
    static final int CONFIG_COMMAND = 0x04;
    static final int CONFIG_BAR0 = 0x10;
    static final int COMMAND_MEMORY_SPACE = 1 << 1;
    static final int COMMAND_BUS_MASTER = 1 << 2;
    static final int BAR_IO_SPACE = 1;

    private static final long PAGE = 4096;
    private static final long HUGE_PAGE = 2L << 20;

    private final String address;
    private final int container;
    private final int group;
    private final int device;
    private final VfioIoctl.DeviceInfo info;
    private final VfioIoctl.RegionInfo config;
    private final IovaAllocator iovas;
    private final int vendorId;
    private final int deviceId;
    private final int msixCount;
    /** BARs and allocated DMA memory live as long as this arena (closed with the function). */
    private final Arena barArena = Arena.ofShared();
    private final MemorySegment[] bars = new MemorySegment[6];
    private final Set<VfioDmaRegion> dmaRegions = new LinkedHashSet<>();
    private long mappedBytes;
    private int[] msixFds = new int[0];
    private boolean closed;

    private VfioPciFunction(String address, int container, int group, int device, IovaAllocator iovas)
            throws IOException {
        this.address = address;
        this.container = container;
        this.group = group;
        this.device = device;
        this.iovas = iovas;
        this.info = VfioIoctl.deviceInfo(device);
        if (!info.isPci()) {
            throw new VfioException("device " + address + " is not a vfio-pci device (flags 0x"
                    + Integer.toHexString(info.flags()) + ")");
        }
        this.config = VfioIoctl.regionInfo(device, VfioIoctl.VFIO_PCI_CONFIG_REGION_INDEX);
        this.vendorId = readConfig(CONFIG_VENDOR_ID, 2);
        this.deviceId = readConfig(CONFIG_DEVICE_ID, 2);
        this.msixCount = info.irqCount() > VfioIoctl.VFIO_PCI_MSIX_IRQ_INDEX
                ? VfioIoctl.irqInfo(device, VfioIoctl.VFIO_PCI_MSIX_IRQ_INDEX).count() : 0;
    }

    /** Takes over {@code container} (type1v2 set) and {@code group} (attached to it); closes both on failure. */
    static VfioPciFunction open(String address, int container, int group) throws IOException {
        int device = -1;
        try {
            VfioIoctl.IommuInfo iommu = VfioIoctl.iommuInfo(container);
            IovaAllocator iovas = new IovaAllocator(usableRanges(iommu), smallestPage(iommu.pageSizes()));
            device = VfioIoctl.groupDeviceFd(group, address);
            return new VfioPciFunction(address, container, group, device, iovas);
        } catch (IOException | RuntimeException e) {
            Vfio.closeQuietly(device);
            Vfio.closeQuietly(group);
            Vfio.closeQuietly(container);
            throw e;
        }
    }

    /** The kernel's IOVA ranges (end inclusive) as the allocator's (end exclusive); all of 39 bits when it gives none. */
    static List<IovaAllocator.Range> usableRanges(VfioIoctl.IommuInfo iommu) {
        List<IovaAllocator.Range> ranges = new ArrayList<>();
        for (VfioIoctl.IovaRange range : iommu.ranges()) {
            long end = range.end() == -1L || range.end() == Long.MAX_VALUE ? Long.MAX_VALUE : range.end() + 1;
            if (range.start() >= 0 && Long.compareUnsigned(range.start(), end) < 0) {
                ranges.add(new IovaAllocator.Range(range.start(), end));
            }
        }
        if (ranges.isEmpty()) {
            // Kernels before 5.4 do not report ranges: 39 bits (the smallest Intel IOMMU width)
            // minus the x86 MSI window, which no IOMMU translates.
            ranges.add(new IovaAllocator.Range(0, 0xfee00000L));
            ranges.add(new IovaAllocator.Range(0xfef00000L, 1L << 39));
        }
        return ranges;
    }

    static long smallestPage(long pageSizes) {
        long smallest = Long.lowestOneBit(pageSizes);
        return smallest < PAGE ? PAGE : smallest;
    }

    @Override
    public String address() {
        return address;
    }

    @Override
    public int vendorId() {
        return vendorId;
    }

    @Override
    public int deviceId() {
        return deviceId;
    }

    @Override
    public synchronized int readConfig(int offset, int bytes) throws IOException {
        checkConfigAccess(offset, bytes);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(4, 4);
            long n = FileIo.pread(device, buffer.asSlice(0, bytes), config.offset() + offset);
            if (n != bytes) {
                throw new VfioException("reading " + bytes + " bytes of configuration space of " + address + " at 0x"
                        + Integer.toHexString(offset) + " returned " + n + " bytes");
            }
            return switch (bytes) {
                case 1 -> Byte.toUnsignedInt(buffer.get(ValueLayout.JAVA_BYTE, 0));
                case 2 -> Short.toUnsignedInt(buffer.get(ValueLayout.JAVA_SHORT, 0));
                default -> buffer.get(ValueLayout.JAVA_INT, 0);
            };
        }
    }

    @Override
    public synchronized void writeConfig(int offset, int bytes, int value) throws IOException {
        checkConfigAccess(offset, bytes);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(4, 4);
            buffer.set(ValueLayout.JAVA_INT, 0, value);
            long n = FileIo.pwrite(device, buffer.asSlice(0, bytes), config.offset() + offset);
            if (n != bytes) {
                throw new VfioException("writing " + bytes + " bytes of configuration space of " + address + " at 0x"
                        + Integer.toHexString(offset) + " wrote " + n + " bytes");
            }
        }
    }

    private void checkConfigAccess(int offset, int bytes) throws IOException {
        ensureOpen();
        if (bytes != 1 && bytes != 2 && bytes != 4) {
            throw new IllegalArgumentException("configuration access of " + bytes + " bytes; use 1, 2 or 4");
        }
        if (offset < 0 || offset + bytes > config.size() || offset % bytes != 0) {
            throw new IllegalArgumentException("configuration access of " + bytes + " bytes at 0x"
                    + Integer.toHexString(offset) + " is outside the " + config.size() + " bytes of " + address
                    + "'s configuration space or not naturally aligned");
        }
    }

    @Override
    public synchronized MemorySegment bar(int index) throws IOException {
        ensureOpen();
        if (index < 0 || index > 5) {
            throw new IllegalArgumentException("BAR index " + index + " is not 0..5");
        }
        if (bars[index] != null) {
            return bars[index];
        }
        VfioIoctl.RegionInfo region = VfioIoctl.regionInfo(device, index);
        if (region.size() == 0) {
            throw new VfioException("PCI function " + address + " has no BAR " + index
                    + (index > 0 ? " (or it is the upper half of 64-bit BAR " + (index - 1) + ")" : ""));
        }
        if ((readConfig(CONFIG_BAR0 + 4 * index, 4) & BAR_IO_SPACE) != 0) {
            throw new VfioException("BAR " + index + " of " + address + " is an I/O-port BAR, which cannot be"
                    + " mapped; use the function's memory BARs");
        }
        if (!region.mappable()) {
            throw new VfioException("vfio-pci does not let BAR " + index + " of " + address + " (" + region.size()
                    + " bytes) be mapped (region flags 0x" + Integer.toHexString(region.flags()) + ")");
        }
        MemorySegment mapping = Mman.mmap(region.size(), Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, device,
                region.offset());
        bars[index] = mapping.reinterpret(region.size(), barArena, VfioPciFunction::unmapQuietly);
        return bars[index];
    }

    @Override
    public synchronized void enableBusMastering() throws IOException {
        int command = readConfig(CONFIG_COMMAND, 2);
        writeConfig(CONFIG_COMMAND, 2, command | COMMAND_MEMORY_SPACE | COMMAND_BUS_MASTER);
    }

    @Override
    public DmaRegion allocateDma(long bytes) throws IOException {
        if (bytes <= 0) {
            throw new IllegalArgumentException("DMA allocation of " + bytes + " bytes");
        }
        ensureOpen();
        long size = roundUp(bytes, PAGE);
        MemorySegment memory = null;
        if (size % HUGE_PAGE == 0) {
            memory = tryHugePages(size);
        }
        if (memory == null) {
            memory = Mman.mmap(size, Mman.PROT_READ | Mman.PROT_WRITE,
                    Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS | Mman.MAP_POPULATE, -1, 0);
        }
        try {
            return map(memory, true);
        } catch (IOException | RuntimeException e) {
            unmapQuietly(memory);
            throw e;
        }
    }

    /** 2 MiB pages when the machine has some reserved (fewer IOMMU entries); null when it has none. */
    private static MemorySegment tryHugePages(long size) {
        try {
            return Mman.mmap(size, Mman.PROT_READ | Mman.PROT_WRITE,
                    Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS | Mman.MAP_POPULATE | Mman.MAP_HUGETLB, -1, 0);
        } catch (LinuxException e) {
            return null;
        }
    }

    @Override
    public DmaRegion mapForDma(MemorySegment memory) throws IOException {
        if (!memory.isNative()) {
            throw new IllegalArgumentException("a heap segment cannot be mapped for DMA (the collector moves it);"
                    + " use off-heap memory");
        }
        if (memory.address() % PAGE != 0 || memory.byteSize() % PAGE != 0 || memory.byteSize() == 0) {
            throw new IllegalArgumentException("memory at 0x" + Long.toHexString(memory.address()) + " of "
                    + memory.byteSize() + " bytes is not whole pages (" + PAGE + "-byte aligned and sized)");
        }
        return map(memory, false);
    }

    private synchronized VfioDmaRegion map(MemorySegment memory, boolean owned) throws IOException {
        ensureOpen();
        long size = roundUp(memory.byteSize(), iovas.pageSize());
        long alignment = Math.max(iovas.pageSize(), Math.min(Long.highestOneBit(size), HUGE_PAGE));
        long iova = iovas.allocate(size, alignment);
        try {
            VfioIoctl.mapDma(container, memory.address(), iova, size);
        } catch (LinuxException e) {
            iovas.release(iova, size);
            if (e.errno() == Errno.ENOMEM) {
                throw new VfioException("PCI function " + address + ": " + LockedMemory.explainForThisProcess(size,
                        mappedBytes), e);
            }
            throw e;
        }
        mappedBytes += size;
        MemorySegment visible = memory;
        Arena arena = null;
        if (owned) {
            arena = Arena.ofShared();
            visible = memory.reinterpret(memory.byteSize(), arena, VfioPciFunction::unmapQuietly);
        }
        VfioDmaRegion region = new VfioDmaRegion(this, visible, iova, size, arena);
        dmaRegions.add(region);
        return region;
    }

    /** Called by a region's close: unmaps it from the IOMMU (while the function is open) and forgets it. */
    synchronized void unmap(VfioDmaRegion region) throws IOException {
        if (!dmaRegions.remove(region) || closed) {
            return;
        }
        try {
            long unmapped = VfioIoctl.unmapDma(container, region.iova(), region.mappedSize());
            if (unmapped != region.mappedSize()) {
                throw new VfioException("unmapping IOVA 0x" + Long.toHexString(region.iova()) + " of " + address
                        + " removed " + unmapped + " bytes instead of " + region.mappedSize());
            }
        } finally {
            iovas.release(region.iova(), region.mappedSize());
            mappedBytes -= region.mappedSize();
        }
    }

    @Override
    public int msixVectorCount() {
        return msixCount;
    }

    @Override
    public synchronized int[] enableMsix(int count) throws IOException {
        ensureOpen();
        if (count < 1 || count > msixCount) {
            throw new IllegalArgumentException("PCI function " + address + " offers " + msixCount
                    + " MSI-X vectors; cannot enable " + count);
        }
        disableMsix();
        int[] fds = new int[count];
        Arrays.fill(fds, -1);
        try {
            for (int i = 0; i < count; i++) {
                fds[i] = EventFd.create(0, EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
            }
            VfioIoctl.setIrqEventFds(device, VfioIoctl.VFIO_PCI_MSIX_IRQ_INDEX, 0, fds);
        } catch (IOException | RuntimeException e) {
            for (int fd : fds) {
                Vfio.closeQuietly(fd);
            }
            throw e;
        }
        msixFds = fds;
        return fds.clone();
    }

    /**
     * Has the kernel signal MSI-X vector {@code vector}'s eventfd as if the device had raised it
     * (VFIO's interrupt loopback): proves the vector-to-eventfd wiring without the device.
     */
    synchronized void loopbackMsix(int vector) throws IOException {
        ensureOpen();
        if (vector < 0 || vector >= msixFds.length) {
            throw new IllegalArgumentException("MSI-X vector " + vector + " is not enabled (" + msixFds.length
                    + " are)");
        }
        VfioIoctl.triggerIrq(device, VfioIoctl.VFIO_PCI_MSIX_IRQ_INDEX, vector);
    }

    private void disableMsix() throws IOException {
        if (msixFds.length == 0) {
            return;
        }
        try {
            VfioIoctl.disableIrqs(device, VfioIoctl.VFIO_PCI_MSIX_IRQ_INDEX);
        } finally {
            for (int fd : msixFds) {
                Vfio.closeQuietly(fd);
            }
            msixFds = new int[0];
        }
    }

    @Override
    public synchronized void reset() throws IOException {
        ensureOpen();
        if (!info.canReset()) {
            throw new VfioException("PCI function " + address + " offers no reset VFIO can perform (no function-level"
                    + " reset, no power-management reset, and its bus cannot be reset alone); reset it through its"
                    + " own registers instead");
        }
        VfioIoctl.reset(device);
    }

    /** How many DMA regions are mapped now (for tests and error messages). */
    synchronized int dmaRegionCount() {
        return dmaRegions.size();
    }

    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        IOException failure = null;
        try {
            disableMsix();
        } catch (IOException e) {
            failure = e;
        }
        for (VfioDmaRegion region : List.copyOf(dmaRegions)) {
            try {
                region.close();
            } catch (IOException e) {
                failure = failure == null ? e : failure;
            }
        }
        closed = true;
        barArena.close();
        // Closing the device releases it (vfio-pci resets it); closing the group detaches it from
        // the container, and the container's last close tears down the IOMMU domain.
        Vfio.closeQuietly(device);
        Vfio.closeQuietly(group);
        Vfio.closeQuietly(container);
        if (failure != null) {
            throw failure;
        }
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new VfioException("PCI function " + address + " is closed");
        }
    }

    private static long roundUp(long value, long unit) {
        return (value + unit - 1) / unit * unit;
    }

    private static void unmapQuietly(MemorySegment mapping) {
        try {
            Mman.munmap(mapping);
        } catch (LinuxException e) {
            // munmap of a mapping we made fails only on a bug; nothing a caller could do.
        }
    }

    @Override
    public String toString() {
        return String.format("PciFunction[%s %04x:%04x via VFIO]", address, vendorId, deviceId);
    }
}

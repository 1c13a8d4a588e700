package io.arrakis.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

class VfioIoctlTest {
    @Test
    void requestNumbersAreIoOfTypeSemicolonFromBase100() {
        assertEquals(0x3b64, VfioIoctl.VFIO_GET_API_VERSION);
        assertEquals(0x3b66, VfioIoctl.VFIO_SET_IOMMU);
        assertEquals(0x3b6a, VfioIoctl.VFIO_GROUP_GET_DEVICE_FD);
        assertEquals(0x3b6e, VfioIoctl.VFIO_DEVICE_SET_IRQS);
        assertEquals(0x3b71, VfioIoctl.VFIO_IOMMU_MAP_DMA);
        assertEquals(0x3b72, VfioIoctl.VFIO_IOMMU_UNMAP_DMA);
        assertEquals("VFIO_IOMMU_MAP_DMA", Ioctl.requestName(VfioIoctl.VFIO_IOMMU_MAP_DMA));
    }

    @Test
    void structLayoutsHaveTheSizesAndOffsetsOfLinuxVfioH() {
        assertEquals(8, VfioIoctl.GROUP_STATUS.byteSize());
        assertEquals(24, VfioIoctl.DEVICE_INFO.byteSize());
        assertEquals(32, VfioIoctl.REGION_INFO.byteSize());
        assertEquals(16, VfioIoctl.REGION_INFO.byteOffset(PathElement.groupElement("size")));
        assertEquals(24, VfioIoctl.REGION_INFO.byteOffset(PathElement.groupElement("offset")));
        assertEquals(16, VfioIoctl.IRQ_INFO.byteSize());
        assertEquals(20, VfioIoctl.IRQ_SET.byteSize());
        assertEquals(24, VfioIoctl.IOMMU_TYPE1_INFO.byteSize());
        assertEquals(16, VfioIoctl.IOMMU_TYPE1_INFO.byteOffset(PathElement.groupElement("cap_offset")));
        assertEquals(8, VfioIoctl.INFO_CAP_HEADER.byteSize());
        assertEquals(32, VfioIoctl.DMA_MAP.byteSize());
        assertEquals(8, VfioIoctl.DMA_MAP.byteOffset(PathElement.groupElement("vaddr")));
        assertEquals(24, VfioIoctl.DMA_UNMAP.byteSize());
    }

    @Test
    void irqSetCarriesTheEventfdsRightAfterTheHeaderAndArgszCoversThem() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment set = VfioIoctl.irqSet(arena, VfioIoctl.VFIO_IRQ_SET_DATA_EVENTFD
                    | VfioIoctl.VFIO_IRQ_SET_ACTION_TRIGGER, VfioIoctl.VFIO_PCI_MSIX_IRQ_INDEX, 0, 3, 12);
            assertEquals(32, set.get(ValueLayout.JAVA_INT, 0));
            assertEquals(0x24, set.get(ValueLayout.JAVA_INT, 4));
            assertEquals(2, set.get(ValueLayout.JAVA_INT, 8));
            assertEquals(3, set.get(ValueLayout.JAVA_INT, 16));
        }
    }

    @Test
    void iommuInfoCapabilityChainYieldsTheIovaRangesAndSkipsOtherCapabilitiesAtUnalignedOffsets() {
        try (Arena arena = Arena.ofConfined()) {
            // As the 6.1 kernel lays it out: the 24-byte struct, DMA_AVAIL (12 bytes: header and
            // u32 avail), then IOVA_RANGE at offset 36, which is not 8-byte aligned.
            MemorySegment info = arena.allocate(36 + 16 + 2 * 16, 8);
            info.set(ValueLayout.JAVA_INT, 0, (int) info.byteSize());
            info.set(ValueLayout.JAVA_INT, 4, VfioIoctl.VFIO_IOMMU_INFO_PGSIZES | VfioIoctl.VFIO_IOMMU_INFO_CAPS);
            info.set(ValueLayout.JAVA_LONG, 8, 0x40201000L);
            info.set(ValueLayout.JAVA_INT, 16, 24);
            info.set(ValueLayout.JAVA_SHORT, 24, (short) 3);
            info.set(ValueLayout.JAVA_INT, 28, 36);
            info.set(ValueLayout.JAVA_SHORT_UNALIGNED, 36, (short) VfioIoctl.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
            info.set(ValueLayout.JAVA_INT, 40, 0);
            info.set(ValueLayout.JAVA_INT, 44, 2);
            info.set(ValueLayout.JAVA_LONG_UNALIGNED, 52, 0);
            info.set(ValueLayout.JAVA_LONG_UNALIGNED, 60, 0xfedfffffL);
            info.set(ValueLayout.JAVA_LONG_UNALIGNED, 68, 0xfef00000L);
            info.set(ValueLayout.JAVA_LONG_UNALIGNED, 76, 0x7fffffffffL);
            VfioIoctl.IommuInfo parsed = VfioIoctl.parseIommuInfo(info);
            assertEquals(0x40201000L, parsed.pageSizes());
            assertEquals(List.of(new VfioIoctl.IovaRange(0, 0xfedfffffL),
                    new VfioIoctl.IovaRange(0xfef00000L, 0x7fffffffffL)), parsed.ranges());
        }
    }

    @Test
    void aCapabilityChainPointingOutsideTheBufferEndsTheWalk() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(24, 8);
            info.set(ValueLayout.JAVA_INT, 4, VfioIoctl.VFIO_IOMMU_INFO_CAPS);
            info.set(ValueLayout.JAVA_INT, 16, 4096);
            assertTrue(VfioIoctl.parseIommuInfo(info).ranges().isEmpty());
        }
    }
}

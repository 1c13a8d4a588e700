/**
 * VFIO: PCI functions mapped into the process through the IOMMU ({@link io.arrakis.vfio.PciFunction},
 * {@link io.arrakis.vfio.DmaRegion}), and the virtio-net Vnic driver written against them. The
 * NVMe driver, in the {@code nvme} module, uses the same interface.
 */
package io.arrakis.vfio;

/**
 * VFIO: PCI functions mapped into the process through the IOMMU, and the virtio-net Vnic driver.
 * Arrives with issue 9.
 */
package io.arrakis.vfio;

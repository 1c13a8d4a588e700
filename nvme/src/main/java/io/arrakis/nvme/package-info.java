/**
 * Storage backends implementing Vsic: io_uring and plain files (issue 7), and the NVMe driver over
 * VFIO (issue 9).
 */
package io.arrakis.nvme;

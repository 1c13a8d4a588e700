package io.arrakis.vfio;

import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import io.arrakis.linux.VfioIoctl;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The entry point: {@link #open} gives a process a PCI function bound to {@code vfio-pci}, through
 * its own VFIO container with the type1v2 IOMMU. Every usual set-up mistake (VFIO modules not
 * loaded, the function still bound to a kernel driver, a group shared with other functions, the
 * type1 IOMMU driver missing, too little locked memory) is a {@link VfioException} whose message
 * names the fix. Thread-safe (stateless).
 */
public final class Vfio {
    private static final Path ROOT = Path.of("/");

    private Vfio() {}

    /**
     * Opens PCI function {@code pciAddress} ({@code 0000:00:04.0}; {@code 00:04.0} means domain 0).
     * The function must be bound to {@code vfio-pci} and every other function of its IOMMU group
     * to {@code vfio-pci} or to no driver. Close the result to release the device.
     *
     * @throws IllegalArgumentException when {@code pciAddress} is not a PCI address
     * @throws VfioException when VFIO cannot give the function to this process (the message says why and what to do)
     */
    public static PciFunction open(String pciAddress) throws IOException {
        String address = PciAddress.parse(pciAddress).toString();
        DeviceFacts facts = DeviceFacts.read(ROOT, address);
        var problem = facts.problem();
        if (problem.isPresent()) {
            throw new VfioException(problem.get());
        }
        int container = -1;
        int group = -1;
        try {
            container = openNode("/dev/vfio/vfio", address);
            int version = VfioIoctl.apiVersion(container);
            if (version != VfioIoctl.VFIO_API_VERSION) {
                throw new VfioException("/dev/vfio/vfio speaks VFIO API version " + version + ", this driver knows "
                        + VfioIoctl.VFIO_API_VERSION + "; use a kernel whose VFIO API matches");
            }
            if (!VfioIoctl.checkExtension(container, VfioIoctl.VFIO_TYPE1v2_IOMMU)) {
                throw new VfioException(DeviceFacts.type1Missing());
            }
            group = openNode("/dev/vfio/" + facts.group(), address);
            int status = VfioIoctl.groupStatus(group);
            if ((status & VfioIoctl.VFIO_GROUP_FLAGS_VIABLE) == 0) {
                throw new VfioException(DeviceFacts.read(ROOT, address).notViable());
            }
            VfioIoctl.groupSetContainer(group, container);
            try {
                VfioIoctl.setIommu(container, VfioIoctl.VFIO_TYPE1v2_IOMMU);
            } catch (LinuxException e) {
                if (e.errno() == Errno.ENODEV || e.errno() == Errno.EINVAL) {
                    throw new VfioException(DeviceFacts.type1Missing(), e);
                }
                throw e;
            }
            VfioPciFunction function = VfioPciFunction.open(address, container, group);
            container = -1;
            group = -1;
            return function;
        } finally {
            closeQuietly(group);
            closeQuietly(container);
        }
    }

    private static int openNode(String node, String address) throws IOException {
        try {
            return Unistd.open(node, Unistd.O_RDWR | Unistd.O_CLOEXEC, 0);
        } catch (LinuxException e) {
            String why = switch (e.errno()) {
                case Errno.EBUSY -> node + " is already open: VFIO gives an IOMMU group to one owner at a time (another"
                        + " process, or a PciFunction of this process not yet closed); fuser -v " + node + " names it";
                case Errno.EACCES, Errno.EPERM -> "no permission to open " + node + "; run as root, or give the user"
                        + " access: chown <user> " + node;
                case Errno.ENOENT, Errno.ENODEV -> node + " does not exist; load the modules with: modprobe vfio;"
                        + " modprobe vfio_iommu_type1; modprobe vfio-pci";
                default -> "cannot open " + node;
            };
            throw new VfioException("opening PCI function " + address + ": " + why, e);
        }
    }

    static void closeQuietly(int fd) {
        if (fd >= 0) {
            try {
                Unistd.close(fd);
            } catch (LinuxException e) {
                // Nothing to recover: the descriptor is gone either way.
            }
        }
    }
}

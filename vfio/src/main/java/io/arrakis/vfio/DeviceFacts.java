package io.arrakis.vfio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * What sysfs and {@code /dev} say about a PCI function before VFIO is asked anything: whether it
 * exists, its ids, its driver, its IOMMU group and the group's other members, and whether the
 * VFIO modules are loaded. Read from a root directory ({@code /} in real use, a crafted tree in
 * tests), so every "usual mistake" is diagnosed by pure code with a message naming the fix.
 * Immutable.
 *
 * @param driver the bound driver's name, or {@code null} when none is bound
 * @param group the IOMMU group number, or -1 when the function has none (IOMMU off)
 * @param groupMembers every function in the group (this one included) with its driver ({@code null} = none)
 */
record DeviceFacts(String address, boolean present, int vendorId, int deviceId, String driver, int group,
        Map<String, String> groupMembers, boolean vfioNodePresent, boolean groupNodePresent,
        boolean vfioPciLoaded, boolean type1Loaded, boolean iommuPresent) {

    static final String VFIO_PCI = "vfio-pci";

    static DeviceFacts read(Path root, String address) {
        Path device = root.resolve("sys/bus/pci/devices").resolve(address);
        boolean present = Files.isDirectory(device);
        int vendor = present ? readHex(device.resolve("vendor")) : -1;
        int deviceId = present ? readHex(device.resolve("device")) : -1;
        String driver = present ? linkName(device.resolve("driver")) : null;
        String groupName = present ? linkName(device.resolve("iommu_group")) : null;
        int group = groupName == null ? -1 : Integer.parseInt(groupName);
        Map<String, String> members = new LinkedHashMap<>();
        if (group >= 0) {
            Path devices = root.resolve("sys/kernel/iommu_groups").resolve(groupName).resolve("devices");
            for (String member : list(devices)) {
                members.put(member, linkName(root.resolve("sys/bus/pci/devices").resolve(member).resolve("driver")));
            }
        }
        boolean iommu = !list(root.resolve("sys/class/iommu")).isEmpty();
        return new DeviceFacts(address, present, vendor, deviceId, driver, group, Collections.unmodifiableMap(members),
                Files.exists(root.resolve("dev/vfio/vfio")),
                group >= 0 && Files.exists(root.resolve("dev/vfio").resolve(groupName)),
                Files.isDirectory(root.resolve("sys/bus/pci/drivers/vfio-pci")),
                Files.isDirectory(root.resolve("sys/module/vfio_iommu_type1")), iommu);
    }

    /** The first problem that keeps VFIO from opening this function, as a message naming the fix. */
    Optional<String> problem() {
        String sysfs = "/sys/bus/pci/devices/" + address;
        if (!present) {
            return Optional.of("no PCI function " + address + " (" + sysfs + " does not exist); lspci -D lists the"
                    + " functions of this machine");
        }
        if (!vfioNodePresent || !vfioPciLoaded) {
            return Optional.of("VFIO is not available: " + (vfioNodePresent ? "" : "/dev/vfio/vfio does not exist")
                    + (!vfioNodePresent && !vfioPciLoaded ? " and " : "")
                    + (vfioPciLoaded ? "" : "the vfio-pci driver is not loaded") + "; load the modules with: modprobe"
                    + " vfio; modprobe vfio_iommu_type1; modprobe vfio-pci");
        }
        if (group < 0) {
            return Optional.of("PCI function " + address + " has no IOMMU group (" + sysfs + "/iommu_group is missing):"
                    + (iommuPresent ? " the IOMMU does not cover it" : " no IOMMU is enabled")
                    + "; boot with intel_iommu=on (or amd_iommu=on) and check the firmware enables VT-d/AMD-Vi");
        }
        if (!VFIO_PCI.equals(driver)) {
            return Optional.of("PCI function " + address + " is " + (driver == null ? "bound to no driver"
                    : "still bound to the kernel driver " + driver) + "; hand it to vfio-pci with: " + bindCommands(address,
                    driver != null));
        }
        if (!groupNodePresent) {
            return Optional.of("IOMMU group " + group + " of " + address + " has no /dev/vfio/" + group
                    + " although vfio-pci drives the function; check udev or devtmpfs, or reload vfio-pci");
        }
        if (!type1Loaded) {
            return Optional.of(type1Missing());
        }
        return Optional.empty();
    }

    /** Why a group is not viable: the members not given to vfio-pci, and how to give them. */
    String notViable() {
        List<String> others = new ArrayList<>();
        StringBuilder fix = new StringBuilder();
        for (Map.Entry<String, String> member : groupMembers.entrySet()) {
            if (!VFIO_PCI.equals(member.getValue()) && !member.getKey().equals(address)) {
                others.add(member.getKey() + (member.getValue() == null ? " (no driver)" : " (bound to "
                        + member.getValue() + ")"));
                if (member.getValue() != null) {
                    fix.append(fix.isEmpty() ? "" : "; ").append(bindCommands(member.getKey(), true));
                }
            }
        }
        return "IOMMU group " + group + " of " + address + " is not viable: " + (others.isEmpty()
                ? "a function of the group is bound to a kernel driver" : String.join(", ", others)
                        + (others.size() == 1 ? " shares it" : " share it"))
                + "; VFIO gives a process a whole group, so every function in it must be bound to vfio-pci (or to no"
                + " driver)" + (fix.isEmpty() ? "" : ": " + fix);
    }

    static String type1Missing() {
        return "the VFIO type1 IOMMU driver (VFIO_TYPE1v2_IOMMU) is not available; load it with: modprobe"
                + " vfio_iommu_type1 (a busybox modprobe of vfio-pci does not load it: it is only a soft dependency)";
    }

    static String bindCommands(String address, boolean bound) {
        String device = "/sys/bus/pci/devices/" + address;
        return "echo vfio-pci > " + device + "/driver_override; " + (bound ? "echo " + address + " > " + device
                + "/driver/unbind; " : "") + "echo " + address + " > /sys/bus/pci/drivers_probe";
    }

    private static int readHex(Path file) {
        try {
            String text = Files.readString(file).trim();
            return Integer.parseInt(text.startsWith("0x") ? text.substring(2) : text, 16);
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    private static String linkName(Path link) {
        try {
            return Files.readSymbolicLink(link).getFileName().toString();
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    private static List<String> list(Path directory) {
        try (Stream<Path> entries = Files.list(directory)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}

package io.arrakis.vfio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The usual set-up mistakes, diagnosed from a crafted sysfs and /dev tree (this host has no VFIO). */
class DeviceFactsTest {
    private static final String NVME = "0000:00:04.0";
    private static final String E1000E = "0000:00:05.0";

    @TempDir
    Path root;

    /** A machine where everything is right: NVMe in group 3, alone, bound to vfio-pci, modules loaded. */
    @BeforeEach
    void healthyMachine() throws IOException {
        function(NVME, "0x1b36", "0x0010", "vfio-pci", 3);
        Files.createDirectories(root.resolve("dev/vfio"));
        Files.createFile(root.resolve("dev/vfio/vfio"));
        Files.createFile(root.resolve("dev/vfio/3"));
        Files.createDirectories(root.resolve("sys/bus/pci/drivers/vfio-pci"));
        Files.createDirectories(root.resolve("sys/module/vfio_iommu_type1"));
        Files.createDirectories(root.resolve("sys/class/iommu/dmar0"));
    }

    private void function(String address, String vendor, String device, String driver, int group) throws IOException {
        Path dir = Files.createDirectories(root.resolve("sys/bus/pci/devices").resolve(address));
        Files.writeString(dir.resolve("vendor"), vendor + "\n");
        Files.writeString(dir.resolve("device"), device + "\n");
        if (driver != null) {
            Files.createSymbolicLink(dir.resolve("driver"), Path.of("../../../bus/pci/drivers/" + driver));
        }
        if (group >= 0) {
            Files.createSymbolicLink(dir.resolve("iommu_group"), Path.of("../../../kernel/iommu_groups/" + group));
            Path members = Files.createDirectories(root.resolve("sys/kernel/iommu_groups/" + group + "/devices"));
            Files.createSymbolicLink(members.resolve(address), Path.of("../../../../bus/pci/devices/" + address));
        }
    }

    private String problem(String address) {
        return DeviceFacts.read(root, address).problem().orElse("none");
    }

    @Test
    void aHealthyFunctionHasNoProblemAndItsFactsAreRead() {
        DeviceFacts facts = DeviceFacts.read(root, NVME);
        assertEquals("none", facts.problem().orElse("none"));
        assertEquals(0x1b36, facts.vendorId());
        assertEquals(0x0010, facts.deviceId());
        assertEquals(3, facts.group());
        assertEquals(Map.of(NVME, "vfio-pci"), facts.groupMembers());
    }

    @Test
    void anAbsentFunctionIsNamedWithHowToListFunctions() {
        String message = problem("0000:00:09.0");
        assertTrue(message.startsWith("no PCI function 0000:00:09.0"), message);
        assertTrue(message.contains("lspci -D"), message);
    }

    @Test
    void aFunctionStillBoundToItsKernelDriverGetsTheThreeBindCommands() throws IOException {
        function(E1000E, "0x8086", "0x10d3", "e1000e", 4);
        String message = problem(E1000E);
        assertTrue(message.contains("still bound to the kernel driver e1000e"), message);
        assertTrue(message.contains("echo vfio-pci > /sys/bus/pci/devices/0000:00:05.0/driver_override; "
                + "echo 0000:00:05.0 > /sys/bus/pci/devices/0000:00:05.0/driver/unbind; "
                + "echo 0000:00:05.0 > /sys/bus/pci/drivers_probe"), message);
    }

    @Test
    void anUnboundFunctionNeedsNoUnbind() throws IOException {
        function(E1000E, "0x8086", "0x10d3", null, 4);
        String message = problem(E1000E);
        assertTrue(message.contains("bound to no driver"), message);
        assertTrue(!message.contains("unbind") && message.contains("drivers_probe"), message);
    }

    @Test
    void missingVfioModulesAreNamedWithTheModprobeCommands() throws IOException {
        Files.delete(root.resolve("dev/vfio/vfio"));
        Files.delete(root.resolve("sys/bus/pci/drivers/vfio-pci"));
        String message = problem(NVME);
        assertTrue(message.contains("/dev/vfio/vfio does not exist and the vfio-pci driver is not loaded"), message);
        assertTrue(message.contains("modprobe vfio; modprobe vfio_iommu_type1; modprobe vfio-pci"), message);
    }

    @Test
    void aMissingType1DriverIsNamedWithItsModprobeAndTheSoftDependencyPitfall() throws IOException {
        Files.delete(root.resolve("sys/module/vfio_iommu_type1"));
        String message = problem(NVME);
        assertTrue(message.contains("modprobe vfio_iommu_type1"), message);
        assertTrue(message.contains("soft dependency"), message);
    }

    @Test
    void aFunctionWithoutIommuGroupPointsAtTheKernelCommandLine() throws IOException {
        function(E1000E, "0x8086", "0x10d3", "vfio-pci", -1);
        Files.delete(root.resolve("sys/class/iommu/dmar0"));
        String message = problem(E1000E);
        assertTrue(message.contains("no IOMMU group"), message);
        assertTrue(message.contains("no IOMMU is enabled"), message);
        assertTrue(message.contains("intel_iommu=on"), message);
    }

    @Test
    void aGroupSharedWithAKernelBoundFunctionNamesItAndHowToFreeIt() throws IOException {
        function(E1000E, "0x8086", "0x10d3", "e1000e", 3);
        DeviceFacts facts = DeviceFacts.read(root, NVME);
        assertEquals("none", facts.problem().orElse("none"), "the function itself is ready; VFIO finds the group unviable");
        String message = facts.notViable();
        assertTrue(message.startsWith("IOMMU group 3 of 0000:00:04.0 is not viable: 0000:00:05.0 (bound to e1000e)"
                + " shares it"), message);
        assertTrue(message.contains("echo 0000:00:05.0 > /sys/bus/pci/devices/0000:00:05.0/driver/unbind"), message);
    }
}

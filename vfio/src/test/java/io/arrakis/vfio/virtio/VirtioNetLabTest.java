package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.lab.HostMailbox;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.StackConfig;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The driver on the lab's emulated virtio-net function (QEMU, behind an emulated IOMMU, bound to
 * vfio-pci in the guest), whose other end is a TAP device with 198.18.90.1 in the host's lab
 * namespace: our stack on it answers the host's ARP and {@code ping -c 4}, and its poller sleeps on the
 * receive queue's MSI-X eventfd between the pings (so the interrupt path is proven too).
 * Skipped outside the lab ({@code arrakis.lab.virtio-net} absent).
 */
@Tag("lab")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class VirtioNetLabTest {
    static String labProperty(String name) {
        String value = System.getProperty(name);
        assumeTrue(value != null, name + " is not set: not in the lab (./dev lab runs this test)");
        return value;
    }

    static VnicConfig config(String pci, String guestAddress) {
        return new VnicConfig("lab-virtio", 1, 1024, VnicConfig.DEFAULT_BUFFER_SIZE,
                Map.of(VirtioNetVnicBackend.OPTION_PCI, pci, VirtioNetVnicBackend.OPTION_ADDRESS, guestAddress + "/24"));
    }

    @Test
    void bringsTheDeviceUpThroughTheRegisteredBackendWithTheFeaturesItNeeds() throws Exception {
        String pci = labProperty("arrakis.lab.virtio-net");
        try (VirtioNetVnic vnic = (VirtioNetVnic) DeviceBackends.vnicBackend("virtio")
                .open(config(pci, System.getProperty("arrakis.lab.guest-address", "198.18.90.2")))) {
            System.out.println("lab: " + vnic);
            long features = vnic.features();
            assertTrue(VirtioFeatures.has(features, VirtioFeatures.VERSION_1));
            assertTrue(VirtioFeatures.has(features, VirtioFeatures.ACCESS_PLATFORM));
            assertTrue(VirtioFeatures.has(features, VirtioFeatures.MAC), "QEMU gives the device a MAC");
            assertEquals("virtio", vnic.backend());
            assertEquals(1500, vnic.mtu());
            assertTrue(vnic.linkUp(), "the TAP on the host side is up, so the link is");
            assertEquals(1, vnic.queueCount());
        }
    }

    @Test
    void ourStackOnTheDeviceAnswersArpAndPingFromTheHostNamespace() throws Exception {
        String pci = labProperty("arrakis.lab.virtio-net");
        String host = labProperty("arrakis.lab.host-address");
        String guest = labProperty("arrakis.lab.guest-address");
        HostMailbox mailbox = HostMailbox.fromSystemProperties();
        assumeTrue(mailbox != null, "arrakis.lab.shared is not set: no host mailbox");
        try (VirtioNetVnic vnic = (VirtioNetVnic) DeviceBackends.vnicBackend("virtio").open(config(pci, guest))) {
            StackConfig stackConfig = new StackConfig(Ipv4Text.parse(guest), 24, Ipv4Text.parse(host), vnic.mtu(),
                    30_000_000_000L, 1_000_000_000L, 3, 30_000_000_000L, 64);
            NetworkStack stack = new NetworkStack(vnic, 0, stackConfig);
            VnicQueue queue = vnic.queue(0);
            AtomicLong interruptWakeups = new AtomicLong();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread poller = Thread.ofPlatform().name("lab-virtio-poller").start(() -> {
                try {
                    stack.start(System.nanoTime());
                    boolean slept = false;
                    while (!Thread.currentThread().isInterrupted()) {
                        int frames = stack.poll(System.nanoTime());
                        if (frames > 0) {
                            if (slept) {
                                interruptWakeups.incrementAndGet(); // a sleep ended early and frames were there
                            }
                            slept = false;
                            continue;
                        }
                        // Idle: sleep on the MSI-X eventfd for up to 1.5 s, longer than ping's
                        // interval (the stack's timers, ARP retries, may run that late here), so a
                        // reply within ping's deadline needs the receive interrupt to end the sleep.
                        slept = queue.awaitReceive(1_500_000_000L) && !Thread.currentThread().isInterrupted();
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            try {
                HostMailbox.Result ping = mailbox.run("virtio-ping", "ping -n -c 4 -W 1 " + guest
                        + " && ip neigh show " + guest, Duration.ofSeconds(150));
                System.out.println("lab: host ping:\n" + ping.output());
                assertEquals(null, failure.get(), "the poller failed");
                assertEquals(0, ping.exitCode(), ping.output());
                assertTrue(ping.output().contains("4 packets transmitted, 4 received"), ping.output());
                // The host learned our MAC by ARP: its neighbour entry for us names the device's MAC.
                assertTrue(ping.output().toLowerCase().contains(vnic.mac().toString()), ping.output());
            } finally {
                poller.interrupt();
                queue.wakeup();
                poller.join(10_000);
            }
            assertEquals(null, failure.get(), "the poller failed");
            // The host's ARP request and first echo request come while the poller is still starting
            // (or busy answering the ARP); echo requests 2..4 come a second apart, each to a sleeper.
            assertTrue(interruptWakeups.get() >= 3, "the poller should have been woken early, with frames waiting,"
                    + " by the receive interrupt for each of echo requests 2..4; it was " + interruptWakeups.get()
                    + " times");
            System.out.println("lab: counters " + queue.counters().snapshot() + ", interrupt wake-ups "
                    + interruptWakeups.get());
            assertTrue(queue.counters().get(VnicCounter.TX_PACKETS) >= 5, "ARP reply and four echo replies");
            assertEquals(0, queue.counters().get(VnicCounter.RX_DROPPED_MALFORMED));
        }
    }
}

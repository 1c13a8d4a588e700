package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.control.xdp.XdpEchoProcess;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.xdp.XdpTestbed;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * AF_XDP through the control plane: child JVMs ({@link XdpEchoProcess}) open af_xdp VNICs with
 * {@code filters=external} and the control plane's socket, on the kernel's own address of one end
 * of a veth pair between two test namespaces (shared mode). The control plane attaches the program
 * on the first admission, takes each child's socket with {@code pidfd_getfd} (identity from
 * SO_PEERCRED), installs the flows the child asks for on its address only, lists them in its
 * status, and removes them when the child is killed, so the next child takes the same queue and
 * port. The kernel keeps everything else on that address (ping).
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class XdpControlPlaneTest {
    private static final Duration PATIENCE = Duration.ofSeconds(20);
    private static final int KERNEL = Ipv4Text.parse(XdpTestbed.KERNEL_IP);
    private static final FlowFilter ECHO = new FlowFilter(FlowFilter.Protocol.UDP, KERNEL, 7000, 0, 0);

    @TempDir
    Path directory;

    private XdpTestbed testbed;
    private ControlPlane plane;

    @AfterEach
    void closeAll() throws Exception {
        try {
            if (plane != null) {
                plane.close();
            }
        } finally {
            if (testbed != null) {
                testbed.close();
            }
        }
    }

    private String udpRoundTrip(String text) throws IOException {
        return testbed.peer.execAllowingFailure("python3", "-c", """
                import socket, sys
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(1.5)
                s.sendto(sys.argv[1].encode(), ('198.18.0.1', 7000))
                try:
                    print(s.recvfrom(2048)[0].decode(), end='')
                except socket.timeout:
                    print('timeout', end='')
                """, text).stdout();
    }

    private Child startProcess(Path socket) throws IOException {
        return Child.startMain(XdpEchoProcess.class.getName(), testbed.ours.name(), testbed.ourLink, socket.toString(),
                XdpTestbed.KERNEL_IP);
    }

    @Test
    void theControlPlaneAdmitsSocketsInstallsTheirFlowsListsThemAndRemovesThemWhenTheProcessDies() throws Exception {
        testbed = XdpTestbed.create();
        Path socket = directory.resolve("control.sock");
        plane = ControlPlane.startEmbedded(socket);

        long firstPid;
        try (Child first = startProcess(socket)) {
            String refusal = first.awaitLine("foreign-flow ", PATIENCE);
            assertTrue(refusal.startsWith("foreign-flow refused") && refusal.contains("may claim flows only to that"
                    + " address"), refusal);
            first.awaitLine("attached ", PATIENCE);
            firstPid = first.pid();
            assertEquals("to the first", udpRoundTrip("to the first"), first.transcript());

            ControlStatus status = plane.status();
            ControlStatus.XdpAttachment attachment = status.xdpAttachment(testbed.ourLink);
            assertNotNull(attachment, status.format());
            assertEquals(testbed.ours.name(), attachment.namespace());
            assertEquals("NATIVE", attachment.mode());
            ControlStatus.XdpTenant tenant = attachment.tenant(firstPid);
            assertNotNull(tenant, status.format());
            assertEquals(0, tenant.queue());
            assertEquals(KERNEL, tenant.address());
            assertEquals(List.of(ECHO), tenant.flows());
            assertTrue(status.format().contains("pid " + firstPid + " queue 0 198.18.0.1: 1 flows"), status.format());
            try (ControlClient client = ControlClient.connect(socket)) {
                assertEquals(attachment, client.status().xdpAttachment(testbed.ourLink), "the same over the socket");
            }
            // The kernel keeps the rest of its address.
            testbed.peer.exec("ping", "-c", "1", "-W", "2", XdpTestbed.KERNEL_IP);

            first.kill();
        }
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (!plane.status().xdpAttachment(testbed.ourLink).tenants().isEmpty()
                && System.nanoTime() - deadline < 0) {
            Thread.sleep(20);
        }
        assertEquals(List.of(), plane.status().xdpAttachment(testbed.ourLink).tenants(), "the dead process's entries");
        assertEquals("timeout", udpRoundTrip("to nobody"), "nobody holds the flow now");

        try (Child second = startProcess(socket)) {
            second.awaitLine("attached ", PATIENCE);
            assertEquals("to the second", udpRoundTrip("to the second"), second.transcript());
            assertNull(plane.status().xdpAttachment(testbed.ourLink).tenant(firstPid));
            assertEquals(List.of(ECHO), plane.status().xdpAttachment(testbed.ourLink).tenant(second.pid()).flows());
        }
    }
}

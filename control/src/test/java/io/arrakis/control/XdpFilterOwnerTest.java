package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.control.xdp.XdpEchoProcess;
import io.arrakis.control.xdp.XdpFilterOwner;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.xdp.XdpFilters;
import io.arrakis.device.xdp.XdpTestbed;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The control plane's XDP filter owner with application processes (child JVMs running
 * {@link XdpEchoProcess}) on a veth pair between two test namespaces: the owner holds the program
 * and maps, a process only its AF_XDP socket. A process killed while attached loses its filters,
 * and the next one takes the same queue (after the kernel's EBUSY window) and the same port.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class XdpFilterOwnerTest {
    private static final int OUR = Ipv4Text.parse(XdpTestbed.OUR_IP);
    private static final FlowFilter ECHO = new FlowFilter(FlowFilter.Protocol.UDP, OUR, 7000, 0, 0);
    private static final Duration PATIENCE = Duration.ofSeconds(20);

    private final List<String> log = new CopyOnWriteArrayList<>();
    private XdpTestbed testbed;
    private XdpFilterOwner owner;

    @AfterEach
    void closeAll() throws Exception {
        try {
            if (owner != null) {
                owner.close();
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
                s.sendto(sys.argv[1].encode(), ('198.18.0.3', 7000))
                try:
                    print(s.recvfrom(2048)[0].decode(), end='')
                except socket.timeout:
                    print('timeout', end='')
                """, text).stdout();
    }

    private Child startProcess() throws IOException {
        return Child.startMain(XdpEchoProcess.class.getName(), testbed.ours.name(), testbed.ourLink);
    }

    @Test
    void aKilledProcessLosesItsFiltersAndTheNextOneTakesTheSameQueueAndPort() throws Exception {
        testbed = XdpTestbed.create();
        owner = XdpFilterOwner.attach(testbed.ours.name(), testbed.ourLink, XdpFilters.Mode.NATIVE, 1, log::add);
        String mac = testbed.ours.hardwareAddress(testbed.ourLink);
        testbed.peer.addNeighbour(testbed.peerLink, XdpTestbed.OUR_IP, mac);

        long firstPid;
        try (Child first = startProcess()) {
            String attached = first.awaitLine("attached ", PATIENCE);
            firstPid = first.pid();
            owner.admit(firstPid, 0, Integer.parseInt(Child.field(attached, "fd")));
            owner.addFlow(firstPid, ECHO);
            assertEquals("to the first", udpRoundTrip("to the first"), first.transcript());
            assertEquals(0, owner.filters().queueInKernel(ECHO));

            // The queue is taken: another live process cannot have it, nor its flow.
            assertThrows(IllegalStateException.class, () -> owner.admit(ProcessHandle.current().pid(), 0, 0));

            first.kill();
        }
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (owner.filters().queueInKernel(ECHO) != -1 && System.nanoTime() - deadline < 0) {
            Thread.sleep(20);
        }
        assertEquals(-1, owner.filters().queueInKernel(ECHO), "the dead process's filter left the kernel's map");
        assertTrue(owner.flowsByProcess().isEmpty(), owner.flowsByProcess().toString());
        assertEquals("timeout", udpRoundTrip("to nobody"), "nobody holds the flow now");

        try (Child second = startProcess()) {
            String attached = second.awaitLine("attached ", PATIENCE);
            owner.admit(second.pid(), 0, Integer.parseInt(Child.field(attached, "fd")));
            owner.addFlow(second.pid(), ECHO);
            assertEquals("to the second", udpRoundTrip("to the second"), second.transcript());
            System.out.println("XDP second process opened its VNIC in " + Child.field(attached, "ms") + " ms with "
                    + Child.field(attached, "binds") + " bind attempt(s) after the first was killed");
        }
        assertTrue(log.stream().anyMatch(line -> line.contains("process " + firstPid + " released")), log.toString());
    }
}

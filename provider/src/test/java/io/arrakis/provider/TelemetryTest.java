package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.control.ShmVnic;
import io.arrakis.control.stats.StackStats;
import io.arrakis.control.stats.StatsFile;
import io.arrakis.control.stats.StatsReader;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a process's stack shows operators: its MBeans (registered while it runs, counters that move
 * with traffic, gone after shutdown) and its stats file (published by its polls, deleted at
 * shutdown).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TelemetryTest {
    private static final MBeanServer SERVER = ManagementFactory.getPlatformMBeanServer();

    private static long attribute(ObjectName name, String attribute) throws Exception {
        return (Long) SERVER.getAttribute(name, attribute);
    }

    private static void roundTrip(SocketChannel c, SocketChannel accepted, int bytes) throws Exception {
        ByteBuffer out = ByteBuffer.allocate(bytes);
        while (out.hasRemaining()) {
            c.write(out);
        }
        ByteBuffer in = ByteBuffer.allocate(bytes);
        while (in.hasRemaining()) {
            accepted.read(in);
        }
    }

    @Test
    void theStacksMBeansAreRegisteredTheirCountersMoveAndTheyGoAtShutdown() throws Exception {
        ObjectName vnicBean;
        ObjectName stackBean;
        Path statsFile;
        try (TwoProviders two = new TwoProviders();
                ServerSocketChannel listener = two.server.openServerSocketChannel()) {
            listener.bind(new InetSocketAddress(two.server.userLevelAddress(), 0));
            String vnic = two.client.userStack().vnic().name();
            vnicBean = new ObjectName("io.arrakis:type=Vnic,name=" + vnic);
            stackBean = new ObjectName("io.arrakis:type=TcpStack,name=" + vnic);
            assertTrue(SERVER.isRegistered(vnicBean) && SERVER.isRegistered(stackBean), "registered at attach");
            assertTrue(SERVER.getMBeanInfo(vnicBean).getAttributes().length > 10, "every VNIC counter an attribute");
            try (SocketChannel c = two.client.openSocketChannel()) {
                c.connect(listener.getLocalAddress());
                try (SocketChannel accepted = listener.accept()) {
                    roundTrip(c, accepted, 10_000);
                    long txPackets = attribute(vnicBean, "TX_PACKETS");
                    long dataOut = attribute(stackBean, "DATA_BYTES_OUT");
                    assertEquals(10_000, dataOut);
                    assertEquals(1, attribute(stackBean, "CONNECTIONS"));
                    roundTrip(c, accepted, 20_000);
                    assertEquals(30_000, attribute(stackBean, "DATA_BYTES_OUT"));
                    assertTrue(attribute(vnicBean, "TX_PACKETS") > txPackets, "frames counted as they leave");
                    assertTrue(attribute(vnicBean, "TX_BYTES") > 30_000, "with their headers");
                }
            }
            ShmVnic shm = (ShmVnic) two.client.userStack().vnic();
            statsFile = StatsFile.path(shm.controlSocket(), vnic);
            assertTrue(Files.exists(statsFile), "published beside the control socket: " + statsFile);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            StackStats stats;
            do {
                Thread.sleep(20);
                try (StatsReader reader = StatsReader.open(statsFile)) {
                    stats = reader.read();
                }
            } while (stats.counter("tcp.DATA_BYTES_OUT") != 30_000 && System.nanoTime() - deadline < 0);
            assertEquals(30_000, stats.counter("tcp.DATA_BYTES_OUT"), stats.counters().toString());
            assertEquals(ProcessHandle.current().pid(), stats.pid());
            assertEquals(vnic, stats.vnic());
        }
        assertFalse(SERVER.isRegistered(vnicBean), "unregistered at shutdown");
        assertFalse(SERVER.isRegistered(stackBean), "unregistered at shutdown");
        assertFalse(Files.exists(statsFile), "the stats file goes with the stack");
    }
}

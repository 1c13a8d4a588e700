package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Child JVMs attached to one control plane (embedded in this JVM, which also attaches a VNIC):
 * UDP and TCP through the user-level stack over the direct channels, byte-exact, between this
 * process and one child, then among eight processes, every one to every other.
 */
class ShmCrossProcessTest {
    private static final Duration START = Duration.ofSeconds(30);

    @TempDir
    Path directory;

    @Test
    void twoProcessesExchangeUdpAndTcpByteExact() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                Child child = Child.start("serve", plane.socketPath().toString(), "child");
                ShmVnic own = ShmTesting.open(plane.socketPath(), "parent")) {
            String ready = child.awaitLine("READY", START);
            int childAddress = Ipv4Text.parse(Child.field(ready, "ip"));
            assertEquals(child.pid(), Long.parseLong(Child.field(ready, "pid")));
            assertTrue(own.awaitPeers(1, Duration.ofSeconds(5)), own.peers().toString());
            assertEquals(child.pid(), plane.status().vnic("child").pid(), "the control plane knows the owner's pid");
            try (StackRunner runner = StackRunner.start(own, ShmTesting.stackConfig(own), 7)) {
                runner.serve(new Workloads.UdpEcho(Workloads.UDP_ECHO_PORT));
                runner.serve(new Workloads.TcpEchoServer(Workloads.TCP_ECHO_PORT));
                var pinger = new Workloads.UdpPinger(childAddress, Workloads.UDP_ECHO_PORT, 40_000, 1_000, 9_000, 5);
                var stream = new Workloads.TcpEchoCheck(childAddress, Workloads.TCP_ECHO_PORT, 4L << 20, 6);
                runner.everyPoll(pinger);
                runner.everyPoll(stream);
                assertTrue(runner.await(s -> pinger.done() && stream.done(), Duration.ofSeconds(60)),
                        () -> runner.call0(() -> pinger.describe() + "; " + stream.describe()) + "; " + runner.describe()
                                + "\nchild:\n" + child.transcript());
                assertEquals(0, (int) runner.<Integer>call((s, t) -> pinger.mismatches), runner.call0(pinger::describe));
                assertTrue(runner.<Boolean>call((s, t) -> stream.exact()), runner.call0(stream::describe));
                // And the other way: the child pings and streams through our echo.
                child.send("CHECK 500 9000 2097152");
                String verdict = child.awaitLine("CHECK", Duration.ofSeconds(120));
                assertEquals("CHECK-OK peers=1", verdict, child.transcript());
                System.out.printf("two processes: 1000 datagrams and 4 MiB over TCP echoed byte-exact (%.1f MB/s)%n",
                        runner.<Double>call((s, t) -> stream.megabytesPerSecond()));
            }
        }
    }

    @Test
    void eightProcessesExchangeUdpAndTcpByteExactEveryOneWithEveryOther() throws Exception {
        int children = 7;
        List<Child> started = new ArrayList<>();
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic own = ShmTesting.open(plane.socketPath(), "parent");
                StackRunner runner = StackRunner.start(own, ShmTesting.stackConfig(own), 8)) {
            runner.serve(new Workloads.UdpEcho(Workloads.UDP_ECHO_PORT));
            runner.serve(new Workloads.TcpEchoServer(Workloads.TCP_ECHO_PORT));
            try {
                for (int i = 0; i < children; i++) {
                    started.add(Child.start("serve", plane.socketPath().toString(), "child" + i));
                }
                for (Child child : started) {
                    child.awaitLine("READY", START);
                }
                assertTrue(own.awaitPeers(children, Duration.ofSeconds(10)), own.peers().toString());
                ControlStatus status = plane.status();
                assertEquals(children + 1, status.vnics().size());
                assertEquals((children + 1) * children, status.channels().size());
                // Every child checks every peer (the others and us) at once: 56 ordered pairs.
                for (Child child : started) {
                    child.send("CHECK 50 4000 131072");
                }
                for (Child child : started) {
                    assertEquals("CHECK-OK peers=" + children, child.awaitLine("CHECK", Duration.ofSeconds(150)),
                            child.transcript());
                }
                // And we check every child.
                List<Workloads.UdpPinger> pingers = new ArrayList<>();
                List<Workloads.TcpEchoCheck> streams = new ArrayList<>();
                int port = 41_000;
                for (ShmVnic.Peer peer : own.peers()) {
                    var pinger = new Workloads.UdpPinger(peer.address(), Workloads.UDP_ECHO_PORT, port++, 50, 4000,
                            peer.id());
                    var stream = new Workloads.TcpEchoCheck(peer.address(), Workloads.TCP_ECHO_PORT, 131_072, peer.id());
                    pingers.add(pinger);
                    streams.add(stream);
                    runner.everyPoll(pinger);
                    runner.everyPoll(stream);
                }
                assertTrue(runner.await(s -> pingers.stream().allMatch(Workloads.UdpPinger::done)
                        && streams.stream().allMatch(Workloads.TcpEchoCheck::done), Duration.ofSeconds(120)),
                        runner.describe());
                for (int i = 0; i < children; i++) {
                    var pinger = pingers.get(i);
                    var stream = streams.get(i);
                    assertEquals(0, (int) runner.<Integer>call((s, t) -> pinger.mismatches), runner.call0(pinger::describe));
                    assertTrue(runner.<Boolean>call((s, t) -> stream.exact()), runner.call0(stream::describe));
                }
                System.out.printf("eight processes: every ordered pair exchanged 50 datagrams and 128 KiB of TCP"
                        + " byte-exact; the control plane held %d VNICs and %d channels%n", status.vnics().size(),
                        status.channels().size());
            } finally {
                for (Child child : started) {
                    child.close();
                }
            }
            assertTrue(own.awaitPeers(0, Duration.ofSeconds(10)), "every child's VNIC was reclaimed: " + own.peers());
        }
    }
}

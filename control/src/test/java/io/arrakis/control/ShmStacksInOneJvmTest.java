package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two user-level stacks on two shm VNICs of one control plane, in one JVM, each run by its own
 * polling thread: UDP and TCP through the direct channels, byte-exact both ways.
 */
class ShmStacksInOneJvmTest {
    @TempDir
    Path directory;

    @Test
    void udpDatagramsOfEverySizeEchoByteExactBothWays() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic a = ShmTesting.open(plane.socketPath(), "a");
                ShmVnic b = ShmTesting.open(plane.socketPath(), "b")) {
            assertTrue(a.awaitPeers(1, Duration.ofSeconds(5)), "a never heard of b: " + a.peers());
            assertTrue(b.awaitPeers(1, Duration.ofSeconds(5)), "b never heard of a: " + b.peers());
            try (StackRunner ra = StackRunner.start(a, ShmTesting.stackConfig(a), 1);
                    StackRunner rb = StackRunner.start(b, ShmTesting.stackConfig(b), 2)) {
                ra.serve(new Workloads.UdpEcho(Workloads.UDP_ECHO_PORT));
                rb.serve(new Workloads.UdpEcho(Workloads.UDP_ECHO_PORT));
                // Up to 9000 bytes: datagrams above the MTU cross as IP fragments.
                Workloads.UdpPinger fromA = new Workloads.UdpPinger(b.address(), Workloads.UDP_ECHO_PORT, 40_000, 2_000,
                        9_000, 11);
                Workloads.UdpPinger fromB = new Workloads.UdpPinger(a.address(), Workloads.UDP_ECHO_PORT, 40_000, 2_000,
                        9_000, 12);
                ra.everyPoll(fromA);
                rb.everyPoll(fromB);
                assertTrue(ra.await(s -> fromA.done(), Duration.ofSeconds(30)),
                        () -> describe(ra, fromA) + "\n" + rb.describe());
                assertTrue(rb.await(s -> fromB.done(), Duration.ofSeconds(30)),
                        () -> describe(rb, fromB) + "\n" + ra.describe());
                assertEquals(0, (int) ra.<Integer>call((s, t) -> fromA.mismatches), () -> describe(ra, fromA));
                assertEquals(0, (int) rb.<Integer>call((s, t) -> fromB.mismatches), () -> describe(rb, fromB));
                assertEquals(0, (int) ra.<Integer>call((s, t) -> fromA.resends), "a datagram was lost: " + describe(ra, fromA));
                assertEquals(0, (int) rb.<Integer>call((s, t) -> fromB.resends), "a datagram was lost: " + describe(rb, fromB));
            }
        }
    }

    @Test
    void tcpStreamsEchoByteExactBothWays() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic a = ShmTesting.open(plane.socketPath(), "a");
                ShmVnic b = ShmTesting.open(plane.socketPath(), "b")) {
            assertTrue(a.awaitPeers(1, Duration.ofSeconds(5)));
            assertTrue(b.awaitPeers(1, Duration.ofSeconds(5)));
            try (StackRunner ra = StackRunner.start(a, ShmTesting.stackConfig(a), 3);
                    StackRunner rb = StackRunner.start(b, ShmTesting.stackConfig(b), 4)) {
                Workloads.TcpEchoServer echoA = new Workloads.TcpEchoServer(Workloads.TCP_ECHO_PORT);
                Workloads.TcpEchoServer echoB = new Workloads.TcpEchoServer(Workloads.TCP_ECHO_PORT);
                ra.serve(echoA);
                rb.serve(echoB);
                long bytes = 8L << 20;
                Workloads.TcpEchoCheck fromA = new Workloads.TcpEchoCheck(b.address(), Workloads.TCP_ECHO_PORT, bytes, 21);
                Workloads.TcpEchoCheck fromB = new Workloads.TcpEchoCheck(a.address(), Workloads.TCP_ECHO_PORT, bytes, 22);
                ra.everyPoll(fromA);
                rb.everyPoll(fromB);
                assertTrue(ra.await(s -> fromA.done(), Duration.ofSeconds(60)), () -> ra.call0(fromA::describe) + "\n"
                        + rb.call0(echoB::describe) + "\n" + ra.describe() + "\n" + rb.describe());
                assertTrue(rb.await(s -> fromB.done(), Duration.ofSeconds(60)), () -> rb.call0(fromB::describe) + "\n"
                        + ra.call0(echoA::describe) + "\n" + rb.describe() + "\n" + ra.describe());
                assertTrue(ra.<Boolean>call((s, t) -> fromA.exact()), () -> ra.call0(fromA::describe));
                assertTrue(rb.<Boolean>call((s, t) -> fromB.exact()), () -> rb.call0(fromB::describe));
                System.out.printf("TCP through shm channels in one JVM: 2 x %d MiB echoed both ways; %.1f and %.1f MB/s"
                        + " (sent + received per connection)%n", bytes >> 20, ra.<Double>call((s, t) -> fromA.megabytesPerSecond()),
                        rb.<Double>call((s, t) -> fromB.megabytesPerSecond()));
            }
        }
    }

    private static String describe(StackRunner runner, Workloads.UdpPinger pinger) {
        return runner.call0(pinger::describe) + "; " + runner.describe();
    }
}

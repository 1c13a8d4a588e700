package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A child process killed with SIGKILL in the middle of a TCP transfer, again and again: each
 * time the control plane (in this JVM) reclaims its VNIC (two queues, with a receive filter),
 * its per-queue channels and its filters and tells the peers, this JVM's descriptors, threads
 * and mappings return to where they were, and the survivors (two VNICs in this JVM) keep
 * exchanging traffic.
 */
class ShmKillTest {
    @TempDir
    Path directory;

    @Test
    void killingAProcessMidTransferTwentyTimesCostsTheOthersNothing() throws Exception {
        killRepeatedly(20);
    }

    @Test
    @Tag("long")
    void killingAProcessMidTransferAHundredTimesCostsTheOthersNothing() throws Exception {
        killRepeatedly(100);
    }

    private void killRepeatedly(int rounds) throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic parent = ShmTesting.open(plane.socketPath(), "parent");
                ShmVnic survivor = ShmTesting.open(plane.socketPath(), "survivor");
                StackRunner parentStack = StackRunner.start(parent, ShmTesting.stackConfig(parent), 1);
                StackRunner survivorStack = StackRunner.start(survivor, ShmTesting.stackConfig(survivor), 2)) {
            survivorStack.serve(new Workloads.UdpEcho(Workloads.UDP_ECHO_PORT));
            long fdBaseline = 0;
            int threadBaseline = 0;
            long mappingBaseline = 0;
            long killedMidTransfer = 0;
            for (int round = 0; round <= rounds; round++) {
                if (round == 1) {
                    // After one round everything lazily created (class loading, JIT threads) exists.
                    fdBaseline = ShmTesting.openFds();
                    threadBaseline = ManagementFactory.getThreadMXBean().getThreadCount();
                    mappingBaseline = ShmTesting.arrakisMappings();
                }
                try (Child child = Child.start("serve", plane.socketPath().toString(), "victim", "2")) {
                    String ready = child.awaitLine("READY", Duration.ofSeconds(30));
                    int victim = Ipv4Text.parse(Child.field(ready, "ip"));
                    int victimId = Integer.parseInt(Child.field(ready, "id"));
                    assertEquals("1", Child.field(ready, "filters"), ready);
                    assertTrue(parent.awaitPeers(2, Duration.ofSeconds(10)), parent.peers().toString());
                    ControlStatus alive = plane.status();
                    assertEquals(2, alive.vnic("victim").queues().size(), alive.format());
                    assertEquals(1, alive.vnic("victim").filters().size(), alive.format());
                    // parent <-> survivor 1 x 1 each way; each of them <-> the victim 1 x 2 each way.
                    assertEquals(2 + 2 * 4, alive.channels().size(), alive.format());
                    var transfer = new Workloads.TcpEchoCheck(victim, Workloads.TCP_ECHO_PORT, 1L << 40, round);
                    parentStack.everyPoll(transfer);
                    assertTrue(parentStack.await(s -> transfer.received > 256 * 1024, Duration.ofSeconds(30)),
                            () -> parentStack.call0(transfer::describe) + "\n" + child.transcript());
                    child.kill();
                    assertTrue(parentStack.<Boolean>call((s, t) -> transfer.received < transfer.sent
                            || !transfer.done()), "killed mid-transfer");
                    killedMidTransfer++;
                    ShmTesting.awaitVnics(plane, 2);
                    assertTrue(parent.awaitPeers(1, Duration.ofSeconds(10)), "told that the victim died: "
                            + parent.peers());
                    assertEquals(null, parent.peerSteering(victimId), "the victim's files and filters are forgotten");
                    // The stack above sees its connection to the dead peer time out; here we stop waiting.
                    parentStack.call((s, t) -> {
                        parentStack.removeHook(transfer);
                        t.abort(transfer.connection, System.nanoTime());
                        return null;
                    });
                }
                var ping = new Workloads.UdpPinger(survivor.address(), Workloads.UDP_ECHO_PORT, 20_000 + round, 20,
                        1400, round);
                parentStack.everyPoll(ping);
                assertTrue(parentStack.await(s -> ping.done(), Duration.ofSeconds(10)),
                        "the survivors stopped working in round " + round + ": " + parentStack.call0(ping::describe));
                parentStack.call((s, t) -> {
                    parentStack.removeHook(ping);
                    return null;
                });
                ControlStatus status = plane.status();
                assertEquals(2, status.vnics().size(), status.format());
                assertEquals(2, status.channels().size(), status.format());
                assertTrue(status.vnics().stream().allMatch(v -> v.filters().isEmpty()), status.format());
            }
            ControlStatus status = plane.status();
            assertEquals(rounds + 1, status.detaches(), status.format());
            // Settle: the parent's queue unmaps a dead peer's channels on its polling thread.
            Thread.sleep(50);
            long fds = ShmTesting.openFds();
            int threads = ManagementFactory.getThreadMXBean().getThreadCount();
            long mappings = ShmTesting.arrakisMappings();
            System.out.printf("%d SIGKILLs mid-transfer: control plane back to %d VNICs / %d channels each time; open"
                    + " descriptors %d -> %d, threads %d -> %d, arrakis mappings %d -> %d%n", killedMidTransfer,
                    status.vnics().size(), status.channels().size(), fdBaseline, fds, threadBaseline, threads,
                    mappingBaseline, mappings);
            assertTrue(fds <= fdBaseline + 2, "descriptors grew from " + fdBaseline + " to " + fds);
            assertTrue(threads <= threadBaseline + 2, "threads grew from " + threadBaseline + " to " + threads);
            assertEquals(mappingBaseline, mappings, "shared-memory mappings of this JVM");
        }
    }
}

package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Attached but idle: the control plane blocks in epoll, each control connection's reader in
 * recvmsg, each polling thread on its bell's futex (woken only by its stack's timers). Over two
 * seconds of idleness the threads of this JVM (control plane, three VNICs with stacks) and an
 * attached child process each use a tiny fraction of a core.
 */
class ShmIdleTest {
    private static final long IDLE_MILLIS = 2_000;
    /** Of one core. */
    private static final double LIMIT = 0.05;

    @TempDir
    Path directory;

    @Test
    void attachedIdleProcessesAndTheControlPlaneBlockInsteadOfSpinning() throws Exception {
        List<AutoCloseable> open = new ArrayList<>();
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                Child child = Child.start("serve", plane.socketPath().toString(), "idle-child")) {
            for (int i = 0; i < 3; i++) {
                ShmVnic vnic = ShmTesting.open(plane.socketPath(), "idle" + i);
                open.add(vnic);
                StackRunner runner = StackRunner.start(vnic, ShmTesting.stackConfig(vnic), i);
                open.add(0, runner);
                runner.serve(new Workloads.UdpEcho(Workloads.UDP_ECHO_PORT));
                runner.serve(new Workloads.TcpEchoServer(Workloads.TCP_ECHO_PORT));
            }
            child.awaitLine("READY", Duration.ofSeconds(30));
            // Some traffic first, so that everything is set up, resolved and compiled.
            ShmVnic first = (ShmVnic) open.get(open.size() - 1);
            child.send("CHECK 20 1000 65536");
            assertTrue(child.awaitLine("CHECK", Duration.ofSeconds(60)).startsWith("CHECK-OK"), child.transcript());
            // Let the JIT finish compiling what that traffic made hot: its threads are not ours.
            Thread.sleep(2_000);

            var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            var threads = ManagementFactory.getThreadMXBean();
            Map<Long, Long> javaThreadsBefore = javaThreadCpu();
            long controlThread = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals("arrakis-control-plane")).findFirst().orElseThrow().threadId();
            long controlBefore = threads.getThreadCpuTime(controlThread);
            long ownBefore = os.getProcessCpuTime();
            long childBefore = childCpuNanos(child.pid());
            long start = System.nanoTime();
            Thread.sleep(IDLE_MILLIS);
            long elapsed = System.nanoTime() - start;
            Map<Long, Long> javaThreadsAfter = javaThreadCpu();
            long javaNanos = 0;
            for (Map.Entry<Long, Long> after : javaThreadsAfter.entrySet()) {
                javaNanos += after.getValue() - javaThreadsBefore.getOrDefault(after.getKey(), 0L);
            }
            double java = javaNanos / (double) elapsed;
            double own = (os.getProcessCpuTime() - ownBefore) / (double) elapsed;
            double childShare = (childCpuNanos(child.pid()) - childBefore) / (double) elapsed;
            double control = (threads.getThreadCpuTime(controlThread) - controlBefore) / (double) elapsed;
            System.out.printf("idle for %d ms with 4 attached VNICs (3 stacks here, 1 in a child): this JVM's Java"
                    + " threads %.2f%% of a core (control plane thread %.3f%%; the whole process, JIT and GC threads"
                    + " included, %.2f%%), the child process %.2f%%%n", IDLE_MILLIS, java * 100, control * 100,
                    own * 100, childShare * 100);
            assertTrue(control < 0.001, "the control plane thread is not blocked: " + control);
            assertTrue(java < LIMIT, "this JVM's threads used " + java * 100 + "% of a core while idle");
            assertTrue(childShare < LIMIT, "the idle child used " + childShare * 100 + "% of a core");
            assertEquals(3, first.peers().size());
        } finally {
            for (AutoCloseable c : open) {
                c.close();
            }
        }
    }

    /**
     * CPU time of every Java thread of this JVM: the control plane, the pollers, the control
     * connections' readers, the test. Not the JIT compiler's threads, which go on compiling what
     * earlier tests in this JVM made hot and are no part of what is measured.
     */
    private static Map<Long, Long> javaThreadCpu() {
        var threads = ManagementFactory.getThreadMXBean();
        Map<Long, Long> times = new HashMap<>();
        for (long id : threads.getAllThreadIds()) {
            long time = threads.getThreadCpuTime(id);
            if (time >= 0) {
                times.put(id, time);
            }
        }
        return times;
    }

    /** utime + stime of a process, from /proc/PID/stat (clock ticks of 10 ms). */
    private static long childCpuNanos(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
        return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * 10_000_000L;
    }
}

package io.arrakis.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Rings between this JVM and child JVMs that map the same memfd through
 * {@code /proc/<our pid>/fd/<fd>} (descriptor passing over SCM_RIGHTS is not used here). Every
 * wait has a deadline and every child is destroyed in a finally.
 */
class CrossProcessRingTest {
    private static final long DEADLINE_NANOS = TimeUnit.SECONDS.toNanos(40);

    /**
     * Ten million 16-byte messages from this process to a child, which checks that each is the
     * next in sequence and reports the count, the sum and its throughput.
     */
    @Test
    void tenMillionMessagesCrossToAnotherProcessThroughAnSpscRingInOrderAndComplete() throws Exception {
        long messages = 10_000_000;
        int capacity = 4096;
        try (SharedMemory memory = SharedMemory.create("xproc-spsc",
                SpscRing.bytesFor(capacity, 16) + RingPeer.READY_BYTES)) {
            SpscRing ring = SpscRing.format(memory.segment(), capacity, 16, "xproc-spsc");
            MemorySegment slots = ring.segment();
            Child child = Child.start("spsc-consume", procPath(memory), Long.toString(messages));
            try {
                SpinThenBlock idle = new SpinThenBlock(ring.producerDoorbell(), ring::hasSpace, 2_000,
                        RingPeer.BLOCK_TIMEOUT_NANOS);
                long deadline = System.nanoTime() + DEADLINE_NANOS;
                awaitReady(memory, List.of(child), deadline);
                long start = System.nanoTime();
                long next = 0;
                while (next < messages) {
                    int batch = 0;
                    long slot;
                    while (batch < 256 && next < messages && (slot = ring.tryClaim()) >= 0) {
                        slots.set(ValueLayout.JAVA_LONG, slot, next);
                        slots.set(ValueLayout.JAVA_LONG, slot + 8, next * RingPeer.MIX);
                        next++;
                        batch++;
                    }
                    ring.commit();
                    if (batch == 0) {
                        child.checkAlive(deadline, "waiting for space at message " + next);
                    }
                    idle.idle(batch);
                }
                String report = child.awaitReport(deadline);
                long elapsed = System.nanoTime() - start;
                long sum = messages * (messages - 1) / 2;
                assertEquals("OK count=" + messages + " sum=" + sum, report.substring(0, report.indexOf(" nanos=")),
                        report);
                long childNanos = Long.parseLong(report.replaceAll(".* nanos=(\\d+).*", "$1"));
                System.out.printf("cross-process SPSC: %,d messages of 16 B in %,d ms = %,.0f messages/s"
                        + " (child-measured, first to last message; %,.0f messages/s parent-measured from attach);"
                        + " producer futex sleeps %,d, child: %s%n", messages, childNanos / 1_000_000,
                        messages * 1e9 / childNanos, messages * 1e9 / elapsed, idle.blocks(),
                        report.substring(report.indexOf(" blocks=") + 1));
                assertEquals(0, idle.timeouts(),
                        "the producer timed out waiting for space: a lost wake-up or a stuck child");
                assertTrue(report.endsWith(" timeouts=0"), "the child timed out waiting for messages: " + report);
            } finally {
                child.destroy();
            }
        }
    }

    /** Two producer processes, one consumer (this process): nothing lost or duplicated, each producer's order kept. */
    @Test
    void twoProducerProcessesFeedOneConsumerThroughAnMpscRingKeepingEachOnesOrder() throws Exception {
        long perProducer = 1_000_000;
        int capacity = 1024;
        try (SharedMemory memory = SharedMemory.create("xproc-mpsc",
                MpscRing.bytesFor(capacity, 16) + RingPeer.READY_BYTES)) {
            MpscRing ring = MpscRing.format(memory.segment(), capacity, 16, "xproc-mpsc");
            MemorySegment slots = ring.segment();
            List<Child> children = new ArrayList<>();
            try {
                for (int id = 0; id < 2; id++) {
                    children.add(Child.start("mpsc-produce", procPath(memory), Integer.toString(id),
                            Long.toString(perProducer)));
                }
                SpinThenBlock idle = new SpinThenBlock(ring.consumerDoorbell(), ring::hasWork, 2_000,
                        RingPeer.BLOCK_TIMEOUT_NANOS);
                long deadline = System.nanoTime() + DEADLINE_NANOS;
                awaitReady(memory, children, deadline);
                long start = System.nanoTime();
                long[] next = new long[2];
                long received = 0;
                while (received < 2 * perProducer) {
                    int batch = 0;
                    long slot;
                    while (batch < 256 && (slot = ring.poll()) >= 0) {
                        long id = slots.get(ValueLayout.JAVA_LONG, slot);
                        long seq = slots.get(ValueLayout.JAVA_LONG, slot + 8);
                        if (id < 0 || id > 1 || seq != next[(int) id]) {
                            fail("from producer " + id + ": expected message "
                                    + (id == 0 || id == 1 ? next[(int) id] : -1) + " but got " + seq);
                        }
                        next[(int) id]++;
                        received++;
                        batch++;
                    }
                    if (batch > 0) {
                        ring.release();
                    } else {
                        for (Child child : children) {
                            child.checkAliveOrDone(deadline, "waiting for message " + received);
                        }
                        long stalled = ring.stalledSlot(5_000_000_000L);
                        assertEquals(-1, stalled, "a live producer left slot " + stalled + " unpublished for 5 s");
                    }
                    idle.idle(batch);
                }
                long elapsed = System.nanoTime() - start;
                for (Child child : children) {
                    String report = child.awaitReport(deadline);
                    assertTrue(report.startsWith("OK sent=" + perProducer), report);
                    assertTrue(report.endsWith(" timeouts=0"), "a producer timed out waiting for space: " + report);
                }
                assertEquals(0, idle.timeouts(), "the consumer timed out waiting for messages: a lost wake-up");
                assertEquals(perProducer, next[0]);
                assertEquals(perProducer, next[1]);
                assertEquals(-1, ring.poll(), "nothing beyond what was sent");
                System.out.printf("cross-process MPSC: 2 x %,d messages in %,d ms = %,.0f messages/s"
                        + " (from both producers attached); consumer futex sleeps %,d, timeouts %,d%n", perProducer,
                        elapsed / 1_000_000, 2 * perProducer * 1e9 / elapsed, idle.blocks(), idle.timeouts());
            } finally {
                for (Child child : children) {
                    child.destroy();
                }
            }
        }
    }

    /**
     * A producer process that dies between claim and publish stalls the consumer at its slot; the
     * consumer sees the stall after its patience, and once the process is known dead, reclaims the
     * slot and carries on with the messages behind it.
     */
    @Test
    void aProducerProcessThatDiesBetweenClaimAndPublishIsDetectedAndItsSlotReclaimed() throws Exception {
        try (SharedMemory memory = SharedMemory.create("xproc-stall", MpscRing.bytesFor(8, 8))) {
            MpscRing ring = MpscRing.format(memory.segment(), 8, 8, "xproc-stall");
            ring.commit(ring.tryClaim()); // position 0: a normal message
            Child child = Child.start("mpsc-claim-and-die", procPath(memory));
            long deadline = System.nanoTime() + DEADLINE_NANOS;
            try {
                String report = child.awaitReport(deadline);
                assertTrue(report.startsWith("CLAIMED "), report);
            } finally {
                child.destroy();
            }
            long behind = ring.tryClaim(); // position 2, behind the dead producer's position 1
            ring.segment().set(ValueLayout.JAVA_LONG, behind, 2L);
            ring.commit(behind);

            assertTrue(ring.poll() >= 0);
            assertEquals(-1, ring.poll(), "stuck at the dead producer's slot");
            long stalled;
            while ((stalled = ring.stalledSlot(100_000_000L)) < 0) {
                assertTrue(System.nanoTime() - deadline < 0, "the stall was never reported");
                Thread.sleep(10);
            }
            assertEquals(1, stalled);
            assertFalse(child.process.isAlive(), "the control plane reclaims only for a dead producer");
            assertTrue(ring.reclaim(stalled));
            long slot = ring.poll();
            assertEquals(2L, ring.segment().get(ValueLayout.JAVA_LONG, slot));
            ring.release();
        }
    }

    /** Waits until every child has attached (they count themselves in the word after the ring). */
    private static void awaitReady(SharedMemory memory, List<Child> children, long deadline) throws Exception {
        while (RingPeer.ready(memory) < children.size()) {
            for (Child child : children) {
                child.checkAlive(deadline, "waiting for the children to attach");
            }
            Thread.sleep(1);
        }
    }

    private static String procPath(SharedMemory memory) {
        return "/proc/" + ProcessHandle.current().pid() + "/fd/" + memory.fd();
    }

    /** A child JVM running {@link RingPeer}, its output in a temporary file. */
    private record Child(Process process, Path output) {
        static Child start(String... args) throws IOException {
            String java = ProcessHandle.current().info().command()
                    .orElseThrow(() -> new IllegalStateException("cannot tell which java binary runs this test"));
            List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED",
                    "-XX:+UseSerialGC", "-Xmx128m", "-XX:-UsePerfData",
                    "-cp", System.getProperty("java.class.path"), RingPeer.class.getName()));
            command.addAll(List.of(args));
            Path output = Files.createTempFile("ring-peer-", ".out");
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                    .start();
            return new Child(process, output);
        }

        void checkAlive(long deadline, String what) throws IOException {
            if (!process.isAlive()) {
                fail("child " + process.pid() + " exited with " + process.exitValue() + " while " + what + ":\n"
                        + Files.readString(output));
            }
            checkDeadline(deadline, what);
        }

        void checkAliveOrDone(long deadline, String what) throws IOException {
            if (!process.isAlive() && process.exitValue() != 0) {
                fail("child " + process.pid() + " failed with " + process.exitValue() + " while " + what + ":\n"
                        + Files.readString(output));
            }
            checkDeadline(deadline, what);
        }

        private void checkDeadline(long deadline, String what) throws IOException {
            if (System.nanoTime() - deadline > 0) {
                fail("gave up " + what + " at the deadline; child " + process.pid() + " said:\n"
                        + Files.readString(output));
            }
        }

        /** Waits for the child to exit (until the deadline) and returns its first line of output. */
        String awaitReport(long deadline) throws Exception {
            long left = deadline - System.nanoTime();
            if (!process.waitFor(Math.max(left, 1), TimeUnit.NANOSECONDS)) {
                fail("child " + process.pid() + " still running at the deadline; it said:\n"
                        + Files.readString(output));
            }
            String text = Files.readString(output);
            assertEquals(0, process.exitValue(), "child failed:\n" + text);
            return text.lines().findFirst().orElse("(no output)");
        }

        void destroy() throws Exception {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            Files.deleteIfExists(output);
        }
    }
}

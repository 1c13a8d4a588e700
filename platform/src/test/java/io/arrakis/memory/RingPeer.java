package io.arrakis.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * The other process in {@link CrossProcessRingTest}: maps the parent's memfd through
 * {@code /proc/<parent pid>/fd/<fd>} and plays one side of a ring. Prints one line,
 * {@code OK ...} or {@code FAIL ...}, and exits 0 or 1. Every wait has a deadline, and it also
 * gives up when its parent is gone, so it can never outlive a crashed test run for long.
 */
public final class RingPeer {
    static final long MIX = 0x9E37_79B9_7F4A_7C15L;
    /**
     * The parent maps this many bytes more than the ring; their first long counts the children
     * that have attached, so the parent starts (and times) the run only when they are there.
     */
    static final int READY_BYTES = 64;
    /** Long enough that a timed-out doorbell wait means a lost wake-up, not a slow peer. */
    static final long BLOCK_TIMEOUT_NANOS = 1_000_000_000L;
    private static final long DEADLINE_NANOS = 60_000_000_000L;
    private static final java.lang.invoke.VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    static long readyOffset(SharedMemory memory) {
        return memory.byteSize() - READY_BYTES;
    }

    static long ready(SharedMemory memory) {
        return (long) LONG.getAcquire(memory.segment(), readyOffset(memory));
    }

    private static void announceReady(SharedMemory memory) {
        LONG.getAndAdd(memory.segment(), readyOffset(memory), 1L);
    }

    private RingPeer() {}

    public static void main(String[] args) throws Exception {
        try {
            String result = switch (args[0]) {
                case "spsc-consume" -> spscConsume(Path.of(args[1]), Long.parseLong(args[2]));
                case "mpsc-produce" ->
                        mpscProduce(Path.of(args[1]), Integer.parseInt(args[2]), Long.parseLong(args[3]));
                case "mpsc-claim-and-die" -> mpscClaimAndDie(Path.of(args[1]));
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            };
            System.out.println(result);
            System.exit(0);
        } catch (Throwable t) {
            System.out.println("FAIL " + t);
            t.printStackTrace(System.out);
            System.exit(1);
        }
    }

    /** Consumes {@code count} messages {@code (i, i * MIX)} and checks each is the next one. */
    private static String spscConsume(Path memfd, long count) throws Exception {
        try (SharedMemory memory = SharedMemory.map(memfd)) {
            SpscRing ring = SpscRing.attach(memory.segment(), "xproc-spsc");
            MemorySegment slots = ring.segment();
            SpinThenBlock idle = new SpinThenBlock(ring.consumerDoorbell(), ring::hasWork, 2_000, BLOCK_TIMEOUT_NANOS);
            announceReady(memory);
            long deadline = System.nanoTime() + DEADLINE_NANOS;
            long expected = 0;
            long sum = 0;
            long first = 0;
            while (expected < count) {
                int batch = 0;
                long slot;
                while (batch < 256 && (slot = ring.poll()) >= 0) {
                    long value = slots.get(ValueLayout.JAVA_LONG, slot);
                    long check = slots.get(ValueLayout.JAVA_LONG, slot + 8);
                    if (value != expected || check != value * MIX) {
                        return "FAIL message " + expected + ": got " + value + " (check " + check + ")";
                    }
                    sum += value;
                    expected++;
                    batch++;
                }
                if (batch > 0) {
                    if (first == 0) {
                        first = System.nanoTime();
                    }
                    ring.release();
                } else {
                    checkAlive(deadline, "waiting for message " + expected);
                }
                idle.idle(batch);
            }
            long nanos = System.nanoTime() - first;
            return "OK count=" + expected + " sum=" + sum + " nanos=" + nanos + " blocks=" + idle.blocks()
                    + " timeouts=" + idle.timeouts();
        }
    }

    /** Sends {@code count} messages {@code (id, seq)} through the parent's MPSC ring. */
    private static String mpscProduce(Path memfd, int id, long count) throws Exception {
        try (SharedMemory memory = SharedMemory.map(memfd)) {
            MpscRing ring = MpscRing.attach(memory.segment(), "xproc-mpsc");
            MemorySegment slots = ring.segment();
            SpinThenBlock idle = new SpinThenBlock(ring.producerDoorbell(), ring::hasSpace, 2_000, BLOCK_TIMEOUT_NANOS);
            announceReady(memory);
            while (ready(memory) < 2) { // start together, so both really contend
                checkAlive(deadline(), "waiting for the other producer to attach");
                Thread.onSpinWait();
            }
            long deadline = System.nanoTime() + DEADLINE_NANOS;
            long seq = 0;
            while (seq < count) {
                long slot = ring.tryClaim();
                if (slot < 0) {
                    ring.wakeConsumer(); // publish() batches must end with a wake-up before idling
                    checkAlive(deadline, "waiting for space to send message " + seq);
                    idle.idle(0);
                    continue;
                }
                slots.set(ValueLayout.JAVA_LONG, slot, id);
                slots.set(ValueLayout.JAVA_LONG, slot + 8, seq++);
                ring.publish(slot);
                if ((seq & 63) == 0) {
                    ring.wakeConsumer();
                }
                idle.idle(1);
            }
            ring.wakeConsumer();
            return "OK sent=" + seq + " blocks=" + idle.blocks() + " timeouts=" + idle.timeouts();
        }
    }

    /** Claims one slot and dies without publishing it: the stalled-producer case. */
    private static String mpscClaimAndDie(Path memfd) throws Exception {
        SharedMemory memory = SharedMemory.map(memfd);
        MpscRing ring = MpscRing.attach(memory.segment(), "xproc-stall");
        long slot = ring.tryClaim();
        System.out.println("CLAIMED " + slot);
        System.out.flush();
        Runtime.getRuntime().halt(0); // no cleanup, no publish: as if killed
        return "unreachable";
    }

    private static long startNanos = System.nanoTime();

    private static long deadline() {
        return startNanos + DEADLINE_NANOS;
    }

    private static void checkAlive(long deadline, String what) {
        if (System.nanoTime() - deadline > 0) {
            throw new IllegalStateException("gave up after " + DEADLINE_NANOS / 1_000_000_000L + " s " + what);
        }
        if (ProcessHandle.current().parent().map(p -> !p.isAlive()).orElse(true)) {
            throw new IllegalStateException("the parent process is gone while " + what);
        }
    }
}

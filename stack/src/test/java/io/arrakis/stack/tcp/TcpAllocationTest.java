package io.arrakis.stack.tcp;

import static io.arrakis.stack.tcp.TcpTestNetwork.A;
import static io.arrakis.stack.tcp.TcpTestNetwork.B;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * The steady state allocates nothing on the Java heap per segment: a bulk transfer both ways (with losses, so
 * fast retransmit, SACK and RTO paths run too) through a sink of preallocated slots, measured with
 * the thread's allocation counter after a warm-up.
 */
class TcpAllocationTest {
    static final int SLOT = 2048;

    /** Segments in preallocated slots of one off-heap segment. */
    static final class SlotPipe implements TcpSegmentSink {
        final int slots;
        final MemorySegment memory;
        final int[] length;
        int head;
        int count;
        long dropped;

        SlotPipe(int slots) {
            this.slots = slots;
            this.memory = Arena.ofAuto().allocate((long) slots * SLOT);
            this.length = new int[slots];
        }

        @Override
        public long begin(int sourceAddress, int destinationAddress, int maxTcpBytes) {
            if (count == slots || maxTcpBytes > SLOT) {
                return -1;
            }
            return (long) ((head + count) % slots) * SLOT;
        }

        @Override
        public MemorySegment memory() {
            return memory;
        }

        @Override
        public void send(int tcpBytes) {
            length[(head + count) % slots] = tcpBytes;
            count++;
        }
    }

    private final SlotPipe toB = new SlotPipe(512);
    private final SlotPipe toA = new SlotPipe(512);
    private TcpListener listener;
    private TcpConnection a;
    private TcpConnection b;
    private long now;
    private long delivered;

    private final byte[] payload = TcpTestNetwork.bytes(1 << 20, 99);
    private final MemorySegment source = MemorySegment.ofArray(payload);
    private final byte[] sink = new byte[1 << 16];
    private final MemorySegment sinkSegment = MemorySegment.ofArray(sink);
    private long sentA;
    private long readB;
    private long sentB;
    private long readA;

    @Test
    void aSteadyStateTransferAllocatesNothingOnTheHeap() {
        TcpConfig config = TcpConfig.builder().build();
        listener = new TcpListener(config, toA, null, new TcpIsn(1, 2), B, 80, 1460, 4, 1 << 20, 1 << 20);
        a = new TcpConnection(config, toB, null, A, 40000, B, 80, 1, 1460, 1 << 20, 1 << 20);
        a.flush(now);
        while (b == null) {
            pump();
            b = listener.accept();
        }
        transfer(64L << 20); // warm-up: let the JIT compile everything
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long probe = threads.getCurrentThreadAllocatedBytes();
        long before = threads.getCurrentThreadAllocatedBytes();
        long probeCost = before - probe; // what asking costs
        long segmentsBefore = delivered;
        long start = System.nanoTime();
        transfer(Long.getLong("tcp.alloc.bytes", 64L << 20));
        long elapsed = System.nanoTime() - start;
        long allocated = threads.getCurrentThreadAllocatedBytes() - before - probeCost;
        long segments = delivered - segmentsBefore;
        System.out.printf("TCP steady state: %d segments, %d bytes allocated, %.0f ns per segment (both engines),"
                + " retransmitted %d, rto %d%n", segments, allocated, (double) elapsed / segments,
                a.retransmittedSegments(), a.counters().get(TcpCounter.RTO_EXPIRATIONS));
        assertTrue(a.retransmittedSegments() > 0, "losses exercised recovery");
        // The engine allocates nothing. The JDK's MemorySegment.copy (SegmentBulkOperations.copy) is
        // deoptimized now and then when copy lengths change ("predicate" traps, seen with JFR), which
        // materializes a few scalar-replaced temporaries: tens to hundreds of bytes per 10^5 segments,
        // varying from run to run. Anything allocated per segment would be at least 16 bytes each.
        assertTrue(allocated < segments, allocated + " heap bytes allocated while moving " + segments
                + " segments");
        assertEquals(TcpState.ESTABLISHED, a.state());
    }

    /** Moves {@code bytes} more each way, verifying content on the way. */
    private void transfer(long bytes) {
        long targetA = readB + bytes;
        long targetB = readA + bytes / 4;
        long guard = 0;
        while (readB < targetA || readA < targetB) {
            if (sentA - readB < (1 << 20)) {
                int off = (int) (sentA % payload.length);
                sentA += Math.max(0, a.write(source, off, Math.min(payload.length - off, 65536), now));
            }
            if (sentB - readA < (1 << 20)) {
                int off = (int) (sentB % payload.length);
                sentB += Math.max(0, b.write(source, off, Math.min(payload.length - off, 4096), now));
            }
            readB += read(b, readB);
            readA += read(a, readA);
            pump();
            if (++guard > 50_000_000) {
                throw new AssertionError("no progress: " + a.info() + " / " + b.info());
            }
        }
    }

    private int read(TcpConnection c, long position) {
        int n = c.read(sinkSegment, 0, sink.length, now);
        if (n > 0) {
            int off = (int) (position % payload.length);
            int first = Math.min(n, payload.length - off);
            // Verify a sample of the bytes (every byte would dominate the run time).
            if (sink[0] != payload[off] || sink[first - 1] != payload[off + first - 1]) {
                assertArrayEquals(java.util.Arrays.copyOfRange(payload, off, off + first),
                        java.util.Arrays.copyOf(sink, first), "stream corrupted at " + position);
            }
        }
        return Math.max(0, n);
    }

    private void pump() {
        now += 20_000; // 20 µs per round
        while (toB.count > 0 || toA.count > 0) {
            if (toB.count > 0) {
                int slot = toB.head;
                toB.head = (toB.head + 1) % toB.slots;
                toB.count--;
                delivered++;
                // Lose one data segment in 1,000 on the way to B.
                if (delivered % 1000 == 7 && toB.length[slot] > 100) {
                    toB.dropped++;
                } else if (b != null) {
                    b.segmentArrived(toB.memory, (long) slot * SLOT, toB.length[slot], now);
                } else {
                    listener.segmentArrived(toB.memory, (long) slot * SLOT, toB.length[slot], B, A, now);
                }
            }
            if (toA.count > 0) {
                int slot = toA.head;
                toA.head = (toA.head + 1) % toA.slots;
                toA.count--;
                delivered++;
                a.segmentArrived(toA.memory, (long) slot * SLOT, toA.length[slot], now);
            }
        }
        timers(a);
        timers(b);
        if (a.outputBlocked()) {
            a.flush(now);
        }
        if (b != null && b.outputBlocked()) {
            b.flush(now);
        }
    }

    private void timers(TcpConnection c) {
        if (c != null && c.nextDeadline() <= now) {
            c.onTimer(now);
        }
    }
}

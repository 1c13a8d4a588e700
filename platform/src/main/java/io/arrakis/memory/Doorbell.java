package io.arrakis.memory;

import io.arrakis.linux.Futex;
import io.arrakis.linux.LinuxException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * A wake-up call across threads and processes: an event count on a futex word in shared memory,
 * so that a waiting side can sleep in the kernel and the notifying side pays nothing (no syscall)
 * unless someone is actually asleep. Thread-safe and process-safe: any number of ringers and
 * waiters; a flyweight, so every process makes its own over its own mapping.
 *
 * <p>Layout ({@link #BYTES} bytes, 4-byte aligned): {@code +0} sequence (the futex word, bumped by
 * every {@link #ring} that finds a waiter), {@code +4} number of announced waiters.
 *
 * <p>The protocol, and why no wake-up is lost. The waiter:
 * <ol>
 *   <li>{@link #prepareToWait()}: increments the waiter count (an atomic read-modify-write, hence a
 *       full fence), then reads the sequence as its ticket;</li>
 *   <li>re-checks its condition (for a ring: "is there something to read"); if it holds,
 *       {@link #cancelWait()};</li>
 *   <li>otherwise {@link #await}: the kernel puts it to sleep only if the sequence still equals the
 *       ticket.</li>
 * </ol>
 * The notifier first publishes (e.g. stores the ring's producer position), then {@link #ring}s:
 * a full fence, one read of the waiter count, and only if it is non-zero a sequence increment and a
 * {@code FUTEX_WAKE}. The two fences form a Dekker pair: either the waiter's re-check sees the
 * publication, or the notifier sees the waiter count. In the second case the sequence changes
 * after the waiter took its ticket, so its futex wait returns at once or is woken.
 *
 * <p>The fence in {@link #ring} is the price of that guarantee (an acquire read alone may be
 * reordered before the earlier release store, even on x86); batch publications to amortize it.
 *
 * <p>Garbage in these words can cost wake-ups (a waiter count a peer overwrote with a value that
 * our increment brings back to 0) but cannot hang anyone, because every wait has a timeout
 * ({@link SpinThenBlock} always passes one).
 */
public final class Doorbell {
    /** Bytes a doorbell occupies. */
    public static final int BYTES = 8;

    private static final VarHandle INT = RingLayout.INT;

    private final MemorySegment segment;
    private final long sequence;
    private final long waiters;

    /** A doorbell over the 8 bytes at {@code offset} in {@code segment} (native, 4-byte aligned). */
    public Doorbell(MemorySegment segment, long offset) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException("a doorbell must live in native memory: futexes need a real address");
        }
        if (offset < 0 || offset > segment.byteSize() - BYTES) {
            throw new IllegalArgumentException("doorbell at offset " + offset + " does not fit in a segment of "
                    + segment.byteSize() + " bytes (it needs " + BYTES + ")");
        }
        if (((segment.address() + offset) & 3) != 0) {
            throw new IllegalArgumentException("doorbell at address 0x" + Long.toHexString(segment.address() + offset)
                    + " is not 4-byte aligned, which futexes require");
        }
        this.segment = segment;
        this.sequence = offset;
        this.waiters = offset + 4;
    }

    /** Resets a doorbell's words to zero (its creator does this once, before anyone waits). */
    public static void format(MemorySegment segment, long offset) {
        segment.asSlice(offset, BYTES).fill((byte) 0);
    }

    /**
     * Wakes every waiter, if there is any: call after publishing. Costs a fence and one read when
     * nobody waits, a sequence increment and a {@code futex} syscall when someone does.
     */
    public void ring() {
        // Orders our earlier publication (a release store) before the read of the waiter count:
        // the StoreLoad half of the Dekker pair described in the class comment.
        VarHandle.fullFence();
        if ((int) INT.getAcquire(segment, waiters) != 0) {
            wakeAll();
        }
    }

    private void wakeAll() {
        int _ = (int) INT.getAndAdd(segment, sequence, 1);
        try {
            Futex.wake(segment, sequence, Integer.MAX_VALUE);
        } catch (LinuxException e) {
            throw new UncheckedIOException("waking the waiters of doorbell at 0x"
                    + Long.toHexString(segment.address() + sequence) + " failed", e);
        }
    }

    /**
     * Announces that the caller is about to sleep and returns its ticket. The caller must then
     * re-check its condition and either {@link #cancelWait()} or {@link #await} with this ticket.
     */
    public int prepareToWait() {
        // getAndAdd is a full fence: the waiter count is visible before we read the ticket and
        // before the caller re-checks its condition.
        int _ = (int) INT.getAndAdd(segment, waiters, 1);
        return (int) INT.getAcquire(segment, sequence);
    }

    /** Withdraws the announcement made by {@link #prepareToWait()} without sleeping. */
    public void cancelWait() {
        int _ = (int) INT.getAndAdd(segment, waiters, -1);
    }

    /**
     * Sleeps until a {@link #ring} after {@link #prepareToWait()} returned {@code ticket}, or for
     * at most {@code timeoutNanos} (which must be positive: nobody should wait for a dead peer
     * forever); withdraws the announcement either way. Returns {@code false} if the wait timed out.
     * Spurious returns (signals) are possible: re-check the condition.
     */
    public boolean await(int ticket, long timeoutNanos) {
        if (timeoutNanos <= 0) {
            cancelWait();
            throw new IllegalArgumentException("doorbell waits need a positive timeout, not " + timeoutNanos
                    + " ns: a waiter must outlive a peer that died without ringing");
        }
        try {
            return Futex.await(segment, sequence, ticket, timeoutNanos) != Futex.WaitResult.TIMED_OUT;
        } catch (LinuxException e) {
            throw new UncheckedIOException("waiting on doorbell at 0x" + Long.toHexString(segment.address() + sequence)
                    + " failed", e);
        } finally {
            cancelWait();
        }
    }

    /** How many waiters have announced themselves right now (for monitoring). */
    public int waiters() {
        return (int) INT.getAcquire(segment, waiters);
    }

    /** How many times a ring found a waiter (wraps; for monitoring and tests). */
    public int sequence() {
        return (int) INT.getAcquire(segment, sequence);
    }
}

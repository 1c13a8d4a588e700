package io.arrakis.memory;

import java.util.function.BooleanSupplier;

/**
 * Spins briefly, then sleeps on a {@link Doorbell} until it rings or a timeout passes.
 * One instance per polling thread (it counts its own spins); not thread-safe.
 *
 * <p>Why not just spin: on a machine with few cores, two busy-polling threads sharing one core
 * hand it to each other only on scheduler ticks, so a message can wait milliseconds. Why spin at
 * all: a futex sleep and wake-up costs microseconds, far more than the gap between messages in
 * a busy stream. Why a timeout: a peer that died without ringing must not hang us forever; the
 * loop wakes up, finds nothing, and can check the peer's health (see {@link #timeouts()}).
 *
 * <p>{@code ready} is re-checked after announcing the wait and before sleeping (the doorbell
 * protocol); for rings pass {@code ring::hasWork} (consumers) or {@code ring::hasSpace}
 * (producers), created once, so idling allocates nothing.
 */
public final class SpinThenBlock implements IdleStrategy {
    private final Doorbell doorbell;
    private final BooleanSupplier ready;
    private final int spinBudget;
    private final long blockTimeoutNanos;

    private int spins;
    private long blocks;
    private long timeouts;

    /**
     * @param spinBudget how many idle passes spin with {@link Thread#onSpinWait()} before blocking
     * @param blockTimeoutNanos the longest single sleep on the doorbell (positive)
     */
    public SpinThenBlock(Doorbell doorbell, BooleanSupplier ready, int spinBudget, long blockTimeoutNanos) {
        if (spinBudget < 0) {
            throw new IllegalArgumentException("spin budget must be >= 0, not " + spinBudget);
        }
        if (blockTimeoutNanos <= 0) {
            throw new IllegalArgumentException("block timeout must be positive, not " + blockTimeoutNanos
                    + " ns: a dead peer must not be able to hang the waiter forever");
        }
        this.doorbell = doorbell;
        this.ready = ready;
        this.spinBudget = spinBudget;
        this.blockTimeoutNanos = blockTimeoutNanos;
    }

    @Override
    public void idle(int workCount) {
        if (workCount > 0) {
            spins = 0;
            return;
        }
        if (spins < spinBudget) {
            spins++;
            Thread.onSpinWait();
            return;
        }
        block();
    }

    /** Skips the spinning: announces, re-checks, and sleeps until rung or timed out. */
    public void block() {
        int ticket = doorbell.prepareToWait();
        if (ready.getAsBoolean()) {
            doorbell.cancelWait();
            spins = 0;
            return;
        }
        blocks++;
        if (!doorbell.await(ticket, blockTimeoutNanos)) {
            timeouts++;
        }
        spins = 0;
    }

    @Override
    public void reset() {
        spins = 0;
    }

    /** How many times this strategy went to sleep. */
    public long blocks() {
        return blocks;
    }

    /**
     * How many sleeps ended by timeout rather than by a ring. With a live peer that keeps the
     * protocol this is a lost wake-up, or a peer that is slower than the timeout.
     */
    public long timeouts() {
        return timeouts;
    }
}

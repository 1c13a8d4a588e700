package io.arrakis.stack.link;

/**
 * Nanosecond virtual time for deterministic simulations: it starts where it is told and moves
 * only when the simulation driver moves it, never by itself. A driver jumps it to the next
 * event (a frame's arrival, a timer) instead of waiting, so a simulated minute runs in
 * milliseconds and every run with the same inputs sees the same times.
 *
 * <p>Not thread-safe: a simulation runs on one thread.
 */
public final class VirtualClock implements Clock {
    private long now;
    private int links;

    /** A clock at time 0. */
    public VirtualClock() {
        this(0);
    }

    public VirtualClock(long startNanos) {
        this.now = startNanos;
    }

    /** The current virtual time in nanoseconds. */
    public long now() {
        return now;
    }

    @Override
    public long nanos() {
        return now;
    }

    /**
     * Moves time forward to {@code nanos}; staying put is allowed, going back is not.
     *
     * @throws IllegalArgumentException if {@code nanos} is before {@link #now()}
     */
    public void advanceTo(long nanos) {
        if (nanos < now) {
            throw new IllegalArgumentException("virtual time only moves forward: now " + now + " ns, asked for "
                    + nanos + " ns");
        }
        now = nanos;
    }

    /**
     * Moves time forward by {@code nanos} (0 or more).
     *
     * @throws IllegalArgumentException if {@code nanos} is negative, or the time would overflow
     */
    public void advanceBy(long nanos) {
        if (nanos < 0) {
            throw new IllegalArgumentException("virtual time only moves forward: cannot advance by " + nanos + " ns");
        }
        if (now + nanos < now) {
            throw new IllegalArgumentException("virtual time would overflow: now " + now + " ns, advance by " + nanos
                    + " ns");
        }
        advanceTo(now + nanos);
    }

    /** Numbers the {@link SimulatedLink}s made on this clock, so their identities do not depend on other simulations. */
    int nextLinkNumber() {
        return links++;
    }

    @Override
    public String toString() {
        return "VirtualClock[" + now + " ns]";
    }
}

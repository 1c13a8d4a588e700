package io.arrakis.stack.link;

/**
 * A source of nanosecond timestamps, so the stack's timers and the capture tools run on real
 * time in production and on {@link VirtualClock virtual time} in a deterministic simulation.
 * Only differences between readings mean anything, except for {@link #systemEpoch()}.
 */
@FunctionalInterface
public interface Clock {
    /** {@link System#nanoTime()}: monotonic, arbitrary origin (may be negative). Thread-safe. */
    Clock SYSTEM = System::nanoTime;

    /** The current time in nanoseconds. */
    long nanos();

    /** {@link #SYSTEM}. */
    static Clock system() {
        return SYSTEM;
    }

    /**
     * {@link System#nanoTime()} shifted to read nanoseconds since the Unix epoch as of the call:
     * still monotonic (it does not follow later wall-clock steps), and what a pcap capture wants,
     * so tools show the right date. Thread-safe.
     */
    static Clock systemEpoch() {
        java.time.Instant now = java.time.Instant.now();
        long offset = now.getEpochSecond() * 1_000_000_000L + now.getNano() - System.nanoTime();
        return () -> System.nanoTime() + offset;
    }
}

package io.arrakis.memory;

/**
 * What a polling loop does when a pass found no work. Implementations keep per-loop state, so
 * each instance belongs to one thread.
 *
 * <pre>{@code
 * while (running) {
 *     int work = ring.drain(handler, 64);
 *     idle.idle(work);
 * }
 * }</pre>
 */
public interface IdleStrategy {
    /** Called after every pass with the amount of work it did; backs off only when that is 0. */
    void idle(int workCount);

    /** Forgets any back-off, e.g. when the loop is about to wait for something new. */
    void reset();
}

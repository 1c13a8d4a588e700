package io.arrakis.stack.link;

/**
 * Sees every event on a {@link SimulatedLink}, as it happens, on the simulation thread: for
 * debugging a simulation, or digesting a run to check that a seed replays it exactly. Called
 * with primitives only, so tracing allocates nothing on the link's side.
 */
@FunctionalInterface
public interface LinkTrace {
    /**
     * @param nanos virtual time of the event: the transmit time for decisions, the arrival time
     *        for {@link LinkCounter#DELIVERED} and the receive-side drops
     * @param direction which way the frame travels
     * @param event what happened (never a byte counter)
     * @param frame the frame's number in its direction, from 0 in the order sent (both copies of
     *        a duplicated frame share it)
     * @param length the frame's length in bytes
     */
    void event(long nanos, SimulatedLink.Direction direction, LinkCounter event, long frame, int length);
}

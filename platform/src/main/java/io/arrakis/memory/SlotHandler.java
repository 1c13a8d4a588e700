package io.arrakis.memory;

import java.lang.foreign.MemorySegment;

/**
 * Receives one ring slot during {@code drain}, called on the consumer's thread: read the slot at
 * {@code offset} in {@code ring}. It is valid only until the handler returns (drain then
 * releases it to the producer). Create the handler once, outside the loop, so draining
 * allocates nothing.
 */
@FunctionalInterface
public interface SlotHandler {
    void onSlot(MemorySegment ring, long offset);
}

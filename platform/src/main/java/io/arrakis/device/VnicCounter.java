package io.arrakis.device;

/** What every {@link VnicQueue} counts. Drops are split by reason so an operator can act on them. */
public enum VnicCounter {
    RX_PACKETS,
    RX_BYTES,
    TX_PACKETS,
    TX_BYTES,
    /** A frame arrived but no free buffer was posted to receive it. */
    RX_DROPPED_NO_BUFFER,
    /** A frame matched no receive filter of this VNIC. */
    RX_DROPPED_FILTERED,
    /** A descriptor or frame failed validation (bad buffer index, length beyond the buffer, …). */
    RX_DROPPED_MALFORMED,
    /** The transmit ring was full when the stack offered frames. */
    TX_RING_FULL,
    /** The transmit filter refused a frame (source MAC/IP not owned by this VNIC). */
    TX_DROPPED_FILTERED,
    /** The rate limiter held frames back. */
    TX_RATE_LIMITED,
    /** Times this queue rang its peer's doorbell (a syscall each). */
    DOORBELLS_RUNG,
    /** Times the polling thread blocked on this queue's doorbell after its spin budget ran out. */
    IDLE_WAITS
}

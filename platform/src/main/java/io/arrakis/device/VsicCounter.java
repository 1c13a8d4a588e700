package io.arrakis.device;

/** What every {@link VsicQueue} counts. */
public enum VsicCounter {
    READS,
    READ_BYTES,
    WRITES,
    WRITE_BYTES,
    FLUSHES,
    /** Commands that completed with an error status. */
    ERRORS,
    /** Submissions refused because the submission queue was full. */
    QUEUE_FULL,
    /** Times the polling thread blocked on the completion doorbell after its spin budget ran out. */
    IDLE_WAITS
}

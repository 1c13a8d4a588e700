package io.arrakis.device;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * One receive/transmit queue pair of a {@link Vnic}, with the packet memory it moves frames in.
 *
 * <p>Frames never get copied across this interface: a frame lives in a buffer of {@link #memory()}
 * (buffer {@code i} starts at {@code i * bufferSize()}), and only its descriptor (buffer, offset,
 * length) moves, in a {@link PacketBatch}. Ownership of a buffer moves with its descriptor:
 * {@link #receive} hands buffers to the caller; {@link #transmit} and {@link #release} hand them
 * back; {@link #allocate} lends free buffers to fill.
 *
 * <p>Owned by one thread: every method except {@link #wakeup()} and {@link #counters()} must
 * be called by the thread that polls this queue.
 */
public interface VnicQueue {
    int index();

    /** The packet memory shared with the device. */
    MemorySegment memory();

    /** Size of every buffer in {@link #memory()}, a power of two. */
    int bufferSize();

    /** Bytes at the start of each buffer the device leaves free, so headers can be prepended. */
    int headroom();

    /**
     * Appends up to {@code batch.capacity() - batch.size()} received frames to {@code batch};
     * returns how many it appended (0 when none are waiting). Never blocks.
     */
    int receive(PacketBatch batch) throws IOException;

    /**
     * Offers the frames in {@code batch} for transmission, in order; returns how many the device
     * accepted (those are removed from the front of the batch and now belong to the device). The
     * rest stay in the batch for a later attempt. Never blocks.
     */
    int transmit(PacketBatch batch) throws IOException;

    /**
     * Appends up to {@code n} free buffers (offset {@link #headroom()}, length 0) to {@code batch}
     * for the caller to fill and transmit; returns how many it appended.
     */
    int allocate(PacketBatch batch, int n);

    /** Gives back buffers the caller received or allocated and will not transmit; empties the batch. */
    void release(PacketBatch batch);

    /**
     * Blocks until frames are probably waiting to be received, {@link #wakeup()} is called, or
     * {@code timeoutNanos} pass (0 or less: no limit); returns {@code true} unless it timed out.
     * Callers spin on {@link #receive} for a while first: blocking costs a kernel wake-up.
     */
    boolean awaitReceive(long timeoutNanos) throws IOException;

    /** Makes a concurrent or the next {@link #awaitReceive} return at once. Any thread. */
    void wakeup() throws IOException;

    /**
     * A descriptor that becomes readable (in epoll) when {@link #awaitReceive} would return, so
     * a selector can wait on this queue and on kernel sockets at once; -1 when the backend has
     * none, in which case such a selector must poll.
     */
    int readinessFd();

    /**
     * Prepares {@link #readinessFd()} for a caller about to sleep on it: afterwards the descriptor
     * becomes readable when a frame arrives or {@link #wakeup()} is called. Returns {@code false}
     * when frames already wait (the caller should {@link #receive} instead of sleeping). A thread
     * that polls {@link #receive} in a loop does not arm, so a busy receiver costs its senders
     * nothing; arming is what a poller does last, before it sleeps. The default suits backends
     * whose descriptor is readable whenever frames wait (TAP).
     */
    default boolean armReadiness() throws IOException {
        return true;
    }

    /**
     * Whether a sender (or {@link #wakeup()}) has signalled {@link #readinessFd()} since the last
     * {@link #armReadiness()}, the write done (so epoll has the event): a sleeper whose timeout ran
     * out while frames wait, although they were signalled so, missed a wake-up; frames whose
     * sender has not finished signalling (it was descheduled between publishing and writing) were
     * not missed. For monitoring; the default (no arming, so nothing to tell) says no.
     */
    default boolean readinessSignalled() {
        return false;
    }

    /** This queue's counters. Any thread may read them. */
    Counters<VnicCounter> counters();
}

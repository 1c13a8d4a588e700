package io.arrakis.control;

import io.arrakis.linux.EventFd;
import io.arrakis.linux.Futex;
import io.arrakis.linux.LinuxException;
import io.arrakis.memory.Doorbell;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * A VNIC's inbound bell (see {@link ChannelLayout}): a {@link Doorbell} its polling thread sleeps
 * on, plus an "armed" word that asks senders to write its readiness eventfd once. The word is
 * {@link #IDLE} (nobody asked, or the signal was written), {@link #ARMED_YES} (a sleeper asked) or
 * {@link #SIGNALLING} (a sender took the arming and is writing the eventfd), so the owner can
 * tell a signal on its way from one that was written. The owner and every sender make their own
 * flyweight over their own mapping. Thread-safe (all state is in shared memory, accessed
 * atomically); {@link #ring} is called by a sender's polling thread.
 */
final class Bell {
    /** {@link #ring} result bits. */
    static final int WOKE_SLEEPER = 1;
    static final int SIGNALLED_EVENTFD = 2;

    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle().withInvokeExactBehavior();
    private static final long SEQUENCE = ChannelLayout.BELL_DOORBELL;
    private static final long WAITERS = ChannelLayout.BELL_DOORBELL + 4;
    private static final long ARMED = ChannelLayout.BELL_ARMED;
    /** Values of the armed word. */
    static final int IDLE = 0;
    static final int ARMED_YES = 1;
    static final int SIGNALLING = 2;

    private final MemorySegment segment;
    private final Doorbell doorbell;
    private final int eventFd;

    Bell(MemorySegment segment, int eventFd) {
        this.segment = segment;
        this.doorbell = new Doorbell(segment, ChannelLayout.BELL_DOORBELL);
        this.eventFd = eventFd;
    }

    Doorbell doorbell() {
        return doorbell;
    }

    /**
     * Called after publishing: one fence and two reads when the receiver is busy; a
     * {@code FUTEX_WAKE} if it sleeps on the futex, an eventfd write if its selector armed it.
     * Returns which of the two it did. Garbage written by a peer costs at most a spurious call.
     */
    int ring() {
        // The StoreLoad half of the Doorbell protocol: our release store of the producer position
        // must be visible before we read whether anyone sleeps.
        VarHandle.fullFence();
        int done = 0;
        if ((int) INT.getAcquire(segment, WAITERS) != 0) {
            int _ = (int) INT.getAndAdd(segment, SEQUENCE, 1);
            try {
                Futex.wake(segment, SEQUENCE, Integer.MAX_VALUE);
            } catch (LinuxException e) {
                // The word is in our own mapping and aligned: EFAULT/EINVAL cannot happen.
                throw new IllegalStateException("FUTEX_WAKE on a peer's bell failed", e);
            }
            done |= WOKE_SLEEPER;
        }
        if (signalIfArmed()) {
            done |= SIGNALLED_EVENTFD;
        }
        return done;
    }

    /**
     * If the owner armed the bell, takes the arming and writes the eventfd once: the word goes
     * {@link #ARMED_YES} → {@link #SIGNALLING} → (written) → {@link #IDLE}, unless the owner armed
     * again meanwhile (then it stays armed). Returns whether it wrote.
     */
    boolean signalIfArmed() {
        if ((int) INT.getAcquire(segment, ARMED) != ARMED_YES
                || !(boolean) INT.compareAndSet(segment, ARMED, ARMED_YES, SIGNALLING)) {
            return false;
        }
        signal();
        boolean _ = (boolean) INT.compareAndSet(segment, ARMED, SIGNALLING, IDLE);
        return true;
    }

    /** Writes the eventfd; a full counter (only a hostile peer can fill it) is a signal already pending. */
    void signal() {
        try {
            EventFd.signal(eventFd, 1);
        } catch (LinuxException e) {
            // EAGAIN: the counter is at its maximum, so it is readable anyway.
        }
    }

    /** The owner announces that its selector may sleep in epoll on the eventfd. */
    void arm() {
        INT.setVolatile(segment, ARMED, ARMED_YES);
    }

    /** Whether a sender took the last arming and has written the eventfd (not just begun to). */
    boolean signalWritten() {
        return (int) INT.getVolatile(segment, ARMED) == IDLE;
    }

    int eventFd() {
        return eventFd;
    }
}

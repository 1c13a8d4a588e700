package io.arrakis.provider;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * What a user-level channel's waiters wait on: a sequence number bumped (under the stack lock)
 * whenever something about the channel may have changed — data, room, a connection, an error,
 * close — plus the threads parked on it and the selection keys to tell. A waiter reads the
 * sequence while it holds the lock and found nothing to do, and waits for it to move.
 *
 * <p>Thread-safe: any thread may signal (usually the one holding the stack lock); waiters and
 * keys come and go from any thread.
 */
final class Readiness {
    private final java.util.concurrent.atomic.AtomicInteger sequence = new java.util.concurrent.atomic.AtomicInteger();
    private final ConcurrentLinkedQueue<Thread> parked = new ConcurrentLinkedQueue<>();
    private volatile ArrakisSelectionKey[] keys = new ArrakisSelectionKey[0];

    private volatile Runnable hook;
    /** The stack whose leader sleeps in epoll waiting for this readiness, or null. */
    private volatile UserStack sleeper;

    void sleeper(UserStack stack) {
        this.sleeper = stack;
    }

    /** Something else to run on every signal (a private selector's wakeup). */
    void setHook(Runnable hook) {
        this.hook = hook;
    }

    ArrakisSelectionKey[] keys() {
        return keys;
    }

    int sequence() {
        return sequence.get();
    }

    boolean movedSince(int seen) {
        return sequence.get() != seen;
    }

    /** Something changed: wake the parked threads and the selectors this channel is registered with. */
    void signal() {
        sequence.incrementAndGet();
        for (Thread thread : parked) {
            LockSupport.unpark(thread);
        }
        for (ArrakisSelectionKey key : keys) {
            key.channelChanged();
        }
        Runnable h = hook;
        if (h != null) {
            h.run();
        }
        UserStack s = sleeper;
        if (s != null && Thread.currentThread() != s.leaderThread()) {
            s.wakeLeader();
        }
    }

    void park(Thread thread) {
        parked.add(thread);
    }

    void unpark(Thread thread) {
        parked.remove(thread);
    }

    synchronized void addKey(ArrakisSelectionKey key) {
        ArrakisSelectionKey[] old = keys;
        ArrakisSelectionKey[] grown = java.util.Arrays.copyOf(old, old.length + 1);
        grown[old.length] = key;
        keys = grown;
    }

    synchronized void removeKey(ArrakisSelectionKey key) {
        ArrakisSelectionKey[] old = keys;
        for (int i = 0; i < old.length; i++) {
            if (old[i] == key) {
                ArrakisSelectionKey[] shrunk = new ArrakisSelectionKey[old.length - 1];
                System.arraycopy(old, 0, shrunk, 0, i);
                System.arraycopy(old, i + 1, shrunk, i, old.length - i - 1);
                keys = shrunk;
                return;
            }
        }
    }
}

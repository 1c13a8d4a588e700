package io.arrakis.provider.net;

import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Waits until one non-blocking channel is ready, the way a {@code java.net} socket waits: on a
 * platform thread an interrupt does not end the wait (the interrupt status is kept for the
 * caller), on a virtual thread it ends it with {@link InterruptedIOException} (which
 * {@code java.net.Socket} turns into "Closed by interrupt"). Only blocking channels are
 * interruptible in the SPI's sense, and an interrupt closes them; that is why the sockets keep
 * their channels non-blocking and wait here.
 *
 * <p>The selector comes from the channel's own provider and is opened on the first wait, so a
 * socket whose operations never have to wait never pays for one. Concurrency: one thread waits
 * at a time (the socket's read or write lock holds); {@link #close} may be called from any
 * thread and wakes that waiter.
 */
final class ReadinessWait implements Closeable {
    private static final Consumer<SelectionKey> IGNORE_KEY = key -> {};

    private final SelectableChannel channel;
    private final Object lock = new Object();
    private Selector selector; // guarded by lock
    private SelectionKey key; // guarded by lock
    private boolean closed; // guarded by lock

    ReadinessWait(SelectableChannel channel) {
        this.channel = channel;
    }

    /**
     * Waits until the channel may be ready for {@code operation} (a {@link SelectionKey} bit),
     * {@code nanos} pass ({@code nanos <= 0}: no limit), or {@link #close} is called. Returns
     * without saying which: the caller retries its operation and checks its own deadline.
     *
     * @throws InterruptedIOException on a virtual thread whose interrupt status is set
     * @throws SocketException "Socket closed" once {@link #close} was called
     */
    void await(int operation, long nanos) throws IOException {
        Thread thread = Thread.currentThread();
        boolean virtual = thread.isVirtual();
        if (virtual && thread.isInterrupted()) {
            throw new InterruptedIOException();
        }
        Selector selector = selectorFor(operation);
        // A pending interrupt would end select at once, every time: a platform thread clears it
        // while it waits and sets it again afterwards, as java.net's blocking calls leave it.
        boolean interrupted = !virtual && Thread.interrupted();
        try {
            selector.select(IGNORE_KEY, nanos <= 0 ? 0 : Math.max(1, ceilMillis(nanos)));
            if (virtual) {
                if (thread.isInterrupted()) {
                    throw new InterruptedIOException();
                }
            } else if (Thread.interrupted()) {
                interrupted = true;
            }
        } catch (ClosedSelectorException e) {
            throw closedSocket();
        } finally {
            if (interrupted) {
                thread.interrupt();
            }
        }
    }

    /** Wakes a thread in {@link #await} without closing anything. */
    void wakeUp() {
        synchronized (lock) {
            if (selector != null && !closed) {
                selector.wakeup();
            }
        }
    }

    /** Closes the selector (waking a waiter); later waits throw "Socket closed". Idempotent. */
    @Override
    public void close() throws IOException {
        Selector toClose;
        synchronized (lock) {
            closed = true;
            toClose = selector;
            selector = null;
            key = null;
        }
        if (toClose != null) {
            toClose.close();
        }
    }

    private Selector selectorFor(int operation) throws IOException {
        synchronized (lock) {
            if (closed) {
                throw closedSocket();
            }
            if (selector == null) {
                Selector opened = channel.provider().openSelector();
                try {
                    key = channel.register(opened, operation);
                } catch (ClosedChannelException e) {
                    opened.close();
                    throw closedSocket();
                } catch (RuntimeException e) {
                    opened.close();
                    throw e;
                }
                selector = opened;
            } else if (key.interestOps() != operation) {
                try {
                    key.interestOps(operation);
                } catch (CancelledKeyException e) {
                    throw closedSocket(); // the channel was closed
                }
            }
            return selector;
        }
    }

    private static long ceilMillis(long nanos) {
        long millis = TimeUnit.NANOSECONDS.toMillis(nanos);
        return nanos > TimeUnit.MILLISECONDS.toNanos(millis) ? millis + 1 : millis;
    }

    static SocketException closedSocket() {
        return new SocketException("Socket closed");
    }
}

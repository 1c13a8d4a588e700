package io.arrakis.provider;

import java.nio.channels.CancelledKeyException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.spi.AbstractSelectionKey;

/**
 * A registration of one of our channels with an {@link ArrakisSelector}. Its user-level side is
 * the channel's {@link Readiness} (which tells the selector when to look again); its kernel side,
 * when the channel wraps a JDK channel, is a key of the selector's inner JDK selector whose
 * attachment is this key. Thread-safe: interest ops are volatile; ready ops are written by the
 * selecting thread.
 */
final class ArrakisSelectionKey extends AbstractSelectionKey {
    private final ArrakisSelector selector;
    private final SelectableChannel channel;
    private final RoutedChannel routed;
    private volatile int interestOps;
    private volatile int readyOps;
    /** The inner JDK selector's key for the channel's kernel side, or null. Written by the selector. */
    volatile SelectionKey kernelKey;
    /** Queued on the selector's dirty list (guarded by the selector's dirty lock). */
    boolean queued;
    /** Was ready at the last select: looked at again next time (level-triggered), guarded by the selector. */
    boolean wasReady;
    /** Ready ops found under the stack lock, reported after it is released (selecting thread only). */
    int judged;

    ArrakisSelectionKey(ArrakisSelector selector, SelectableChannel channel, int ops) {
        this.selector = selector;
        this.channel = channel;
        this.routed = (RoutedChannel) channel;
        this.interestOps = ops;
    }

    @Override
    public SelectableChannel channel() {
        return channel;
    }

    RoutedChannel routed() {
        return routed;
    }

    @Override
    public Selector selector() {
        return selector;
    }

    @Override
    public int interestOps() {
        ensureValid();
        return interestOps;
    }

    @Override
    public SelectionKey interestOps(int ops) {
        ensureValid();
        if ((ops & ~channel.validOps()) != 0) {
            throw new IllegalArgumentException(); // the JDK's, without a message
        }
        interestOps = ops;
        SelectionKey inner = kernelKey;
        if (inner != null && inner.isValid()) {
            inner.interestOps(ops);
        }
        selector.keyChanged(this, false);
        return this;
    }

    /** Interest ops without the validity check, for the selector. */
    int interest() {
        return interestOps;
    }

    @Override
    public int readyOps() {
        ensureValid();
        return readyOps;
    }

    void setReadyOps(int ops) {
        readyOps = ops;
    }

    int ready() {
        return readyOps;
    }

    /** Called by the channel's {@link Readiness} when something changed. */
    void channelChanged() {
        if (isValid()) {
            selector.keyChanged(this, true);
        }
    }

    private void ensureValid() {
        if (!isValid()) {
            throw new CancelledKeyException();
        }
    }
}

package io.arrakis.provider;

import java.nio.channels.SelectableChannel;

/**
 * What our {@link ArrakisSelector} needs of each of our channels: either the JDK channel it
 * wraps (registered with the selector's inner JDK selector) or the user-level side (its
 * {@link Readiness}, its stack, and which operations are ready).
 */
interface RoutedChannel {
    /** The JDK channel this one delegates to, or null while it is user-level (or undecided). */
    SelectableChannel kernelChannel();

    Readiness readiness();

    /** Whether the selector should judge {@link #readyOps} (a wildcard listener has both sides). */
    boolean hasUserSide();

    /** The stack this channel runs on, or null while it is not attached to one. */
    UserStack userStack();

    /** Under the stack's lock (when there is one): which of {@code interest} would not block now. */
    int readyOps(int interest);
}

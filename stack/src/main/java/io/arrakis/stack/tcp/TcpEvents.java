package io.arrakis.stack.tcp;

/**
 * Readiness notifications, so a selector learns of them without polling every connection. They
 * are edge hints ("this may have become true"): the receiver records them and later asks
 * {@link TcpConnection#isReadable()} and friends. Called on the engine's thread at the end of the
 * engine call that caused them (never in the middle of processing a segment), with the
 * connection passed in, so an implementation need not allocate. A callback may call back into
 * the engine.
 */
public interface TcpEvents {
    /** Receives nothing. */
    TcpEvents NONE = new TcpEvents() {};

    /** The handshake completed: a connect finished (or failed: see {@link #closed}). */
    default void connected(TcpConnection connection) {}

    /** In-order data, end of stream, or a failure became readable. */
    default void readable(TcpConnection connection) {}

    /** Acknowledged data freed room in the send buffer. */
    default void writable(TcpConnection connection) {}

    /** The connection reached CLOSED, normally or with a {@link TcpConnection#failure()}. */
    default void closed(TcpConnection connection) {}

    /** A listener has a connection ready for {@link TcpListener#accept()}. */
    default void acceptable(TcpListener listener) {}
}

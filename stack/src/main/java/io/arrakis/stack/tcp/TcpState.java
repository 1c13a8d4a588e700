package io.arrakis.stack.tcp;

/** The connection states of RFC 9293 §3.3.2. LISTEN belongs to {@link TcpListener}. */
public enum TcpState {
    CLOSED,
    LISTEN,
    SYN_SENT,
    SYN_RECEIVED,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    CLOSE_WAIT,
    CLOSING,
    LAST_ACK,
    TIME_WAIT;

    /** True once the handshake completed (RFC 9293's "synchronized" states), until CLOSED. */
    public boolean synchronizedState() {
        return ordinal() >= ESTABLISHED.ordinal();
    }
}

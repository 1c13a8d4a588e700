package io.arrakis.stack.tcp;

/**
 * Why a connection ended abnormally, as the application should learn it. The provider maps
 * these to the JDK's exceptions: {@code ConnectException("Connection refused")},
 * {@code SocketException("Connection reset")}, {@code SocketTimeoutException}/{@code
 * ConnectException("Connection timed out")}, and a closed channel.
 */
public enum TcpFailure {
    /** The peer answered our SYN with a RST (RFC 9293 §3.10.7.3), or refused a simultaneous open. */
    REFUSED,
    /** The peer reset a synchronized connection (an acceptable RST, RFC 5961 §3). */
    RESET,
    /** Retransmissions (of SYN, data, FIN, window or keep-alive probes) went unanswered too long. */
    TIMED_OUT,
    /** This side aborted: {@link TcpConnection#abort}, close with linger 0, or close with unread data. */
    ABORTED
}

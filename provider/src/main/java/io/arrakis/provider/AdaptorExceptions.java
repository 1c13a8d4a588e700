package io.arrakis.provider;

import java.io.IOException;
import java.net.SocketException;
import java.nio.channels.AlreadyBoundException;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NotYetBoundException;
import java.nio.channels.NotYetConnectedException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.channels.UnsupportedAddressTypeException;

/**
 * What the JDK's socket adaptors make of a channel's exceptions: {@code IOException}s pass
 * through untranslated where {@code java.net} declares {@code IOException} ({@link #translate}),
 * and become {@code SocketException}s with the JDK's messages where it declares only that
 * ({@link #toSocketException}); the channel's unchecked exceptions become
 * {@code SocketException}s too, except those with no {@code java.net} meaning, which pass
 * through. Stateless.
 */
final class AdaptorExceptions {
    private AdaptorExceptions() {}

    /** For a method declaring {@code IOException}: returns what to throw (or throws an unchecked exception). */
    static IOException translate(Exception e) {
        if (e instanceof IOException io) {
            return io;
        }
        return toSocketException(e);
    }

    /** For a method declaring only {@code SocketException}: returns what to throw (or throws an unchecked exception). */
    static SocketException toSocketException(Exception e) {
        if (e instanceof SocketException se) {
            return se;
        }
        String message = switch (e) {
            case ClosedChannelException x -> "Socket is closed";
            case NotYetConnectedException x -> "Socket is not connected";
            case AlreadyBoundException x -> "Already bound";
            case AlreadyConnectedException x -> "Already connected";
            case NotYetBoundException x -> "Socket is not bound yet";
            case UnsupportedAddressTypeException x -> "Unsupported address type";
            case UnresolvedAddressException x -> "Unresolved address";
            case IOException x -> x.getMessage();
            default -> null;
        };
        if (message != null) {
            return new SocketException(message, e);
        }
        if (e instanceof RuntimeException unchecked) {
            throw unchecked;
        }
        throw new IllegalStateException("a channel threw a checked exception that is not an IOException", e);
    }
}

package io.arrakis.provider.net;

import java.lang.ref.Cleaner;

/**
 * Closes the channels of sockets dropped without {@code close()}, as the JDK's own socket
 * implementation closes its descriptor. One daemon thread, started with the first socket.
 * Thread-safe.
 */
final class SocketCleaner {
    private SocketCleaner() {}

    private static final class Holder {
        static final Cleaner CLEANER = Cleaner.create();
    }

    static Cleaner.Cleanable register(Object owner, Runnable action) {
        return Holder.CLEANER.register(owner, action);
    }
}

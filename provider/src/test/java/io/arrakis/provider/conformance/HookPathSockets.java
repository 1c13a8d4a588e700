package io.arrakis.provider.conformance;

import io.arrakis.provider.ArrakisSelectorProvider;
import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.DatagramSocket;
import java.net.MulticastSocket;
import java.net.SocketAddress;
import java.net.SocketException;

/**
 * {@code java.net.DatagramSocket}s and {@code MulticastSocket}s over one {@link ArrakisSelectorProvider}
 * instance, built as {@code new DatagramSocket(local)} builds them under the agent: the rewritten
 * {@code DatagramSocket.createDelegate} takes the channel from the provider
 * ({@code openDatagramChannel()} there answers {@code openUninterruptibleDatagramChannel()}), and
 * does to its {@code socket()} adaptor what it does to any delegate (SO_REUSEADDR for a multicast
 * socket, bind, SO_BROADCAST when it can), then the socket wraps it. The conformance suite's
 * provider is not the JVM-wide one, so it cannot go through the constructor itself; the agent
 * module's {@code UnmodifiedServersTest} covers that path. Needs {@code java.net} open to us (the
 * module's test JVM has {@code --add-opens java.base/java.net=ALL-UNNAMED}). Stateless.
 */
final class HookPathSockets {
    private static final MethodHandle WRAP_DATAGRAM;
    private static final MethodHandle WRAP_MULTICAST;

    static {
        try {
            WRAP_DATAGRAM = MethodHandles.privateLookupIn(DatagramSocket.class, MethodHandles.lookup())
                    .findConstructor(DatagramSocket.class, MethodType.methodType(void.class, DatagramSocket.class));
            WRAP_MULTICAST = MethodHandles.privateLookupIn(MulticastSocket.class, MethodHandles.lookup())
                    .findConstructor(MulticastSocket.class, MethodType.methodType(void.class, MulticastSocket.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError("java.net's DatagramSocket(DatagramSocket) and MulticastSocket(MulticastSocket)"
                    + " constructors are not reachable (is java.net open to the tests?): " + e);
        }
    }

    private HookPathSockets() {
    }

    static DatagramSocket datagramSocket(ArrakisSelectorProvider provider, SocketAddress local) throws IOException {
        DatagramSocket delegate = delegate(provider, local, false);
        try {
            return (DatagramSocket) WRAP_DATAGRAM.invoke(delegate);
        } catch (Throwable e) {
            delegate.close();
            throw new IllegalStateException("wrapping the delegate failed", e);
        }
    }

    static MulticastSocket multicastSocket(ArrakisSelectorProvider provider, SocketAddress local) throws IOException {
        MulticastSocket delegate = (MulticastSocket) delegate(provider, local, true);
        try {
            return (MulticastSocket) WRAP_MULTICAST.invoke(delegate);
        } catch (Throwable e) {
            delegate.close();
            throw new IllegalStateException("wrapping the delegate failed", e);
        }
    }

    /** What {@code createDelegate} does with the delegate it gets, exceptions as it reports them. */
    private static DatagramSocket delegate(ArrakisSelectorProvider provider, SocketAddress local, boolean multicast)
            throws SocketException {
        DatagramSocket delegate = null;
        boolean ready = false;
        try {
            delegate = provider.openUninterruptibleDatagramChannel().socket();
            if (multicast) {
                delegate.setReuseAddress(true);
            }
            if (local != null) {
                delegate.bind(local);
            }
            try {
                delegate.setBroadcast(true);
            } catch (IOException ignored) {
                // as createDelegate: broadcast if the socket can
            }
            ready = true;
            return delegate;
        } catch (SocketException e) {
            throw e;
        } catch (IOException e) {
            if (e.getCause() instanceof SocketException cause) {
                throw cause;
            }
            throw new SocketException(e.getMessage(), e);
        } finally {
            if (!ready && delegate != null) {
                delegate.close();
            }
        }
    }
}

package io.arrakis.provider.net;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketImpl;
import java.net.SocketImplFactory;
import java.nio.channels.spi.SelectorProvider;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Puts {@code java.net.Socket} and {@code java.net.ServerSocket} on channels from the JVM's
 * {@link SelectorProvider} (ours, once the agent installed it), through the JDK's
 * {@code SocketImplFactory} hooks: {@code Socket.setSocketImplFactory} and
 * {@code ServerSocket.setSocketFactory}. Both are deprecated since JDK 17, not for removal, and
 * work in JDK 25; each can be set once per JVM, so {@link #install} is for the agent, and tests
 * (or code that wants one socket on channels) use {@link #newSocket}/{@link #newServerSocket},
 * which install nothing.
 *
 * <p>Not covered: sockets made with a SOCKS or HTTP {@code Proxy} keep the JDK's implementation
 * (the JDK builds those itself), and with a factory installed the {@code socksProxyHost} system
 * properties no longer apply to {@code new Socket()}, as for any installed factory.
 * {@code DatagramSocket} is the job of {@link DatagramSocketHook}. Thread-safe.
 */
public final class JavaNetHooks {
    private static final AtomicLong SOCKETS = new AtomicLong();
    private static final AtomicLong SERVER_SOCKETS = new AtomicLong();
    private static volatile boolean installed;

    private JavaNetHooks() {}

    /** Makes every {@code Socket} implementation a channel socket on {@code SelectorProvider.provider()}. */
    public static SocketImplFactory socketFactory() {
        return new SocketFactory();
    }

    /** Makes every {@code ServerSocket} implementation a channel server socket on {@code SelectorProvider.provider()}. */
    public static SocketImplFactory serverSocketFactory() {
        return new ServerSocketFactory();
    }

    // Classes, not lambdas: these are made in the agent's premain, and a JVM's first lambda costs
    // milliseconds of its start-up.
    private static final class SocketFactory implements SocketImplFactory {
        @Override
        public SocketImpl createSocketImpl() {
            SOCKETS.incrementAndGet();
            return new ChannelSocketImpl(SelectorProvider.provider());
        }
    }

    private static final class ServerSocketFactory implements SocketImplFactory {
        @Override
        public SocketImpl createSocketImpl() {
            SERVER_SOCKETS.incrementAndGet();
            return new ChannelServerSocketImpl(SelectorProvider.provider());
        }
    }

    /**
     * Installs both factories for this JVM. Both or, if the first is already taken, neither: a
     * {@code ServerSocket} on channels accepts only with the {@code Socket} factory in place.
     *
     * @throws SocketException naming the hook when another factory was installed before
     */
    @SuppressWarnings("deprecation") // the only JVM-wide hooks java.net has; deprecated, not for removal
    public static synchronized void install() throws IOException {
        if (installed) {
            return;
        }
        try {
            Socket.setSocketImplFactory(socketFactory());
        } catch (SocketException e) {
            throw new SocketException("java.net.Socket's SocketImplFactory was already set by someone else,"
                    + " so java.net.Socket and ServerSocket stay on the JDK's implementation", e);
        }
        try {
            ServerSocket.setSocketFactory(serverSocketFactory());
        } catch (SocketException e) {
            throw new SocketException("java.net.ServerSocket's SocketImplFactory was already set by someone else,"
                    + " so java.net.ServerSocket stays on its implementation (java.net.Socket is on channels)", e);
        }
        installed = true;
    }

    /** Whether {@link #install} succeeded in this JVM. */
    public static boolean installed() {
        return installed;
    }

    /** How many {@code Socket} implementations the installed factory made (accepted connections included). */
    public static long socketsCreated() {
        return SOCKETS.get();
    }

    /** How many {@code ServerSocket} implementations the installed factory made. */
    public static long serverSocketsCreated() {
        return SERVER_SOCKETS.get();
    }

    /** An unconnected {@code Socket} on channels from {@code provider}, whatever is installed. */
    public static Socket newSocket(SelectorProvider provider) throws SocketException {
        return new ChannelBackedSocket(new ChannelSocketImpl(provider));
    }

    /** An unbound {@code ServerSocket} on channels from {@code provider}, accepting into sockets like {@link #newSocket}'s. */
    public static ServerSocket newServerSocket(SelectorProvider provider) throws IOException {
        return new ChannelBackedServerSocket(provider);
    }

    /** {@code Socket}'s protected constructor is the way in for an implementation without a factory. */
    private static final class ChannelBackedSocket extends Socket {
        ChannelBackedSocket(SocketImpl implementation) throws SocketException {
            super(implementation);
        }
    }

    /** Accepts into a {@link ChannelBackedSocket}, since without the factory {@code ServerSocket.accept} has none to ask. */
    private static final class ChannelBackedServerSocket extends ServerSocket {
        private final SelectorProvider provider;

        ChannelBackedServerSocket(SelectorProvider provider) throws IOException {
            super(new ChannelServerSocketImpl(provider));
            this.provider = provider;
        }

        @Override
        public Socket accept() throws IOException {
            if (isClosed()) {
                throw new SocketException("Socket is closed");
            }
            if (!isBound()) {
                throw new SocketException("Socket is not bound yet");
            }
            Socket socket = new ChannelBackedSocket(new ChannelSocketImpl(provider));
            implAccept(socket);
            return socket;
        }
    }
}

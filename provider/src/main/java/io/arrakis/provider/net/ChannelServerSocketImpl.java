package io.arrakis.provider.net;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.ref.Cleaner;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketImpl;
import java.net.SocketOption;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What a {@code java.net.ServerSocket} runs on once {@link JavaNetHooks} are installed: a
 * {@link ServerSocketChannel} from a {@link SelectorProvider}, kept non-blocking, accepting into
 * {@link ChannelSocketImpl}s. Behaves as the JDK's own implementation: {@code SO_TIMEOUT} ends an
 * accept with {@code SocketTimeoutException("Accept timed out")} and leaves the socket usable,
 * a close from another thread ends a blocked accept with "Socket closed", an interrupt leaves a
 * platform thread blocked and closes the socket under a virtual thread.
 *
 * <p>A channel binds and listens in one call, so {@code bind} only records the address and
 * {@code listen} (which {@code ServerSocket.bind} calls right after) does both: a
 * {@code BindException} still reaches {@code ServerSocket.bind}. {@code IP_TOS}, which a
 * {@code ServerSocket} supports and a {@code ServerSocketChannel} does not, is kept here and
 * given to every accepted connection, which is what Linux does with a listener's TOS.
 *
 * <p>Concurrency: one thread accepts at a time (others wait for the accept lock, within their
 * timeout); state, options and close are guarded by a state lock and may come from any thread.
 */
final class ChannelServerSocketImpl extends SocketImpl {
    private static final int NEW = 0;
    private static final int UNBOUND = 1;
    private static final int LISTENING = 2;
    private static final int CLOSED = 3;
    private static final int DEFAULT_BACKLOG = 50;

    private final SelectorProvider provider;
    private final Object stateLock = new Object();
    private final ReentrantLock acceptLock = new ReentrantLock();

    private volatile int state = NEW; // written under stateLock
    private volatile Resources resources; // written under stateLock
    private InetSocketAddress pendingBind; // guarded by stateLock: recorded by bind, used by listen
    private volatile int timeout;
    private volatile Integer trafficClass; // IP_TOS for accepted connections, null until set
    private volatile Set<SocketOption<?>> supportedOptions;

    ChannelServerSocketImpl(SelectorProvider provider) {
        this.provider = Objects.requireNonNull(provider, "provider");
    }

    @Override
    protected void create(boolean stream) throws IOException {
        if (!stream) {
            throw new IOException("Datagram socket creation not supported");
        }
        synchronized (stateLock) {
            if (state != NEW) {
                throw new IOException("Already created");
            }
            ServerSocketChannel channel = provider.openServerSocketChannel();
            try {
                channel.configureBlocking(false);
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
            resources = new Resources(channel, this);
            state = UNBOUND;
        }
    }

    @Override
    protected void bind(InetAddress host, int port) throws IOException {
        synchronized (stateLock) {
            ensureOpen();
            if (pendingBind != null || localport != 0) {
                throw new SocketException("Already bound");
            }
            pendingBind = new InetSocketAddress(host, port);
        }
    }

    @Override
    protected void listen(int backlog) throws IOException {
        synchronized (stateLock) {
            ServerSocketChannel channel = ensureOpen();
            InetSocketAddress local = pendingBind;
            if (local == null) {
                throw new SocketException("Not bound");
            }
            if (state == LISTENING) {
                return; // the kernel would only change the backlog; a channel cannot
            }
            try {
                channel.bind(local, backlog < 1 ? DEFAULT_BACKLOG : backlog);
            } catch (IOException e) {
                pendingBind = null; // a later bind may try another address
                throw ChannelSocketImpl.asSocketException(e);
            }
            // The given address, not the bound one (::), as the JDK's server socket reports it.
            address = local.getAddress();
            localport = ((InetSocketAddress) channel.getLocalAddress()).getPort();
            state = LISTENING;
        }
    }

    @Override
    protected void accept(SocketImpl socket) throws IOException {
        if (!(socket instanceof ChannelSocketImpl target)) {
            throw new SocketException("Cannot accept into " + socket.getClass().getName()
                    + ": a ServerSocket on Arrakis channels accepts into sockets made by the same hooks");
        }
        if (!target.acceptable()) {
            throw new SocketException("Not a newly created SocketImpl");
        }
        int timeout = this.timeout;
        long remaining = 0;
        if (timeout > 0) {
            remaining = ChannelSocketImpl.tryLock(acceptLock, timeout);
            if (remaining <= 0) {
                throw new SocketTimeoutException("Accept timed out");
            }
        } else {
            acceptLock.lock();
        }
        SocketChannel accepted;
        try {
            Resources r = ensureListening();
            long start = System.nanoTime();
            while (true) {
                accepted = r.channel.accept();
                if (accepted != null) {
                    break;
                }
                long left = 0;
                if (timeout > 0) {
                    left = remaining - (System.nanoTime() - start);
                    if (left <= 0) {
                        throw new SocketTimeoutException("Accept timed out");
                    }
                }
                r.acceptWait.await(SelectionKey.OP_ACCEPT, left);
            }
        } catch (ClosedChannelException e) {
            throw ReadinessWait.closedSocket();
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            throw ChannelSocketImpl.asSocketException(e);
        } finally {
            acceptLock.unlock();
        }
        try {
            Integer tos = trafficClass;
            if (tos != null) {
                accepted.setOption(StandardSocketOptions.IP_TOS, tos);
            }
            target.acceptedChannel(accepted);
        } catch (IOException | RuntimeException e) {
            accepted.close();
            throw e;
        }
    }

    @Override
    protected void close() throws IOException {
        Resources toClose;
        synchronized (stateLock) {
            if (state == CLOSED) {
                return;
            }
            state = CLOSED;
            toClose = resources;
        }
        if (toClose != null) {
            toClose.close();
        }
    }

    // ---- what a server socket does not do ----------------------------------------------------

    @Override
    protected void connect(String host, int port) throws IOException {
        throw notClientSocket();
    }

    @Override
    protected void connect(InetAddress address, int port) throws IOException {
        throw notClientSocket();
    }

    @Override
    protected void connect(SocketAddress address, int timeout) throws IOException {
        throw notClientSocket();
    }

    @Override
    protected InputStream getInputStream() throws IOException {
        throw notClientSocket();
    }

    @Override
    protected OutputStream getOutputStream() throws IOException {
        throw notClientSocket();
    }

    @Override
    protected int available() throws IOException {
        throw notClientSocket();
    }

    @Override
    protected void sendUrgentData(int data) throws IOException {
        throw notClientSocket();
    }

    private static SocketException notClientSocket() {
        return new SocketException("Not a connected socket: this is a ServerSocket's implementation");
    }

    // ---- options ----------------------------------------------------------------------------

    @Override
    protected Set<SocketOption<?>> supportedOptions() {
        Set<SocketOption<?>> options = supportedOptions;
        Resources r = resources;
        if (options == null && r != null) {
            supportedOptions = options = LegacyOptions.with(r.channel.supportedOptions(), StandardSocketOptions.IP_TOS);
        }
        return options == null ? Set.of() : options;
    }

    @Override
    protected <T> void setOption(SocketOption<T> option, T value) throws IOException {
        if (!supportedOptions().contains(option)) {
            throw new UnsupportedOperationException("'" + option + "' not supported");
        }
        if (!option.type().isInstance(value)) {
            throw new IllegalArgumentException("Invalid value '" + value + "'");
        }
        synchronized (stateLock) {
            ServerSocketChannel channel = ensureOpen();
            if (option == StandardSocketOptions.IP_TOS) {
                trafficClass = trafficClass((Integer) value);
                return;
            }
            try {
                channel.setOption(option, value);
            } catch (IOException e) {
                throw ChannelSocketImpl.asSocketException(e);
            }
        }
    }

    @Override
    @SuppressWarnings("unchecked")
    protected <T> T getOption(SocketOption<T> option) throws IOException {
        if (!supportedOptions().contains(option)) {
            throw new UnsupportedOperationException("'" + option + "' not supported");
        }
        synchronized (stateLock) {
            ServerSocketChannel channel = ensureOpen();
            if (option == StandardSocketOptions.IP_TOS) {
                Integer tos = trafficClass;
                return (T) (tos == null ? Integer.valueOf(0) : tos);
            }
            try {
                return channel.getOption(option);
            } catch (IOException e) {
                throw ChannelSocketImpl.asSocketException(e);
            }
        }
    }

    /** The JDK's check for {@code IP_TOS} values (an unsigned byte), whose message it also uses. */
    private static int trafficClass(int value) {
        if (value < 0 || value > 255) {
            throw new IllegalArgumentException("Invalid IP_TOS value");
        }
        return value;
    }

    @Override
    public void setOption(int id, Object value) throws SocketException {
        synchronized (stateLock) {
            ServerSocketChannel channel = ensureOpen();
            try {
                switch (id) {
                    case SO_TIMEOUT -> {
                        int millis = LegacyOptions.intValue(value, "SO_TIMEOUT");
                        if (millis < 0) {
                            throw new IllegalArgumentException("timeout < 0");
                        }
                        timeout = millis;
                    }
                    case IP_TOS -> trafficClass = trafficClass(LegacyOptions.intValue(value, "IP_TOS"));
                    default -> LegacyOptions.set(channel, id, value);
                }
            } catch (SocketException e) {
                throw e;
            } catch (IllegalArgumentException | UnsupportedOperationException | IOException e) {
                throw ChannelSocketImpl.asSocketException(e);
            }
        }
    }

    @Override
    public Object getOption(int id) throws SocketException {
        synchronized (stateLock) {
            ServerSocketChannel channel = ensureOpen();
            try {
                return switch (id) {
                    case SO_TIMEOUT -> timeout;
                    case IP_TOS -> {
                        Integer tos = trafficClass;
                        yield tos == null ? 0 : tos;
                    }
                    default -> LegacyOptions.get(channel, id);
                };
            } catch (SocketException e) {
                throw e;
            } catch (IllegalArgumentException | UnsupportedOperationException | IOException e) {
                throw ChannelSocketImpl.asSocketException(e);
            }
        }
    }

    private ServerSocketChannel ensureOpen() throws SocketException {
        int s = state;
        if (s == CLOSED) {
            throw ReadinessWait.closedSocket();
        }
        if (s == NEW) {
            throw new SocketException("Not created");
        }
        return resources.channel;
    }

    private Resources ensureListening() throws SocketException {
        int s = state;
        if (s == CLOSED) {
            throw ReadinessWait.closedSocket();
        }
        if (s != LISTENING) {
            throw new SocketException("Not bound");
        }
        return resources;
    }

    /** The channel and its accept wait; closed by {@link #close} or, for a server socket nobody closed, by the cleaner. */
    private static final class Resources implements Runnable {
        final ServerSocketChannel channel;
        final ReadinessWait acceptWait;
        private final Cleaner.Cleanable cleanable;

        Resources(ServerSocketChannel channel, Object owner) {
            this.channel = channel;
            this.acceptWait = new ReadinessWait(channel);
            this.cleanable = SocketCleaner.register(owner, this);
        }

        void close() throws IOException {
            try {
                cleanable.clean();
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }

        @Override
        public void run() {
            try (acceptWait) {
                channel.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}

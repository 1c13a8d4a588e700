package io.arrakis.provider;

import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpEvents;
import io.arrakis.stack.tcp.TcpListener;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.net.SocketOption;
import java.nio.channels.AlreadyBoundException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.NotYetBoundException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A TCP listener on the user-level stack, the kernel, or both. Bound to an address the provider
 * routes (our VNIC's), it listens user-level only; bound to the wildcard, it listens on both
 * paths with the same port, so clients with and without Arrakis reach it; bound to any other
 * address, it is the JDK's own listener, wrapped. {@link #accept} returns whichever connection
 * is ready first.
 *
 * <p>Thread-safe as the JDK's: one accepting thread at a time ({@link #acceptLock}), state under
 * {@link #stateLock}, engine calls under the stack's lock.
 */
final class ArrakisServerSocketChannel extends ServerSocketChannel implements RoutedChannel {
    private final ArrakisSelectorProvider arrakis;
    private final ReentrantLock acceptLock = new ReentrantLock();
    private final Object stateLock = new Object();
    private final Readiness readiness = new Readiness();
    private final SocketOptionValues options = SocketOptionValues.forServer();

    private volatile ServerSocketChannel kernel;
    private volatile UserStack net;
    private volatile TcpListener listener;
    private volatile InetSocketAddress userAddress;
    private volatile boolean bound;
    /** Whether we announced our port to the control plane for loopback clients. */
    private volatile boolean announced;
    /** For a blocking accept on both paths: waits on the kernel listener, woken by user-level events. */
    private Selector blockingWait;
    private ServerSocket socketAdaptor;

    ArrakisServerSocketChannel(ArrakisSelectorProvider provider) {
        super(provider);
        this.arrakis = provider;
    }

    // ------------------------------------------------------------------ RoutedChannel

    @Override
    public SelectableChannel kernelChannel() {
        return kernel;
    }

    @Override
    public Readiness readiness() {
        return readiness;
    }

    @Override
    public UserStack userStack() {
        return net;
    }

    @Override
    public int readyOps(int interest) {
        TcpListener l = listener;
        if (l != null && (interest & SelectionKey.OP_ACCEPT) != 0 && l.acceptQueueLength() > 0) {
            return SelectionKey.OP_ACCEPT;
        }
        return 0;
    }

    @Override
    public boolean hasUserSide() {
        return listener != null;
    }

    private void ensureOpen() throws ClosedChannelException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
    }

    // ------------------------------------------------------------------ bind

    @Override
    public ServerSocketChannel bind(SocketAddress local, int backlog) throws IOException {
        synchronized (stateLock) {
            ensureOpen();
            if (bound) {
                throw new AlreadyBoundException();
            }
            InetSocketAddress isa = local == null ? new InetSocketAddress(0) : Addresses.check(local);
            InetAddress address = isa.getAddress();
            int queue = backlog < 1 ? 50 : backlog;
            int ipv4 = Addresses.ipv4(address);
            if (ipv4 != 0 && arrakis.routesLocal(ipv4)) {
                UserStack stack = arrakis.userStack();
                if (ipv4 != stack.address()) {
                    throw new BindException("Cannot assign requested address");
                }
                listenUserLevel(stack, isa.getPort(), queue);
                bound = true;
                return this;
            }
            boolean bothPaths = address.isAnyLocalAddress()
                    || (address.isLoopbackAddress() && arrakis.loopbackAcceleration());
            ServerSocketChannel k = JdkProvider.get().openServerSocketChannel();
            try {
                options.replayOn(k);
                k.bind(isa, backlog);
                // Listening on both paths, we wait on the kernel side ourselves (see accept).
                k.configureBlocking(isBlocking() && !bothPaths);
            } catch (IOException | RuntimeException e) {
                k.close();
                throw e;
            }
            kernel = k;
            bound = true;
            if (bothPaths) {
                int port = ((InetSocketAddress) k.getLocalAddress()).getPort();
                try {
                    listenUserLevel(arrakis.userStack(), port, queue);
                    // Processes on the switch connecting to 127.0.0.1:port come to us through it.
                    announced = arrakis.announceLoopbackListener(net, port);
                } catch (IOException e) {
                    // The port is taken on the user-level side (or the stack is unavailable): the
                    // kernel listener still serves everyone, only without the fast path.
                    arrakis.log(System.Logger.Level.WARNING, "listening on the wildcard port " + port
                            + " through the kernel only: " + e.getMessage());
                    k.configureBlocking(isBlocking());
                }
            }
            for (ArrakisSelectionKey key : readiness.keys()) {
                ((ArrakisSelector) key.selector()).attachKernel(key);
            }
            return this;
        }
    }

    private void listenUserLevel(UserStack stack, int port, int backlog) throws IOException {
        boolean reusePort = Boolean.TRUE.equals(options.get(java.net.StandardSocketOptions.SO_REUSEPORT));
        TcpListener l = stack.listen(port, backlog, options.sendBufferSize(), options.receiveBufferSize(), reusePort,
                readiness);
        listener = l;
        net = stack;
        userAddress = new InetSocketAddress(Addresses.inet(stack.address()), l.localPort());
        readiness.signal();
    }

    // ------------------------------------------------------------------ accept

    @Override
    public SocketChannel accept() throws IOException {
        return accept(Long.MAX_VALUE);
    }

    /**
     * A blocking-mode accept that gives up at {@code deadline} ({@link System#nanoTime} scale)
     * with {@code SocketTimeoutException("Accept timed out")}: the {@code ServerSocket}
     * adaptor's {@code SO_TIMEOUT}.
     */
    SocketChannel accept(long deadline) throws IOException {
        acceptLock.lock();
        try {
            ensureOpen();
            if (!bound) {
                throw new NotYetBoundException();
            }
            ServerSocketChannel k = kernel;
            if (k != null && listener == null) {
                return wrap(deadline == Long.MAX_VALUE || !k.isBlocking() ? kernelCall(k) : kernelTimedAccept(k, deadline));
            }
            boolean blocking = isBlocking();
            SocketChannel accepted = null;
            if (blocking) {
                begin();
            }
            try {
                while (true) {
                    if (!isOpen()) {
                        return null; // closed under us: end(false) throws AsynchronousCloseException
                    }
                    int seen = readiness.sequence();
                    accepted = acceptUserLevel();
                    if (accepted == null && k != null) {
                        SocketChannel fromKernel = k.accept();
                        accepted = fromKernel == null ? null : wrap(fromKernel);
                    }
                    if (accepted != null || !blocking) {
                        return accepted;
                    }
                    if (k == null) {
                        boolean moved = net.await(readiness, seen, deadline);
                        if (!isOpen() || Thread.currentThread().isInterrupted()) {
                            return null;
                        }
                        if (!moved && deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) {
                            throw new java.net.SocketTimeoutException("Accept timed out");
                        }
                    } else {
                        waitOnBoth(k, seen, deadline);
                        if (!isOpen() || Thread.currentThread().isInterrupted()) {
                            return null;
                        }
                        if (deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) {
                            throw new java.net.SocketTimeoutException("Accept timed out");
                        }
                    }
                }
            } finally {
                if (blocking) {
                    end(accepted != null);
                }
            }
        } finally {
            acceptLock.unlock();
        }
    }

    private SocketChannel kernelCall(ServerSocketChannel k) throws IOException {
        try {
            return k.accept();
        } catch (AsynchronousCloseException e) {
            close();
            throw e;
        }
    }

    /**
     * The JDK channel's only timed accept is its socket adaptor's. Its timeout is set for each
     * call: nothing else uses that adaptor.
     */
    private SocketChannel kernelTimedAccept(ServerSocketChannel k, long deadline) throws IOException {
        long millis = Math.max(1, (deadline - System.nanoTime() + 999_999) / 1_000_000);
        ServerSocket adaptor = k.socket();
        try {
            adaptor.setSoTimeout((int) Math.min(millis, Integer.MAX_VALUE));
            return adaptor.accept().getChannel();
        } catch (AsynchronousCloseException e) {
            close();
            throw e;
        }
    }

    private SocketChannel wrap(SocketChannel fromKernel) {
        return fromKernel == null ? null : new ArrakisSocketChannel(arrakis, fromKernel);
    }

    private SocketChannel acceptUserLevel() throws IOException {
        TcpListener l = listener;
        if (l == null) {
            return null;
        }
        UserStack stack = net;
        TcpConnection c;
        stack.lock().lock();
        try {
            c = stack.tcp().accept(l);
            if (c == null) {
                stack.pollLocked();
                c = stack.tcp().accept(l);
            }
            if (c == null) {
                return null;
            }
            return new ArrakisSocketChannel(arrakis, stack, c, options);
        } finally {
            stack.unlock();
        }
    }

    private void waitOnBoth(ServerSocketChannel k, int seen, long deadline) throws IOException {
        Selector wait;
        synchronized (stateLock) {
            if (!isOpen()) {
                return; // closed already: a selector made now would never be closed
            }
            if (blockingWait == null) {
                blockingWait = JdkProvider.get().openSelector();
                k.register(blockingWait, SelectionKey.OP_ACCEPT);
                Selector s = blockingWait;
                readiness.setHook(s::wakeup);
            }
            wait = blockingWait;
        }
        if (readiness.movedSince(seen)) {
            return;
        }
        long millis = deadline == Long.MAX_VALUE ? 1_000
                : Math.max(1, Math.min(1_000, (deadline - System.nanoTime()) / 1_000_000));
        try {
            wait.select(millis);
            wait.selectedKeys().clear();
        } catch (ClosedSelectorException closedUnderUs) {
            // The channel was closed (by another thread, or by an interrupt): the caller looks.
        } finally {
            // The JDK selector's begin put its own interrupt hook in place of this channel's, and
            // its end removed it: ours must be back for the rest of the accept, as the JDK's
            // accept keeps it. Putting it back closes the channel at once if the thread was
            // interrupted meanwhile, so the accept ends with ClosedByInterruptException.
            begin();
        }
    }

    // ------------------------------------------------------------------ addresses, options

    @Override
    public SocketAddress getLocalAddress() throws IOException {
        ensureOpen();
        ServerSocketChannel k = kernel;
        if (k != null) {
            return k.getLocalAddress();
        }
        return userAddress;
    }

    /** The bound address, or null while unbound; kept once closed, as {@code ServerSocket.getLocalPort} wants. */
    InetSocketAddress localAddressOrNull() {
        ServerSocketChannel k = kernel;
        return k != null ? (InetSocketAddress) k.socket().getLocalSocketAddress() : userAddress;
    }

    boolean isBound() {
        return bound;
    }

    @Override
    public ServerSocket socket() {
        synchronized (stateLock) {
            if (socketAdaptor == null) {
                socketAdaptor = arrakis.serverSocketAdaptor(this);
            }
            return socketAdaptor;
        }
    }

    @Override
    public <T> ServerSocketChannel setOption(SocketOption<T> name, T value) throws IOException {
        synchronized (stateLock) {
            options.check(name, value);
            ensureOpen();
            options.set(name, value);
            ServerSocketChannel k = kernel;
            if (k != null) {
                k.setOption(name, value);
            }
            return this;
        }
    }

    @Override
    public <T> T getOption(SocketOption<T> name) throws IOException {
        options.checkSupported(name);
        ensureOpen();
        ServerSocketChannel k = kernel;
        if (k != null) {
            return k.getOption(name);
        }
        return options.get(name);
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return options.supported();
    }

    // ------------------------------------------------------------------ blocking, close

    @Override
    protected void implConfigureBlocking(boolean block) throws IOException {
        ServerSocketChannel k = kernel;
        if (k != null && listener == null) {
            k.configureBlocking(block);
        }
    }

    @Override
    protected void implCloseSelectableChannel() throws IOException {
        ServerSocketChannel k;
        Selector wait;
        synchronized (stateLock) {
            k = kernel;
            wait = blockingWait;
            TcpListener l = listener;
            UserStack stack = net;
            if (l != null && stack != null) {
                stack.unlisten(l, readiness);
                if (announced) {
                    arrakis.withdrawLoopbackListener(stack, l.localPort());
                }
            }
        }
        readiness.signal();
        if (wait != null) {
            wait.close();
        }
        if (k != null) {
            k.close();
        }
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("ArrakisServerSocketChannel[");
        if (!isOpen()) {
            b.append("closed");
        } else if (!bound) {
            b.append("unbound");
        } else {
            if (listener != null) {
                b.append("user-level ").append(userAddress);
            }
            if (kernel != null) {
                b.append(listener != null ? " and " : "").append("kernel ").append(kernel);
            }
        }
        return b.append(']').toString();
    }
}

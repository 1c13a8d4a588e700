package io.arrakis.provider;

import io.arrakis.device.Ipv4Text;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpEvents;
import io.arrakis.stack.tcp.TcpFailure;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketOption;
import java.nio.ByteBuffer;
import java.nio.channels.AlreadyBoundException;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ConnectionPendingException;
import java.nio.channels.NoConnectionPendingException;
import java.nio.channels.NotYetConnectedException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A TCP {@link SocketChannel} that runs on the user-level stack when its connection is routed
 * there, and is the JDK's own channel (wrapped) otherwise. The route is decided at
 * {@link #connect}: an address the provider routes, or 127.0.0.1 where a process on the switch
 * listens, goes user-level; anything else gets a kernel socket, with the options and blocking mode
 * set so far replayed on it.
 *
 * <p>Thread-safe as the JDK's: one reader and one writer at a time ({@link #readLock},
 * {@link #writeLock}, fair to virtual threads), state under {@link #stateLock}, engine calls under
 * the stack's lock.
 */
final class ArrakisSocketChannel extends SocketChannel implements RoutedChannel {
    private static final int UNCONNECTED = 0, PENDING = 1, CONNECTED = 2, CLOSED = 3;

    private final ArrakisSelectorProvider arrakis;
    private final ReentrantLock readLock = new ReentrantLock();
    private final ReentrantLock writeLock = new ReentrantLock();
    private final Object stateLock = new Object();
    /** The one-buffer arrays single-buffer reads and writes pass on: no array per call. */
    private final ByteBuffer[] oneReadBuffer = new ByteBuffer[1];
    private final ByteBuffer[] oneWriteBuffer = new ByteBuffer[1];
    private final Readiness readiness = new Readiness();
    private final SocketOptionValues options;
    private final TcpEvents events = new TcpEvents() {
        @Override
        public void connected(TcpConnection connection) {
            readiness.signal();
        }

        @Override
        public void readable(TcpConnection connection) {
            readiness.signal();
        }

        @Override
        public void writable(TcpConnection connection) {
            readiness.signal();
        }

        @Override
        public void closed(TcpConnection connection) {
            readiness.signal();
        }
    };

    // Guarded by stateLock (written), volatile for lock-free reads.
    private volatile int state = UNCONNECTED;
    private volatile SocketChannel kernel;
    private volatile UserStack net;
    private volatile TcpConnection connection;
    private volatile InetSocketAddress localAddress;
    private volatile InetSocketAddress remoteAddress;
    private volatile boolean inputShutdown;
    private volatile boolean outputShutdown;
    private Socket socketAdaptor;
    /** Whether this channel reserved its local port (an accepted one shares its listener's). */
    private volatile boolean ownsPort = true;

    ArrakisSocketChannel(ArrakisSelectorProvider provider) {
        super(provider);
        this.arrakis = provider;
        this.options = SocketOptionValues.forSocket();
    }

    /** A connection the stack accepted for {@code server}: already connected, user-level. */
    ArrakisSocketChannel(ArrakisSelectorProvider provider, UserStack net, TcpConnection accepted,
            SocketOptionValues inherited) {
        super(provider);
        this.arrakis = provider;
        this.options = inherited.copyForAccepted();
        this.net = net;
        this.connection = accepted;
        this.state = CONNECTED;
        this.ownsPort = false;
        this.localAddress = new InetSocketAddress(Addresses.inet(accepted.localAddress()), accepted.localPort());
        this.remoteAddress = new InetSocketAddress(Addresses.inet(accepted.remoteAddress()), accepted.remotePort());
        accepted.setEvents(events);
        options.applyTo(accepted);
    }

    /** A kernel connection accepted by a wildcard or kernel-routed server, wrapped. */
    ArrakisSocketChannel(ArrakisSelectorProvider provider, SocketChannel acceptedByKernel) {
        super(provider);
        this.arrakis = provider;
        this.options = SocketOptionValues.forSocket();
        this.kernel = acceptedByKernel;
        this.state = CONNECTED;
    }

    // ------------------------------------------------------------------ routing

    @Override
    public SocketChannel kernelChannel() {
        return kernel;
    }

    @Override
    public boolean hasUserSide() {
        return kernel == null;
    }

    @Override
    public Readiness readiness() {
        return readiness;
    }

    @Override
    public UserStack userStack() {
        return net;
    }

    /**
     * Locks the stack this channel's connection lives on and returns it: with several stacks
     * (one per queue) the connection may move to the stack of the selector it is registered with
     * ({@link QueueStacks#move}), which changes {@link #net} under both stacks' locks, so a
     * stack read before the lock is checked again under it.
     */
    private UserStack lockNet() {
        while (true) {
            UserStack s = net;
            s.lock().lock();
            if (s == net) {
                return s;
            }
            s.lock().unlock();
        }
    }

    /** The user-level connection, or null (unconnected, or kernel-backed). */
    TcpConnection userConnection() {
        return connection;
    }

    /** Under both stacks' locks ({@link QueueStacks#move}): the connection now lives on {@code stack}. */
    void movedTo(UserStack stack) {
        net = stack;
    }

    /** Under the stack lock: the operations that would not block now. */
    @Override
    public int readyOps(int interest) {
        TcpConnection c = connection;
        int ready = 0;
        int s = state;
        if (c == null) {
            return s == CLOSED ? interest : 0;
        }
        if ((interest & SelectionKey.OP_CONNECT) != 0 && s == PENDING
                && (c.isConnected() || c.state() == io.arrakis.stack.tcp.TcpState.CLOSED || c.wasEstablished())) {
            ready |= SelectionKey.OP_CONNECT;
        }
        if (s == CONNECTED) {
            if ((interest & SelectionKey.OP_READ) != 0 && (inputShutdown || c.isReadable())) {
                ready |= SelectionKey.OP_READ;
            }
            if ((interest & SelectionKey.OP_WRITE) != 0 && (outputShutdown || c.isWritable())) {
                ready |= SelectionKey.OP_WRITE;
            }
        }
        return ready;
    }

    private void ensureOpen() throws ClosedChannelException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
    }

    /** The JDK's order: closed before not-yet-connected, judged by our state (set at close). */
    private void ensureOpenAndConnected() throws ClosedChannelException {
        int s = state;
        if (!isOpen() || s == CLOSED) {
            throw new ClosedChannelException();
        }
        if (s != CONNECTED) {
            throw new NotYetConnectedException();
        }
    }

    /**
     * Moves this channel onto a kernel socket: bound as we were, with the options set so far and
     * our blocking mode. Under {@link #stateLock}.
     */
    private SocketChannel becomeKernel() throws IOException {
        SocketChannel k = JdkProvider.get().openSocketChannel();
        try {
            options.replayOn(k);
            InetSocketAddress bound = localAddress;
            if (bound != null) {
                k.bind(bound.getAddress().isAnyLocalAddress() ? new InetSocketAddress(bound.getPort() == 0 ? 0
                        : bound.getPort()) : bound);
            }
            k.configureBlocking(isBlocking());
        } catch (IOException | RuntimeException e) {
            k.close();
            throw e;
        }
        kernel = k;
        if (net != null && localAddress != null) {
            net.releasePort(localAddress.getPort());
        }
        for (ArrakisSelectionKey key : readiness.keys()) {
            ((ArrakisSelector) key.selector()).attachKernel(key);
        }
        return k;
    }

    // ------------------------------------------------------------------ bind / connect

    @Override
    public SocketChannel bind(SocketAddress local) throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            k.bind(local);
            return this;
        }
        readLock.lock();
        try {
            writeLock.lock();
            try {
                synchronized (stateLock) {
                    ensureOpen();
                    if (state == PENDING) {
                        throw new ConnectionPendingException();
                    }
                    if (localAddress != null) {
                        throw new AlreadyBoundException();
                    }
                    InetSocketAddress isa = local == null ? new InetSocketAddress(0) : Addresses.check(local);
                    InetAddress address = isa.getAddress();
                    if (address.isAnyLocalAddress() || !(address instanceof Inet4Address)
                            || !arrakis.routesLocal(Addresses.ipv4(address))) {
                        if (!address.isAnyLocalAddress()) {
                            // An address only the kernel has: bind there now, decide nothing later.
                            SocketChannel kc = becomeKernel();
                            kc.bind(isa);
                            return this;
                        }
                        // The wildcard: the route waits for connect, but the port is taken now, as the
                        // JDK's bind takes it (on our stack; a kernel route binds the same port).
                        UserStack stack = arrakis.userStack();
                        int port = stack.reservePort(isa.getPort());
                        net = stack;
                        localAddress = new InetSocketAddress(local == null ? Addresses.IPV6_WILDCARD : address, port);
                        return this;
                    }
                    UserStack stack = arrakis.userStack();
                    if (Addresses.ipv4(address) != stack.address()) {
                        throw new java.net.BindException("Cannot assign requested address");
                    }
                    int port = stack.reservePort(isa.getPort());
                    net = stack;
                    localAddress = new InetSocketAddress(address, port);
                    return this;
                }
            } finally {
                writeLock.unlock();
            }
        } finally {
            readLock.unlock();
        }
    }

    @Override
    public boolean connect(SocketAddress remote) throws IOException {
        return timedConnect(remote, Long.MAX_VALUE);
    }

    /**
     * {@link #connect}, except that in blocking mode it gives up at {@code deadline}
     * ({@link System#nanoTime} scale; {@code Long.MAX_VALUE}: never) with
     * {@code SocketTimeoutException("Connect timed out")}, closing the channel as every failed
     * connect does: what the {@code Socket} adaptor's {@code connect(address, timeout)} needs.
     */
    boolean timedConnect(SocketAddress remote, long deadline) throws IOException {
        InetSocketAddress target = Addresses.checkRemote(remote);
        if (kernel != null) {
            return kernelConnect(kernel, target, deadline);
        }
        Route route = arrakis.routeConnect(target, net);
        if (route.kernel()) {
            SocketChannel k;
            synchronized (stateLock) {
                ensureOpen();
                if (state == CONNECTED) {
                    throw new AlreadyConnectedException();
                }
                if (state == PENDING) {
                    throw new ConnectionPendingException();
                }
                k = kernel != null ? kernel : becomeKernel();
            }
            return kernelConnect(k, target, deadline);
        }
        try {
            readLock.lock();
            try {
                writeLock.lock();
                try {
                    return userConnect(route, target, deadline);
                } finally {
                    writeLock.unlock();
                }
            } finally {
                readLock.unlock();
            }
        } catch (IOException e) {
            close();
            throw e;
        }
    }

    private boolean kernelConnect(SocketChannel k, InetSocketAddress target, long deadline) throws IOException {
        try {
            if (deadline == Long.MAX_VALUE || !k.isBlocking()) {
                return kernelCall(() -> k.connect(target));
            }
            // The JDK channel's only timed connect is its socket adaptor's (which closes it on failure).
            long millis = Math.max(1, (deadline - System.nanoTime() + 999_999) / 1_000_000);
            return kernelCall(() -> {
                k.socket().connect(target, (int) Math.min(millis, Integer.MAX_VALUE));
                return true;
            });
        } catch (IOException e) {
            if (!k.isOpen()) {
                close();
            }
            throw e;
        }
    }

    private boolean userConnect(Route route, InetSocketAddress target, long deadline) throws IOException {
        ensureOpen();
        boolean blocking = isBlocking();
        UserStack stack = route.stack();
        TcpConnection c;
        if (blocking) {
            begin();
        }
        boolean completed = false;
        try {
            synchronized (stateLock) {
                ensureOpen();
                if (state == CONNECTED) {
                    throw new AlreadyConnectedException();
                }
                if (state == PENDING) {
                    throw new ConnectionPendingException();
                }
                boolean explicitPort = localAddress != null && localAddress.getPort() != 0;
                int localPort;
                if (localAddress != null && net == stack) {
                    localPort = localAddress.getPort(); // bound to our VNIC address: reserved then
                } else {
                    localPort = stack.reservePort(explicitPort ? localAddress.getPort() : 0);
                }
                c = null;
                for (int attempt = 0; c == null; attempt++) {
                    stack.lock().lock();
                    try {
                        c = stack.tcp().connect(route.address(), target.getPort(), localPort,
                                options.sendBufferSize(), options.receiveBufferSize(), System.nanoTime());
                        c.setEvents(events);
                        options.applyTo(c);
                    } catch (IllegalStateException busy) {
                        // The 4-tuple is still in use (TIME_WAIT): another ephemeral port, unless one was asked for.
                        if (explicitPort || attempt == 16) {
                            stack.releasePort(localPort);
                            throw new java.net.BindException("Address already in use");
                        }
                        int next = stack.reservePort(0);
                        stack.releasePort(localPort);
                        localPort = next;
                    } finally {
                        stack.unlock();
                    }
                }
                net = stack;
                connection = c;
                remoteAddress = target;
                localAddress = new InetSocketAddress(Addresses.inet(stack.address()), c.localPort());
                state = PENDING;
            }
            if (!blocking) {
                arrakis.placeRegistered(this); // registered before connecting: to its selector's stack
                return false;
            }
            completed = awaitConnected(c, deadline);
            return completed;
        } finally {
            if (blocking) {
                end(completed);
            }
        }
    }

    /**
     * Waits (blocking mode) until the handshake ends; returns true when connected, throws the
     * JDK's exception when it failed, false when closed or interrupted (then {@code end} throws),
     * {@code SocketTimeoutException} once {@code deadline} passes.
     */
    private boolean awaitConnected(TcpConnection c, long deadline) throws IOException {
        UserStack stack = net;
        while (true) {
            int seen;
            stack = lockNet();
            try {
                if (finishedHandshake(c)) {
                    return true;
                }
                seen = readiness.sequence();
            } finally {
                stack.unlock();
            }
            boolean moved = stack.await(readiness, seen, deadline);
            if (!moved && (!isOpen() || Thread.currentThread().isInterrupted())) {
                return false;
            }
            if (!moved && deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) {
                throw new java.net.SocketTimeoutException("Connect timed out");
            }
        }
    }

    /** Under the stack lock: true once connected; throws if the handshake failed. */
    private boolean finishedHandshake(TcpConnection c) throws IOException {
        if (c.isConnected() || (c.wasEstablished() && c.failure() == null)) {
            synchronized (stateLock) {
                if (state == PENDING) {
                    state = CONNECTED;
                }
            }
            return true;
        }
        if (c.state() == io.arrakis.stack.tcp.TcpState.CLOSED) {
            TcpFailure failure = c.failure();
            if (failure == TcpFailure.TIMED_OUT) {
                throw new ConnectException("Connection timed out");
            }
            if (failure == TcpFailure.RESET || failure == TcpFailure.REFUSED) {
                throw new ConnectException("Connection refused");
            }
            throw new ClosedChannelException();
        }
        return false;
    }

    @Override
    public boolean finishConnect() throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            try {
                return kernelCall(k::finishConnect);
            } catch (IOException e) {
                if (!k.isOpen()) {
                    close();
                }
                throw e;
            }
        }
        try {
            readLock.lock();
            try {
                writeLock.lock();
                try {
                    if (state == CONNECTED && isOpen()) {
                        return true;
                    }
                    ensureOpen();
                    if (state != PENDING) {
                        throw new NoConnectionPendingException();
                    }
                    TcpConnection c = connection;
                    boolean blocking = isBlocking();
                    if (!blocking) {
                        UserStack stack = net;
                        stack = lockNet();
                        try {
                            if (finishedHandshake(c)) {
                                return true;
                            }
                            stack.pollLocked();
                            return finishedHandshake(c);
                        } finally {
                            stack.unlock();
                        }
                    }
                    boolean connected = false;
                    begin();
                    try {
                        connected = awaitConnected(c, Long.MAX_VALUE);
                    } finally {
                        end(connected);
                    }
                    return connected;
                } finally {
                    writeLock.unlock();
                }
            } finally {
                readLock.unlock();
            }
        } catch (IOException e) {
            close();
            throw e;
        }
    }

    @Override
    public boolean isConnected() {
        SocketChannel k = kernel;
        return k != null ? k.isConnected() : state == CONNECTED;
    }

    @Override
    public boolean isConnectionPending() {
        SocketChannel k = kernel;
        return k != null ? k.isConnectionPending() : state == PENDING;
    }

    // ------------------------------------------------------------------ read / write

    @Override
    public int read(ByteBuffer dst) throws IOException {
        Objects.requireNonNull(dst);
        SocketChannel k = kernel;
        if (k != null) {
            return kernelCall(() -> k.read(dst));
        }
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("Read-only buffer");
        }
        return timedRead(dst, Long.MAX_VALUE);
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, dsts.length);
        SocketChannel k = kernel;
        if (k != null) {
            return kernelCall(() -> k.read(dsts, offset, length));
        }
        return userRead(dsts, offset, length, Long.MAX_VALUE);
    }

    /**
     * A blocking-mode read that gives up at {@code deadline} ({@link System#nanoTime} scale) with
     * {@code SocketTimeoutException("Read timed out")}, the channel still usable: what the
     * {@code Socket} adaptor's {@code SO_TIMEOUT} needs. User-level channels only.
     */
    int timedRead(ByteBuffer dst, long deadline) throws IOException {
        readLock.lock(); // reentrant: userRead takes it again; it guards oneReadBuffer
        try {
            oneReadBuffer[0] = dst;
            return (int) userRead(oneReadBuffer, 0, 1, deadline);
        } finally {
            oneReadBuffer[0] = null;
            readLock.unlock();
        }
    }

    private long userRead(ByteBuffer[] dsts, int offset, int length, long deadline) throws IOException {
        readLock.lock();
        try {
            ensureOpenAndConnected();
            boolean blocking = isBlocking();
            long n = 0;
            if (blocking) {
                begin();
            }
            try {
                if (inputShutdown) {
                    return -1;
                }
                UserStack stack = net;
                TcpConnection c = connection;
                boolean polled = false;
                while (true) {
                    if (!isOpen()) {
                        return 0; // closed under us: end(false) throws AsynchronousCloseException
                    }
                    int seen;
                    stack = lockNet();
                    try {
                        n = readLocked(c, dsts, offset, length);
                        if (n == 0 && hasRoom(dsts, offset, length) && !polled) {
                            // Fresh frames may wait in the queue: one poll before we report nothing.
                            stack.pollLocked();
                            polled = true;
                            n = readLocked(c, dsts, offset, length);
                        }
                        if (n != 0 || !blocking || !hasRoom(dsts, offset, length)) {
                            return n;
                        }
                        seen = readiness.sequence();
                    } finally {
                        stack.unlock();
                    }
                    boolean moved = stack.await(readiness, seen, deadline);
                    if (!isOpen()) {
                        return 0; // end(false) throws the JDK's exception
                    }
                    if (Thread.currentThread().isInterrupted()) {
                        // The interrupt's close may still be on its way from the interrupting
                        // thread; the outcome must not depend on who is first: close, and say so.
                        close();
                        n = 1; // so end() adds nothing of its own
                        throw new java.nio.channels.ClosedByInterruptException();
                    }
                    if (inputShutdown) {
                        n = -1;
                        return -1;
                    }
                    if (!moved && deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) {
                        n = 1; // a timeout is not an async close: end must not throw
                        throw new java.net.SocketTimeoutException("Read timed out");
                    }
                }
            } finally {
                if (blocking) {
                    end(n != 0);
                }
            }
        } finally {
            readLock.unlock();
        }
    }

    private static boolean hasRoom(ByteBuffer[] buffers, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            if (buffers[i].hasRemaining()) {
                return true;
            }
        }
        return false;
    }

    /** Under the stack lock: copies what is readable; -1 at end of stream; throws on a reset. */
    private long readLocked(TcpConnection c, ByteBuffer[] dsts, int offset, int length) throws IOException {
        long total = 0;
        long now = System.nanoTime();
        for (int i = offset; i < offset + length; i++) {
            ByteBuffer dst = dsts[i];
            if (dst.isReadOnly()) {
                throw new IllegalArgumentException("Read-only buffer");
            }
            int room = dst.remaining();
            if (room == 0) {
                continue;
            }
            int n = net.tcp().read(c, MemorySegment.ofBuffer(dst), 0, room, now); // through the layer: it re-arms timers
            if (n < 0) {
                if (total > 0) {
                    return total;
                }
                TcpFailure failure = c.failure();
                if (failure == TcpFailure.RESET) {
                    throw new SocketException("Connection reset");
                }
                if (failure == TcpFailure.TIMED_OUT) {
                    throw new SocketException("Connection timed out");
                }
                return -1;
            }
            dst.position(dst.position() + n);
            total += n;
            if (n < room) {
                break;
            }
        }
        return total;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        Objects.requireNonNull(src);
        SocketChannel k = kernel;
        if (k != null) {
            return kernelCall(() -> k.write(src));
        }
        writeLock.lock(); // reentrant: the gathering write takes it again; it guards oneWriteBuffer
        try {
            oneWriteBuffer[0] = src;
            return (int) write(oneWriteBuffer, 0, 1);
        } finally {
            oneWriteBuffer[0] = null;
            writeLock.unlock();
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, srcs.length);
        SocketChannel k = kernel;
        if (k != null) {
            return kernelCall(() -> k.write(srcs, offset, length));
        }
        writeLock.lock();
        try {
            ensureOpenAndConnected();
            if (outputShutdown) {
                // The JDK's (sun.nio.ch) answer, in both modes.
                throw new AsynchronousCloseException();
            }
            boolean blocking = isBlocking();
            long total = 0;
            boolean completed = false;
            if (blocking) {
                begin();
            }
            try {
                UserStack stack = net;
                TcpConnection c = connection;
                while (true) {
                    int seen;
                    stack = lockNet();
                    try {
                        total += writeLocked(c, srcs, offset, length);
                        if (!hasRoom(srcs, offset, length)) {
                            completed = true;
                            return total;
                        }
                        if (total > 0 && !blocking) {
                            return total;
                        }
                        if (!blocking) {
                            stack.pollLocked(); // acknowledgements may wait in the queue
                            total += writeLocked(c, srcs, offset, length);
                            return total;
                        }
                        seen = readiness.sequence();
                    } finally {
                        stack.unlock();
                    }
                    stack.await(readiness, seen, Long.MAX_VALUE);
                    if (!isOpen()) {
                        return total; // end throws the JDK's exception unless something was written
                    }
                    if (Thread.currentThread().isInterrupted()) {
                        if (total > 0) {
                            return total; // the interrupt's close ends the channel; these bytes were taken
                        }
                        // As in read: the interrupt's close may still be on its way from the
                        // interrupting thread, and end() would then see an open channel and
                        // report a 0-byte blocking write. Close, and say so.
                        close();
                        completed = true; // so end() adds nothing of its own
                        throw new java.nio.channels.ClosedByInterruptException();
                    }
                    if (outputShutdown) {
                        throw new AsynchronousCloseException(); // shutdownOutput ends a blocked write
                    }
                }
            } finally {
                if (blocking) {
                    end(completed || total > 0);
                }
            }
        } finally {
            writeLock.unlock();
        }
    }

    /** Under the stack lock: hands bytes to the engine; throws when the connection can no longer send. */
    private long writeLocked(TcpConnection c, ByteBuffer[] srcs, int offset, int length) throws IOException {
        long total = 0;
        long now = System.nanoTime();
        for (int i = offset; i < offset + length; i++) {
            ByteBuffer src = srcs[i];
            int want = src.remaining();
            if (want == 0) {
                continue;
            }
            int n = net.tcp().write(c, MemorySegment.ofBuffer(src), 0, want, now); // through the layer: it arms the RTO
            if (n < 0) {
                if (total > 0) {
                    return total;
                }
                TcpFailure failure = c.failure();
                // The JDK reports write errors as plain IOExceptions with the system's message.
                if (failure == TcpFailure.RESET) {
                    throw new IOException("Connection reset by peer");
                }
                if (failure == TcpFailure.TIMED_OUT) {
                    throw new IOException("Connection timed out");
                }
                throw new IOException("Broken pipe");
            }
            src.position(src.position() + n);
            total += n;
            if (n < want) {
                break;
            }
        }
        return total;
    }

    /** A kernel call that closed the delegate (interrupt, async close) closes us too, as the JDK's would be. */
    private <T> T kernelCall(KernelCall<T> call) throws IOException {
        try {
            return call.run();
        } catch (AsynchronousCloseException e) {
            close();
            throw e;
        }
    }

    interface KernelCall<T> {
        T run() throws IOException;
    }

    // ------------------------------------------------------------------ shutdown, addresses

    @Override
    public SocketChannel shutdownInput() throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            k.shutdownInput();
            return this;
        }
        synchronized (stateLock) {
            ensureOpen();
            if (state != CONNECTED) {
                throw new NotYetConnectedException();
            }
            if (!inputShutdown) {
                inputShutdown = true;
                readiness.signal();
            }
            return this;
        }
    }

    @Override
    public SocketChannel shutdownOutput() throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            k.shutdownOutput();
            return this;
        }
        synchronized (stateLock) {
            ensureOpen();
            if (state != CONNECTED) {
                throw new NotYetConnectedException();
            }
            if (!outputShutdown) {
                outputShutdown = true;
                UserStack stack = net;
                stack = lockNet();
                try {
                    stack.tcp().shutdownOutput(connection, System.nanoTime());
                } finally {
                    stack.unlock();
                }
                readiness.signal();
            }
            return this;
        }
    }

    @Override
    public Socket socket() {
        synchronized (stateLock) {
            if (socketAdaptor == null) {
                socketAdaptor = arrakis.socketAdaptor(this);
            }
            return socketAdaptor;
        }
    }

    // ------------------------------------------------------------------ for the socket adaptor

    /** The local address, or null while unbound; kept once closed, as {@code Socket.getLocalPort} wants. */
    InetSocketAddress localAddressOrNull() {
        SocketChannel k = kernel;
        return k != null ? (InetSocketAddress) k.socket().getLocalSocketAddress() : localAddress;
    }

    /** The peer's address from the start of a connect on, or null; kept once closed. */
    InetSocketAddress remoteAddressOrNull() {
        SocketChannel k = kernel;
        return k != null ? (InetSocketAddress) k.socket().getRemoteSocketAddress() : remoteAddress;
    }

    boolean isInputOpen() {
        SocketChannel k = kernel;
        return k != null ? !k.socket().isInputShutdown() : !inputShutdown;
    }

    boolean isOutputOpen() {
        SocketChannel k = kernel;
        return k != null ? !k.socket().isOutputShutdown() : !outputShutdown;
    }

    /**
     * The bytes a read would return now without blocking (0 once input is shut down), as the
     * JDK's channel counts its socket's receive buffer for {@code InputStream.available()}. Either
     * mode. User-level channels only.
     */
    int available() throws IOException {
        ensureOpenAndConnected();
        if (inputShutdown) {
            return 0;
        }
        UserStack stack = net;
        TcpConnection c = connection;
        stack = lockNet();
        try {
            int queued = c.receiveQueueBytes();
            if (queued == 0) {
                stack.pollLocked(); // fresh frames may wait in the queue, as in a read
                queued = c.receiveQueueBytes();
            }
            return queued;
        } finally {
            stack.unlock();
        }
    }

    @Override
    public SocketAddress getRemoteAddress() throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            return k.getRemoteAddress();
        }
        ensureOpen();
        return state == CONNECTED || state == PENDING ? remoteAddress : null;
    }

    @Override
    public SocketAddress getLocalAddress() throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            return k.getLocalAddress();
        }
        ensureOpen();
        return localAddress;
    }

    // ------------------------------------------------------------------ options

    @Override
    public <T> SocketChannel setOption(SocketOption<T> name, T value) throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            k.setOption(name, value);
            return this;
        }
        synchronized (stateLock) {
            options.check(name, value);
            ensureOpen();
            options.set(name, value);
            TcpConnection c = connection;
            if (c != null) {
                UserStack stack = net;
                stack = lockNet();
                try {
                    options.applyTo(c);
                } finally {
                    stack.unlock();
                }
            }
            return this;
        }
    }

    @Override
    public <T> T getOption(SocketOption<T> name) throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            return k.getOption(name);
        }
        options.checkSupported(name);
        ensureOpen();
        return options.get(name);
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return options.supported();
    }

    // ------------------------------------------------------------------ blocking mode, close

    @Override
    protected void implConfigureBlocking(boolean block) throws IOException {
        SocketChannel k = kernel;
        if (k != null) {
            k.configureBlocking(block);
        }
    }

    @Override
    protected void implCloseSelectableChannel() throws IOException {
        SocketChannel k;
        synchronized (stateLock) {
            k = kernel;
            int was = state;
            state = CLOSED;
            TcpConnection c = connection;
            UserStack stack = net;
            if (c != null && stack != null) {
                stack = lockNet();
                try {
                    if (was == PENDING) {
                        stack.tcp().abort(c, System.nanoTime());
                    } else {
                        stack.tcp().close(c, System.nanoTime());
                    }
                } finally {
                    stack.unlock();
                }
                if (ownsPort) {
                    stack.releasePort(c.localPort());
                }
            } else if (stack != null && localAddress != null) {
                stack.releasePort(localAddress.getPort());
            }
        }
        if (k != null) {
            k.close();
        }
        readiness.signal();
    }

    @Override
    public String toString() {
        SocketChannel k = kernel;
        if (k != null) {
            return "ArrakisSocketChannel[kernel " + k + "]";
        }
        StringBuilder b = new StringBuilder("ArrakisSocketChannel[user-level");
        if (!isOpen()) {
            b.append(" closed");
        } else {
            b.append(switch (state) {
                case PENDING -> " connection-pending";
                case CONNECTED -> " connected";
                default -> " unconnected";
            });
            if (localAddress != null) {
                b.append(" local=").append(localAddress);
            }
            if (remoteAddress != null) {
                b.append(" remote=").append(remoteAddress);
            }
        }
        return b.append(']').toString();
    }

    /** Under the stack lock: the engine's view of this connection (for diagnostics). */
    String connectionInfo() {
        TcpConnection c = connection;
        return c == null ? "no user-level connection" : c.info();
    }

    static String describe(int address, int port) {
        return Ipv4Text.format(address) + ":" + port;
    }
}

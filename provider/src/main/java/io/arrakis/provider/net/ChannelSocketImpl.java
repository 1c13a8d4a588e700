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
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What a {@code java.net.Socket} runs on once {@link JavaNetHooks} are installed: a
 * {@link SocketChannel} from a {@link SelectorProvider} (the JVM's, so ours when the agent is
 * in), kept non-blocking, with a {@link ReadinessWait} per direction for the operations that
 * block. It behaves as the JDK's own socket implementation does: the same exceptions with the
 * same messages, reads that time out ({@code SO_TIMEOUT}) and leave the socket usable, -1 for
 * ever after end of stream, "Socket closed" in a thread blocked in a read when another thread
 * closes the socket, an interrupt that leaves a platform thread blocked and closes the socket
 * under a virtual thread.
 *
 * <p>Only the public channel API is used, plus the channel's own {@code socket()} adaptor for
 * the two things channels do not offer: {@code available()} and {@code sendUrgentData}. A
 * channel without an adaptor (its {@code socket()} throws {@code UnsupportedOperationException})
 * answers {@code available()} with 0, the estimate {@code InputStream} allows, and makes
 * {@code sendUrgentData} throw {@code SocketException("Urgent data not supported")};
 * {@code SO_OOBINLINE} is the channel's option of that name, where it has one.
 *
 * <p>Concurrency: as {@code java.net.Socket} allows, one reader (or connecting thread) and one
 * writer may block at once, each under its own lock; state changes, options and close are
 * guarded by a state lock and may come from any thread.
 */
final class ChannelSocketImpl extends SocketImpl {
    /** Bounds each channel read or write, as the JDK does, so a huge array never needs a huge temporary direct buffer. */
    private static final int MAX_CHUNK = 128 * 1024;

    private static final int NEW = 0;
    private static final int UNCONNECTED = 1;
    private static final int CONNECTING = 2;
    private static final int CONNECTED = 3;
    private static final int CLOSED = 4;

    private final SelectorProvider provider;
    private final Object stateLock = new Object();
    private final ReentrantLock readLock = new ReentrantLock();
    private final ReentrantLock writeLock = new ReentrantLock();

    private volatile int state = NEW; // written under stateLock
    private volatile Resources resources; // written under stateLock; set by create or accept
    private volatile int timeout;
    private volatile boolean inputShutdown;
    private volatile boolean outputShutdown;
    private InputStream availableSource; // guarded by stateLock: the adaptor's stream, for available()
    private volatile Set<SocketOption<?>> supportedOptions; // computed once, from the channel's

    private boolean readEOF; // guarded by readLock
    private byte[] readArray; // guarded by readLock: the array readView wraps
    private ByteBuffer readView; // guarded by readLock
    private byte[] writeArray; // guarded by writeLock
    private ByteBuffer writeView; // guarded by writeLock

    ChannelSocketImpl(SelectorProvider provider) {
        this.provider = Objects.requireNonNull(provider, "provider");
    }

    // ---- life cycle -----------------------------------------------------------------------

    @Override
    protected void create(boolean stream) throws IOException {
        if (!stream) {
            throw new IOException("Datagram socket creation not supported");
        }
        synchronized (stateLock) {
            if (state != NEW) {
                throw new IOException("Already created");
            }
            attach(provider.openSocketChannel());
            state = UNCONNECTED;
        }
    }

    /** Keeps {@code channel}, non-blocking, and makes sure it is closed if this socket is dropped unclosed. */
    private void attach(SocketChannel channel) throws IOException {
        try {
            channel.configureBlocking(false);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        resources = new Resources(channel, this);
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

    // ---- connect, bind ----------------------------------------------------------------------

    @Override
    protected void connect(String host, int port) throws IOException {
        connect(new InetSocketAddress(host, port), 0);
    }

    @Override
    protected void connect(InetAddress address, int port) throws IOException {
        connect(new InetSocketAddress(address, port), 0);
    }

    @Override
    protected void connect(SocketAddress remote, int millis) throws IOException {
        if (!(remote instanceof InetSocketAddress target)) {
            throw new IOException("Unsupported address type");
        }
        if (target.isUnresolved()) {
            throw new UnknownHostException(HostInfo.inMessage(target.getHostName()));
        }
        InetAddress address = target.getAddress();
        if (address.isAnyLocalAddress()) {
            address = InetAddress.getLocalHost(); // as the JDK's socket does
        }
        int port = target.getPort();
        try {
            readLock.lock();
            try {
                Resources r = beginConnect(address, port);
                SocketChannel channel = r.channel;
                boolean connected = channel.connect(new InetSocketAddress(address, port));
                long start = System.nanoTime();
                long limit = TimeUnit.MILLISECONDS.toNanos(millis);
                while (!connected) {
                    long remaining = 0;
                    if (millis > 0) {
                        remaining = limit - (System.nanoTime() - start);
                        if (remaining <= 0) {
                            throw new SocketTimeoutException("Connect timed out");
                        }
                    }
                    ensureOpen();
                    r.readWait.await(SelectionKey.OP_CONNECT, remaining);
                    connected = channel.finishConnect();
                }
                endConnect(channel);
            } finally {
                readLock.unlock();
            }
        } catch (IOException e) {
            close();
            if (e instanceof SocketTimeoutException) {
                throw e;
            } else if (e instanceof InterruptedIOException) {
                throw new SocketException("Closed by interrupt"); // a virtual thread, as the JDK's
            } else if (e instanceof ClosedChannelException) {
                throw ReadinessWait.closedSocket();
            }
            throw e;
        }
    }

    private Resources beginConnect(InetAddress address, int port) throws SocketException {
        synchronized (stateLock) {
            switch (state) {
                case UNCONNECTED -> { }
                case NEW -> throw new SocketException("Not created");
                case CONNECTING -> throw new SocketException("Connection in progress");
                case CONNECTED -> throw new SocketException("Already connected");
                default -> throw ReadinessWait.closedSocket();
            }
            state = CONNECTING;
            this.address = address;
            this.port = port;
            return resources;
        }
    }

    private void endConnect(SocketChannel channel) throws IOException {
        synchronized (stateLock) {
            if (state != CONNECTING) {
                throw ReadinessWait.closedSocket();
            }
            localport = ((InetSocketAddress) channel.getLocalAddress()).getPort();
            state = CONNECTED;
        }
    }

    @Override
    protected void bind(InetAddress host, int port) throws IOException {
        synchronized (stateLock) {
            SocketChannel channel = ensureOpen();
            if (localport != 0) {
                throw new SocketException("Already bound");
            }
            try {
                channel.bind(new InetSocketAddress(host, port));
            } catch (IOException e) {
                throw asSocketException(e);
            }
            // The given address, not the bound one (::), as the JDK's socket keeps it.
            address = host;
            localport = ((InetSocketAddress) channel.getLocalAddress()).getPort();
        }
    }

    @Override
    protected void listen(int backlog) throws IOException {
        throw new SocketException("Not a server socket: listen belongs to a ServerSocket's implementation");
    }

    @Override
    protected void accept(SocketImpl s) throws IOException {
        throw new SocketException("Not a server socket: accept belongs to a ServerSocket's implementation");
    }

    /** Whether a server may accept a connection into this implementation (it is new, or created and still unbound). */
    boolean acceptable() throws IOException {
        synchronized (stateLock) {
            return state == NEW || (state == UNCONNECTED && localport == 0
                    && resources.channel.getLocalAddress() == null);
        }
    }

    /**
     * Takes {@code accepted}, a connection a server accepted, as this socket's channel. A channel
     * this implementation had already opened (options set on a new {@code Socket} before it was
     * handed to {@code implAccept}) is closed; {@code SO_TIMEOUT} is kept, as the JDK keeps it.
     */
    void acceptedChannel(SocketChannel accepted) throws IOException {
        Resources previous;
        synchronized (stateLock) {
            if (!acceptable()) {
                accepted.close();
                throw new SocketException("Not a newly created SocketImpl");
            }
            previous = resources;
            attach(accepted);
            InetSocketAddress remote = (InetSocketAddress) accepted.getRemoteAddress();
            address = remote.getAddress();
            port = remote.getPort();
            localport = ((InetSocketAddress) accepted.getLocalAddress()).getPort();
            state = CONNECTED;
        }
        if (previous != null) {
            previous.close();
        }
    }

    // ---- streams ----------------------------------------------------------------------------

    @Override
    protected InputStream getInputStream() {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n > 0 ? one[0] & 0xff : -1;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return ChannelSocketImpl.this.read(b, off, len);
            }

            @Override
            public int available() throws IOException {
                return ChannelSocketImpl.this.available();
            }

            @Override
            public void close() throws IOException {
                ChannelSocketImpl.this.close();
            }
        };
    }

    @Override
    protected OutputStream getOutputStream() {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                ChannelSocketImpl.this.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                ChannelSocketImpl.this.close();
            }
        };
    }

    private int read(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        if (len == 0) {
            return 0;
        }
        int timeout = this.timeout;
        long remaining = 0;
        if (timeout > 0) {
            remaining = tryLock(readLock, timeout);
            if (remaining <= 0) {
                throw new SocketTimeoutException("Read timed out");
            }
        } else {
            readLock.lock();
        }
        try {
            if (readEOF) {
                return -1; // for ever, even once closed, as the JDK's socket
            }
            Resources r = ensureOpenAndConnected();
            if (inputShutdown) {
                return -1;
            }
            ByteBuffer view = readView(b, off, Math.min(len, MAX_CHUNK));
            long start = System.nanoTime();
            while (true) {
                int n = r.channel.read(view);
                if (n != 0) {
                    readEOF = n < 0;
                    return n;
                }
                long left = 0;
                if (timeout > 0) {
                    left = remaining - (System.nanoTime() - start);
                    if (left <= 0) {
                        throw new SocketTimeoutException("Read timed out");
                    }
                }
                r.readWait.await(SelectionKey.OP_READ, left);
            }
        } catch (ClosedChannelException e) {
            throw ReadinessWait.closedSocket();
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            throw asSocketException(e);
        } finally {
            readLock.unlock();
        }
    }

    private ByteBuffer readView(byte[] b, int off, int len) {
        if (readArray != b) {
            readArray = b;
            readView = ByteBuffer.wrap(b);
        }
        return readView.limit(off + len).position(off);
    }

    private void write(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        if (len == 0) {
            return;
        }
        writeLock.lock();
        try {
            Resources r = ensureOpenAndConnected();
            if (writeArray != b) {
                writeArray = b;
                writeView = ByteBuffer.wrap(b);
            }
            ByteBuffer view = writeView;
            int position = off;
            int end = off + len;
            while (position < end) {
                view.limit(Math.min(end, position + MAX_CHUNK)).position(position);
                int n = r.channel.write(view);
                if (n > 0) {
                    position += n;
                } else {
                    r.writeWait.await(SelectionKey.OP_WRITE, 0);
                }
            }
        } catch (ClosedChannelException e) {
            // The channel refuses writes after shutdownOutput; the kernel socket says EPIPE.
            throw outputShutdown && state != CLOSED ? new SocketException("Broken pipe") : ReadinessWait.closedSocket();
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            throw asSocketException(e);
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    protected int available() throws IOException {
        InputStream source;
        synchronized (stateLock) {
            Resources r = ensureOpenAndConnected();
            if (inputShutdown) {
                return 0;
            }
            if (availableSource == null) {
                try {
                    availableSource = r.channel.socket().getInputStream();
                } catch (UnsupportedOperationException e) {
                    return 0; // a channel without a socket adaptor: 0 is the estimate InputStream allows
                }
            }
            source = availableSource;
        }
        try {
            return source.available();
        } catch (UnsupportedOperationException e) {
            return 0;
        } catch (IOException e) {
            throw state == CLOSED ? ReadinessWait.closedSocket() : asSocketException(e);
        }
    }

    @Override
    protected void shutdownInput() throws IOException {
        synchronized (stateLock) {
            Resources r = ensureOpenAndConnected();
            if (!inputShutdown) {
                try {
                    r.channel.shutdownInput();
                } catch (IOException e) {
                    throw asSocketException(e);
                }
                inputShutdown = true;
                r.readWait.wakeUp();
            }
        }
    }

    @Override
    protected void shutdownOutput() throws IOException {
        synchronized (stateLock) {
            Resources r = ensureOpenAndConnected();
            if (!outputShutdown) {
                try {
                    r.channel.shutdownOutput();
                } catch (IOException e) {
                    throw asSocketException(e);
                }
                outputShutdown = true;
                r.writeWait.wakeUp();
            }
        }
    }

    @Override
    protected boolean supportsUrgentData() {
        return true;
    }

    @Override
    protected void sendUrgentData(int data) throws IOException {
        writeLock.lock();
        try {
            Resources r = ensureOpenAndConnected();
            r.channel.socket().sendUrgentData(data);
        } catch (UnsupportedOperationException e) {
            throw new SocketException("Urgent data not supported");
        } catch (ClosedChannelException e) {
            throw ReadinessWait.closedSocket();
        } catch (IOException e) {
            throw asSocketException(e);
        } finally {
            writeLock.unlock();
        }
    }

    // ---- options ----------------------------------------------------------------------------

    @Override
    protected Set<SocketOption<?>> supportedOptions() {
        Set<SocketOption<?>> options = supportedOptions;
        Resources r = resources;
        if (options == null && r != null) {
            // SO_OOBINLINE is the channel's, but java.net.Socket reaches it by its legacy id only.
            supportedOptions = options = LegacyOptions.without(r.channel.supportedOptions(), LegacyOptions.OOB_INLINE);
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
            SocketChannel channel = ensureOpen();
            try {
                channel.setOption(option, value);
            } catch (IOException e) {
                throw asSocketException(e);
            }
        }
    }

    @Override
    protected <T> T getOption(SocketOption<T> option) throws IOException {
        if (!supportedOptions().contains(option)) {
            throw new UnsupportedOperationException("'" + option + "' not supported");
        }
        synchronized (stateLock) {
            SocketChannel channel = ensureOpen();
            try {
                return channel.getOption(option);
            } catch (IOException e) {
                throw asSocketException(e);
            }
        }
    }

    @Override
    public void setOption(int id, Object value) throws SocketException {
        synchronized (stateLock) {
            SocketChannel channel = ensureOpen();
            try {
                switch (id) {
                    case SO_TIMEOUT -> {
                        int millis = LegacyOptions.intValue(value, "SO_TIMEOUT");
                        if (millis < 0) {
                            throw new IllegalArgumentException("timeout < 0");
                        }
                        timeout = millis;
                    }
                    case SO_LINGER -> channel.setOption(StandardSocketOptions.SO_LINGER,
                            Boolean.FALSE.equals(value) ? -1 : LegacyOptions.intValue(value, "SO_LINGER"));
                    case SO_OOBINLINE -> channel.setOption(LegacyOptions.oobInline(channel),
                            LegacyOptions.booleanValue(value, "SO_OOBINLINE"));
                    default -> LegacyOptions.set(channel, id, value);
                }
            } catch (SocketException e) {
                throw e;
            } catch (IllegalArgumentException | UnsupportedOperationException | IOException e) {
                throw asSocketException(e);
            }
        }
    }

    @Override
    public Object getOption(int id) throws SocketException {
        synchronized (stateLock) {
            SocketChannel channel = ensureOpen();
            try {
                return switch (id) {
                    case SO_TIMEOUT -> timeout;
                    case SO_LINGER -> {
                        int seconds = channel.getOption(StandardSocketOptions.SO_LINGER);
                        yield seconds < 0 ? Boolean.FALSE : (Object) seconds;
                    }
                    case SO_OOBINLINE -> channel.getOption(LegacyOptions.oobInline(channel));
                    default -> LegacyOptions.get(channel, id);
                };
            } catch (SocketException e) {
                throw e;
            } catch (IllegalArgumentException | UnsupportedOperationException | IOException e) {
                throw asSocketException(e);
            }
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    private SocketChannel ensureOpen() throws SocketException {
        int s = state;
        if (s == CLOSED) {
            throw ReadinessWait.closedSocket();
        }
        if (s == NEW) {
            throw new SocketException("Not created");
        }
        return resources.channel;
    }

    private Resources ensureOpenAndConnected() throws SocketException {
        int s = state;
        if (s < CONNECTED) {
            throw new SocketException("Not connected");
        }
        if (s > CONNECTED) {
            throw ReadinessWait.closedSocket();
        }
        return resources;
    }

    static SocketException asSocketException(Exception e) {
        if (e instanceof SocketException se) {
            return se;
        }
        return new SocketException(e.getMessage(), e);
    }

    /**
     * Takes {@code lock} within {@code millis}, as the JDK's timed reads and accepts do, so the
     * time spent behind another reader counts against {@code SO_TIMEOUT}. Returns the
     * nanoseconds left with the lock held, or a value {@code <= 0} without it. An interrupt
     * does not end the wait; the status is kept.
     */
    static long tryLock(ReentrantLock lock, int millis) {
        long nanos = TimeUnit.MILLISECONDS.toNanos(millis);
        long start = System.nanoTime();
        long remaining = nanos;
        boolean interrupted = false;
        boolean acquired = false;
        while (!acquired && remaining > 0) {
            try {
                acquired = lock.tryLock(remaining, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                interrupted = true;
            }
            remaining = nanos - (System.nanoTime() - start);
        }
        if (acquired && remaining <= 0) {
            lock.unlock();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return remaining;
    }

    /**
     * The channel and its waits: closed by {@link #close}, or by the cleaner when a socket
     * nobody closed becomes unreachable (the JDK's socket closes its descriptor then too).
     */
    private static final class Resources implements Runnable {
        final SocketChannel channel;
        final ReadinessWait readWait;
        final ReadinessWait writeWait;
        private final Cleaner.Cleanable cleanable;

        Resources(SocketChannel channel, Object owner) {
            this.channel = channel;
            this.readWait = new ReadinessWait(channel);
            this.writeWait = new ReadinessWait(channel);
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
            // Channel first, so a woken waiter finds it closed; closing the selectors then lets
            // the provider release the channel's descriptor (deferred while it is registered).
            try (readWait; writeWait) {
                channel.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}

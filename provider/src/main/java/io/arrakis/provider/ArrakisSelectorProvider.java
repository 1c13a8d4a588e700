package io.arrakis.provider;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.AbstractSelector;
import java.nio.channels.spi.SelectorProvider;
import java.util.Objects;
import java.util.OptionalInt;
import java.nio.file.Path;
import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ShmVnic;
import io.arrakis.device.FlowFilter;

/**
 * The JVM-wide {@link SelectorProvider} that moves an application's TCP onto the user-level
 * stack: named by {@code -Djava.nio.channels.spi.SelectorProvider=io.arrakis.provider.ArrakisSelectorProvider}
 * or installed by the agent. Its channels decide their route when they bind or connect (see
 * {@link ArrakisSocketChannel}, {@link ArrakisServerSocketChannel}); its selectors take both kinds.
 * The user-level stack (and with it the VNIC and, if none runs, the embedded control plane) is
 * started by the first channel that needs it. Thread-safe.
 */
public class ArrakisSelectorProvider extends SelectorProvider {
    private final ProviderConfig config;
    private final Object stackLock = new Object();
    private volatile UserStack stack;
    /** The stacks of every queue when {@code arrakis.queues} > 1, else null. */
    private volatile QueueStacks queueStacks;
    private volatile IOException stackFailure;
    /** A tool connection to the control plane for loopback lookups before we attach (guarded by stackLock). */
    private ControlClient lookups;

    /** Called by {@link SelectorProvider#provider()} when the system property names this class. */
    public ArrakisSelectorProvider() {
        this(ProviderConfig.fromSystemProperties());
    }

    ArrakisSelectorProvider(ProviderConfig config) {
        this.config = config;
    }

    /** A provider configured by {@code properties} ({@code arrakis.*}), independent of the JVM-wide one; for tests and embedding. */
    public static ArrakisSelectorProvider create(java.util.Properties properties) {
        return new ArrakisSelectorProvider(ProviderConfig.from(properties));
    }

    private static SelectorProvider kernel() {
        return JdkProvider.get();
    }

    // ------------------------------------------------------------------ the user-level stack

    /** The user-level stack, attached on first use; a failure to attach is remembered and rethrown. */
    UserStack userStack() throws IOException {
        UserStack s = stack;
        if (s != null) {
            return s;
        }
        synchronized (stackLock) {
            if (stack == null) {
                if (stackFailure != null) {
                    throw new IOException(stackFailure.getMessage(), stackFailure);
                }
                try {
                    java.util.List<UserStack> stacks = UserStack.openQueues(config);
                    if (stacks.size() > 1) {
                        queueStacks = new QueueStacks(stacks);
                    }
                    stack = stacks.get(0);
                    log(System.Logger.Level.DEBUG, "attached " + stack
                            + (stacks.size() > 1 ? " and " + (stacks.size() - 1) + " more queue(s)" : ""));
                } catch (IOException | RuntimeException e) {
                    stackFailure = e instanceof IOException io ? io
                            : new IOException("Arrakis: cannot attach a VNIC (backend " + config.backend() + "): "
                                    + e.getMessage(), e);
                    throw stackFailure;
                }
            }
            return stack;
        }
    }

    /** The user-level stack's own address (our VNIC's), attaching the stack if needed. */
    public java.net.InetAddress userLevelAddress() throws IOException {
        return Addresses.inet(userStack().address());
    }

    UserStack userStackIfOpen() {
        return stack;
    }

    /** The stacks of every queue when the process drives several (null otherwise, or before attaching). */
    QueueStacks queueStacks() {
        return queueStacks;
    }

    /**
     * {@code channel} was registered with {@code selector}: with several stacks, a TCP connection
     * moves to the selector's stack (which the selector gets now if it has none).
     */
    void place(ArrakisSelector selector, RoutedChannel channel) {
        QueueStacks qs = queueStacks;
        if (qs == null || !(channel instanceof ArrakisSocketChannel socket) || socket.userConnection() == null) {
            return;
        }
        qs.move(socket, selector.home(qs));
    }

    /** A channel that registered before it connected: to the stack of the (first) selector it is registered with. */
    void placeRegistered(ArrakisSocketChannel channel) {
        if (queueStacks == null) {
            return;
        }
        for (ArrakisSelectionKey key : channel.readiness().keys()) {
            if (key.isValid() && key.selector() instanceof ArrakisSelector selector) {
                place(selector, channel);
                return;
            }
        }
    }

    long spinNanos() {
        return config.spinNanos();
    }

    /** Whether a local address is one of ours (routed to the user-level stack). */
    boolean routesLocal(int address) {
        return config.routes(address);
    }

    /** Whether a wildcard listener also listens user-level (when the stack can be attached). */
    boolean listensOnWildcard() {
        return true;
    }

    /**
     * Where a connection to {@code target} goes: a routed address through the switch; a loopback
     * address through the switch to the VNIC of the process that announced a user-level listener
     * on that port (loopback acceleration, when enabled); anything else through the kernel.
     */
    Route routeConnect(InetSocketAddress target, UserStack boundTo) throws IOException {
        int address = Addresses.ipv4(target.getAddress());
        if (address != 0 && config.routes(address)) {
            UserStack s = boundTo != null ? boundTo : userStack();
            return new Route(s, address);
        }
        if (config.loopback() && target.getAddress().isLoopbackAddress()) {
            OptionalInt listener = lookupLoopbackListener(FlowFilter.Protocol.TCP, target.getPort());
            if (listener.isPresent()) {
                return new Route(boundTo != null ? boundTo : userStack(), listener.getAsInt());
            }
        }
        return Route.KERNEL;
    }

    /**
     * Loopback acceleration for UDP: the VNIC address (host order) of the attached process whose
     * wildcard datagram channel announced {@code port}, or empty (also when acceleration is off).
     * One control round trip: the channel caches the answer.
     */
    OptionalInt loopbackDatagramPeer(int port) {
        return config.loopback() ? lookupLoopbackListener(FlowFilter.Protocol.UDP, port) : OptionalInt.empty();
    }

    /**
     * Asks the control plane who listens user-level on {@code protocol} {@code port}: through our VNIC when
     * attached, otherwise through a tool connection, so a process that only connects to
     * loopback attaches no VNIC (and starts no control plane) unless someone listens there.
     */
    private OptionalInt lookupLoopbackListener(FlowFilter.Protocol protocol, int port) {
        try {
            UserStack s = stack;
            if (s != null && s.vnic() instanceof ShmVnic shm) {
                return shm.lookupListener(protocol, port);
            }
            if (!"shm".equals(config.backend())) {
                return OptionalInt.empty();
            }
            ControlClient client;
            synchronized (stackLock) {
                if (lookups == null) {
                    String socket = config.backendOptions().getOrDefault("socket",
                            ControlPlane.defaultSocketPath().toString());
                    lookups = ControlClient.connect(Path.of(socket));
                }
                client = lookups;
            }
            return client.lookupListener(protocol, port);
        } catch (IOException e) {
            // No control plane (or it went away): nobody listens user-level, the kernel it is.
            synchronized (stackLock) {
                closeLookups();
            }
            return OptionalInt.empty();
        }
    }

    private void closeLookups() {
        if (lookups != null) {
            try {
                lookups.close();
            } catch (IOException ignored) {
                // it is gone either way
            }
            lookups = null;
        }
    }

    /** Tells the control plane a user-level listener serves loopback clients on {@code port}; false if refused. */
    boolean announceLoopbackListener(UserStack s, int port) {
        return announceLoopbackPort(FlowFilter.Protocol.TCP, s, port);
    }

    void withdrawLoopbackListener(UserStack s, int port) {
        withdrawLoopbackPort(FlowFilter.Protocol.TCP, s, port);
    }

    /** Tells the control plane {@code protocol} {@code port} is served user-level for loopback senders; false if refused. */
    boolean announceLoopbackPort(FlowFilter.Protocol protocol, UserStack s, int port) {
        if (!config.loopback() || !(s.vnic() instanceof ShmVnic shm)) {
            return false;
        }
        try {
            shm.announceListener(protocol, port);
            return true;
        } catch (IOException e) {
            log(System.Logger.Level.WARNING, "127.0.0.1 clients of " + protocol + " port " + port
                    + " will go through the kernel: " + e.getMessage());
            return false;
        }
    }

    void withdrawLoopbackPort(FlowFilter.Protocol protocol, UserStack s, int port) {
        if (s.vnic() instanceof ShmVnic shm) {
            try {
                shm.withdrawListener(protocol, port);
            } catch (IOException | RuntimeException e) {
                // the control plane is gone: so is the announcement
            }
        }
    }

    boolean loopbackAcceleration() {
        return config.loopback();
    }

    Socket socketAdaptor(ArrakisSocketChannel channel) {
        return ArrakisSocketAdaptor.create(channel);
    }

    ServerSocket serverSocketAdaptor(ArrakisServerSocketChannel channel) {
        return new ArrakisServerSocketAdaptor(channel);
    }

    void log(System.Logger.Level level, String message) {
        System.getLogger("io.arrakis.provider").log(level, message);
    }

    /** Detaches the user-level stack (tests; the JVM-wide provider lives as long as the JVM). */
    public void shutdown() throws IOException {
        synchronized (stackLock) {
            closeLookups();
            UserStack s = stack;
            stack = null;
            QueueStacks qs = queueStacks;
            queueStacks = null;
            if (qs != null) {
                qs.close();
            }
            if (s != null) {
                s.close();
            }
        }
    }

    // ------------------------------------------------------------------ SelectorProvider

    @Override
    public DatagramChannel openDatagramChannel() throws IOException {
        if (io.arrakis.provider.net.DatagramSocketHook.creatingDatagramSocket()) {
            // java.net.DatagramSocket asks (through the agent's rewrite) for the channel it wraps:
            // its receive must survive a platform thread's interrupt, as the JDK's does.
            return openUninterruptibleDatagramChannel();
        }
        return new ArrakisDatagramChannel(this, null);
    }

    /**
     * The channel a {@code java.net.DatagramSocket}/{@code MulticastSocket} wraps (its
     * {@code socket()} is the socket's delegate), routed as {@link #openDatagramChannel()}'s, but
     * uninterruptible as the JDK's {@code SelectorProviderImpl.openUninterruptibleDatagramChannel}:
     * interrupting a platform thread blocked in it neither ends the wait nor closes it; a virtual
     * thread's interrupt closes the socket ({@code SocketException: Closed by interrupt}).
     * {@link #openDatagramChannel()} returns it when the agent's rewrite of
     * {@code DatagramSocket.createDelegate} asks; public for tests that build a socket the way
     * that call site does.
     */
    public DatagramChannel openUninterruptibleDatagramChannel() throws IOException {
        return new ArrakisDatagramChannel(this, null, false);
    }

    @Override
    public DatagramChannel openDatagramChannel(ProtocolFamily family) throws IOException {
        Objects.requireNonNull(family, "'family' is null");
        if (family == StandardProtocolFamily.INET || family == StandardProtocolFamily.INET6) {
            return new ArrakisDatagramChannel(this, family);
        }
        return kernel().openDatagramChannel(family); // the JDK's answer: "Protocol family not supported"
    }

    @Override
    public Pipe openPipe() throws IOException {
        return new ArrakisPipe(this, kernel().openPipe());
    }

    @Override
    public AbstractSelector openSelector() throws IOException {
        return new ArrakisSelector(this);
    }

    @Override
    public ServerSocketChannel openServerSocketChannel() throws IOException {
        return new ArrakisServerSocketChannel(this);
    }

    @Override
    public ServerSocketChannel openServerSocketChannel(ProtocolFamily family) throws IOException {
        Objects.requireNonNull(family);
        if (family == StandardProtocolFamily.INET || family == StandardProtocolFamily.INET6) {
            return new ArrakisServerSocketChannel(this);
        }
        return kernel().openServerSocketChannel(family);
    }

    @Override
    public SocketChannel openSocketChannel() throws IOException {
        return new ArrakisSocketChannel(this);
    }

    @Override
    public SocketChannel openSocketChannel(ProtocolFamily family) throws IOException {
        Objects.requireNonNull(family);
        if (family == StandardProtocolFamily.INET || family == StandardProtocolFamily.INET6) {
            return new ArrakisSocketChannel(this);
        }
        return kernel().openSocketChannel(family);
    }

    @Override
    public Channel inheritedChannel() throws IOException {
        return kernel().inheritedChannel();
    }
}

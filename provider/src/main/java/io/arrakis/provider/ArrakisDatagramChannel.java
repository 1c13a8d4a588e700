package io.arrakis.provider;

import io.arrakis.device.FlowFilter;
import io.arrakis.linux.Epoll;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.udp.UdpSocket;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.net.BindException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.PortUnreachableException;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketOption;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.AlreadyBoundException;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.IllegalBlockingModeException;
import java.nio.channels.MembershipKey;
import java.nio.channels.NotYetConnectedException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.UnsupportedAddressTypeException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A UDP {@link DatagramChannel} on the user-level stack, the kernel, or both, decided when it
 * binds (explicitly, or implicitly as the JDK binds on connect, send and receive):
 * <ul>
 *   <li><b>Our VNIC's address</b>: user-level only. Every datagram goes through the stack, which
 *       sends on-link or to the gateway; a destination only the kernel reaches (127.0.0.1, IPv6)
 *       fails as an unreachable network.
 *   <li><b>The wildcard</b> (0.0.0.0, ::, or no address): both paths, one port number: a kernel
 *       socket on the wildcard and a user-level UDP port with the same number, as the wildcard
 *       TCP listener does. Datagrams are received from both (taken in turn). An unconnected send
 *       goes user-level to an address the provider routes ({@code arrakis.route}: our subnet by
 *       default; add a multicast range there to send those groups through the switch), user-level
 *       to 127.0.0.1:P when an attached process's wildcard channel announced P (loopback
 *       acceleration: we announce our port too; replies from there are named 127.0.0.1:P), and
 *       through the kernel otherwise. A blocked thread sleeps as the stack's leader with the
 *       kernel socket in its epoll set ({@link UserStack#leadWatching}). {@link #connect} uses the path its peer routes to and mutes the
 *       other, so that only the peer is heard, as in Linux: the kernel socket is connected to
 *       itself on the loopback, the user-level port to itself on our address (neither ever sends);
 *       {@link #disconnect} un-mutes it. When the user-level side cannot be had (the stack cannot
 *       attach, or the port is taken user-level by another channel of this process), the channel
 *       is the kernel's alone, with a warning.
 *   <li><b>Any other address</b>: the JDK's own channel, wrapped; everything is delegated.
 * </ul>
 * A user-level datagram's PortUnreachableException (an ICMP port unreachable for a connected
 * channel), truncation into a short buffer, zero-length rules, exceptions and their order are the
 * JDK's {@code DatagramChannelImpl}'s on Linux.
 *
 * <p><b>Interrupts.</b> A channel from {@code openDatagramChannel} is interruptible, as the JDK's:
 * an interrupt of a thread blocked in it closes it ({@code ClosedByInterruptException}). The one
 * a {@code java.net.DatagramSocket} wraps ({@link ArrakisSelectorProvider#openUninterruptibleDatagramChannel})
 * is not, as the JDK's {@code DatagramChannelImpl} with {@code interruptible == false}: a platform
 * thread blocked in it keeps waiting with its interrupt status set (the interrupt does not end
 * the wait, and the channel stays open); a virtual thread's wait ends with an
 * {@code InterruptedIOException}, which the socket adaptor turns into closing the socket and
 * {@code SocketException("Closed by interrupt")}; a close from another thread ends the wait with
 * {@code AsynchronousCloseException} either way.
 *
 * <p>Thread-safe as the JDK's: one reader and one writer at a time ({@link #readLock},
 * {@link #writeLock}), state under {@link #stateLock}, stack calls under the stack's lock, always
 * taken in that order.
 */
final class ArrakisDatagramChannel extends DatagramChannel implements RoutedChannel {
    /** Not bound yet (a kernel socket may exist already, made by a join before bind). */
    private static final int UNBOUND = 0;
    /** Bound to our VNIC's address: the user-level port only. */
    private static final int USER = 1;
    /** Bound to the wildcard: a kernel socket (always non-blocking) and a user-level port. */
    private static final int BOTH = 2;
    /** The JDK's channel, wrapped: every call is delegated. */
    private static final int KERNEL = 3;

    /** How long a blocked user-level send waits before it retries on its own (buffers held for ARP free silently). */
    private static final long SEND_RETRY_NANOS = 100_000;
    private static final int LOOPBACK = 0x7F00_0001;
    private static final InetAddress LOOPBACK_ADDRESS = Addresses.inet(LOOPBACK);
    /** Loopback acceleration: how many destination ports a channel remembers the route of, and for how long. */
    private static final int LOOPBACK_SLOTS = 8;
    private static final long LOOPBACK_ROUTE_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final MemorySegment NOWHERE = MemorySegment.ofArray(new byte[0]);

    private final ArrakisSelectorProvider arrakis;
    /** Whether an interrupt of a thread blocked in this channel closes it (see the class comment). */
    private final boolean interruptible;
    /** The family asked for at open, or null for the JDK's default (IPv6, dual-stack, when available). */
    private final ProtocolFamily family;
    private final ReentrantLock readLock = new ReentrantLock();
    private final ReentrantLock writeLock = new ReentrantLock();
    private final Object stateLock = new Object();
    private final Readiness readiness = new Readiness();
    private final Runnable signalReadiness = readiness::signal;
    private final DatagramOptions options = new DatagramOptions();

    // Written under stateLock, volatile for lock-free reads. The mode moves once, away from UNBOUND.
    private volatile int mode = UNBOUND;
    private volatile DatagramChannel kernel;
    private volatile UserStack net;
    private volatile UdpSocket socket;
    /** The user-level port (and, in BOTH, the kernel socket's port too). */
    private volatile int port;
    private volatile boolean connected;
    /** In BOTH: whether the connection is the user-level side's (the kernel side is muted) or the kernel's. */
    private volatile boolean connectedUserLevel;
    /** In BOTH: connected to 127.0.0.1:P, user-level to the process that announced P (loopback acceleration). */
    private volatile boolean connectedViaLoopback;
    /** In BOTH: whether our port is announced to the control plane for loopback senders (withdrawn at close). */
    private volatile boolean announced;
    /**
     * Loopback acceleration, in BOTH: where datagrams to 127.0.0.1:P went lately, one slot per
     * {@code P % LOOPBACK_SLOTS}: {@code P << 32 | the announcing VNIC's address} (0: nobody, the
     * kernel), asked again after {@link #LOOPBACK_ROUTE_NANOS} ({@link #loopbackExpiry}). Written
     * under writeLock; the reader looks up replies' senders in it, to name them 127.0.0.1:P as the
     * kernel would.
     */
    private final AtomicLongArray loopbackRoutes = new AtomicLongArray(LOOPBACK_SLOTS);
    /** When each {@link #loopbackRoutes} slot is to be asked again ({@link System#nanoTime}); writeLock. */
    private final long[] loopbackExpiry = new long[LOOPBACK_SLOTS];
    private volatile InetSocketAddress remoteAddress;
    private volatile int remoteIpv4;
    private volatile boolean closed;
    /** Guarded by stateLock. */
    private final List<ArrakisMembershipKey> memberships = new ArrayList<>();
    /** For blocking operations in BOTH: private JDK selectors over the kernel side. Guarded by stateLock. */
    private Selector readWait;
    private Selector writeWait;

    // The reader's own state (readLock).
    private final ByteBuffer[] oneReadBuffer = new ByteBuffer[1];
    private byte[] readScratch;
    private boolean kernelTurn;
    /** Bytes the last datagram received stored (a longer one was truncated). */
    private int copied;
    private int cachedSenderAddress;
    private int cachedSenderPort = -1;
    private InetSocketAddress cachedSender;
    // The writer's own state (writeLock).
    private final ByteBuffer[] oneWriteBuffer = new ByteBuffer[1];
    private byte[] writeScratch;
    /** The socket adaptor's last packet array and a view of it (readLock, writeLock): no allocation per packet. */
    private byte[] packetReadArray;
    private ByteBuffer packetReadBuffer;
    private byte[] packetWriteArray;
    private ByteBuffer packetWriteBuffer;
    /** Guarded by stateLock. */
    private DatagramSocket socketAdaptor;

    ArrakisDatagramChannel(ArrakisSelectorProvider provider, ProtocolFamily family) {
        this(provider, family, true);
    }

    /** {@code interruptible == false}: the channel of a {@code java.net.DatagramSocket} (see the class comment). */
    ArrakisDatagramChannel(ArrakisSelectorProvider provider, ProtocolFamily family, boolean interruptible) {
        super(provider);
        this.arrakis = provider;
        this.family = family;
        this.interruptible = interruptible;
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
    public boolean hasUserSide() {
        return socket != null;
    }

    @Override
    public UserStack userStack() {
        return net;
    }

    /** Under the stack lock: OP_READ when a datagram (or an error) waits, OP_WRITE when the device takes output. */
    @Override
    public int readyOps(int interest) {
        UdpSocket s = socket;
        if (s == null) {
            return 0;
        }
        if (closed || s.hasPendingError()) {
            return interest; // as poll(2) reports POLLERR: every operation would not block
        }
        int ready = 0;
        if ((interest & SelectionKey.OP_READ) != 0 && s.queuedDatagrams() > 0) {
            ready |= SelectionKey.OP_READ;
        }
        if ((interest & SelectionKey.OP_WRITE) != 0) {
            UserStack stack = net;
            if (!stack.stack().outputPending()) {
                ready |= SelectionKey.OP_WRITE;
            } else {
                stack.signalWhenOutputRoom(readiness);
            }
        }
        return ready;
    }

    // ------------------------------------------------------------------ checks

    private void ensureOpen() throws ClosedChannelException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
    }

    /** The JDK's {@code Net.checkAddress(address, family)}. */
    private InetSocketAddress checkAddress(SocketAddress address) {
        InetSocketAddress isa = Addresses.check(address);
        if (family == StandardProtocolFamily.INET && isa.getAddress() instanceof Inet6Address) {
            throw new UnsupportedAddressTypeException();
        }
        return isa;
    }

    private boolean routed(InetAddress address) {
        int ipv4 = Addresses.ipv4(address);
        return ipv4 != 0 && arrakis.routesLocal(ipv4);
    }

    /**
     * The IPv4 destination a user-level send or connect may use, or the exception the kernel
     * would give a socket whose only interface is the VNIC.
     */
    private int userLevelDestination(InetSocketAddress target, boolean connecting) throws IOException {
        InetAddress address = target.getAddress();
        if (target.getPort() == 0) {
            throw new SocketException(connecting ? "Can't connect to port 0" : "Can't send to port 0");
        }
        if (!(address instanceof Inet4Address)) {
            throw new SocketException("Address family not supported by protocol");
        }
        int ipv4 = Addresses.ipv4(address);
        if (ipv4 == 0 || ipv4 >>> 24 == 127) {
            throw new SocketException("Network is unreachable (" + address.getHostAddress()
                    + " is reached through the kernel; this channel is bound to the user-level address "
                    + Addresses.inet(net.address()).getHostAddress() + ")");
        }
        if ((ipv4 == 0xFFFF_FFFF || ipv4 == net.stack().config().subnetBroadcast()) && !options.broadcast()) {
            throw new BindException("Permission denied");
        }
        return ipv4;
    }

    // ------------------------------------------------------------------ bind

    @Override
    public DatagramChannel bind(SocketAddress local) throws IOException {
        readLock.lock();
        try {
            writeLock.lock();
            try {
                synchronized (stateLock) {
                    ensureOpen();
                    if (mode != UNBOUND) {
                        throw new AlreadyBoundException();
                    }
                    bindLocked(local == null ? null : checkAddress(local));
                }
            } finally {
                writeLock.unlock();
            }
        } finally {
            readLock.unlock();
        }
        return this;
    }

    /** The JDK binds an unbound channel to the wildcard before connect, send and receive. Under stateLock. */
    private void ensureBound() throws IOException {
        if (mode == UNBOUND) {
            bindLocked(null);
        }
    }

    /** Under stateLock: chooses the route for {@code local} (null: the wildcard, any port) and binds. */
    private void bindLocked(InetSocketAddress local) throws IOException {
        InetAddress address = local == null ? null : local.getAddress();
        int wanted = local == null ? 0 : local.getPort();
        if (address == null || address.isAnyLocalAddress()) {
            bindWildcard(local, wanted);
        } else if (!address.isMulticastAddress() && routed(address)) {
            UserStack stack = arrakis.userStack();
            if (Addresses.ipv4(address) != stack.address()) {
                throw new BindException("Cannot assign requested address");
            }
            openUserSide(stack, stack.reserveUdpPort(wanted));
            DatagramChannel early = kernel;
            if (early != null) {
                // A join before bind made a kernel socket; the user-level port takes its memberships over.
                kernel = null;
                early.close();
            }
            mode = USER;
            joinUserSide(true);
        } else {
            DatagramChannel k = kernelSide();
            k.configureBlocking(isBlocking());
            k.bind(local);
            mode = KERNEL;
        }
        for (ArrakisSelectionKey key : readiness.keys()) {
            ((ArrakisSelector) key.selector()).attachKernel(key);
        }
        readiness.signal();
    }

    /** Under stateLock: a kernel socket on the wildcard and a user-level port with the same number. */
    private void bindWildcard(InetSocketAddress local, int wanted) throws IOException {
        UserStack stack = null;
        if (arrakis.listensOnWildcard()) {
            try {
                stack = arrakis.userStack();
            } catch (IOException e) {
                arrakis.log(System.Logger.Level.WARNING, "datagram channel on the wildcard through the kernel only: "
                        + e.getMessage());
            }
        }
        DatagramChannel k = kernelSide();
        if (stack == null) {
            k.configureBlocking(isBlocking());
            k.bind(local);
            mode = KERNEL;
            return;
        }
        k.configureBlocking(false);
        InetAddress wildcard = local != null ? local.getAddress()
                : family == StandardProtocolFamily.INET ? Addresses.inet(0) : null;
        if (wanted != 0) {
            k.bind(local); // the kernel's answer (BindException ...) is the one the JDK would give
            try {
                openUserSide(stack, stack.reserveUdpPort(wanted));
            } catch (BindException taken) {
                arrakis.log(System.Logger.Level.WARNING, "datagram channel on the wildcard port " + wanted
                        + " through the kernel only: the port is taken user-level (" + taken.getMessage() + ")");
                k.configureBlocking(isBlocking());
                mode = KERNEL;
                return;
            }
        } else {
            // An ephemeral port free on both paths: ours first, then the kernel's answer on it.
            int reserved = -1;
            for (int attempt = 0; attempt < 16 && reserved < 0; attempt++) {
                int candidate = stack.reserveUdpPort(0);
                try {
                    k.bind(wildcard == null ? new InetSocketAddress(candidate) : new InetSocketAddress(wildcard, candidate));
                    reserved = candidate;
                } catch (BindException taken) {
                    stack.releaseUdpPort(candidate); // the kernel has it: try the next one
                } catch (IOException | RuntimeException e) {
                    stack.releaseUdpPort(candidate);
                    throw e;
                }
            }
            if (reserved < 0) {
                k.bind(local);
                arrakis.log(System.Logger.Level.WARNING, "datagram channel on the wildcard port "
                        + ((InetSocketAddress) k.getLocalAddress()).getPort()
                        + " through the kernel only: no ephemeral port was free on both paths in 16 tries");
                k.configureBlocking(isBlocking());
                mode = KERNEL;
                return;
            }
            openUserSide(stack, reserved);
        }
        mode = BOTH;
        joinUserSide(false);
        // Processes on the switch sending to 127.0.0.1 on our port come to us through it.
        announced = arrakis.announceLoopbackPort(FlowFilter.Protocol.UDP, stack, port);
    }

    /**
     * Under writeLock: the VNIC address (host order) datagrams to {@code target} go to user-level
     * (loopback acceleration: 127.0.0.1:P, and an attached process's wildcard channel announced
     * P), or 0 for the kernel; the control plane's answer is kept for {@link #LOOPBACK_ROUTE_NANOS}.
     */
    private int loopbackPeer(InetSocketAddress target) {
        InetAddress address = target.getAddress();
        int destinationPort = target.getPort();
        // Inet4Address.hashCode is its address: no copy of the bytes per datagram.
        if (mode != BOTH || !(address instanceof Inet4Address) || address.hashCode() != LOOPBACK
                || destinationPort == 0 || !arrakis.loopbackAcceleration()) {
            return 0;
        }
        int slot = destinationPort % LOOPBACK_SLOTS;
        long route = loopbackRoutes.get(slot);
        long now = System.nanoTime();
        if ((int) (route >>> 32) == destinationPort && now - loopbackExpiry[slot] < 0) {
            return (int) route;
        }
        int peer = arrakis.loopbackDatagramPeer(destinationPort).orElse(0);
        loopbackRoutes.set(slot, (long) destinationPort << 32 | (peer & 0xFFFF_FFFFL));
        loopbackExpiry[slot] = now + LOOPBACK_ROUTE_NANOS;
        return peer;
    }

    /** The sender's address as the application is to see it: 127.0.0.1 for a peer reached through loopback acceleration. */
    private int senderAddress(int address, int senderPort) {
        if (mode == BOTH && address != 0) {
            long route = loopbackRoutes.get(senderPort % LOOPBACK_SLOTS);
            if ((int) (route >>> 32) == senderPort && (int) route == address) {
                return LOOPBACK;
            }
        }
        return address;
    }

    /** Under stateLock: opens the reserved user-level {@code reserved} port. */
    private void openUserSide(UserStack stack, int reserved) throws IOException {
        UdpSocket s;
        stack.lock().lock();
        try {
            s = stack.stack().openUdp(reserved, options.receiveBufferSize());
            s.setReadableListener(signalReadiness);
        } catch (IllegalStateException taken) {
            stack.releaseUdpPort(reserved);
            throw new BindException("Address already in use");
        } finally {
            stack.unlock();
        }
        net = stack;
        socket = s;
        port = reserved;
    }

    /** Under stateLock: the kernel socket, opened now (with the options set so far) if there is none. */
    private DatagramChannel kernelSide() throws IOException {
        DatagramChannel k = kernel;
        if (k != null) {
            return k;
        }
        k = !interruptible ? jdkUninterruptibleChannel()
                : family == null ? JdkProvider.get().openDatagramChannel() : JdkProvider.get().openDatagramChannel(family);
        try {
            options.replayOn(k);
            k.configureBlocking(isBlocking());
        } catch (IOException | RuntimeException e) {
            k.close();
            throw e;
        }
        kernel = k;
        return k;
    }

    /**
     * The JDK's own channel for a {@code DatagramSocket} ({@code SelectorProviderImpl.openUninterruptibleDatagramChannel}),
     * so that a socket routed to the kernel behaves on interrupt exactly as it would without us.
     */
    private static DatagramChannel jdkUninterruptibleChannel() throws IOException {
        java.nio.channels.spi.SelectorProvider jdk = JdkProvider.get();
        try {
            return (DatagramChannel) jdk.getClass().getMethod("openUninterruptibleDatagramChannel").invoke(jdk);
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("the JDK's openUninterruptibleDatagramChannel failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IOException("this JDK's provider " + jdk.getClass().getName() + " has no public"
                    + " openUninterruptibleDatagramChannel() (Arrakis needs JDK 25): " + e, e);
        }
    }

    /**
     * Under stateLock, once the user-level port exists: memberships made before bind join it too.
     * {@code kernelGone}: their kernel side went with the early kernel socket, so a membership the
     * user-level side cannot hold (source-specific, IPv6) ends here, with a warning.
     */
    private void joinUserSide(boolean kernelGone) throws IOException {
        for (ArrakisMembershipKey key : List.copyOf(memberships)) {
            if (kernelGone) {
                key.kernelKey = null;
            }
            if (key.userSideWanted) {
                key.userSideWanted = false;
                joinUserLevel(key);
            } else if (kernelGone) {
                arrakis.log(System.Logger.Level.WARNING, "membership " + key + " ends: the channel bound to its"
                        + " user-level address, which cannot hold a source-specific or IPv6 membership");
                key.invalidate();
                memberships.remove(key);
            }
        }
    }

    // ------------------------------------------------------------------ connect

    @Override
    public DatagramChannel connect(SocketAddress remote) throws IOException {
        InetSocketAddress target = checkAddress(remote);
        readLock.lock();
        try {
            writeLock.lock();
            try {
                synchronized (stateLock) {
                    ensureOpen();
                    DatagramChannel k = kernel;
                    if (mode == KERNEL) {
                        kernelCall(() -> k.connect(target));
                        return this;
                    }
                    if (connected) {
                        throw new AlreadyConnectedException();
                    }
                    ensureBound();
                    if (mode == KERNEL) {
                        kernelCall(() -> kernel.connect(target));
                        return this;
                    }
                    int peer;
                    if (mode == USER || routed(target.getAddress())) {
                        connectUserLevel(userLevelDestination(target, true), target.getPort(), false);
                    } else if ((peer = loopbackPeer(target)) != 0) {
                        connectUserLevel(peer, target.getPort(), true);
                    } else {
                        connectKernel(target);
                    }
                    remoteAddress = target;
                    connected = true;
                }
            } finally {
                writeLock.unlock();
            }
        } finally {
            readLock.unlock();
        }
        return this;
    }

    /**
     * Under stateLock: the connection is the user-level port's, to {@code destination}:{@code
     * destinationPort} ({@code viaLoopback}: the VNIC of the process behind 127.0.0.1 on that
     * port); a kernel side is muted.
     */
    private void connectUserLevel(int destination, int destinationPort, boolean viaLoopback) throws IOException {
        DatagramChannel k = kernel;
        if (k != null) {
            // Connected to itself on the loopback: nobody else's datagrams reach it any more.
            k.connect(new InetSocketAddress(Addresses.inet(LOOPBACK), port));
        }
        UserStack stack = net;
        UdpSocket s = socket;
        stack.lock().lock();
        try {
            s.connect(destination, destinationPort);
            discardQueued(s);
        } finally {
            stack.unlock();
        }
        remoteIpv4 = destination;
        connectedUserLevel = true;
        connectedViaLoopback = viaLoopback;
    }

    /** Under stateLock (BOTH): the connection is the kernel socket's; the user-level port is muted. */
    private void connectKernel(InetSocketAddress target) throws IOException {
        kernel.connect(target);
        UserStack stack = net;
        UdpSocket s = socket;
        stack.lock().lock();
        try {
            s.connect(stack.address(), port); // itself: nothing ever comes from there
            discardQueued(s);
        } finally {
            stack.unlock();
        }
        connectedUserLevel = false;
        connectedViaLoopback = false;
    }

    /** Under the stack lock: as the JDK flushes what was received before connect. */
    private static void discardQueued(UdpSocket s) {
        while (s.receive(NOWHERE, 0, 0) >= 0) {
            // discard
        }
        s.takeError();
    }

    @Override
    public DatagramChannel disconnect() throws IOException {
        readLock.lock();
        try {
            writeLock.lock();
            try {
                synchronized (stateLock) {
                    if (!isOpen()) {
                        return this;
                    }
                    DatagramChannel k = kernel;
                    if (mode == KERNEL) {
                        k.disconnect();
                        return this;
                    }
                    if (!connected) {
                        return this;
                    }
                    if (k != null) {
                        k.disconnect();
                    }
                    UserStack stack = net;
                    UdpSocket s = socket;
                    stack.lock().lock();
                    try {
                        s.connect(0, 0);
                        s.takeError();
                    } finally {
                        stack.unlock();
                    }
                    connected = false;
                    connectedViaLoopback = false;
                    remoteAddress = null;
                    remoteIpv4 = 0;
                }
            } finally {
                writeLock.unlock();
            }
        } finally {
            readLock.unlock();
        }
        return this;
    }

    @Override
    public boolean isConnected() {
        return mode == KERNEL ? kernel.isConnected() : connected;
    }

    // ------------------------------------------------------------------ addresses

    @Override
    public SocketAddress getLocalAddress() throws IOException {
        synchronized (stateLock) {
            ensureOpen();
            DatagramChannel k = kernel;
            return switch (mode) {
                case KERNEL -> k.getLocalAddress();
                case USER -> new InetSocketAddress(Addresses.inet(net.address()), port);
                case BOTH -> connected && connectedUserLevel ? connectedLocalAddress() : k.getLocalAddress();
                default -> null;
            };
        }
    }

    /**
     * BOTH, connected user-level: the local address narrows to the route's source address, as a
     * kernel socket's does: our VNIC's, or 127.0.0.1 when connected to 127.0.0.1 (accelerated).
     */
    private InetSocketAddress connectedLocalAddress() {
        return new InetSocketAddress(connectedViaLoopback ? LOOPBACK_ADDRESS : Addresses.inet(net.address()), port);
    }

    @Override
    public SocketAddress getRemoteAddress() throws IOException {
        synchronized (stateLock) {
            ensureOpen();
            DatagramChannel k = kernel;
            return mode == KERNEL ? k.getRemoteAddress() : remoteAddress;
        }
    }

    // ------------------------------------------------------------------ receive / read

    @Override
    public SocketAddress receive(ByteBuffer dst) throws IOException {
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("Read-only buffer");
        }
        if (mode == KERNEL) {
            DatagramChannel k = kernel;
            return kernelCall(() -> k.receive(dst));
        }
        readLock.lock();
        try {
            synchronized (stateLock) {
                ensureOpen();
                ensureBound();
            }
            if (mode == KERNEL) {
                return kernelCall(() -> kernel.receive(dst));
            }
            oneReadBuffer[0] = dst;
            try {
                return receiveDatagram(oneReadBuffer, 0, 1, dst.remaining(), Long.MAX_VALUE);
            } finally {
                oneReadBuffer[0] = null;
            }
        } finally {
            readLock.unlock();
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        Objects.requireNonNull(dst);
        if (mode == KERNEL) {
            DatagramChannel k = kernel;
            return kernelCall(() -> k.read(dst));
        }
        readLock.lock();
        try {
            oneReadBuffer[0] = dst;
            try {
                return (int) readConnected(oneReadBuffer, 0, 1);
            } finally {
                oneReadBuffer[0] = null;
            }
        } finally {
            readLock.unlock();
        }
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, dsts.length);
        if (mode == KERNEL) {
            DatagramChannel k = kernel;
            return kernelCall(() -> k.read(dsts, offset, length));
        }
        readLock.lock();
        try {
            return readConnected(dsts, offset, length);
        } finally {
            readLock.unlock();
        }
    }

    /** Under readLock: read's checks (closed, not connected, read-only), then one datagram. */
    private long readConnected(ByteBuffer[] dsts, int offset, int length) throws IOException {
        if (!isOpen() || closed) {
            throw new ClosedChannelException();
        }
        if (!connected) {
            throw new NotYetConnectedException();
        }
        long room = 0;
        for (int i = offset; i < offset + length; i++) {
            if (dsts[i].isReadOnly()) {
                throw new IllegalArgumentException("Read-only buffer");
            }
            room += dsts[i].remaining();
        }
        if (room == 0) {
            return 0; // as read(2) of nothing: no datagram is consumed
        }
        copied = 0;
        receiveDatagram(dsts, offset, length, (int) Math.min(room, Integer.MAX_VALUE), Long.MAX_VALUE);
        return copied;
    }

    /**
     * Under readLock (bound, user side present): one datagram into {@code dsts}, its sender
     * returned, or null when there is none (non-blocking) or the wait ended by close or interrupt
     * (then {@code end} throws). The rest of a datagram longer than {@code room} is discarded.
     * {@link #copied} is the number of bytes stored. A blocking receive gives up at
     * {@code deadline} ({@link System#nanoTime} scale; {@code Long.MAX_VALUE}: never) with
     * {@code SocketTimeoutException("Receive timed out")}, the channel still usable.
     */
    private SocketAddress receiveDatagram(ByteBuffer[] dsts, int offset, int length, int room, long deadline)
            throws IOException {
        boolean blocking = isBlocking();
        SocketAddress sender = null;
        boolean timedOut = false;
        if (blocking) {
            beginBlocking();
        }
        try {
            UserStack stack = net;
            UdpSocket s = socket;
            DatagramChannel k = kernel;
            boolean polled = false;
            while (isOpen()) {
                boolean userSide = !connected || connectedUserLevel;
                boolean kernelSide = k != null && (!connected || !connectedUserLevel);
                if (kernelSide && kernelTurn) {
                    sender = receiveKernel(k, dsts, offset, length, room);
                    if (sender != null) {
                        kernelTurn = false;
                        return sender;
                    }
                }
                int seen;
                stack.lock().lock();
                try {
                    if (userSide) {
                        if (connected) {
                            throwIfUnreachable(s);
                        }
                        sender = receiveUserLevel(s, dsts, offset, length, room);
                        if (sender == null && !polled) {
                            // Fresh frames may wait in the queue: one poll before we report nothing.
                            stack.pollLocked();
                            polled = true;
                            if (connected) {
                                throwIfUnreachable(s);
                            }
                            sender = receiveUserLevel(s, dsts, offset, length, room);
                        }
                        if (sender != null) {
                            kernelTurn = true;
                            return sender;
                        }
                    }
                    seen = readiness.sequence();
                } finally {
                    stack.unlock();
                }
                if (kernelSide && !kernelTurn) {
                    sender = receiveKernel(k, dsts, offset, length, room);
                    if (sender != null) {
                        return sender;
                    }
                }
                kernelTurn = false;
                if (!blocking) {
                    return null;
                }
                if (deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) {
                    timedOut = true; // not an async close: end must not throw
                    throw new SocketTimeoutException("Receive timed out");
                }
                boolean cleared = beforeWait();
                boolean keepWaiting;
                try {
                    // Uninterruptible: an interrupt that ended the wait (a platform thread's) is no reason to stop.
                    keepWaiting = awaitChange(k, SelectionKey.OP_READ, seen, deadline) || (!interruptible && isOpen());
                } finally {
                    afterWait(cleared);
                }
                if (!keepWaiting) {
                    return null;
                }
            }
            return null; // closed while waiting: end() says how
        } finally {
            if (blocking) {
                endBlocking(sender != null || timedOut);
            }
        }
    }

    /** Under the stack lock: the pending ICMP error of a connected channel, as the JDK reports it. */
    private static void throwIfUnreachable(UdpSocket s) throws PortUnreachableException {
        if (s.takeError() == UdpSocket.ERROR_PORT_UNREACHABLE) {
            throw new PortUnreachableException();
        }
    }

    /** Under the stack lock: the next user-level datagram, or null. */
    private SocketAddress receiveUserLevel(UdpSocket s, ByteBuffer[] dsts, int offset, int length, int room) {
        int full;
        if (room == 0) {
            full = s.receive(NOWHERE, 0, 0);
        } else if (length == 1) {
            ByteBuffer dst = dsts[offset];
            full = s.receive(MemorySegment.ofBuffer(dst), 0, room);
            if (full >= 0) {
                dst.position(dst.position() + Math.min(full, room));
            }
        } else {
            byte[] scratch = readScratch();
            full = s.receive(MemorySegment.ofArray(scratch), 0, Math.min(room, scratch.length));
            if (full >= 0) {
                scatter(scratch, Math.min(full, room), dsts, offset, length);
            }
        }
        if (full < 0) {
            return null;
        }
        copied = Math.min(full, room);
        int senderPort = s.lastSourcePort();
        return sender(senderAddress(s.lastSourceAddress(), senderPort), senderPort);
    }

    /** The next datagram on the (non-blocking) kernel side, or null. */
    private SocketAddress receiveKernel(DatagramChannel k, ByteBuffer[] dsts, int offset, int length, int room)
            throws IOException {
        SocketAddress from;
        try {
            if (length == 1) {
                ByteBuffer dst = dsts[offset];
                int before = dst.position();
                from = k.receive(dst);
                if (from != null) {
                    copied = dst.position() - before;
                }
            } else {
                byte[] scratch = readScratch();
                ByteBuffer into = ByteBuffer.wrap(scratch, 0, Math.min(room, scratch.length));
                from = k.receive(into);
                if (from != null) {
                    scatter(scratch, into.position(), dsts, offset, length);
                    copied = into.position();
                }
            }
        } catch (ClosedChannelException e) {
            if (!isOpen()) {
                return null; // we were closed meanwhile: end() says how
            }
            throw e;
        }
        return from;
    }

    private byte[] readScratch() {
        if (readScratch == null) {
            readScratch = new byte[NetworkStack.MAX_UDP_PAYLOAD];
        }
        return readScratch;
    }

    private static void scatter(byte[] from, int count, ByteBuffer[] dsts, int offset, int length) {
        int at = 0;
        for (int i = offset; i < offset + length && at < count; i++) {
            int n = Math.min(dsts[i].remaining(), count - at);
            dsts[i].put(from, at, n);
            at += n;
        }
    }

    /** The sender as the JDK reports it; the last one is reused while it repeats (no allocation per datagram). */
    private InetSocketAddress sender(int address, int port) {
        if (cachedSender == null || address != cachedSenderAddress || port != cachedSenderPort) {
            cachedSender = new InetSocketAddress(Addresses.inet(address), port);
            cachedSenderAddress = address;
            cachedSenderPort = port;
        }
        return cachedSender;
    }

    // ------------------------------------------------------------------ send / write

    @Override
    public int send(ByteBuffer src, SocketAddress target) throws IOException {
        Objects.requireNonNull(src);
        InetSocketAddress isa = checkAddress(target);
        if (mode == KERNEL) {
            DatagramChannel k = kernel;
            return kernelCall(() -> k.send(src, isa));
        }
        writeLock.lock();
        try {
            synchronized (stateLock) {
                ensureOpen();
                ensureBound();
            }
            if (mode == KERNEL) {
                return kernelCall(() -> kernel.send(src, isa));
            }
            oneWriteBuffer[0] = src;
            try {
                if (connected) {
                    if (!isa.equals(remoteAddress)) {
                        throw new AlreadyConnectedException();
                    }
                    return (int) writeConnected(oneWriteBuffer, 0, 1);
                }
                int total = src.remaining();
                if (total > NetworkStack.MAX_UDP_PAYLOAD) {
                    throw new SocketException("Message too long");
                }
                if (mode == USER || routed(isa.getAddress())) {
                    int destination = userLevelDestination(isa, false);
                    return sendUserLevel(destination, isa.getPort(), oneWriteBuffer, 0, 1, total, false);
                }
                int peer = loopbackPeer(isa);
                if (peer != 0) {
                    return sendUserLevel(peer, isa.getPort(), oneWriteBuffer, 0, 1, total, false);
                }
                return sendKernel(() -> kernel.send(src, isa), total);
            } finally {
                oneWriteBuffer[0] = null;
            }
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        Objects.requireNonNull(src);
        if (mode == KERNEL) {
            DatagramChannel k = kernel;
            return kernelCall(() -> k.write(src));
        }
        writeLock.lock();
        try {
            oneWriteBuffer[0] = src;
            try {
                return (int) writeConnected(oneWriteBuffer, 0, 1);
            } finally {
                oneWriteBuffer[0] = null;
            }
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, srcs.length);
        if (mode == KERNEL) {
            DatagramChannel k = kernel;
            return kernelCall(() -> k.write(srcs, offset, length));
        }
        writeLock.lock();
        try {
            return writeConnected(srcs, offset, length);
        } finally {
            writeLock.unlock();
        }
    }

    /** Under writeLock: one datagram to the connected peer, gathered from {@code srcs}. */
    private long writeConnected(ByteBuffer[] srcs, int offset, int length) throws IOException {
        if (!isOpen() || closed) {
            throw new ClosedChannelException();
        }
        if (!connected) {
            throw new NotYetConnectedException();
        }
        long total = 0;
        for (int i = offset; i < offset + length; i++) {
            total += srcs[i].remaining();
        }
        if (total == 0) {
            return 0; // as write(2) of nothing on a connected socket: no datagram is sent
        }
        if (total > NetworkStack.MAX_UDP_PAYLOAD) {
            throw new IOException("Message too long");
        }
        if (connectedUserLevel) {
            return sendUserLevel(remoteIpv4, remoteAddress.getPort(), srcs, offset, length, (int) total, true);
        }
        DatagramChannel k = kernel;
        return sendKernel(() -> (int) k.write(srcs, offset, length), (int) total);
    }

    /**
     * Under writeLock: one datagram of {@code total} bytes from {@code srcs} through the stack.
     * Returns {@code total}, or 0 when the device cannot take it now (non-blocking) or the wait
     * ended by close or interrupt (then {@code end} throws).
     */
    private int sendUserLevel(int destination, int destinationPort, ByteBuffer[] srcs, int offset, int length,
            int total, boolean connectedSend) throws IOException {
        UserStack stack = net;
        UdpSocket s = socket;
        MemorySegment data = gathered(srcs, offset, length, total);
        boolean blocking = isBlocking();
        boolean sent = false;
        if (blocking) {
            beginBlocking();
        }
        try {
            while (isOpen()) {
                int seen;
                boolean newDeadline = false;
                stack.lock().lock();
                try {
                    if (connectedSend) {
                        throwIfUnreachable(s);
                    }
                    NetworkStack ip = stack.stack();
                    long deadlineBefore = ip.nextDeadline();
                    if (options.dontFragment() && total + 28 > ip.mtuTo(destination)) {
                        throw new SocketException("Message too long");
                    }
                    if (ip.outputPending()) {
                        ip.flush(); // the device may take now what it refused before
                    }
                    // While the device still holds output (its ring is full, or its rate limit holds
                    // frames back), a datagram is refused, as a full socket send buffer refuses it:
                    // queued behind, it would be dropped.
                    if (!ip.outputPending() && ip.sendUdp(s, destination, destinationPort, data, 0, total)) {
                        ip.flush(); // sendUdp only queues the frames: out they go now, not at the next poll
                        sent = true;
                    } else if (blocking) {
                        stack.signalWhenOutputRoom(readiness);
                    }
                    long deadlineAfter = ip.nextDeadline();
                    newDeadline = deadlineAfter != Long.MAX_VALUE
                            && (deadlineBefore == Long.MAX_VALUE || deadlineAfter - deadlineBefore < 0);
                    seen = readiness.sequence();
                } finally {
                    stack.unlock();
                }
                if (newDeadline) {
                    // The datagram waits for ARP (its retries are timers): a poller asleep until an
                    // older deadline, or none, must look again, or nobody would ever retry.
                    stack.wakePoller();
                }
                if (sent) {
                    for (int i = offset; i < offset + length; i++) {
                        srcs[i].position(srcs[i].limit());
                    }
                    return total;
                }
                if (!blocking) {
                    return 0;
                }
                boolean cleared = beforeWait();
                boolean moved;
                try {
                    moved = stack.await(readiness, seen, System.nanoTime() + SEND_RETRY_NANOS);
                } finally {
                    afterWait(cleared);
                }
                if (!moved && (!isOpen() || (interruptible && Thread.currentThread().isInterrupted()))) {
                    return 0;
                }
            }
            return 0;
        } finally {
            if (blocking) {
                endBlocking(sent);
            }
        }
    }

    /** The bytes to send as one segment: the buffer itself when there is one, else a copy in the writer's scratch. */
    private MemorySegment gathered(ByteBuffer[] srcs, int offset, int length, int total) {
        int nonEmpty = -1;
        for (int i = offset; i < offset + length; i++) {
            if (srcs[i].hasRemaining()) {
                if (nonEmpty >= 0) {
                    nonEmpty = -2;
                    break;
                }
                nonEmpty = i;
            }
        }
        if (nonEmpty == -1) {
            return NOWHERE;
        }
        if (nonEmpty >= 0) {
            return MemorySegment.ofBuffer(srcs[nonEmpty]);
        }
        if (writeScratch == null) {
            writeScratch = new byte[NetworkStack.MAX_UDP_PAYLOAD];
        }
        int at = 0;
        for (int i = offset; i < offset + length; i++) {
            ByteBuffer src = srcs[i];
            int n = src.remaining();
            src.get(src.position(), writeScratch, at, n); // absolute: positions move only once sent
            at += n;
        }
        return MemorySegment.ofArray(writeScratch).asSlice(0, total);
    }

    /** Under writeLock (BOTH): a send on the non-blocking kernel side, waited for in blocking mode. */
    private int sendKernel(KernelCall<Integer> call, int total) throws IOException {
        boolean blocking = isBlocking();
        int n = 0;
        if (blocking) {
            beginBlocking();
        }
        try {
            while (true) {
                try {
                    n = call.run();
                } catch (ClosedChannelException e) {
                    if (!isOpen()) {
                        return 0;
                    }
                    throw e;
                }
                if (n > 0 || total == 0 || !blocking) {
                    return n;
                }
                int seen = readiness.sequence();
                boolean cleared = beforeWait();
                boolean keepWaiting;
                try {
                    keepWaiting = awaitChange(kernel, SelectionKey.OP_WRITE, seen, Long.MAX_VALUE)
                            || (!interruptible && isOpen());
                } finally {
                    afterWait(cleared);
                }
                if (!keepWaiting) {
                    return 0;
                }
            }
        } finally {
            if (blocking) {
                endBlocking(n > 0 || total == 0);
            }
        }
    }

    // ------------------------------------------------------------------ waiting

    /**
     * {@code end(completed)} for a blocking operation, after letting an interrupt that ended its
     * wait close the channel: {@code Thread.interrupt} wakes a parked thread before it tells the
     * channel, so without this our {@code end} could clear the interruptor first and the channel
     * would stay open. {@code begin} handles a pending interrupt exactly as the JDK does.
     */
    private void endBlocking(boolean completed) throws AsynchronousCloseException {
        if (!interruptible) {
            // The JDK's uninterruptible channel: only a close (from another thread) ends it early.
            if (!completed && !isOpen()) {
                throw new AsynchronousCloseException();
            }
            return;
        }
        if (!completed && Thread.currentThread().isInterrupted()) {
            begin();
        }
        end(completed);
    }

    /** {@code begin()} for a blocking operation when an interrupt is to close the channel. */
    private void beginBlocking() {
        if (interruptible) {
            begin();
        }
    }

    /**
     * Before a wait of a blocking operation: an uninterruptible channel on a platform thread
     * waits as if not interrupted (a pending interrupt would end every park at once, a busy loop);
     * returns whether an interrupt status was cleared, for {@link #afterWait} to set it again.
     */
    private boolean beforeWait() {
        return !interruptible && !Thread.currentThread().isVirtual() && Thread.interrupted();
    }

    /**
     * After a wait: an interrupt status {@link #beforeWait} cleared is set again (one that came
     * during the wait is still set, and cleared again before the next wait); on an uninterruptible
     * channel a virtual thread's interrupt ends the operation with {@code InterruptedIOException},
     * as the JDK's {@code DatagramChannelImpl.park} does for a {@code DatagramSocket}.
     */
    private void afterWait(boolean cleared) throws InterruptedIOException {
        Thread me = Thread.currentThread();
        if (cleared) {
            me.interrupt();
        } else if (!interruptible && me.isVirtual() && me.isInterrupted()) {
            throw new InterruptedIOException();
        }
    }

    /**
     * Waits until the user-level side signals past {@code seen} or, with a kernel side, until it is
     * ready for {@code op}, or until {@code deadline} ({@link System#nanoTime} scale;
     * {@code Long.MAX_VALUE}: none); spins on the stack first, as every waiter does. Returns false
     * when the channel closed or the thread was interrupted.
     */
    private boolean awaitChange(DatagramChannel k, int op, int seen, long deadline) throws IOException {
        UserStack stack = net;
        Thread me = Thread.currentThread();
        if (k == null) {
            return stack.await(readiness, seen, deadline) || (isOpen() && !me.isInterrupted());
        }
        int fd = me.isVirtual() ? -1 : KernelDescriptor.of(k);
        if (fd >= 0) {
            // Spin, then one sleep on both paths: the stack's leader, also woken by the kernel
            // socket. (Waiting in a selector over the kernel side costs the poller's wake-up, then ours.)
            if (!isOpen() || me.isInterrupted()) {
                return false;
            }
            int led;
            try {
                led = stack.leadWatching(fd, op == SelectionKey.OP_READ ? Epoll.EPOLLIN : Epoll.EPOLLOUT, readiness,
                        seen, deadline);
            } catch (IOException e) {
                if (!isOpen()) {
                    return false; // closed under us: its descriptor with it (the caller's end says how)
                }
                throw e;
            }
            if (led >= 0) {
                return led == 1 || (isOpen() && !me.isInterrupted());
            }
            // another thread leads: wait in the selector, which a user-level event wakes
        } else {
            long spinEnd = System.nanoTime() + arrakis.spinNanos();
            if (deadline != Long.MAX_VALUE && spinEnd - deadline > 0) {
                spinEnd = deadline;
            }
            if (arrakis.spinNanos() > 0 && stack.await(readiness, seen, spinEnd)) {
                return true;
            }
        }
        long waitMillis = 1_000;
        if (deadline != Long.MAX_VALUE) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return isOpen() && !me.isInterrupted();
            }
            // Rounded up, at least 1: select(0) would wait for ever.
            waitMillis = Math.min(waitMillis, Math.max(1, TimeUnit.NANOSECONDS.toMillis(left + 999_999)));
        }
        if (!isOpen() || me.isInterrupted()) {
            return false;
        }
        Selector wait;
        synchronized (stateLock) {
            if (closed) {
                return false;
            }
            wait = waitSelector(k, op);
        }
        if (readiness.movedSince(seen)) {
            return true;
        }
        try {
            wait.select(waitMillis);
            wait.selectedKeys().clear();
        } catch (ClosedSelectorException e) {
            return false; // closed meanwhile
        } finally {
            // The selector's own begin/end replaced our interruptor on this thread: put it back, and
            // if an interrupt came meanwhile, it closes the channel now, as it would have then.
            if (interruptible) {
                begin();
            }
        }
        return isOpen() && !me.isInterrupted();
    }

    /**
     * The file descriptor of a JDK channel ({@code sun.nio.ch.SelChImpl.getFDVal}, reachable as
     * {@link JdkProvider} is), or -1 when it cannot be had; then waits use a selector.
     */
    private static final class KernelDescriptor {
        private static final java.lang.invoke.MethodHandle FD_VAL = find();

        private static java.lang.invoke.MethodHandle find() {
            try {
                Class<?> selChImpl = Class.forName(JdkProvider.PACKAGE + ".SelChImpl");
                return java.lang.invoke.MethodHandles.lookup().findVirtual(selChImpl, "getFDVal",
                        java.lang.invoke.MethodType.methodType(int.class))
                        .asType(java.lang.invoke.MethodType.methodType(int.class, Object.class));
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null;
            }
        }

        static int of(DatagramChannel k) {
            if (FD_VAL == null) {
                return -1;
            }
            try {
                return (int) FD_VAL.invokeExact((Object) k);
            } catch (Throwable e) {
                return -1;
            }
        }
    }

    /** Under stateLock: the private selector blocking operations of kind {@code op} wait in. */
    private Selector waitSelector(DatagramChannel k, int op) throws IOException {
        Selector wait = op == SelectionKey.OP_READ ? readWait : writeWait;
        if (wait == null) {
            wait = JdkProvider.get().openSelector();
            k.register(wait, op);
            if (op == SelectionKey.OP_READ) {
                readWait = wait;
            } else {
                writeWait = wait;
            }
            readiness.setHook(this::wakeWaiters);
        }
        return wait;
    }

    private void wakeWaiters() {
        Selector r = readWait;
        if (r != null) {
            r.wakeup();
        }
        Selector w = writeWait;
        if (w != null) {
            w.wakeup();
        }
    }

    // ------------------------------------------------------------------ multicast

    @Override
    public MembershipKey join(InetAddress group, NetworkInterface interf) throws IOException {
        return join(group, interf, null, false);
    }

    @Override
    public MembershipKey join(InetAddress group, NetworkInterface interf, InetAddress source) throws IOException {
        Objects.requireNonNull(source);
        return join(group, interf, source, true);
    }

    private MembershipKey join(InetAddress group, NetworkInterface interf, InetAddress source, boolean sourceSpecific)
            throws IOException {
        if (!group.isMulticastAddress()) {
            throw new IllegalArgumentException("Group not a multicast address");
        }
        if (group instanceof Inet6Address && family == StandardProtocolFamily.INET) {
            throw new IllegalArgumentException("Only IPv6 sockets can join IPv6 multicast group");
        }
        if (sourceSpecific) {
            if (source.isAnyLocalAddress()) {
                throw new IllegalArgumentException("Source address is a wildcard address");
            }
            if (source.isMulticastAddress()) {
                throw new IllegalArgumentException("Source address is multicast address");
            }
            if (source.getClass() != group.getClass()) {
                throw new IllegalArgumentException("Source address is different type to group");
            }
        }
        synchronized (stateLock) {
            ensureOpen();
            ArrakisMembershipKey existing = existingMembership(group, interf, source);
            if (existing != null) {
                return existing;
            }
            Objects.requireNonNull(interf, "interf");
            ArrakisMembershipKey key = new ArrakisMembershipKey(this, group, interf, source);
            boolean userLevelCapable = group instanceof Inet4Address && source == null;
            switch (mode) {
                case USER -> {
                    if (!userLevelCapable) {
                        throw new UnsupportedOperationException(group instanceof Inet4Address
                                ? "the user-level stack cannot filter multicast by source (the channel is bound to"
                                        + " its user-level address; bind to the wildcard to join through the kernel)"
                                : "the user-level stack has no IPv6 multicast");
                    }
                    joinUserLevel(key);
                }
                case BOTH -> {
                    key.kernelKey = joinKernel(kernel, group, interf, source);
                    if (userLevelCapable) {
                        try {
                            joinUserLevel(key);
                        } catch (IOException | RuntimeException e) {
                            key.kernelKey.drop();
                            throw e;
                        }
                    }
                }
                default -> {
                    // KERNEL, or not bound yet: the kernel socket holds it (made now if need be), and
                    // a user-level port made by bind joins too.
                    key.kernelKey = joinKernel(kernelSide(), group, interf, source);
                    key.userSideWanted = mode == UNBOUND && userLevelCapable;
                    if (mode == UNBOUND) {
                        for (ArrakisSelectionKey selectionKey : readiness.keys()) {
                            ((ArrakisSelector) selectionKey.selector()).attachKernel(selectionKey);
                        }
                    }
                }
            }
            memberships.add(key);
            return key;
        }
    }

    /** The JDK's registry rules: the same membership again is the same key; mixing kinds is refused. */
    private ArrakisMembershipKey existingMembership(InetAddress group, NetworkInterface interf, InetAddress source) {
        for (ArrakisMembershipKey key : memberships) {
            if (!key.group().equals(group) || !key.networkInterface().equals(interf)) {
                continue;
            }
            if (source == null) {
                if (key.sourceAddress() == null) {
                    return key;
                }
                throw new IllegalStateException("Already a member to receive all packets");
            }
            if (key.sourceAddress() == null) {
                throw new IllegalStateException("Already have source-specific membership");
            }
            if (source.equals(key.sourceAddress())) {
                return key;
            }
        }
        return null;
    }

    private static MembershipKey joinKernel(DatagramChannel k, InetAddress group, NetworkInterface interf,
            InetAddress source) throws IOException {
        return source == null ? k.join(group, interf) : k.join(group, interf, source);
    }

    /**
     * Under stateLock: the user-level port joins {@code key}'s group. The VNIC is the stack's only
     * interface, so the membership is on it whatever interface the application named.
     */
    private void joinUserLevel(ArrakisMembershipKey key) throws IOException {
        int group = Addresses.ipv4(key.group());
        UserStack stack = net;
        stack.lock().lock();
        try {
            stack.stack().joinGroup(socket, group);
        } catch (IllegalStateException full) {
            throw new SocketException("No buffer space available (" + full.getMessage() + ")");
        } finally {
            stack.unlock();
        }
        key.userGroup = group;
    }

    void drop(ArrakisMembershipKey key) {
        synchronized (stateLock) {
            if (!key.isValid()) {
                return;
            }
            MembershipKey kernelKey = key.kernelKey;
            if (kernelKey != null) {
                kernelKey.drop();
            }
            leaveUserLevel(key);
            key.invalidate();
            memberships.remove(key);
        }
    }

    /** Under stateLock. */
    private void leaveUserLevel(ArrakisMembershipKey key) {
        UdpSocket s = socket;
        if (key.userGroup == 0 || s == null) {
            return;
        }
        UserStack stack = net;
        stack.lock().lock();
        try {
            stack.stack().leaveGroup(s, key.userGroup);
        } catch (IOException e) {
            // Only the IGMP leave could not be sent; the membership is gone all the same.
            arrakis.log(System.Logger.Level.WARNING, "leaving " + key + " user-level: " + e.getMessage());
        } finally {
            stack.unlock();
        }
        key.userGroup = 0;
    }

    void block(ArrakisMembershipKey key, InetAddress source) throws IOException {
        synchronized (stateLock) {
            if (!key.isValid()) {
                throw new IllegalStateException("key is no longer valid");
            }
            if (source.isAnyLocalAddress()) {
                throw new IllegalArgumentException("Source address is a wildcard address");
            }
            if (source.isMulticastAddress()) {
                throw new IllegalArgumentException("Source address is multicast address");
            }
            if (source.getClass() != key.group().getClass()) {
                throw new IllegalArgumentException("Source address is different type to group");
            }
            if (key.userGroup != 0 || key.userSideWanted) {
                throw new UnsupportedOperationException("the user-level stack cannot filter multicast by source");
            }
            key.kernelKey.block(source);
        }
    }

    void unblock(ArrakisMembershipKey key, InetAddress source) {
        synchronized (stateLock) {
            if (!key.isValid()) {
                throw new IllegalStateException("key is no longer valid");
            }
            MembershipKey kernelKey = key.kernelKey;
            if (kernelKey != null && kernelKey.isValid()) {
                kernelKey.unblock(source);
            }
        }
    }

    // ------------------------------------------------------------------ options

    @Override
    public <T> DatagramChannel setOption(SocketOption<T> name, T value) throws IOException {
        DatagramOptions.checkType(name, value);
        synchronized (stateLock) {
            ensureOpen();
            DatagramChannel k = kernel;
            if (k != null) {
                k.setOption(name, value); // the kernel's checks and errors are the JDK's own
            } else {
                DatagramOptions.checkValue(name, value);
            }
            options.set(name, value);
            return this;
        }
    }

    @Override
    public <T> T getOption(SocketOption<T> name) throws IOException {
        DatagramOptions.checkSupported(name);
        synchronized (stateLock) {
            ensureOpen();
            DatagramChannel k = kernel;
            return k != null ? k.getOption(name) : options.get(name);
        }
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return DatagramOptions.supported();
    }

    /** One {@code java.net.MulticastSocket} view per channel, made on first use. */
    @Override
    public DatagramSocket socket() {
        synchronized (stateLock) {
            if (socketAdaptor == null) {
                socketAdaptor = ArrakisDatagramSocketAdaptor.create(this);
            }
            return socketAdaptor;
        }
    }

    // ------------------------------------------------------------------ for the socket adaptor

    /** Whether the channel has a local address (kept once closed, as the JDK's). */
    boolean isBoundForAdaptor() {
        return mode != UNBOUND;
    }

    /** The local address, or null while unbound. */
    InetSocketAddress localAddressOrNull() {
        synchronized (stateLock) {
            DatagramChannel k = kernel;
            return switch (mode) {
                case KERNEL -> (InetSocketAddress) k.socket().getLocalSocketAddress();
                case USER -> new InetSocketAddress(Addresses.inet(net.address()), port);
                case BOTH -> connected && connectedUserLevel ? connectedLocalAddress()
                        : (InetSocketAddress) k.socket().getLocalSocketAddress();
                default -> null;
            };
        }
    }

    /** The peer, or null when not connected; no check for closed, as the JDK's adaptor asks. */
    InetSocketAddress remoteAddressOrNull() {
        if (mode == KERNEL) {
            return (InetSocketAddress) kernel.socket().getRemoteSocketAddress();
        }
        return remoteAddress;
    }

    /** The membership of {@code group} on {@code interf} for every source, or null (the JDK's registry rules). */
    MembershipKey membershipOf(InetAddress group, NetworkInterface interf) {
        synchronized (stateLock) {
            return existingMembership(group, interf, null);
        }
    }

    /**
     * Connects, or connects again to another peer when connected already, as {@code connect(2)}
     * on a UDP socket does and the JDK's adaptor allows.
     */
    void connectForAdaptor(InetSocketAddress remote) throws IOException {
        readLock.lock();
        try {
            writeLock.lock();
            try {
                if (mode == KERNEL) {
                    kernel.socket().connect(remote); // the JDK's adaptor: its own checks and exceptions
                    return;
                }
                if (connected) {
                    disconnect();
                }
                connect(remote);
            } finally {
                writeLock.unlock();
            }
        } finally {
            readLock.unlock();
        }
    }

    /**
     * The socket adaptor's receive (the caller holds {@code p}'s monitor): one datagram into
     * {@code p}'s buffer, truncated to it, {@code p}'s length and sender set. Blocking mode only;
     * {@code timeoutMillis} (0: none) ends it with {@code SocketTimeoutException("Receive timed
     * out")}, the channel still usable. On a kernel channel, the JDK channel's own adaptor receives.
     */
    void receivePacket(DatagramPacket p, int timeoutMillis) throws IOException {
        if (mode == KERNEL) {
            receiveKernelPacket(p, timeoutMillis);
            return;
        }
        readLock.lock();
        try {
            ensureOpen();
            if (!isBlocking()) {
                throw new IllegalBlockingModeException();
            }
            synchronized (stateLock) {
                ensureOpen();
                ensureBound();
            }
            if (mode == KERNEL) {
                receiveKernelPacket(p, timeoutMillis);
                return;
            }
            long deadline = timeoutMillis == 0 ? Long.MAX_VALUE
                    : System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
            ByteBuffer dst = packetReadView(p);
            oneReadBuffer[0] = dst;
            SocketAddress sender;
            try {
                sender = receiveDatagram(oneReadBuffer, 0, 1, dst.remaining(), deadline);
            } finally {
                oneReadBuffer[0] = null;
            }
            if (sender != null) {
                ArrakisDatagramSocketAdaptor.setReceivedLength(p, dst.position() - p.getOffset());
                p.setSocketAddress(sender);
            }
        } finally {
            readLock.unlock();
        }
    }

    /**
     * KERNEL: the JDK channel's adaptor at our timeout; whatever closed the JDK channel (an
     * interrupt: {@code ClosedByInterruptException}, or on an uninterruptible channel a virtual
     * thread's, which the JDK's adaptor reports as {@code SocketException("Closed by interrupt")})
     * closes us too.
     */
    private void receiveKernelPacket(DatagramPacket p, int timeoutMillis) throws IOException {
        DatagramSocket delegate = kernel.socket();
        try {
            delegate.setSoTimeout(timeoutMillis);
        } catch (SocketException closed) {
            // the receive below reports it as the JDK does ("Socket closed")
        }
        try {
            delegate.receive(p);
        } catch (IOException e) {
            if (!delegate.getChannel().isOpen()) {
                close();
            }
            throw e;
        }
    }

    /** Under readLock: a view of {@code p}'s receive area (its buffer length, not its last datagram's), reused while the array is. */
    private ByteBuffer packetReadView(DatagramPacket p) {
        byte[] data = p.getData();
        if (data != packetReadArray) {
            packetReadArray = data;
            packetReadBuffer = ByteBuffer.wrap(data);
        }
        int offset = p.getOffset();
        packetReadBuffer.clear().position(offset).limit(offset + ArrakisDatagramSocketAdaptor.bufferLength(p));
        return packetReadBuffer;
    }

    /**
     * The socket adaptor's send (the caller holds {@code p}'s monitor): blocking mode only; a
     * packet without an address goes to the connected peer, which it then names; on a kernel
     * channel, the JDK channel's own adaptor sends.
     */
    void sendPacket(DatagramPacket p) throws IOException {
        if (mode == KERNEL) {
            sendKernelPacket(p);
            return;
        }
        writeLock.lock();
        try {
            ensureOpen();
            if (!isBlocking()) {
                throw new IllegalBlockingModeException();
            }
            if (mode == KERNEL) {
                sendKernelPacket(p);
                return;
            }
            InetSocketAddress target;
            if (p.getAddress() == null) {
                InetSocketAddress remote = connected ? remoteAddress : null;
                if (remote == null) {
                    throw new IllegalArgumentException("Address not set");
                }
                p.setAddress(remote.getAddress());
                p.setPort(remote.getPort());
                target = remote;
            } else {
                target = (InetSocketAddress) p.getSocketAddress();
            }
            byte[] data = p.getData();
            if (data != packetWriteArray) {
                packetWriteArray = data;
                packetWriteBuffer = ByteBuffer.wrap(data);
            }
            int offset = p.getOffset();
            packetWriteBuffer.clear().position(offset).limit(offset + p.getLength());
            send(packetWriteBuffer, target);
        } finally {
            writeLock.unlock();
        }
    }

    private void sendKernelPacket(DatagramPacket p) throws IOException {
        DatagramChannel k = kernel;
        try {
            k.socket().send(p);
        } catch (IOException e) {
            if (!k.isOpen()) {
                close();
            }
            throw e;
        }
    }

    // ------------------------------------------------------------------ blocking mode, close

    @Override
    protected void implConfigureBlocking(boolean block) throws IOException {
        synchronized (stateLock) {
            DatagramChannel k = kernel;
            if (k != null && mode != BOTH) {
                k.configureBlocking(block);
            }
        }
    }

    @Override
    protected void implCloseSelectableChannel() throws IOException {
        DatagramChannel k;
        Selector r;
        Selector w;
        synchronized (stateLock) {
            closed = true;
            connected = false;
            for (ArrakisMembershipKey key : memberships) {
                key.invalidate();
            }
            memberships.clear();
            k = kernel;
            r = readWait;
            w = writeWait;
            UdpSocket s = socket;
            UserStack stack = net;
            if (s != null) {
                stack.lock().lock();
                try {
                    stack.stack().closeUdp(s);
                } catch (IOException e) {
                    // Only IGMP leaves could not be sent; the port is closed all the same.
                    arrakis.log(System.Logger.Level.WARNING, "closing user-level UDP port " + port + ": " + e.getMessage());
                } finally {
                    stack.unlock();
                }
                stack.releaseUdpPort(port);
            }
        }
        if (announced) {
            announced = false;
            arrakis.withdrawLoopbackPort(FlowFilter.Protocol.UDP, net, port);
        }
        readiness.signal();
        try {
            if (r != null) {
                r.close();
            }
            if (w != null) {
                w.close();
            }
        } finally {
            if (k != null) {
                k.close();
            }
        }
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

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("ArrakisDatagramChannel[");
        if (!isOpen()) {
            return b.append("closed]").toString();
        }
        DatagramChannel k = kernel;
        switch (mode) {
            case UNBOUND -> b.append("unbound");
            case KERNEL -> b.append("kernel ").append(k);
            case USER -> b.append("user-level ").append(Addresses.inet(net.address()).getHostAddress()).append(':')
                    .append(port);
            default -> b.append("wildcard port ").append(port).append(", user-level and kernel");
        }
        InetSocketAddress remote = remoteAddress;
        if (mode != KERNEL && remote != null) {
            b.append(" connected to ").append(remote).append(connectedUserLevel ? " (user-level)" : " (kernel)");
        }
        return b.append(']').toString();
    }
}

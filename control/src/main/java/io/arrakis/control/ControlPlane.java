package io.arrakis.control;

import io.arrakis.device.Counters;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.MacAddress;
import io.arrakis.device.RateLimit;
import io.arrakis.device.VnicCounter;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Mman;
import io.arrakis.linux.Sockets;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.net.ProtocolException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The control plane: one per host (a daemon, or embedded in the first process that needs one).
 * It listens on a Unix {@code SOCK_SEQPACKET} socket; each connection that sends ATTACH gets a
 * VNIC (a MAC, an address from the subnet, a bell, a counters page), and every pair of VNICs
 * gets two direct channels (see {@link ChannelLayout}), whose memory it creates, seals and hands
 * out as descriptors ({@code SCM_RIGHTS}): each process gets only its own VNIC's files and the
 * channels it is an end of, the receiving end read-only. When a connection closes (exit, crash,
 * SIGKILL) it reclaims the VNIC, tells the peers to drop their channels to it, and closes every
 * descriptor it held for it. It also answers STATUS and SET_RATE_LIMIT, and keeps the directory
 * of announced listeners for loopback acceleration (see {@link Protocol}). For AF_XDP it owns
 * the XDP program and maps of each interface a process asks about ({@link XdpAdmissions}): it
 * admits processes' sockets, installs and removes their flows, and removes them when their
 * connection closes or they exit.
 *
 * <p>One thread does all of this, blocked in {@code epoll_wait} over the listening socket and
 * the connections: it never spins and is not on the data path. Other threads reach it through
 * {@link #status()} and {@link #close()} (thread-safe).
 *
 * <p>The control plane never blocks on a process: what a connection cannot take yet waits in a
 * bounded backlog, and a connection that lets it overflow is treated as dead.
 */
public final class ControlPlane implements AutoCloseable {
    private static final long LISTEN_TAG = 0;
    private static final long WAKE_TAG = 1;
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle().withInvokeExactBehavior();
    private static final int MAX_NAME = 64;
    /** Socket paths of control planes running in this JVM (a second FileChannel lock would drop the first). */
    private static final Map<Path, AtomicReference<ControlPlane>> RUNNING_HERE = new ConcurrentHashMap<>();

    /** Someone else (another process, or this JVM) already runs a control plane on that socket. */
    public static final class AlreadyRunningException extends IOException {
        private static final long serialVersionUID = 1L;

        AlreadyRunningException(String message) {
            super(message);
        }
    }

    private final ControlPlaneConfig config;
    private final Path socket;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final int listenFd;
    private final int epollFd;
    private final int wakeFd;
    private final int ownUid;
    private final int pid = (int) ProcessHandle.current().pid();
    private final long macTag;
    private final int unprivilegedPortStart = readUnprivilegedPortStart();
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    private volatile boolean running = true;
    private final AtomicBoolean closing = new AtomicBoolean();
    private Thread thread;

    // Loop-thread state.
    private final Map<Long, Client> clients = new HashMap<>();
    private final Map<Integer, VnicEntry> vnics = new LinkedHashMap<>();
    private final Map<Long, ChannelEntry> channels = new LinkedHashMap<>();
    private final BitSet usedHosts = new BitSet();
    /** Announced listeners by {@link #listenerKey}: the first VNIC to announce a port holds it until it withdraws or dies. */
    private final Map<Integer, VnicEntry> listeners = new HashMap<>();
    private final ArrayDeque<Client> doomed = new ArrayDeque<>();
    private final XdpAdmissions xdp = new XdpAdmissions();
    /** Virtual storage areas: set once before the loop starts. */
    private VsaRegistry vsas = new VsaRegistry(VsaRegistry.Settings.defaults());
    private long nextTag = 2;
    private int nextId = 1;
    private long attaches;
    private long detaches;
    private Arena loopArena;
    private MemorySegment sendBuffer;

    /** Messages a connection could not take yet, most a slow reader may have before it is dropped. */
    private static final int MAX_BACKLOG = 4096;

    /** A message waiting for room in a connection's socket buffer; owns duplicates of its descriptors. */
    private record Outgoing(byte[] bytes, int[] fds) {}

    /** One connection. */
    private static final class Client {
        final long tag;
        final int fd;
        final Sockets.Credentials credentials;
        final ArrayDeque<Outgoing> backlog = new ArrayDeque<>();
        boolean writeWanted;
        VnicEntry vnic;
        /** The AF_XDP interfaces this connection's process was admitted to ({@link XdpAdmissions} keys). */
        final List<String> xdpInterfaces = new ArrayList<>(1);
        boolean doomed;

        Client(long tag, int fd, Sockets.Credentials credentials) {
            this.tag = tag;
            this.fd = fd;
            this.credentials = credentials;
        }
    }

    /** One VNIC and the descriptors the control plane keeps for it (to hand to future peers). */
    private static final class VnicEntry {
        final int id;
        final String name;
        final Client owner;
        final long mac;
        final int address;
        final int host;
        final int queues;
        final int bellFd;
        final int[] eventFds;
        final Mapping counters;
        final TreeSet<ControlStatus.Listener> listening = new TreeSet<>();
        /** Receive filters in the order installed; pushed whole to the owner and every peer on each change. */
        final List<ControlStatus.Filter> filters = new ArrayList<>();
        RateLimit rateLimit = RateLimit.UNLIMITED;

        VnicEntry(int id, String name, Client owner, long mac, int address, int host, int queues, int bellFd,
                int[] eventFds, Mapping counters) {
            this.id = id;
            this.name = name;
            this.owner = owner;
            this.mac = mac;
            this.address = address;
            this.host = host;
            this.queues = queues;
            this.bellFd = bellFd;
            this.eventFds = eventFds;
            this.counters = counters;
        }

        /** Closes the descriptors kept for future peers and unmaps the counters. */
        void release() {
            closeQuietly(bellFd);
            for (int fd : eventFds) {
                closeQuietly(fd);
            }
            counters.close();
        }
    }

    /**
     * The control plane's view of the channels from VNIC {@code from} to VNIC {@code to} (one per
     * pair of their queues): the forward file (mapped whole; only the header pages are ever
     * touched) and the return file, for the positions in status.
     */
    private record ChannelEntry(int from, int to, int fromQueues, int toQueues, long stride, Mapping forwardFile,
            Mapping returnFile) implements AutoCloseable {
        long published(int channel) {
            return (long) LONG.getAcquire(forwardFile.segment(), channel * stride + ChannelLayout.POSITION);
        }

        long consumed(int channel) {
            return (long) LONG.getAcquire(returnFile.segment(), channel * ChannelLayout.RETURN_BYTES
                    + ChannelLayout.POSITION);
        }

        int count() {
            return fromQueues * toQueues;
        }

        @Override
        public void close() {
            forwardFile.close();
            returnFile.close();
        }
    }

    private ControlPlane(ControlPlaneConfig config, Path socket, FileChannel lockChannel, FileLock lock, int listenFd,
            int epollFd, int wakeFd, int ownUid) {
        this.config = config;
        this.socket = socket;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.listenFd = listenFd;
        this.epollFd = epollFd;
        this.wakeFd = wakeFd;
        this.ownUid = ownUid;
        this.macTag = new SecureRandom().nextInt(1 << 16);
    }

    // ------------------------------------------------------------------ starting

    /**
     * Where the control plane listens unless told otherwise: {@code /run/arrakis/control.sock}
     * for root, else {@code $XDG_RUNTIME_DIR/arrakis/control.sock}, else
     * {@code /tmp/arrakis-<uid>/control.sock}.
     */
    public static Path defaultSocketPath() {
        int uid = currentUid();
        if (uid == 0) {
            return Path.of("/run/arrakis/control.sock");
        }
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        if (runtime != null && !runtime.isBlank()) {
            return Path.of(runtime, "arrakis", "control.sock");
        }
        return Path.of("/tmp", "arrakis-" + uid, "control.sock");
    }

    /** Starts a control plane with the defaults on {@code socket}, on a daemon thread of this JVM. */
    public static ControlPlane startEmbedded(Path socket) throws IOException {
        return startEmbedded(ControlPlaneConfig.defaults(socket));
    }

    /**
     * Starts a control plane on a daemon thread of this JVM: it lives as long as the JVM (or
     * until {@link #close()}).
     *
     * @throws AlreadyRunningException if another process or this JVM already runs one on that socket
     */
    public static ControlPlane startEmbedded(ControlPlaneConfig config) throws IOException {
        return startEmbedded(config, VsaRegistry.Settings.defaults());
    }

    /** As {@link #startEmbedded(ControlPlaneConfig)}, handing out VSAs as {@code vsaSettings} says. */
    public static ControlPlane startEmbedded(ControlPlaneConfig config, VsaRegistry.Settings vsaSettings)
            throws IOException {
        ControlPlane plane = open(config);
        plane.vsas = new VsaRegistry(vsaSettings);
        plane.thread = Thread.ofPlatform().name("arrakis-control-plane").daemon().unstarted(plane::loop);
        plane.thread.start();
        return plane;
    }

    private static ControlPlane open(ControlPlaneConfig config) throws IOException {
        Path socket = config.socket().toAbsolutePath().normalize();
        AtomicReference<ControlPlane> slot = new AtomicReference<>();
        if (RUNNING_HERE.putIfAbsent(socket, slot) != null) {
            throw new AlreadyRunningException("a control plane in this JVM already listens on " + socket);
        }
        FileChannel lockChannel = null;
        List<Integer> fds = new ArrayList<>();
        try {
            int uid = currentUid();
            prepareSocketDirectory(socket);
            // Whoever holds the lock owns the socket path: a stale socket file (its daemon died)
            // can be replaced, a live one cannot. The kernel drops the lock when its process dies.
            Path lockPath = socket.resolveSibling(socket.getFileName() + ".lock");
            lockChannel = FileChannel.open(lockPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = lockChannel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                throw new AlreadyRunningException("another process runs a control plane on " + socket + " (it holds "
                        + lockPath + ")");
            }
            Files.deleteIfExists(socket);
            int listenFd = Sockets.socket(Sockets.AF_UNIX,
                    Sockets.SOCK_SEQPACKET | Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC, 0);
            fds.add(listenFd);
            Sockets.bind(listenFd, Sockets.UnixAddress.path(socket.toString()));
            // Root's control plane serves every user (each gets only its own VNIC); a user's, only that user.
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString(uid == 0 ? "rw-rw-rw-" : "rw-------"));
            Sockets.listen(listenFd, 128);
            int epollFd = Epoll.create(Epoll.EPOLL_CLOEXEC);
            fds.add(epollFd);
            int wakeFd = EventFd.create(0, EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
            fds.add(wakeFd);
            Epoll.add(epollFd, listenFd, Epoll.EPOLLIN, LISTEN_TAG);
            Epoll.add(epollFd, wakeFd, Epoll.EPOLLIN, WAKE_TAG);
            ControlPlane plane = new ControlPlane(config, socket, lockChannel, lock, listenFd, epollFd, wakeFd, uid);
            slot.set(plane);
            return plane;
        } catch (IOException | RuntimeException e) {
            RUNNING_HERE.remove(socket);
            for (int fd : fds) {
                closeQuietly(fd);
            }
            if (lockChannel != null) {
                try {
                    lockChannel.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /**
     * Creates the directory of {@code socket} if it is missing: private to the user ({@code
     * rwx------}) unless root, whose control plane serves every user.
     */
    public static void prepareSocketDirectory(Path socket) throws IOException {
        Path directory = socket.toAbsolutePath().normalize().getParent();
        if (!Files.isDirectory(directory)) {
            Files.createDirectories(directory);
            if (currentUid() != 0) {
                Files.setPosixFilePermissions(directory, PosixFilePermissions.fromString("rwx------"));
            }
        }
    }

    /**
     * Runs a control plane in the foreground until the process is stopped (SIGTERM, SIGINT).
     * Arguments: {@code --socket PATH} (default {@link #defaultSocketPath()}), {@code --subnet
     * a.b.c.d/n} (default {@value ControlPlaneConfig#DEFAULT_SUBNET}), {@code --mtu N},
     * {@code --channel-capacity N}.
     */
    public static void main(String[] args) throws Exception {
        Path socket = defaultSocketPath();
        String subnet = ControlPlaneConfig.DEFAULT_SUBNET;
        int mtu = ControlPlaneConfig.DEFAULT_MTU;
        int capacity = ControlPlaneConfig.DEFAULT_CHANNEL_CAPACITY;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--socket" -> socket = Path.of(required(args[i], value));
                case "--subnet" -> subnet = required(args[i], value);
                case "--mtu" -> mtu = Integer.parseInt(required(args[i], value));
                case "--channel-capacity" -> capacity = Integer.parseInt(required(args[i], value));
                case "--help", "-h" -> {
                    System.out.println("usage: ControlPlane [--socket PATH] [--subnet a.b.c.d/n] [--mtu N]"
                            + " [--channel-capacity N]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown argument " + args[i] + "; try --help");
            }
            i++;
        }
        ControlPlaneConfig config = ControlPlaneConfig.withSubnet(socket, subnet).withMtu(mtu)
                .withChannelCapacity(capacity);
        runInForeground(config);
    }

    /**
     * Runs a control plane on the calling thread until SIGTERM or SIGINT (a shutdown hook stops
     * it cleanly) or a SHUTDOWN request ({@link ControlClient#shutdown()}); prints one line on
     * standard output once it listens.
     *
     * @throws AlreadyRunningException if another process already runs one on that socket
     * @throws IOException if it cannot start, or its loop failed
     */
    public static void runInForeground(ControlPlaneConfig config) throws IOException {
        ControlPlane plane = open(config);
        plane.thread = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().unstarted(() -> {
            plane.running = false;
            plane.signalWake();
            plane.stopped.join();
        }));
        System.out.println("arrakis control plane pid " + plane.pid + " listening on " + plane.socket + ", subnet "
                + config.subnetText() + ", mtu " + config.mtu());
        System.out.flush();
        plane.loop();
        try {
            plane.stopped.join();
        } catch (CompletionException e) {
            throw new IOException("the control plane on " + plane.socket + " failed: " + e.getCause(), e.getCause());
        }
    }

    private static String required(String option, String value) {
        if (value == null) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return value;
    }

    // ------------------------------------------------------------------ the loop

    private void loop() {
        Throwable failure = null;
        try (Arena arena = Arena.ofConfined()) {
            loopArena = arena;
            sendBuffer = arena.allocate(Protocol.MAX_MESSAGE);
            MemorySegment receiveBuffer = arena.allocate(Protocol.MAX_MESSAGE);
            Epoll.Events events = Epoll.Events.allocate(arena, 64);
            while (running) {
                int ready = Epoll.wait(epollFd, events, -1);
                for (int i = 0; i < ready; i++) {
                    long tag = events.data(i);
                    if (tag == LISTEN_TAG) {
                        acceptAll();
                    } else if (tag == WAKE_TAG) {
                        EventFd.drain(wakeFd);
                        for (Runnable task; (task = tasks.poll()) != null; ) {
                            task.run();
                        }
                    } else {
                        Client client = clients.get(tag);
                        if (client != null && !client.doomed) {
                            serve(client, events.events(i), receiveBuffer);
                        }
                    }
                    reap();
                }
            }
        } catch (Throwable t) {
            failure = t;
            System.err.println("arrakis control plane on " + socket + " failed: " + t);
            t.printStackTrace();
        } finally {
            shutdown();
            for (Runnable task; (task = tasks.poll()) != null; ) {
                task.run();
            }
            if (failure != null) {
                stopped.completeExceptionally(failure);
            } else {
                stopped.complete(null);
            }
        }
    }

    private void acceptAll() throws LinuxException {
        int fd;
        while ((fd = Sockets.accept4(listenFd, Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC)) >= 0) {
            Sockets.Credentials credentials;
            try {
                credentials = Sockets.peerCredentials(fd);
            } catch (LinuxException e) {
                closeQuietly(fd);
                continue;
            }
            Client client = new Client(nextTag++, fd, credentials);
            clients.put(client.tag, client);
            Epoll.add(epollFd, fd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, client.tag);
        }
    }

    private void serve(Client client, int events, MemorySegment buffer) {
        try {
            if ((events & Epoll.EPOLLOUT) != 0) {
                flushBacklog(client);
            }
            while (!client.doomed) {
                long n = Sockets.recv(client.fd, buffer, Sockets.MSG_DONTWAIT);
                if (n < 0) {
                    break;
                }
                if (n == 0) {
                    doom(client);
                    return;
                }
                Protocol.Envelope envelope;
                try {
                    envelope = Protocol.decode(buffer.asSlice(0, n).asByteBuffer());
                } catch (ProtocolException e) {
                    send(client, 0, new Protocol.Failure(e.getMessage()));
                    doom(client);
                    return;
                }
                handle(client, envelope.requestId(), envelope.message());
            }
            if ((events & (Epoll.EPOLLHUP | Epoll.EPOLLERR | Epoll.EPOLLRDHUP)) != 0) {
                doom(client);
            }
        } catch (LinuxException e) {
            doom(client);
        }
    }

    private void handle(Client client, int requestId, Protocol.Message message) {
        switch (message) {
            case Protocol.Attach(String name, int queues) -> attach(client, requestId, name, queues);
            case Protocol.AddFilter(FlowFilter filter, int queue) -> addFilter(client, requestId, filter, queue);
            case Protocol.RemoveFilter(FlowFilter filter) -> removeFilter(client, requestId, filter);
            case Protocol.SetRateLimit(String name, RateLimit limit) -> setRateLimit(client, requestId, name, limit);
            case Protocol.StatusRequest _ -> sendStatus(client, requestId);
            case Protocol.AnnounceListener(FlowFilter.Protocol protocol, int port) ->
                    announceListener(client, requestId, protocol, port);
            case Protocol.WithdrawListener(FlowFilter.Protocol protocol, int port) ->
                    withdrawListener(client, requestId, protocol, port);
            case Protocol.Shutdown _ -> shutdownRequested(client, requestId);
            case Protocol.Sync _ -> send(client, requestId, new Protocol.Ok());
            case Protocol.XdpAdmit m -> xdpRequest(client, requestId, "admit its AF_XDP socket " + m.socketFd()
                    + " to queue " + m.queue() + " of " + m.interfaceName(), () -> {
                        String key = xdp.admit(client.credentials.pid(), m);
                        if (!client.xdpInterfaces.contains(key)) {
                            client.xdpInterfaces.add(key);
                        }
                    });
            case Protocol.XdpAddFlow m -> xdpRequest(client, requestId, "add XDP flow " + m.filter() + " on "
                    + m.interfaceName(), () -> xdp.addFlow(client.credentials.pid(), client.credentials.uid(),
                    unprivilegedPortStart, m));
            case Protocol.XdpRemoveFlow m -> xdpRequest(client, requestId, "remove XDP flow " + m.filter() + " on "
                    + m.interfaceName(), () -> xdp.removeFlow(client.credentials.pid(), m));
            case Protocol.VsaAttach m -> vsaAttach(client, requestId, m);
            case Protocol.LookupListener(FlowFilter.Protocol protocol, int port) -> {
                VnicEntry holder = listeners.get(listenerKey(protocol, port));
                send(client, requestId, new Protocol.ListenerInfo(protocol, port, holder == null ? 0 : holder.id,
                        holder == null ? 0 : holder.address));
            }
            default -> {
                send(client, requestId, new Protocol.Failure("a process may not send " + message.getClass()
                        .getSimpleName() + " to the control plane"));
                doom(client);
            }
        }
    }

    // ------------------------------------------------------------------ AF_XDP

    /** A request to {@link #xdp}. */
    private interface XdpAction {
        void run() throws IOException;
    }

    /** Runs an AF_XDP request and answers OK, or FAILURE with what was refused and why. */
    private void xdpRequest(Client client, int requestId, String what, XdpAction action) {
        try {
            action.run();
            send(client, requestId, new Protocol.Ok());
        } catch (IOException | RuntimeException e) {
            send(client, requestId, new Protocol.Failure("process " + client.credentials.pid() + " cannot " + what
                    + ": " + e.getMessage()));
        }
    }

    // ------------------------------------------------------------------ VSAs

    /** Grants a VSA (with its file's descriptor) or answers FAILURE saying why. */
    private void vsaAttach(Client client, int requestId, Protocol.VsaAttach request) {
        VsaRegistry.Grant grant;
        try {
            grant = vsas.attach(client, client.credentials.pid(), client.credentials.uid(), request.name(),
                    request.bytes(), request.kind());
        } catch (IOException | RuntimeException e) {
            send(client, requestId, new Protocol.Failure("process " + client.credentials.pid() + " cannot attach VSA "
                    + request.name() + ": " + e.getMessage()));
            return;
        }
        try {
            if (grant.fd() >= 0) {
                send(client, requestId, grant.message(), grant.fd());
            } else {
                send(client, requestId, grant.message());
            }
        } finally {
            if (grant.fd() >= 0) {
                closeQuietly(grant.fd());
            }
        }
    }

    // ------------------------------------------------------------------ VNICs

    private void attach(Client client, int requestId, String requested, int queues) {
        if (client.vnic != null) {
            send(client, requestId, new Protocol.Failure("this connection already has VNIC " + client.vnic.name
                    + "; open another connection for another VNIC"));
            return;
        }
        if (requested.isBlank() || requested.length() > MAX_NAME || !requested.chars().allMatch(c -> c > 32 && c < 127)) {
            send(client, requestId, new Protocol.Failure("VNIC name \"" + requested + "\" must be 1.." + MAX_NAME
                    + " printable ASCII characters without spaces"));
            return;
        }
        int host = allocateHost();
        if (host < 0) {
            send(client, requestId, new Protocol.Failure("subnet " + config.subnetText() + " has no free address for"
                    + " another VNIC"));
            return;
        }
        int id = nextId++;
        String name = requested;
        for (VnicEntry other : vnics.values()) {
            if (other.name.equals(name)) {
                name = requested + "-" + id;
                break;
            }
        }
        long mac = MacAddress.locallyAdministered((macTag << 24) | (id & 0xFF_FFFFL)).bits();
        int address = config.subnet() | host;
        List<Integer> created = new ArrayList<>();
        Mapping counters = null;
        try {
            int bellFd = sealedMemfd("arrakis-bell-" + name, ChannelLayout.BELL_BYTES * queues);
            created.add(bellFd);
            int[] eventFds = new int[queues];
            for (int q = 0; q < queues; q++) {
                eventFds[q] = EventFd.create(0, EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
                created.add(eventFds[q]);
            }
            int countersFd = sealedMemfd("arrakis-counters-" + name, ChannelLayout.COUNTERS_BYTES * queues);
            created.add(countersFd);
            counters = Mapping.map(countersFd, ChannelLayout.COUNTERS_BYTES * queues, true, "counters of " + name);
            for (int q = 0; q < queues; q++) {
                counters.segment().set(ValueLayout.JAVA_INT, q * ChannelLayout.COUNTERS_BYTES,
                        ChannelLayout.COUNTERS_MAGIC);
            }
            VnicEntry vnic = new VnicEntry(id, name, client, mac, address, host, queues, bellFd, eventFds, counters);
            int[] fds = new int[2 + queues];
            fds[0] = bellFd;
            fds[1] = countersFd;
            System.arraycopy(eventFds, 0, fds, 2, queues);
            boolean sent = send(client, requestId, new Protocol.Attached(id, name, mac, address, config.prefixLength(),
                    config.subnet() | 1, config.mtu(), config.channelCapacity(), config.frameSlotSize(),
                    vnic.rateLimit, queues), fds);
            closeQuietly(countersFd);
            created.remove(Integer.valueOf(countersFd));
            if (!sent) {
                throw new IOException("the process went away before it got its VNIC");
            }
            usedHosts.set(host);
            client.vnic = vnic;
            vnics.put(id, vnic);
            attaches++;
            created.clear();
            counters = null;
            for (VnicEntry peer : List.copyOf(vnics.values())) {
                if (peer != vnic && !peer.owner.doomed && !client.doomed) {
                    try {
                        connect(vnic, peer);
                    } catch (IOException | RuntimeException e) {
                        // Out of memory or descriptors here: the newcomer cannot be wired up, so
                        // it goes (and is reclaimed like any closed connection).
                        System.err.println("arrakis control plane: cannot create the channels between " + vnic.name
                                + " and " + peer.name + ": " + e.getMessage() + "; detaching " + vnic.name);
                        doom(client);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            for (int fd : created) {
                closeQuietly(fd);
            }
            if (counters != null) {
                counters.close();
            }
            if (client.vnic == null) {
                send(client, requestId, new Protocol.Failure("cannot create VNIC " + name + ": " + e.getMessage()));
            }
        }
    }

    /** The lowest free host number of the subnet, skipping the network address, .1 and broadcast. */
    private int allocateHost() {
        int hosts = 1 << (32 - config.prefixLength());
        int host = usedHosts.nextClearBit(2);
        return host < hosts - 1 ? host : -1;
    }

    /**
     * Creates the channels between {@code a} and {@code b} (one per pair of their queues, each
     * way) and hands each its ends, followed by the other's receive filters if it has any.
     */
    private void connect(VnicEntry a, VnicEntry b) throws IOException {
        List<Integer> fds = new ArrayList<>();
        ChannelEntry ab = null;
        ChannelEntry ba = null;
        try {
            int[] abFiles = new int[4];
            ab = createChannel(a, b, abFiles, fds);
            int[] baFiles = new int[4];
            ba = createChannel(b, a, baFiles, fds);
            // files: {forward rw, forward ro, return rw, return ro}
            send(a.owner, 0, new Protocol.PeerAdded(b.id, b.name, b.mac, b.address, b.rateLimit, b.queues),
                    peerFds(abFiles[0], abFiles[3], baFiles[1], baFiles[2], b));
            send(b.owner, 0, new Protocol.PeerAdded(a.id, a.name, a.mac, a.address, a.rateLimit, a.queues),
                    peerFds(baFiles[0], baFiles[3], abFiles[1], abFiles[2], a));
            if (!b.filters.isEmpty()) {
                send(a.owner, 0, new Protocol.Filters(b.id, b.filters));
            }
            if (!a.filters.isEmpty()) {
                send(b.owner, 0, new Protocol.Filters(a.id, a.filters));
            }
            channels.put(key(a.id, b.id), ab);
            channels.put(key(b.id, a.id), ba);
            ab = null;
            ba = null;
        } finally {
            for (int fd : fds) {
                closeQuietly(fd);
            }
            if (ab != null) {
                ab.close();
            }
            if (ba != null) {
                ba.close();
            }
        }
    }

    private static int[] peerFds(int outForward, int outReturn, int inForward, int inReturn, VnicEntry peer) {
        int[] fds = new int[5 + peer.queues];
        fds[0] = outForward;
        fds[1] = outReturn;
        fds[2] = inForward;
        fds[3] = inReturn;
        fds[4] = peer.bellFd;
        System.arraycopy(peer.eventFds, 0, fds, 5, peer.queues);
        return fds;
    }

    /**
     * The channels' two sealed memfds (every pair of queues in each), with read-only descriptors for the side that must not
     * write (reopened through /proc/self/fd with O_RDONLY: a mapping of those can never be
     * writable). Fills {@code files} with {forward rw, forward ro, return rw, return ro}; every
     * descriptor also goes to {@code opened} for the caller to close once sent.
     */
    private ChannelEntry createChannel(VnicEntry from, VnicEntry to, int[] files, List<Integer> opened)
            throws IOException {
        int capacity = config.channelCapacity();
        int slot = config.frameSlotSize();
        String name = "arrakis-ch-" + from.id + "-" + to.id;
        long stride = ChannelLayout.channelStride(capacity, slot);
        long forwardBytes = ChannelLayout.forwardFileBytes(capacity, slot, from.queues, to.queues);
        long returnBytes = ChannelLayout.returnFileBytes(from.queues, to.queues);
        files[0] = sealedMemfd(name, forwardBytes);
        opened.add(files[0]);
        files[1] = reopenReadOnly(files[0]);
        opened.add(files[1]);
        files[2] = sealedMemfd(name + "-return", returnBytes);
        opened.add(files[2]);
        files[3] = reopenReadOnly(files[2]);
        opened.add(files[3]);
        // Pages are allocated on touch: mapping the whole forward file costs address space only.
        Mapping forward = Mapping.map(files[0], forwardBytes, true, name);
        Mapping returns;
        try {
            returns = Mapping.map(files[2], returnBytes, true, name + "-return");
        } catch (IOException | RuntimeException e) {
            forward.close();
            throw e;
        }
        for (int channel = 0; channel < from.queues * to.queues; channel++) {
            MemorySegment h = forward.segment().asSlice(channel * stride, ChannelLayout.PAGE);
            h.set(ValueLayout.JAVA_INT, ChannelLayout.VERSION_WORD, ChannelLayout.VERSION);
            h.set(ValueLayout.JAVA_INT, ChannelLayout.CAPACITY_WORD, capacity);
            h.set(ValueLayout.JAVA_INT, ChannelLayout.FRAME_SLOT_WORD, slot);
            h.set(ValueLayout.JAVA_LONG, ChannelLayout.AREA_OFFSET_WORD, ChannelLayout.areaOffset(capacity));
            h.set(ValueLayout.JAVA_LONG, ChannelLayout.AREA_SIZE_WORD, ChannelLayout.areaSize(capacity, slot));
            h.set(ValueLayout.JAVA_INT, ChannelLayout.MAGIC, ChannelLayout.FORWARD_MAGIC);
            returns.segment().set(ValueLayout.JAVA_INT, channel * ChannelLayout.RETURN_BYTES, ChannelLayout.RETURN_MAGIC);
        }
        return new ChannelEntry(from.id, to.id, from.queues, to.queues, stride, forward, returns);
    }

    private static int sealedMemfd(String name, long bytes) throws LinuxException {
        int fd = Mman.memfdCreate(name, Mman.MFD_CLOEXEC | Mman.MFD_ALLOW_SEALING);
        try {
            Unistd.ftruncate(fd, bytes);
            // Nobody can shrink it under a peer's mapping (SIGBUS) or grow it, and nobody can change that.
            Unistd.fcntl(fd, Unistd.F_ADD_SEALS, Unistd.F_SEAL_SHRINK | Unistd.F_SEAL_GROW | Unistd.F_SEAL_SEAL);
            return fd;
        } catch (LinuxException | RuntimeException e) {
            closeQuietly(fd);
            throw e;
        }
    }

    private static int reopenReadOnly(int fd) throws LinuxException {
        return Unistd.open("/proc/self/fd/" + fd, Unistd.O_RDONLY | Unistd.O_CLOEXEC, 0);
    }

    private static long key(int from, int to) {
        return ((long) from << 32) | (to & 0xFFFF_FFFFL);
    }

    /** Whether the connection's process may change the control plane: root or the control plane's own uid. */
    private boolean mayOperate(Client client, int requestId, String what) {
        int uid = client.credentials.uid();
        if (uid != 0 && uid != ownUid) {
            send(client, requestId, new Protocol.Failure("uid " + uid + " may not " + what + "; only root or uid "
                    + ownUid + " (the control plane's) may"));
            return false;
        }
        return true;
    }

    /** Answers OK, then ends the loop: every connection closes, attached processes keep their channels. */
    private void shutdownRequested(Client client, int requestId) {
        if (mayOperate(client, requestId, "stop the control plane")) {
            send(client, requestId, new Protocol.Ok());
            System.err.println("arrakis control plane on " + socket + ": stopping at the request of pid "
                    + client.credentials.pid());
            running = false;
        }
    }

    private void setRateLimit(Client client, int requestId, String name, RateLimit limit) {
        if (!mayOperate(client, requestId, "set rate limits")) {
            return;
        }
        VnicEntry target = null;
        for (VnicEntry vnic : vnics.values()) {
            if (vnic.name.equals(name)) {
                target = vnic;
            }
        }
        if (target == null) {
            send(client, requestId, new Protocol.Failure("no VNIC named " + name));
            return;
        }
        target.rateLimit = limit;
        // The owner first, so that when the requester hears OK the owner has been told.
        Protocol.RateLimitChanged change = new Protocol.RateLimitChanged(target.id, limit);
        send(target.owner, 0, change);
        for (VnicEntry peer : vnics.values()) {
            if (peer != target) {
                send(peer.owner, 0, change);
            }
        }
        send(client, requestId, new Protocol.Ok());
    }

    // ------------------------------------------------------------------ receive filters

    /** Most receive filters one VNIC may install (each sender scans them per frame it steers). */
    static final int MAX_FILTERS = 64;

    /**
     * Installs a receive filter on the caller's own VNIC, then pushes the VNIC's whole table to
     * its owner (first, so that when the owner hears OK its queues already check by it) and to
     * every peer (which steer by it), then answers OK. A filter that could never match this
     * VNIC's traffic, names a queue it does not have, or is already installed for another queue
     * is refused with the reason.
     */
    private void addFilter(Client client, int requestId, FlowFilter filter, int queue) {
        VnicEntry vnic = client.vnic;
        if (vnic == null) {
            send(client, requestId, new Protocol.Failure("only a process with a VNIC can install receive filters;"
                    + " attach first"));
            return;
        }
        String problem = filterProblem(vnic, filter, queue);
        if (problem != null) {
            send(client, requestId, new Protocol.Failure("VNIC " + vnic.name + ": receive filter " + filter + " -> queue "
                    + queue + " refused: " + problem));
            return;
        }
        for (ControlStatus.Filter existing : vnic.filters) {
            if (existing.filter().equals(filter)) {
                if (existing.queue() == queue) {
                    send(client, requestId, new Protocol.Ok());
                } else {
                    send(client, requestId, new Protocol.Failure("VNIC " + vnic.name + ": receive filter " + filter
                            + " already steers to queue " + existing.queue() + "; remove it before steering it to queue "
                            + queue));
                }
                return;
            }
        }
        vnic.filters.add(new ControlStatus.Filter(filter, queue));
        pushFilters(vnic);
        send(client, requestId, new Protocol.Ok());
    }

    private String filterProblem(VnicEntry vnic, FlowFilter filter, int queue) {
        if (queue < 0 || queue >= vnic.queues) {
            return "the VNIC has queues 0.." + (vnic.queues - 1);
        }
        if (vnic.filters.size() >= MAX_FILTERS) {
            return "it already has the most filters a VNIC may have (" + MAX_FILTERS + "); remove some first";
        }
        int local = filter.localAddress();
        int broadcast = config.subnet() | ~(-1 << (32 - config.prefixLength()));
        boolean multicast = (local >>> 28) == 0xE;
        if (local != 0 && local != vnic.address && !multicast && local != -1 && local != broadcast) {
            return "its local address is neither the VNIC's (" + Ipv4Text.format(vnic.address)
                    + "), a multicast group nor a broadcast address, so no frame could ever match it";
        }
        if (filter.protocol() == FlowFilter.Protocol.ARP && (filter.localPort() != 0 || filter.remotePort() != 0)) {
            return "ARP has no ports";
        }
        if (filter.protocol() == FlowFilter.Protocol.ICMP && (filter.localPort() != 0 || filter.remotePort() != 0)) {
            return "ICMP has no ports";
        }
        return null;
    }

    /** Removes the caller's filter equal to {@code filter}, if installed, pushes the new table, answers OK either way. */
    private void removeFilter(Client client, int requestId, FlowFilter filter) {
        VnicEntry vnic = client.vnic;
        if (vnic == null) {
            send(client, requestId, new Protocol.Failure("only a process with a VNIC has receive filters; attach first"));
            return;
        }
        if (vnic.filters.removeIf(f -> f.filter().equals(filter))) {
            pushFilters(vnic);
        }
        send(client, requestId, new Protocol.Ok());
    }

    private void pushFilters(VnicEntry vnic) {
        Protocol.Filters table = new Protocol.Filters(vnic.id, vnic.filters);
        send(vnic.owner, 0, table);
        for (VnicEntry peer : vnics.values()) {
            if (peer != vnic) {
                send(peer.owner, 0, table);
            }
        }
    }

    // ------------------------------------------------------------------ listeners

    private static int listenerKey(FlowFilter.Protocol protocol, int port) {
        return (protocol.number << 16) | port;
    }

    /**
     * The first VNIC to announce a port holds it (EADDRINUSE for the others, as the kernel does
     * for a second bind); announcing it again is a no-op. Ports below the kernel's
     * {@code ip_unprivileged_port_start} need root, as binding them does: on root's control
     * plane, which serves every user, a user could otherwise draw other users' connections to
     * 127.0.0.1:22 into its own process.
     */
    private void announceListener(Client client, int requestId, FlowFilter.Protocol protocol, int port) {
        VnicEntry vnic = client.vnic;
        if (vnic == null) {
            send(client, requestId, new Protocol.Failure("only a process with a VNIC can announce a listener; attach"
                    + " first"));
            return;
        }
        if (!mayListenOn(client.credentials.uid(), port, unprivilegedPortStart)) {
            send(client, requestId, new Protocol.Failure("uid " + client.credentials.uid() + " may not listen on "
                    + protocol + " port " + port + ": ports below " + unprivilegedPortStart + " need root (as binding"
                    + " them does; see /proc/sys/net/ipv4/ip_unprivileged_port_start)"));
            return;
        }
        VnicEntry holder = listeners.putIfAbsent(listenerKey(protocol, port), vnic);
        if (holder != null && holder != vnic) {
            send(client, requestId, new Protocol.PortInUse(protocol, port, holder.id, holder.name,
                    holder.owner.credentials.pid()));
            return;
        }
        vnic.listening.add(new ControlStatus.Listener(protocol, port));
        send(client, requestId, new Protocol.Ok());
    }

    static boolean mayListenOn(int uid, int port, int unprivilegedPortStart) {
        return uid == 0 || port >= unprivilegedPortStart;
    }

    /** Removes the caller's own entry for that port, if it has one; OK either way. */
    private void withdrawListener(Client client, int requestId, FlowFilter.Protocol protocol, int port) {
        VnicEntry vnic = client.vnic;
        if (vnic != null && listeners.remove(listenerKey(protocol, port), vnic)) {
            vnic.listening.remove(new ControlStatus.Listener(protocol, port));
        }
        send(client, requestId, new Protocol.Ok());
    }

    /** The kernel's lowest unprivileged port (1024 unless the administrator changed it). */
    private static int readUnprivilegedPortStart() {
        try {
            return Integer.parseInt(Files.readString(Path.of("/proc/sys/net/ipv4/ip_unprivileged_port_start")).trim());
        } catch (IOException | NumberFormatException e) {
            return 1024;
        }
    }

    // ------------------------------------------------------------------ reclaim

    private void doom(Client client) {
        if (!client.doomed) {
            client.doomed = true;
            doomed.add(client);
        }
    }

    /** Closes doomed connections and reclaims their VNICs; telling peers may doom more. */
    private void reap() {
        Client client;
        while ((client = doomed.poll()) != null) {
            clients.remove(client.tag);
            try {
                Epoll.delete(epollFd, client.fd);
            } catch (LinuxException ignored) {
                // Closing removes it anyway.
            }
            closeQuietly(client.fd);
            dropBacklog(client);
            VnicEntry vnic = client.vnic;
            if (vnic != null) {
                reclaim(vnic);
            }
            for (String key : client.xdpInterfaces) {
                xdp.release(client.credentials.pid(), key);
            }
            vsas.release(client);
        }
    }

    private void reclaim(VnicEntry vnic) {
        vnics.remove(vnic.id);
        detaches++;
        for (ControlStatus.Listener listener : vnic.listening) {
            listeners.remove(listenerKey(listener.protocol(), listener.port()), vnic);
        }
        vnic.listening.clear();
        usedHosts.clear(vnic.host);
        for (Iterator<ChannelEntry> it = channels.values().iterator(); it.hasNext(); ) {
            ChannelEntry channel = it.next();
            if (channel.from() == vnic.id || channel.to() == vnic.id) {
                channel.close();
                it.remove();
            }
        }
        vnic.release();
        vnic.filters.clear();
        Protocol.PeerRemoved removed = new Protocol.PeerRemoved(vnic.id);
        for (VnicEntry peer : vnics.values()) {
            send(peer.owner, 0, removed);
        }
    }

    // ------------------------------------------------------------------ status

    private ControlStatus buildStatus() {
        List<ControlStatus.VnicStatus> list = new ArrayList<>();
        int channelCount = 0;
        for (ChannelEntry c : channels.values()) {
            channelCount += c.count();
        }
        for (VnicEntry v : vnics.values()) {
            Map<String, Long> totals = new LinkedHashMap<>();
            List<ControlStatus.QueueStatus> queues = new ArrayList<>(v.queues);
            for (int q = 0; q < v.queues; q++) {
                MemorySegment page = v.counters.segment().asSlice(q * ChannelLayout.COUNTERS_BYTES,
                        ChannelLayout.COUNTERS_BYTES);
                Map<String, Long> counters = new LinkedHashMap<>();
                Counters.over(VnicCounter.class, page.asSlice(ChannelLayout.COUNTERS_VNIC,
                        Counters.bytesFor(VnicCounter.class))).snapshot().forEach((name, value) -> {
                            if (value != 0) {
                                counters.put(name.name(), value);
                            }
                        });
                Counters.over(ShmCounter.class, page.asSlice(ChannelLayout.COUNTERS_SHM,
                        Counters.bytesFor(ShmCounter.class))).snapshot().forEach((name, value) -> {
                            if (value != 0) {
                                counters.put(name.name(), value);
                            }
                        });
                counters.forEach((name, value) -> totals.merge(name, value, Long::sum));
                queues.add(new ControlStatus.QueueStatus(q, counters));
            }
            list.add(new ControlStatus.VnicStatus(v.id, v.name, v.owner.credentials.pid(), v.owner.credentials.uid(),
                    new MacAddress(v.mac), v.address, v.rateLimit, totals, List.copyOf(v.listening), queues,
                    List.copyOf(v.filters)));
        }
        List<ControlStatus.ChannelStatus> channelList = new ArrayList<>();
        for (ChannelEntry c : channels.values()) {
            for (int channel = 0; channel < c.count(); channel++) {
                // A datagram holds about 2,500 channels (50 VNICs); beyond that, only those in use.
                long published = c.published(channel);
                if (channelCount <= 2000 || published != 0) {
                    channelList.add(new ControlStatus.ChannelStatus(c.from(), c.to(), published, c.consumed(channel),
                            channel / c.toQueues(), channel % c.toQueues()));
                }
            }
        }
        return new ControlStatus(pid, socket.toString(), config.subnetText(), attaches, detaches, list, channelList,
                xdp.status(), vsas.list());
    }

    /**
     * Answers STATUS in one datagram: if the whole status does not fit (many VNICs with many
     * queues), without the channels, then without the VSAs too, and if that does not fit either, a FAILURE saying so, never
     * an exception on the control plane's thread.
     */
    private void sendStatus(Client client, int requestId) {
        ControlStatus status = buildStatus();
        for (ControlStatus candidate : List.of(status, new ControlStatus(status.pid(), status.socket(), status.subnet(),
                status.attaches(), status.detaches(), status.vnics(), List.of(), status.xdp(), status.vsas()),
                new ControlStatus(status.pid(), status.socket(), status.subnet(), status.attaches(), status.detaches(),
                        status.vnics(), List.of(), status.xdp(), List.of()))) {
            try {
                Protocol.encode(requestId, new Protocol.StatusReply(candidate));
            } catch (java.nio.BufferOverflowException tooBig) {
                continue;
            }
            send(client, requestId, new Protocol.StatusReply(candidate));
            return;
        }
        send(client, requestId, new Protocol.Failure("the status of " + status.vnics().size() + " VNICs does not fit"
                + " one " + Protocol.MAX_MESSAGE + "-byte control message; ControlPlane.status() in the control"
                + " plane's JVM has it all"));
    }

    /**
     * The current status, built on the control plane's thread (bounded wait). The same answer a
     * tool gets over the socket ({@link ControlClient#status()}).
     */
    public ControlStatus status() throws IOException {
        if (!running) {
            throw new IOException("the control plane on " + socket + " has stopped");
        }
        CompletableFuture<ControlStatus> result = new CompletableFuture<>();
        tasks.add(() -> {
            if (running) {
                result.complete(buildStatus());
            } else {
                result.completeExceptionally(new IOException("the control plane on " + socket + " has stopped"));
            }
        });
        signalWake();
        try {
            return result.get(ControlConnection.REPLY_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for the control plane's status", e);
        } catch (ExecutionException e) {
            throw new IOException(e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("the control plane on " + socket + " did not answer within "
                    + ControlConnection.REPLY_TIMEOUT, e);
        }
    }

    /** The control plane this JVM runs on {@code socket}, or null (for tests and tools in the same JVM). */
    static ControlPlane runningHere(Path socket) {
        AtomicReference<ControlPlane> slot = RUNNING_HERE.get(socket.toAbsolutePath().normalize());
        return slot == null ? null : slot.get();
    }

    public Path socketPath() {
        return socket;
    }

    public ControlPlaneConfig config() {
        return config;
    }

    // ------------------------------------------------------------------ sending

    /**
     * Sends one message (with descriptors) without ever blocking. When the connection's socket
     * buffer is full (a slow reader, a process in a GC pause), the message waits in its backlog
     * with duplicates of its descriptors and goes out when epoll says there is room; a
     * connection whose backlog passes {@value #MAX_BACKLOG} messages, or that is gone, is doomed.
     * Returns whether the message was sent or queued.
     */
    private boolean send(Client client, int requestId, Protocol.Message message, int... fds) {
        if (client.doomed) {
            return false;
        }
        byte[] bytes = Protocol.encode(requestId, message);
        try {
            if (client.backlog.isEmpty() && transmit(client, bytes, fds)) {
                return true;
            }
            if (client.backlog.size() >= MAX_BACKLOG) {
                System.err.println("arrakis control plane: pid " + client.credentials.pid() + " has not read "
                        + MAX_BACKLOG + " control messages; dropping its connection");
                doom(client);
                return false;
            }
            int[] copies = new int[fds.length];
            for (int i = 0; i < fds.length; i++) {
                copies[i] = Unistd.fcntl(fds[i], Unistd.F_DUPFD_CLOEXEC, 0);
            }
            client.backlog.add(new Outgoing(bytes, copies));
            if (!client.writeWanted) {
                Epoll.modify(epollFd, client.fd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP | Epoll.EPOLLOUT, client.tag);
                client.writeWanted = true;
            }
            return true;
        } catch (LinuxException e) {
            // EPIPE, ECONNRESET: it is gone (or we are out of descriptors for the backlog).
            doom(client);
            return false;
        }
    }

    /** One sendmsg; false when the socket buffer is full. */
    private boolean transmit(Client client, byte[] bytes, int[] fds) throws LinuxException {
        MemorySegment data = sendBuffer.asSlice(0, bytes.length);
        MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return Sockets.sendWithFds(client.fd, data, fds) == bytes.length;
    }

    private void flushBacklog(Client client) {
        try {
            while (!client.backlog.isEmpty()) {
                Outgoing next = client.backlog.peek();
                if (!transmit(client, next.bytes(), next.fds())) {
                    return;
                }
                client.backlog.poll();
                for (int fd : next.fds()) {
                    closeQuietly(fd);
                }
            }
            Epoll.modify(epollFd, client.fd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, client.tag);
            client.writeWanted = false;
        } catch (LinuxException e) {
            doom(client);
        }
    }

    private static void dropBacklog(Client client) {
        for (Outgoing outgoing : client.backlog) {
            for (int fd : outgoing.fds()) {
                closeQuietly(fd);
            }
        }
        client.backlog.clear();
    }

    // ------------------------------------------------------------------ stopping

    private void signalWake() {
        try {
            EventFd.signal(wakeFd, 1);
        } catch (LinuxException e) {
            // Closed: the loop has stopped already.
        }
    }

    private void shutdown() {
        running = false;
        for (Client client : List.copyOf(clients.values())) {
            doom(client);
        }
        doomed.clear();
        for (Client client : clients.values()) {
            try {
                Epoll.delete(epollFd, client.fd);
            } catch (LinuxException ignored) {
                // Closing removes it anyway.
            }
            closeQuietly(client.fd);
            dropBacklog(client);
        }
        clients.clear();
        for (ChannelEntry channel : channels.values()) {
            channel.close();
        }
        channels.clear();
        for (VnicEntry vnic : vnics.values()) {
            vnic.release();
        }
        vnics.clear();
        listeners.clear();
        xdp.close();
        closeQuietly(listenFd);
        try {
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // Someone removed it; nothing to do.
        }
        try {
            lock.release();
            lockChannel.close();
        } catch (IOException ignored) {
            // The lock goes with the descriptor or the process anyway.
        }
        closeQuietly(epollFd);
        RUNNING_HERE.remove(socket);
    }

    /**
     * Stops the control plane (bounded wait): closes every connection (the processes keep their
     * channels but can no longer join or leave), removes the socket. Idempotent.
     */
    @Override
    public void close() throws IOException {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        running = false;
        signalWake();
        if (thread == null || thread == Thread.currentThread()) {
            return;
        }
        try {
            stopped.get(ControlConnection.REPLY_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (ExecutionException e) {
            closeQuietly(wakeFd);
            throw new IOException("the control plane on " + socket + " had failed", e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("the control plane on " + socket + " did not stop within "
                    + ControlConnection.REPLY_TIMEOUT, e);
        }
        closeQuietly(wakeFd);
    }

    private static void closeQuietly(int fd) {
        try {
            Unistd.close(fd);
        } catch (LinuxException ignored) {
            // Already closed, or the kernel could not flush: nothing more to do with it.
        }
    }

    static int currentUid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return -1;
        }
    }

    @Override
    public String toString() {
        return "control plane on " + socket + " (subnet " + config.subnetText() + ")";
    }
}

package io.arrakis.control;

import io.arrakis.device.Counters;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TransmitFilter;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicQueue;
import io.arrakis.device.Ipv4Text;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.BindException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A VNIC the control plane made for this process: its identity (MAC and IPv4 address assigned
 * by the control plane), its queue pairs ({@link ShmQueue}, as many as the config asks, up to
 * {@value ChannelLayout#MAX_QUEUES}) over direct channels to every queue of every other VNIC
 * attached to the same control plane, its receive filters (installed through the control plane,
 * which pushes them to the peers that steer by them), and the control connection whose reader
 * thread applies membership and filter changes. Closing it (or the process dying) closes the
 * connection, and the control plane reclaims the VNIC and its filters and tells the peers.
 *
 * <p>Identity, {@link #peers()} and the control operations are thread-safe; each queue belongs
 * to its own polling thread.
 */
public final class ShmVnic implements Vnic, VnicControl {
    /** A peer as the directory knows it. */
    public record Peer(int id, String name, MacAddress mac, int address) {
        @Override
        public String toString() {
            return name + " (" + id + ", " + mac + ", " + Ipv4Text.format(address) + ")";
        }
    }

    private final VnicConfig config;
    private final ControlConnection connection;
    /** The embedded control plane started in this JVM for this VNIC, stopped when it closes; or null. */
    private final ControlPlane startedHere;
    private final Arena packetArena = Arena.ofShared();
    private final Map<Integer, Peer> directory = new ConcurrentHashMap<>();
    /** The files of each peer, shared by our queues' links to it (changed by the reader thread only). */
    private final Map<Integer, PeerLink.Shared> peerFiles = new ConcurrentHashMap<>();

    // Set once by the reader thread on ATTACHED, before open() returns (a future's happens-before).
    private int id;
    private String name;
    private MacAddress mac;
    private int address;
    private int prefixLength;
    private int gateway;
    private int mtu;
    private int channelCapacity;
    private int channelFrameSlot;
    private Mapping bellMapping;
    private Mapping counterMapping;
    private int[] eventFds = new int[0];
    private ShmQueue[] queues;

    private volatile RateLimit rateLimit = RateLimit.UNLIMITED;
    /** Our receive filters as the control plane last pushed them; the queues re-check steering by it. */
    private volatile Steering steering = Steering.NONE;
    private volatile String lastProblem;
    private boolean closed;

    private ShmVnic(VnicConfig config, ControlConnection connection, ControlPlane startedHere) {
        this.config = config;
        this.connection = connection;
        this.startedHere = startedHere;
    }

    /**
     * Attaches over {@code connection} and waits (bounded) for the VNIC. It owns the connection
     * and {@code startedHere} (the control plane this JVM started for it, or null), and closes
     * both when it closes, or when the attach fails.
     */
    static ShmVnic attach(VnicConfig config, ControlConnection connection, ControlPlane startedHere)
            throws IOException {
        ShmVnic vnic = new ShmVnic(config, connection, startedHere);
        try {
            connection.start(vnic.new Handler(), "arrakis-control-" + config.name());
            var reply = connection.request(new Protocol.Attach(config.name(), config.queues()))
                    .get(ControlConnection.REPLY_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
            if (reply.message() instanceof Protocol.Failure failure) {
                throw new IOException("the control plane refused VNIC " + config.name() + ": " + failure.message());
            }
            if (vnic.queues == null) {
                throw new IOException("the control plane answered the attach of " + config.name() + " with "
                        + reply.message());
            }
            // The PEER_ADDED of every VNIC already attached follows ATTACHED; once the barrier's OK
            // is here they are all in our queues' mailboxes, so a stack's first frame (its ARP
            // announcement) reaches every peer, whose neighbour caches may hold a departed VNIC's
            // MAC for the address we were given.
            connection.call(new Protocol.Sync());
            return vnic;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            vnic.closeQuietly(e);
            throw new IOException("interrupted attaching VNIC " + config.name(), e);
        } catch (ExecutionException e) {
            vnic.closeQuietly(e);
            throw new IOException("attaching VNIC " + config.name() + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            vnic.closeQuietly(e);
            throw new IOException("the control plane did not answer the attach of VNIC " + config.name() + " within "
                    + ControlConnection.REPLY_TIMEOUT, e);
        } catch (IOException | RuntimeException e) {
            vnic.closeQuietly(e);
            throw e;
        }
    }

    /** Applies the control plane's messages on the connection's reader thread. */
    private final class Handler implements ControlConnection.Listener {
        @Override
        public void onMessage(int requestId, Protocol.Message message, int[] fds) throws IOException {
            switch (message) {
                case Protocol.Attached attached -> onAttached(attached, fds);
                case Protocol.PeerAdded added -> onPeerAdded(added, fds);
                case Protocol.PeerRemoved(int peer) -> {
                    directory.remove(peer);
                    peerFiles.remove(peer);
                    if (queues != null) {
                        for (ShmQueue q : queues) {
                            q.post(new ShmQueue.RemovePeer(peer));
                        }
                    }
                }
                case Protocol.RateLimitChanged(int vnicId, RateLimit limit) -> {
                    if (vnicId == id) {
                        rateLimit = limit;
                    } else if (queues != null) {
                        for (ShmQueue q : queues) {
                            q.post(new ShmQueue.PeerRate(vnicId, limit));
                        }
                    }
                }
                case Protocol.Filters(int vnicId, List<ControlStatus.Filter> filters) -> {
                    Steering table = new Steering(filters);
                    if (vnicId == id) {
                        steering = table;
                    } else {
                        PeerLink.Shared peer = peerFiles.get(vnicId);
                        if (peer != null) {
                            peer.steering = table;
                        }
                    }
                }
                default -> ControlConnection.closeAll(fds);
            }
        }

        @Override
        public void onClosed(Throwable why) {
            lastProblem = "the control plane went away: " + why.getMessage()
                    + "; channels to the current peers keep working, but nobody new can join";
        }
    }

    private void onAttached(Protocol.Attached attached, int[] fds) throws IOException {
        try {
            if (queues != null) {
                throw new IOException("a second ATTACHED for VNIC " + name);
            }
            if (attached.queues() != config.queues()) {
                throw new IOException("asked for " + config.queues() + " queues, the control plane made "
                        + attached.queues());
            }
            int count = attached.queues();
            ChannelLayout.checkGeometry(attached.capacity(), attached.frameSlotSize());
            bellMapping = Mapping.map(fds[0], ChannelLayout.BELL_BYTES * count, true, "bells of " + attached.name());
            counterMapping = Mapping.map(fds[1], ChannelLayout.COUNTERS_BYTES * count, true, "counters of "
                    + attached.name());
            Unistd.close(fds[0]);
            Unistd.close(fds[1]);
            eventFds = Arrays.copyOfRange(fds, 2, 2 + count);
            id = attached.id();
            name = attached.name();
            mac = new MacAddress(attached.mac());
            address = attached.address();
            prefixLength = attached.prefixLength();
            gateway = attached.gateway();
            mtu = attached.mtu();
            channelCapacity = attached.capacity();
            channelFrameSlot = attached.frameSlotSize();
            rateLimit = attached.rateLimit();
            ShmQueue[] made = new ShmQueue[count];
            for (int q = 0; q < count; q++) {
                Bell bell = new Bell(bellMapping.segment().asSlice(q * ChannelLayout.BELL_BYTES, ChannelLayout.BELL_BYTES),
                        eventFds[q]);
                MemorySegment packets = packetArena.allocate((long) config.buffersPerQueue() * config.bufferSize(), 4096);
                made[q] = new ShmQueue(this, q, count, packets, config.bufferSize(), bell, counterMapping.segment()
                        .asSlice(q * ChannelLayout.COUNTERS_BYTES, ChannelLayout.COUNTERS_BYTES), attached.capacity(),
                        attached.frameSlotSize(), mtu);
            }
            queues = made;
        } catch (IOException | RuntimeException e) {
            ControlConnection.closeAll(fds);
            throw e;
        }
    }

    private void onPeerAdded(Protocol.PeerAdded added, int[] fds) throws IOException {
        ShmQueue[] own = queues;
        if (own == null) {
            ControlConnection.closeAll(fds);
            throw new IOException("PEER_ADDED before ATTACHED");
        }
        int theirs = added.queues();
        Mapping[] mappings = new Mapping[5];
        try {
            String peer = added.name();
            long outBytes = ChannelLayout.forwardFileBytes(channelCapacity, channelFrameSlot, own.length, theirs);
            long inBytes = ChannelLayout.forwardFileBytes(channelCapacity, channelFrameSlot, theirs, own.length);
            mappings[0] = Mapping.map(fds[0], outBytes, true, "channels " + name + " -> " + peer);
            mappings[1] = Mapping.map(fds[1], ChannelLayout.returnFileBytes(own.length, theirs), false, "returns of "
                    + name + " -> " + peer);
            mappings[2] = Mapping.map(fds[2], inBytes, false, "channels " + peer + " -> " + name);
            mappings[3] = Mapping.map(fds[3], ChannelLayout.returnFileBytes(theirs, own.length), true, "returns of "
                    + peer + " -> " + name);
            mappings[4] = Mapping.map(fds[4], ChannelLayout.BELL_BYTES * theirs, true, "bells of " + peer);
            PeerLink.Shared shared = new PeerLink.Shared(added.id(), peer, added.mac(), added.address(), theirs,
                    mappings[0], mappings[1], mappings[2], mappings[3], mappings[4], Arrays.copyOfRange(fds, 5,
                            5 + theirs), own.length);
            for (int i = 0; i < 5; i++) {
                Unistd.close(fds[i]);
            }
            peerFiles.put(added.id(), shared);
            // The queues' mailboxes first: once peers() lists it, the next transmit reaches it.
            for (int q = 0; q < own.length; q++) {
                own[q].post(new ShmQueue.AddPeer(new PeerLink(shared, q, own.length, added.rateLimit(),
                        channelCapacity, channelFrameSlot)));
            }
            directory.put(added.id(), new Peer(added.id(), peer, new MacAddress(added.mac()), added.address()));
        } catch (IOException | RuntimeException e) {
            for (Mapping mapping : mappings) {
                if (mapping != null) {
                    mapping.close();
                }
            }
            ControlConnection.closeAll(fds);
            throw e;
        }
    }

    // ------------------------------------------------------------------ identity

    /** The control plane's number for this VNIC (unique for the control plane's lifetime). */
    public int id() {
        return id;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return ShmVnicBackend.NAME;
    }

    @Override
    public MacAddress mac() {
        return mac;
    }

    /** The IPv4 address the control plane assigned (host order). */
    public int address() {
        return address;
    }

    /** The socket of the control plane this VNIC is attached to (its stats file lives beside it: {@link io.arrakis.control.stats.StatsFile}). */
    public java.nio.file.Path controlSocket() {
        return java.nio.file.Path.of(config.option(ShmVnicBackend.OPTION_SOCKET,
                ControlPlane.defaultSocketPath().toString())).toAbsolutePath().normalize();
    }

    public int prefixLength() {
        return prefixLength;
    }

    /** The gateway address the control plane reserved ({@code .1} of the subnet), 0 if none. */
    public int gateway() {
        return gateway;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    @Override
    public Set<Offload> offloads() {
        return Set.of();
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public VnicQueue queue(int index) {
        if (index < 0 || index >= queues.length) {
            throw new IndexOutOfBoundsException("shm VNIC " + name + " has " + queues.length + " queue"
                    + (queues.length == 1 ? "" : "s") + "; no queue " + index);
        }
        return queues[index];
    }

    /** The shm-specific counters of queue 0 (protection checks, membership). */
    public Counters<ShmCounter> shmCounters() {
        return queues[0].shmCounters();
    }

    /** The shm-specific counters of queue {@code index}. */
    public Counters<ShmCounter> shmCounters(int index) {
        return ((ShmQueue) queue(index)).shmCounters();
    }

    /** Our receive filters as last pushed (what the queues check against). */
    Steering steering() {
        return steering;
    }

    /** The receive filters of peer {@code id} as we last heard them (what we steer by), or null if unknown. */
    Steering peerSteering(int id) {
        PeerLink.Shared peer = peerFiles.get(id);
        return peer == null ? null : peer.steering;
    }

    /** The peers the control plane has announced so far (a snapshot, by id). */
    public List<Peer> peers() {
        return directory.values().stream().sorted(Comparator.comparingInt(Peer::id)).toList();
    }

    /** Waits (bounded) until exactly {@code count} peers are known; returns whether that happened. */
    public boolean awaitPeers(int count, Duration patience) throws InterruptedException {
        long deadline = System.nanoTime() + patience.toNanos();
        while (directory.size() != count) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            Thread.sleep(2);
        }
        return true;
    }

    /** Whether the control plane's connection is gone (it stopped); channels still work. */
    public boolean controlPlaneLost() {
        return connection.isLost();
    }

    /** The last problem seen (a broken channel, a lost control plane), or null. */
    public String lastProblem() {
        return lastProblem;
    }

    void channelBroken(PeerLink link, String what) {
        lastProblem = "shm VNIC " + name + ": gave up a channel of " + link + ": " + what
                + "; the peer wrote garbage into shared memory";
    }

    /**
     * Wakes a poller asleep on our own bell (for a membership change), unless closed: on the futex
     * if it sleeps there, through the readiness eventfd if it armed it and sleeps in epoll.
     */
    synchronized void ringOwnBell(Bell own) {
        if (!closed) {
            own.ring();
        }
    }

    /** Rings a queue's own bell (from {@link ShmQueue#wakeup()}), and its eventfd if it uses one, unless closed. */
    synchronized void wakeOwnBell(Bell own, boolean readinessEnabled) {
        if (closed) {
            return;
        }
        own.ring();
        if (readinessEnabled) {
            own.signal();
        }
    }

    // ------------------------------------------------------------------ control

    @Override
    public VnicControl control() {
        return this;
    }

    /**
     * Steers flows matching {@code filter} to queue {@code queueIndex}, through the control plane:
     * when this returns, our queues check by the new table and every peer has been sent it. A peer
     * applies it on its control connection's thread a moment later (tens of microseconds): a frame
     * it steered by the old table in between is dropped here and counted ({@code RX_MISSTEERED}),
     * never delivered to the wrong queue, so install a flow's filter before its first packet.
     * Unmatched IPv4 goes to queue 0; ARP to every queue unless an ARP filter names one (see
     * {@link Steering}). One round trip on the control socket.
     *
     * @throws IllegalArgumentException if this VNIC has no such queue
     * @throws IOException if the control plane refused it (the message says why: an address
     *     that is not this VNIC's, the same filter on another queue, too many filters) or is gone
     */
    @Override
    public synchronized void addReceiveFilter(FlowFilter filter, int queueIndex) throws IOException {
        if (queueIndex < 0 || queueIndex >= queues.length) {
            throw new IllegalArgumentException("shm VNIC " + name + " has queues 0.." + (queues.length - 1)
                    + "; cannot steer " + filter + " to queue " + queueIndex);
        }
        expect(connection.call(new Protocol.AddFilter(filter, queueIndex)), Protocol.Ok.class, "ADD_FILTER");
    }

    /** Removes a filter through the control plane; returns whether it was installed. One round trip if it was. */
    @Override
    public synchronized boolean removeReceiveFilter(FlowFilter filter) throws IOException {
        if (steering.installed().stream().noneMatch(f -> f.filter().equals(filter))) {
            return false;
        }
        expect(connection.call(new Protocol.RemoveFilter(filter)), Protocol.Ok.class, "REMOVE_FILTER");
        return true;
    }

    @Override
    public List<FlowFilter> receiveFilters() {
        return steering.installed().stream().map(ControlStatus.Filter::filter).toList();
    }

    /** Our receive filters with the queue each steers to, in the order installed. */
    public List<ControlStatus.Filter> receiveFilterTable() {
        return steering.installed();
    }

    /** The control plane sets it from the identity it assigned; processes cannot change it. */
    @Override
    public void setTransmitFilter(TransmitFilter filter) {
        throw new UnsupportedOperationException("shm VNIC " + name + ": the transmit filter is the identity the"
                + " control plane assigned (" + mac + ", " + Ipv4Text.format(address) + ") and every receiver"
                + " enforces it; it cannot be changed");
    }

    @Override
    public TransmitFilter transmitFilter() {
        return new TransmitFilter(mac, address);
    }

    /**
     * Asks the control plane to set this VNIC's limit; when this returns the new limit is in
     * force here (the control plane pushes it before it answers) and at the receivers' policers.
     */
    @Override
    public void setRateLimit(RateLimit limit) throws IOException {
        connection.call(new Protocol.SetRateLimit(name, limit));
    }

    @Override
    public RateLimit rateLimit() {
        return rateLimit;
    }

    // ------------------------------------------------------------------ listeners (loopback acceleration)

    /**
     * Tells the control plane that this VNIC listens on {@code protocol} port {@code port}, so
     * that other attached processes connecting to 127.0.0.1:port can be sent through the switch
     * to this VNIC's address instead ({@link #lookupListener}). The first VNIC to announce a port
     * holds it until it withdraws it or its process dies; announcing it again is a no-op. One
     * round trip on the control socket.
     *
     * @throws BindException if another VNIC announced that port first (the message names it)
     * @throws IOException if the control plane refused (a port below 1024 without root) or is gone
     * @throws IllegalArgumentException unless TCP or UDP and a port in 1..65535
     */
    public void announceListener(FlowFilter.Protocol protocol, int port) throws IOException {
        Protocol.checkListener(protocol, port);
        Protocol.Message reply = connection.call(new Protocol.AnnounceListener(protocol, port));
        if (reply instanceof Protocol.PortInUse taken) {
            throw new BindException(protocol + " port " + port + " is already in use on this host's switch: VNIC "
                    + taken.name() + " (id " + taken.vnic() + ", pid " + taken.pid() + ") announced it first;"
                    + " choose another port or stop that process");
        }
        expect(reply, Protocol.Ok.class, "ANNOUNCE_LISTENER");
    }

    /**
     * Withdraws this VNIC's announcement of {@code protocol} port {@code port}; a no-op if it
     * made none (another VNIC's announcement is never touched). One round trip.
     */
    public void withdrawListener(FlowFilter.Protocol protocol, int port) throws IOException {
        Protocol.checkListener(protocol, port);
        expect(connection.call(new Protocol.WithdrawListener(protocol, port)), Protocol.Ok.class,
                "WITHDRAW_LISTENER");
    }

    /**
     * Who listens on {@code protocol} port {@code port} among the processes attached to this
     * control plane: the IPv4 address (host order) of the VNIC that announced it (this VNIC's
     * own, if it did), or empty. One round trip on the control socket: a request to the control
     * plane's thread and its answer, each a wake-up of a blocked thread (tens of microseconds on
     * this VM; {@code ListenerLookupBenchmark} measures it), cheap next to the connection it
     * decides about.
     */
    public OptionalInt lookupListener(FlowFilter.Protocol protocol, int port) throws IOException {
        return ControlClient.lookup(connection, protocol, port);
    }

    private static void expect(Protocol.Message reply, Class<? extends Protocol.Message> type, String request)
            throws IOException {
        if (!type.isInstance(reply)) {
            throw new IOException("the control plane answered " + request + " with " + reply);
        }
    }

    // ------------------------------------------------------------------ close

    /**
     * Closes the control connection (the control plane reclaims the VNIC and tells the peers),
     * then unmaps every channel and frees the packet memory, and last stops the control plane
     * this JVM started for this VNIC, if it did. Call it after the polling thread has stopped
     * using the queue. Idempotent.
     */
    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        IOException failure = null;
        try {
            connection.close();
        } catch (IOException e) {
            failure = e;
        }
        if (queues != null) {
            for (ShmQueue queue : queues) {
                queue.close();
            }
        }
        for (Mapping mapping : new Mapping[] {bellMapping, counterMapping}) {
            if (mapping != null) {
                mapping.close();
            }
        }
        for (int eventFd : eventFds) {
            try {
                Unistd.close(eventFd);
            } catch (LinuxException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        packetArena.close();
        if (startedHere != null) {
            try {
                startedHere.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void closeQuietly(Exception primary) {
        try {
            close();
        } catch (IOException | RuntimeException e) {
            primary.addSuppressed(e);
        }
    }

    @Override
    public String toString() {
        return "shm VNIC " + name + " (id " + id + ", " + mac + ", " + Ipv4Text.format(address) + "/" + prefixLength
                + ", mtu " + mtu + ")";
    }
}

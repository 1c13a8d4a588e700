package io.arrakis.provider;

import io.arrakis.control.ShmVnic;
import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.StackConfig;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.link.CaptureVnic;
import io.arrakis.stack.link.Clock;
import io.arrakis.stack.link.PcapWriter;
import io.arrakis.stack.tcp.TcpConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The process's user-level stack: one {@link NetworkStack} and {@link TcpLayer} over one VNIC
 * queue, shared by every routed channel, driven by whichever thread needs it.
 *
 * <p><b>Who polls.</b> As in Arrakis, the application's own threads run the stack: a channel
 * operation takes the {@linkplain #lock() lock}, works on the engine, and the frames it produces
 * leave at once. A thread that must wait first <em>spins</em> for {@link ProviderConfig#spinNanos},
 * polling the queue itself whenever it can take the lock, so a reply that comes within the budget
 * costs no handoff and no system call. Only then does it park. One platform thread, the
 * <em>poller</em>, covers the time nobody spins: it polls, arms the queue's readiness descriptor
 * and sleeps in {@code epoll_wait} on it (and on its own wake-up eventfd) until a frame comes or
 * the next TCP timer is due. While any thread spins, the poller stays parked and the queue stays
 * unarmed, so a busy exchange costs its senders no eventfd write and this machine's two cores are
 * never shared by two pollers.
 *
 * <p><b>Sleeping without missing a frame.</b> Whoever sleeps in epoll (the poller, or a waiting
 * thread that leads) first arms the queue and re-checks it under the lock; a sender that then
 * publishes finds the queue armed and writes its readiness eventfd once. The poller and the
 * leader each sleep in their own epoll instance, with their own wake-up eventfd, and every
 * descriptor is registered edge-triggered and never drained: each write is an edge delivered to
 * every instance, so one sleeper can neither drain away nor take a wake-up meant for the other,
 * and a poll by a third thread (which takes the frame) leaves the sleepers armed instead of
 * deaf. A sleep still ends after {@link #LEADER_MAX_SLEEP_MILLIS} or {@link #POLLER_MAX_SLEEP_MILLIS}
 * (a safety net against a hostile peer that saturates the eventfd, not a mechanism); a sleep that
 * ends so while a signalled frame waited is counted ({@link #missedWakeups()}).
 *
 * <p>Thread-safe: everything touching the engine or the queue holds {@link #lock()}.
 */
final class UserStack implements AutoCloseable {
    /** Socket buffer sizes when the application sets none (Linux autotunes; we size for 10 Gbit/s at 100 µs). */
    static final int DEFAULT_BUFFER = 256 * 1024;
    /** How soon the poller retries output a full ring refused: a few frame times at 10 Gbit/s. */
    private static final long OUTPUT_RETRY_NANOS = 20_000;
    /**
     * How soon the parked poller first looks again while application threads poll (spinners end
     * within their budget; a thread busy with what its poll returned polls again at its next call).
     */
    private static final long POLLER_RECHECK_NANOS = 200_000;
    /**
     * The longest the poller's look-again interval grows to while every look finds the application
     * still polling: it doubles from {@link #POLLER_RECHECK_NANOS} each time. It bounds how long
     * frames wait when the last polling thread goes off without handing over (nobody hands over
     * on the fast path: that would cost each request a system call and the poller a wake-up).
     */
    private static final long POLLER_RECHECK_MAX_NANOS = 1_000_000;
    /**
     * How soon the poller looks again while a thread leads (sleeps in epoll on the queue, so every
     * frame wakes it). The leader does not wake the poller when it leaves, for the same reason.
     */
    private static final long POLLER_LEADER_RECHECK_NANOS = 5_000_000;
    /** The longest a leader sleeps in epoll before it polls again (see {@link #lead}): a safety net. */
    private static final int LEADER_MAX_SLEEP_MILLIS = 5;
    /** The longest the poller sleeps in epoll before it polls again: a safety net. */
    private static final int POLLER_MAX_SLEEP_MILLIS = 10;
    /** The safety nets in force (tests raise them, to see a wake-up that would otherwise come late). */
    private volatile int leaderMaxSleepMillis = LEADER_MAX_SLEEP_MILLIS;
    private volatile int pollerMaxSleepMillis = POLLER_MAX_SLEEP_MILLIS;
    /** epoll data of the two descriptors of a {@link Sleeper}. */
    private static final long READINESS = 0, WAKE = 1;
    /** epoll data of a descriptor {@link #leadWatching} adds to the leader's {@link Sleeper}. */
    private static final long WATCHED = 2;

    private final ReentrantLock lock = new ReentrantLock();

    /** What the waiting machinery counts, for {@code arrakis stat} and the TcpStack MBean. */
    enum PollCounter {
        /** Waits that spun and found their event within the budget (no system call). */
        SPINS_PAID,
        /** Waits that spun their whole budget for nothing. */
        SPINS_WASTED,
        /** Sleeps in epoll on the queue's readiness (the poller's and the leaders'). */
        EPOLL_SLEEPS,
        /** Sleeps that ended by their safety net while a signalled frame waited ({@link #missedWakeups()}). */
        MISSED_WAKEUPS,
        /** Waits that did not spin at all: the adaptive budget had fallen to 0. */
        SPINS_SKIPPED,
        /** Sleeps of a leader in epoll that an event ended: one wake-up of a waiting thread each. */
        LEADER_WAKEUPS,
        /** Sleeps of the poller in epoll that an event ended: one wake-up of the poller each. */
        POLLER_WAKEUPS,
        /** Times the poller woke on its clock to look whether application threads still poll. */
        POLLER_LOOKS,
        /** Polls by the poller that found frames: work done on the poller's thread, not the application's. */
        POLLER_FRAMES,
        /** Waits that parked (another thread led, or a virtual thread), and selects that slept in their inner JDK selector. */
        PARKS
    }

    /**
     * {@link PollCounter}s, indexed by ordinal. Racy on purpose (several threads wait at once and
     * an atomic increment would cost the fast path): statistics that may lose an increment under
     * contention.
     */
    private final long[] pollCounters = new long[PollCounter.values().length];
    /** Null on the stacks of queues other than 0 ({@code arrakis stat} and the MBeans show queue 0's). */
    private final StackTelemetry telemetry;
    /** The queue this stack drives. */
    private final int queueIndex;
    /**
     * The stack of queue 0 when this one drives another queue of the same VNIC, else null: it
     * owns the VNIC and the process's port reservations (ports are the address's, not a queue's).
     */
    private final UserStack primary;
    /** Segments another stack of this process received for a connection this one holds ({@link #divertHere}). */
    private final java.util.concurrent.ConcurrentLinkedQueue<Diverted> diverted = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.atomic.AtomicLong divertedIn = new java.util.concurrent.atomic.AtomicLong();
    private final Vnic vnic;
    /** The pcap writer of {@code arrakis.capture}, or null. */
    private final PcapWriter capture;
    private final VnicQueue queue;
    private final NetworkStack stack;
    private final TcpLayer tcp;
    private final int address;
    private final int prefixLength;
    private final long spinNanos;
    private final AtomicInteger spinners = new AtomicInteger();
    /** Racy on purpose: a heuristic several threads nudge (see {@link #spinBudget()}). */
    private long adaptiveSpin;
    /**
     * How long the last leader's sleep in epoll lasted that a frame or a wake-up ended
     * ({@link #spinBudget()}); racy, as {@link #adaptiveSpin}. Long until one is seen.
     */
    private long lastSleepNanos = Long.MAX_VALUE;
    /**
     * A sleep in epoll shorter than this ended because the peer ran as soon as this thread gave
     * up its CPU (a handoff on one vCPU costs 5–8 µs here; waking an idle vCPU 30–60 µs).
     */
    private static final long SHORT_SLEEP_NANOS = 15_000;
    /** The probe after short sleeps spins this fraction of the budget (50 µs / 8 ≈ 6 µs by default). */
    private static final long SHORT_PROBE_DIVISOR = 8;
    private int waits;
    private final int readinessFd;
    private final Sleeper pollerSleeper;
    private final Sleeper leaderSleeper;
    private final Thread poller;
    /** See {@link #missedWakeups()}. */
    private final java.util.concurrent.atomic.AtomicLong missedWakeups = new java.util.concurrent.atomic.AtomicLong();
    /** The platform thread sleeping in epoll on the queue for its own readiness, or null. */
    private volatile Thread leader;
    private static final java.lang.invoke.VarHandle LEADER;
    static {
        try {
            LEADER = java.lang.invoke.MethodHandles.lookup().findVarHandle(UserStack.class, "leader", Thread.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    /**
     * When a thread other than the poller last polled the queue ({@link System#nanoTime}), or 0
     * once such a thread {@linkplain #handToPoller handed the queue to the poller} to sleep by
     * other means. See {@link #pollerLoop}.
     */
    private volatile long lastAppPoll;
    private volatile boolean closed;
    private volatile Throwable failure;
    /** TCP ports bound by a channel (listening, connected or just bound), so binds conflict as in Linux. */
    private final java.util.BitSet boundTcpPorts = new java.util.BitSet(65_536);
    /** Receive filters per reserved port when the address is shared with the kernel. */
    private final SharedAddressPorts sharedPorts;
    private int nextEphemeral = EPHEMERAL_FIRST + (int) (ProcessHandle.current().pid() % (EPHEMERAL_LAST - EPHEMERAL_FIRST));
    private static final int EPHEMERAL_FIRST = 32_768, EPHEMERAL_LAST = 60_999;

    /**
     * A stack on {@code vnic} (what the provider attached, and asks about its control plane),
     * driven through {@code driven}: the same VNIC, or a capture around it whose pcap writer is
     * {@code capture} (closed with the stack).
     */
    private UserStack(Vnic vnic, Vnic driven, PcapWriter capture, io.arrakis.control.stats.StatsPublisher publisher,
            int address, int prefixLength, int gateway, long spinNanos, int queueIndex, UserStack primary)
            throws IOException {
        this.vnic = vnic;
        this.capture = capture;
        this.queueIndex = queueIndex;
        this.primary = primary;
        this.queue = driven.queue(queueIndex);
        this.address = address;
        this.prefixLength = prefixLength;
        this.spinNanos = spinNanos;
        this.adaptiveSpin = spinNanos;
        StackConfig config = new StackConfig(address, prefixLength, gateway, vnic.mtu(), 30_000_000_000L,
                1_000_000_000L, 3, 30_000_000_000L, 64);
        this.stack = new NetworkStack(driven, queueIndex, config);
        this.sharedPorts = primary != null ? primary.sharedPorts : new SharedAddressPorts(vnic, address);
        stack.setGleanNeighbours(sharedPorts.shared()); // our ARP requests' replies go to the kernel
        stack.setNeighbourSource(sharedPorts.kernelNeighbours()); // null (ARP) unless shared
        this.tcp = new TcpLayer(stack, TcpConfig.DEFAULT, System.nanoTime() ^ ProcessHandle.current().pid() << 32);
        this.readinessFd = queue.readinessFd();
        if (readinessFd < 0) {
            throw new IOException("VNIC " + vnic.name() + " (backend " + vnic.backend()
                    + ") has no readiness descriptor, so its stack cannot idle without spinning");
        }
        this.pollerSleeper = new Sleeper("poller", readinessFd, vnic.name());
        try {
            this.leaderSleeper = new Sleeper("leader", readinessFd, vnic.name());
        } catch (IOException e) {
            pollerSleeper.close();
            throw e;
        }
        lock.lock();
        try {
            stack.start(System.nanoTime());
        } finally {
            lock.unlock();
        }
        // Last before the poller: nothing after this can fail and leave the MBeans registered.
        if (primary == null) {
            this.telemetry = StackTelemetry.start(vnic, stack, tcp, pollCounters, address, publisher);
            telemetry.listenersFrom(() -> listeners.forEach((port, group) ->
                    telemetry.publishListener(port, group.listener.acceptQueueLength())));
        } else {
            this.telemetry = null;
        }
        this.poller = Thread.ofPlatform().daemon()
                .name("arrakis-poller-" + vnic.name() + (queueIndex == 0 ? "" : "-q" + queueIndex))
                .unstarted(this::pollerLoop);
        poller.start();
    }

    /**
     * Attaches a VNIC from the configured backend and starts its stack. The address is the one
     * the backend assigned (shm: the control plane's; af_xdp: its {@code address} option) or,
     * for a backend that assigns none (tap), the backend option {@code address=A/len} (with
     * {@code gateway=G}). With {@code arrakis.capture}, every frame the stack sends or receives
     * is also written to that pcap file (one write per frame: a debugging aid, not free).
     */
    static UserStack open(ProviderConfig config) throws IOException {
        return openQueues(config).get(0);
    }

    /**
     * {@link #open}, with one stack per queue: {@link ProviderConfig#queues} of them over one VNIC
     * (fewer when the backend gives fewer; a warning says so). The first (queue 0) owns the VNIC,
     * the telemetry and the port reservations, and closes the others when it closes; every
     * stack has its own lock and poller.
     */
    static List<UserStack> openQueues(ProviderConfig config) throws IOException {
        String name = "jvm" + ProcessHandle.current().pid();
        Vnic vnic = DeviceBackends.vnicBackend(config.backend())
                .open(new VnicConfig(name, config.queues(), VnicConfig.DEFAULT_BUFFERS_PER_QUEUE,
                        VnicConfig.DEFAULT_BUFFER_SIZE, config.backendOptions()));
        PcapWriter capture = null;
        io.arrakis.control.stats.StatsPublisher publisher = null;
        UserStack first = null;
        List<UserStack> stacks = new ArrayList<>();
        try {
            int[] address = addressOf(vnic, config);
            Vnic driven = vnic;
            if (config.capture() != null) {
                capture = openCapture(config.capture(), vnic);
                driven = new CaptureVnic(vnic, capture, Clock.systemEpoch());
            }
            publisher = StackTelemetry.openPublisher(vnic);
            if (publisher != null) {
                driven = new CaptureVnic(driven, StackTelemetry.captureSink(publisher), Clock.systemEpoch()); // arrakis capture
            }
            first = new UserStack(vnic, driven, capture, publisher, address[0], address[1], address[2],
                    config.spinNanos(), 0, null);
            if (config.queues() == 1) {
                return List.of(first); // what the process ran before there could be several
            }
            stacks.add(first);
            int queues = Math.min(config.queues(), vnic.queueCount());
            if (queues < config.queues()) {
                System.getLogger(UserStack.class.getName()).log(System.Logger.Level.WARNING,
                        "arrakis: VNIC " + vnic.name() + " (backend " + vnic.backend() + ") has " + vnic.queueCount()
                                + " queue(s), not the " + config.queues() + " asked for; running " + queues
                                + " stack(s)");
            }
            for (int q = 1; q < queues; q++) {
                // The other queues go uncaptured: the capture sinks are written by one thread.
                stacks.add(new UserStack(vnic, vnic, null, null, address[0], address[1], address[2],
                        config.spinNanos(), q, first));
            }
            first.siblings = List.copyOf(stacks);
            return first.siblings;
        } catch (IOException | RuntimeException e) {
            if (first != null) {
                // The first stack owns everything by now: closing it closes the others opened so
                // far, then the VNIC, the telemetry and the capture.
                first.siblings = List.copyOf(stacks);
                try {
                    first.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e instanceof IOException io ? io : new IOException(e.getMessage(), e);
            }
            if (publisher != null) {
                publisher.close();
            }
            if (capture != null) {
                try {
                    capture.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            vnic.close();
            throw e;
        }
    }

    /** The stacks of every queue, this one first; set on the stack of queue 0 only (closed with it). */
    private List<UserStack> siblings = List.of();

    /** Every stack of the VNIC (one per queue), this one first; just this one when the process runs one. */
    List<UserStack> stacksOfQueues() {
        return siblings.isEmpty() ? List.of(this) : siblings;
    }

    /** The queue of the VNIC this stack drives. */
    int queueIndex() {
        return queueIndex;
    }

    /** {address, prefix length, gateway} of the stack on {@code vnic}. */
    private static int[] addressOf(Vnic vnic, ProviderConfig config) throws IOException {
        if (vnic instanceof ShmVnic shm) {
            return new int[] {shm.address(), shm.prefixLength(), shm.gateway()};
        }
        if (vnic instanceof io.arrakis.device.xdp.AfXdpVnic xdp && xdp.address() != 0) {
            // AF_XDP: the address comes from the backend's options (arrakis.af_xdp.address).
            return new int[] {xdp.address(), xdp.prefixLength(), xdp.gateway()};
        }
        String option = ProviderConfig.PREFIX + config.backend() + ".address";
        String text = config.backendOptions().get("address");
        if (text == null) {
            throw new IOException("backend " + config.backend() + " does not assign the VNIC an address: set "
                    + option + "=A.B.C.D/len (e.g. 198.18.0.2/24), and " + ProviderConfig.PREFIX + config.backend()
                    + ".gateway if there is a router");
        }
        int[] prefix;
        int gateway;
        try {
            prefix = ProviderConfig.parsePrefix(text);
            String g = config.backendOptions().get("gateway");
            gateway = g == null ? 0 : io.arrakis.device.Ipv4Text.parse(g.strip());
        } catch (IllegalArgumentException e) {
            throw new IOException(option + " / gateway: " + e.getMessage(), e);
        }
        return new int[] {prefix[0], prefix[1], gateway};
    }

    private static PcapWriter openCapture(String path, Vnic vnic) throws IOException {
        FileChannel file;
        try {
            file = FileChannel.open(java.nio.file.Path.of(path), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
        } catch (IOException | java.nio.file.InvalidPathException e) {
            throw new IOException("cannot open the capture file " + path + " (" + ProviderConfig.PREFIX
                    + "capture) for VNIC " + vnic.name() + ": " + e.getMessage(), e);
        }
        try {
            return new PcapWriter(file, 65_535);
        } catch (IOException e) {
            file.close();
            throw e;
        }
    }

    ReentrantLock lock() {
        return lock;
    }

    /**
     * Releases {@link #lock()} after an application call, transmitting what it produced. If
     * output still waits for a full ring, the poller and the leader are told to retry it (nobody
     * else would). If the call moved the stack's next timer deadline (a retransmission, persist
     * or delayed-ACK timer, an ARP retry) earlier than the time the poller or the leader sleeps
     * to, that sleeper is woken to sleep to the new one: one comparison when nothing moved.
     */
    void unlock() {
        boolean pending;
        boolean pollerLate = false;
        boolean leaderLate = false;
        try {
            stack.flush(); // what the call produced leaves now, not at the next poll
            pending = stack.outputPending();
            long next = stack.nextDeadline();
            pollerLate = pollerSleeper.sleepsPast(next);
            leaderLate = leaderSleeper.sleepsPast(next);
        } catch (IOException | RuntimeException e) {
            failure = e;
            pending = false;
        } finally {
            lock.unlock();
        }
        if (pending || pollerLate) {
            pollerSleeper.wake(poller);
        }
        if (pending || leaderLate) {
            Thread l = leader;
            if (l != null) {
                leaderSleeper.wake(l);
            }
        }
    }

    /** Under {@link #lock()}. */
    TcpLayer tcp() {
        return tcp;
    }

    /** Under {@link #lock()}. */
    NetworkStack stack() {
        return stack;
    }

    int address() {
        return address;
    }

    Vnic vnic() {
        return vnic;
    }

    /**
     * Reserves TCP port {@code port} for a channel of this process, or an ephemeral one when 0;
     * throws {@code BindException} as Linux would when it is taken (or none is free).
     */
    int reservePort(int port) throws java.net.BindException {
        if (primary != null) {
            return primary.reservePort(port);
        }
        int reserved = takeTcpPort(port);
        try {
            sharedPorts.claim(io.arrakis.device.FlowFilter.Protocol.TCP, reserved);
        } catch (java.net.BindException e) {
            synchronized (boundTcpPorts) {
                boundTcpPorts.clear(reserved);
            }
            throw e;
        }
        return reserved;
    }

    private int takeTcpPort(int port) throws java.net.BindException {
        synchronized (boundTcpPorts) {
            if (port != 0) {
                if (boundTcpPorts.get(port)) {
                    throw new java.net.BindException("Address already in use");
                }
                boundTcpPorts.set(port);
                return port;
            }
            for (int tries = 0; tries <= EPHEMERAL_LAST - EPHEMERAL_FIRST; tries++) {
                int candidate = nextEphemeral;
                nextEphemeral = candidate == EPHEMERAL_LAST ? EPHEMERAL_FIRST : candidate + 1;
                if (!boundTcpPorts.get(candidate)) {
                    boundTcpPorts.set(candidate);
                    return candidate;
                }
            }
            throw new java.net.BindException("Cannot assign requested address (no free ephemeral port)");
        }
    }

    /**
     * The channels listening on one TCP port: one, or several that all set SO_REUSEPORT (they
     * share the engine's listener and its accept queue; Linux would spread connections among
     * them, here whichever accepts first takes the next). Guarded by {@link #lock()}.
     */
    private static final class ListenerGroup implements io.arrakis.stack.tcp.TcpEvents {
        final io.arrakis.stack.tcp.TcpListener listener;
        final boolean reusePort;
        final List<Readiness> members = new java.util.concurrent.CopyOnWriteArrayList<>();

        ListenerGroup(io.arrakis.stack.tcp.TcpListener listener, boolean reusePort) {
            this.listener = listener;
            this.reusePort = reusePort;
        }

        @Override
        public void acceptable(io.arrakis.stack.tcp.TcpListener l) {
            for (Readiness member : members) {
                member.signal();
            }
        }
    }

    private final java.util.Map<Integer, ListenerGroup> listeners = new java.util.HashMap<>();

    /**
     * Listens on TCP {@code port} (0: an ephemeral one) for a channel whose readiness is
     * {@code member}, or joins the listeners already there when both sides set SO_REUSEPORT.
     * Throws {@code BindException("Address already in use")} as Linux would otherwise.
     */
    io.arrakis.stack.tcp.TcpListener listen(int port, int backlog, int sendBuffer, int receiveBuffer,
            boolean reusePort, Readiness member) throws java.net.BindException {
        lock.lock();
        try {
            ListenerGroup group = port == 0 ? null : listeners.get(port);
            if (group != null) {
                if (!(group.reusePort && reusePort)) {
                    throw new java.net.BindException("Address already in use");
                }
                group.members.add(member);
                return group.listener;
            }
            int reserved = reservePort(port);
            io.arrakis.stack.tcp.TcpListener l;
            try {
                l = tcp.listen(reserved, backlog, sendBuffer, receiveBuffer);
            } catch (IllegalStateException taken) {
                releasePort(reserved);
                throw new java.net.BindException("Address already in use");
            }
            group = new ListenerGroup(l, reusePort);
            group.members.add(member);
            l.setEvents(group);
            listeners.put(reserved, group);
            return l;
        } finally {
            unlock();
        }
    }

    /** A listening channel closes: the engine's listener closes with the last of its group. */
    void unlisten(io.arrakis.stack.tcp.TcpListener l, Readiness member) {
        lock.lock();
        try {
            ListenerGroup group = listeners.get(l.localPort());
            if (group == null || group.listener != l) {
                return;
            }
            group.members.remove(member);
            if (group.members.isEmpty()) {
                listeners.remove(l.localPort());
                tcp.closeListener(l, System.nanoTime());
                releasePort(l.localPort());
            }
        } finally {
            unlock();
        }
    }

    void releasePort(int port) {
        if (primary != null) {
            primary.releasePort(port);
            return;
        }
        sharedPorts.release(io.arrakis.device.FlowFilter.Protocol.TCP, port);
        synchronized (boundTcpPorts) {
            boundTcpPorts.clear(port);
        }
    }

    // ------------------------------------------------------------------ UDP (datagram channels)

    /** UDP ports bound by a datagram channel of this process; separate from TCP's, as in Linux. */
    private final java.util.BitSet boundUdpPorts = new java.util.BitSet(65_536);
    private int nextUdpEphemeral = EPHEMERAL_FIRST + (int) ((ProcessHandle.current().pid() * 7919) % (EPHEMERAL_LAST - EPHEMERAL_FIRST));
    /** Datagram channels told when the device takes output again (their OP_WRITE, blocked sends). Under {@link #lock()}. */
    private final ArrayList<Readiness> waitingForOutputRoom = new ArrayList<>();

    /**
     * Reserves UDP port {@code port} for a datagram channel of this process, or an ephemeral one
     * when 0 (the next free one after the last handed out, so a caller retrying is offered another);
     * throws {@code BindException} as Linux would when it is taken (or none is free).
     */
    int reserveUdpPort(int port) throws java.net.BindException {
        if (primary != null) {
            return primary.reserveUdpPort(port);
        }
        int reserved = takeUdpPort(port);
        try {
            sharedPorts.claim(io.arrakis.device.FlowFilter.Protocol.UDP, reserved);
        } catch (java.net.BindException e) {
            synchronized (boundUdpPorts) {
                boundUdpPorts.clear(reserved);
            }
            throw e;
        }
        return reserved;
    }

    private int takeUdpPort(int port) throws java.net.BindException {
        synchronized (boundUdpPorts) {
            if (port != 0) {
                if (boundUdpPorts.get(port)) {
                    throw new java.net.BindException("Address already in use");
                }
                boundUdpPorts.set(port);
                return port;
            }
            for (int tries = 0; tries <= EPHEMERAL_LAST - EPHEMERAL_FIRST; tries++) {
                int candidate = nextUdpEphemeral;
                nextUdpEphemeral = candidate == EPHEMERAL_LAST ? EPHEMERAL_FIRST : candidate + 1;
                if (!boundUdpPorts.get(candidate)) {
                    boundUdpPorts.set(candidate);
                    return candidate;
                }
            }
            throw new java.net.BindException("Cannot assign requested address (no free ephemeral UDP port)");
        }
    }

    void releaseUdpPort(int port) {
        if (primary != null) {
            primary.releaseUdpPort(port);
            return;
        }
        sharedPorts.release(io.arrakis.device.FlowFilter.Protocol.UDP, port);
        synchronized (boundUdpPorts) {
            boundUdpPorts.clear(port);
        }
    }

    /** Under {@link #lock()}: signal {@code readiness} once the device takes output again (nothing else would). */
    void signalWhenOutputRoom(Readiness readiness) {
        if (!waitingForOutputRoom.contains(readiness)) {
            waitingForOutputRoom.add(readiness);
        }
    }

    /** Under {@link #lock()}, after a poll: output no longer waits for the device, so tell who asked. */
    private void signalOutputRoom() {
        for (int i = 0; i < waitingForOutputRoom.size(); i++) {
            waitingForOutputRoom.get(i).signal();
        }
        waitingForOutputRoom.clear();
    }

    /** Whether {@code other} is on this stack's subnet (reachable through the switch). */
    boolean onLink(int other) {
        int mask = prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
        return (other & mask) == (address & mask);
    }

    /** A TCP segment (or a UDP datagram) another stack of this process received for this one (a copy). */
    private record Diverted(java.lang.foreign.MemorySegment segment, int source, int destination, boolean udp) {
    }

    /**
     * From another stack's poll (which holds that stack's lock, not ours): a copy of a TCP
     * segment of a connection that lives here (it moved while its frames were on the way, a peer
     * steered by a filter table older than the move, or, on a VNIC that cannot steer a flow to a
     * queue such as AF_XDP, a segment that arrived on another queue). Handled at our next poll, as
     * if it had arrived on our queue; the poller and the leader are woken for it.
     */
    void divertHere(java.lang.foreign.MemorySegment packet, long at, int length, int source, int destination) {
        enqueueDiverted(packet, at, length, source, destination, false);
    }

    /** As {@link #divertHere}, for a UDP datagram (header included) for a port of this stack. */
    void divertUdpHere(java.lang.foreign.MemorySegment packet, long at, int length, int source, int destination) {
        enqueueDiverted(packet, at, length, source, destination, true);
    }

    private void enqueueDiverted(java.lang.foreign.MemorySegment packet, long at, int length, int source,
            int destination, boolean udp) {
        java.lang.foreign.MemorySegment copy = java.lang.foreign.Arena.ofAuto().allocate(length, 8);
        java.lang.foreign.MemorySegment.copy(packet, at, copy, 0, length);
        diverted.add(new Diverted(copy, source, destination, udp));
        divertedIn.incrementAndGet();
        pollerSleeper.wake(poller);
        wakeLeader();
    }

    /** How many segments other stacks of this process handed to this one ({@link #divertHere}). */
    long divertedSegments() {
        return divertedIn.get();
    }

    /** Under {@link #lock()}: the segments other stacks handed over, to TCP as if they came from our queue. */
    private void receiveDiverted(long now) {
        Diverted d;
        while ((d = diverted.poll()) != null) {
            if (d.udp()) {
                stack.receiveDivertedUdp(d.segment(), 0, (int) d.segment().byteSize(), d.source(), d.destination());
            } else {
                tcp.received(d.segment(), 0, (int) d.segment().byteSize(), d.source(), d.destination(), now);
            }
        }
    }

    /**
     * Under {@link #lock()}: receives and handles what waits, runs due timers, transmits. Returns
     * the frames received. A failing queue (a peer wrote garbage the backend could not contain)
     * is recorded and rethrown to every later caller.
     */
    int pollLocked() throws IOException {
        Throwable failed = failure;
        if (failed != null) {
            throw new IOException("the user-level stack on VNIC " + vnic.name() + " failed", failed);
        }
        try {
            long now = System.nanoTime();
            if (Thread.currentThread() != poller) {
                lastAppPoll = now;
            }
            if (!diverted.isEmpty()) {
                receiveDiverted(now);
            }
            int received = stack.poll(now);
            if (telemetry != null) {
                telemetry.maybePublish(now);
            }
            if (!waitingForOutputRoom.isEmpty() && !stack.outputPending()) {
                signalOutputRoom();
            }
            return received;
        } catch (IOException | RuntimeException e) {
            failure = e;
            throw e;
        }
    }

    /**
     * Waits until {@code readiness} moves past {@code seen}, {@code deadline} ({@link System#nanoTime}
     * scale; {@code Long.MAX_VALUE}: none) passes, or the thread is interrupted; returns whether it
     * moved. The caller holds nothing.
     *
     * <p>Three phases. It spins for the spin budget, polling the stack whenever the lock is free.
     * Then a platform thread becomes the <em>leader</em> if there is none: it sleeps in
     * {@code epoll_wait} on the queue's readiness itself, so a frame for it costs one wake-up, not
     * two (poller, then waiter). Others (and virtual threads, which must not pin their carrier in
     * a system call) park until the leader's or the poller's polls signal their readiness.
     */
    boolean await(Readiness readiness, int seen, long deadline) throws IOException {
        Thread me = Thread.currentThread();
        boolean led = false;
        spinners.incrementAndGet();
        try {
            // A virtual thread does not spin: it would hold a carrier other virtual threads need
            // (thousands of them may wait at once), and parking one is cheap.
            long budget = me.isVirtual() ? 0 : spinBudget();
            if (budget > 0 && spin(readiness, seen, deadline, me, budget)) {
                spinPaid();
                return true;
            }
            if (budget > 0) {
                spinWasted();
            } else if (!me.isVirtual()) {
                spinSkipped();
            }
            if (readiness.movedSince(seen)) {
                return true;
            }
            if (!me.isVirtual() && LEADER.compareAndSet(this, null, me)) {
                led = true;
                try {
                    dropKeptDescriptor(null); // a selector's descriptor must not end this wait
                    return lead(readiness, seen, deadline, me);
                } finally {
                    leader = null;
                }
            }
        } finally {
            // Neither a spinner nor a leader wakes the poller as it leaves (it looks again within
            // its interval, and this thread goes back to the application, which polls again at its
            // next call): no system call, and no wake-up of the poller, per request.
            spinners.decrementAndGet();
        }
        if (leader == null) {
            handToPoller(); // nobody else may poll while we park
        }
        pollCounters[PollCounter.PARKS.ordinal()]++;
        readiness.park(me);
        try {
            while (!readiness.movedSince(seen)) {
                if (me.isInterrupted() || closed) {
                    return false;
                }
                if (deadline == Long.MAX_VALUE) {
                    LockSupport.park(readiness);
                } else {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    LockSupport.parkNanos(readiness, left);
                }
            }
            return true;
        } finally {
            readiness.unpark(me);
        }
    }

    /**
     * The spin budget adapts: halved each time spinning found nothing (on a loaded machine, the
     * peer we wait for may need the very CPU we spin on), restored in full when it pays; every
     * 64th wait is a probe, so a quiet machine finds its way back to spinning. The probe spins
     * the full budget unless the last sleep in epoll ended within {@link #SHORT_SLEEP_NANOS}:
     * then the peer answered as soon as this thread gave up its CPU, so it shares that CPU, and a
     * full probe would only hold it off for the whole budget (one request in 64 on each side paid
     * it: the p99 of a 1-connection exchange on a loaded machine was the budget, 57 µs). A short
     * probe still finds a peer that spins on another CPU; a quiet machine's sleeps are long (a
     * wake-up that crosses to an idle vCPU costs 30–60 µs here), so its probes stay full.
     */
    long spinBudget() {
        if (spinNanos == 0) {
            return 0;
        }
        if ((++waits & 63) == 0) {
            long probe = lastSleepNanos < SHORT_SLEEP_NANOS ? spinNanos / SHORT_PROBE_DIVISOR : spinNanos;
            return Math.max(adaptiveSpin, probe);
        }
        return adaptiveSpin;
    }

    /**
     * A thread that spins on the stack by itself (a selector with kernel keys, which peeks at its
     * inner selector between polls) says so, as {@link #await} does for its own spin: while
     * anyone spins, the poller neither polls nor arms, so it does not fight the spinner for the
     * lock nor make senders write the eventfd. Paired with {@link #spinEnded()}.
     */
    void spinStarted() {
        spinners.incrementAndGet();
    }

    void spinEnded() {
        spinners.decrementAndGet();
    }

    /** A wait that would have spun did not: the adaptive budget had fallen to 0. */
    void spinSkipped() {
        if (spinNanos > 0) {
            pollCounters[PollCounter.SPINS_SKIPPED.ordinal()]++;
        }
    }

    /** A selector sleeps in its inner JDK selector, not on the stack: counted with the parks. */
    void parked() {
        pollCounters[PollCounter.PARKS.ordinal()]++;
    }

    void spinPaid() {
        pollCounters[PollCounter.SPINS_PAID.ordinal()]++;
        adaptiveSpin = spinNanos; // spinning found the event: keep the whole budget
    }

    /** A leader's sleep in epoll that an event ended lasted {@code nanos} (see {@link #spinBudget()}). */
    void leaderSlept(long nanos) {
        lastSleepNanos = nanos;
    }

    void spinWasted() {
        pollCounters[PollCounter.SPINS_WASTED.ordinal()]++;
        adaptiveSpin = adaptiveSpin < spinNanos / 64 ? 0 : adaptiveSpin / 2;
    }

    private boolean spin(Readiness readiness, int seen, long deadline, Thread me, long budget) throws IOException {
        long now = System.nanoTime();
        long spinEnd = now + budget;
        while (true) {
            if (readiness.movedSince(seen)) {
                return true;
            }
            if (lock.tryLock()) {
                try {
                    pollLocked();
                } finally {
                    lock.unlock();
                }
                if (readiness.movedSince(seen)) {
                    return true;
                }
            }
            if (me.isInterrupted() || closed) {
                return false;
            }
            Thread.onSpinWait();
            now = System.nanoTime();
            if (now - spinEnd >= 0 || now - deadline >= 0) {
                return false;
            }
        }
    }

    /** The leader's loop: poll, arm, sleep in epoll on the queue (and its wake eventfd), until our readiness moves. */
    private boolean lead(Readiness readiness, int seen, long deadline, Thread me) throws IOException {
        Sleeper sleeper = leaderSleeper;
        while (true) {
            if (readiness.movedSince(seen)) {
                return true;
            }
            if (me.isInterrupted() || closed) {
                return false;
            }
            long now = System.nanoTime();
            if (now - deadline >= 0) {
                return false;
            }
            boolean outputPending;
            long until;
            lock.lock();
            try {
                if (pollLocked() > 0 || readiness.movedSince(seen)) {
                    continue;
                }
                outputPending = stack.outputPending();
                if (!outputPending && !queue.armReadiness()) {
                    continue; // a frame came after the poll: take it
                }
                until = outputPending ? Long.MAX_VALUE
                        : sleeper.sleepUntil(Math.min(stack.nextDeadline(), deadline), leaderMaxSleepMillis);
            } finally {
                lock.unlock();
            }
            if (outputPending) {
                LockSupport.parkNanos(this, OUTPUT_RETRY_NANOS);
                continue;
            }
            int timeout = timeoutMillis(until);
            if (timeout == 0) {
                // A deadline closer than epoll's millisecond: sleep the rest on the clock.
                LockSupport.parkNanos(this, Math.max(0, until - System.nanoTime()));
                sleeper.awake();
                continue;
            }
            readiness.sleeper(this);
            try {
                if (readiness.movedSince(seen)) {
                    sleeper.awake();
                    return true;
                }
                if (sleepInEpoll(sleeper, timeout)) {
                    return false; // the descriptor leadWatching added is ready: its owner looks
                }
            } finally {
                readiness.sleeper(null);
            }
        }
    }

    /**
     * One thread's place to sleep in epoll: its own epoll instance over the queue's readiness
     * descriptor and its own wake eventfd, both edge-triggered and never read. An eventfd write
     * is an edge that reaches every instance registered on it, and nothing drains the counter
     * (so epoll always finds it readable when it reports the edge): the poller and a leader each
     * get every signal, neither can consume the other's, and a signal sent while nobody sleeps
     * costs one spurious wake-up, not a busy loop. Used by one thread at a time (the poller; the
     * leader of the moment).
     */
    private static final class Sleeper {
        final String role;
        final int epoll;
        final int wakeFd;
        /** Room for the readiness, the wake eventfd and a descriptor {@link #leadWatching} adds. */
        final Epoll.Events events = Epoll.Events.allocate(Arena.ofAuto(), 3);
        /** Sleeps in epoll that ended with an event (a frame's signal, a wake-up, a watched descriptor). */
        final java.util.concurrent.atomic.AtomicLong wakeups = new java.util.concurrent.atomic.AtomicLong();
        /** Set before the descriptors close, so a late wake-up writes nothing (to a number the kernel may reuse). */
        private volatile boolean closed;
        /**
         * When the sleeper will look again by itself ({@link System#nanoTime} scale), or
         * {@code Long.MAX_VALUE} while it is not going to sleep. Set under the stack lock by the
         * sleeper, compared and cleared under it by {@link UserStack#unlock}; the sleeper clears
         * it when it wakes.
         */
        private volatile long sleepsUntil = Long.MAX_VALUE;

        Sleeper(String role, int readinessFd, String vnicName) throws IOException {
            this.role = role;
            int e = -1;
            int w = -1;
            try {
                e = Epoll.create(Epoll.EPOLL_CLOEXEC);
                w = EventFd.create(0, EventFd.EFD_CLOEXEC | EventFd.EFD_NONBLOCK);
                Epoll.add(e, readinessFd, Epoll.EPOLLIN | Epoll.EPOLLET, READINESS);
                Epoll.add(e, w, Epoll.EPOLLIN | Epoll.EPOLLET, WAKE);
            } catch (LinuxException failure) {
                closeQuietly(w);
                closeQuietly(e);
                throw new IOException("cannot set up the idle wait of the " + role + " of the stack on VNIC "
                        + vnicName + ": " + failure.getMessage(), failure);
            }
            this.epoll = e;
            this.wakeFd = w;
        }

        /**
         * Under the stack lock: the sleeper is about to sleep until {@code deadline} (a timer, or
         * {@code Long.MAX_VALUE}), at most {@code maxMillis}; returns when it will look again.
         */
        long sleepUntil(long deadline, int maxMillis) {
            long until = Math.min(deadline, System.nanoTime() + maxMillis * 1_000_000L);
            sleepsUntil = until;
            return until;
        }

        /** The sleeper woke (or gave up sleeping): nobody needs to wake it for a timer any more. */
        void awake() {
            sleepsUntil = Long.MAX_VALUE;
        }

        /**
         * Under the stack lock: whether the sleeper would look again only after {@code deadline};
         * if so it counts as woken from now on (the caller wakes it), so the next call says no.
         * A sleeper that is not going to sleep says no: it reads the deadline under the lock
         * before it sleeps again. (Saying yes there cost every application call an eventfd write
         * and an unpark of the poller, which then woke, polled and slept again, armed.)
         */
        boolean sleepsPast(long deadline) {
            long until = sleepsUntil;
            if (until != Long.MAX_VALUE && deadline < until) {
                sleepsUntil = Long.MAX_VALUE;
                return true;
            }
            return false;
        }

        /** Ends {@code thread}'s sleep here (or its next one), and its park if it parks instead. */
        void wake(Thread thread) {
            if (closed) {
                return;
            }
            try {
                EventFd.signal(wakeFd, 1);
            } catch (LinuxException e) {
                // EAGAIN: the counter is full, so the edge is pending anyway; EBADF: we are closed.
            }
            LockSupport.unpark(thread);
        }

        void close() {
            closed = true;
            closeQuietly(wakeFd);
            closeQuietly(epoll);
        }

        private static void closeQuietly(int fd) {
            if (fd >= 0) {
                try {
                    Unistd.close(fd);
                } catch (LinuxException ignored) {
                    // closing our own descriptor once cannot fail in a way we could act on
                }
            }
        }
    }

    /**
     * Sleeps in {@code sleeper}'s epoll for at most {@code timeoutMillis}; the caller armed the
     * queue and found it empty under the lock. A sleep that runs out is checked: if a frame waits
     * whose signal was written ({@link VnicQueue#readinessSignalled}: a sender descheduled
     * between publishing and writing has not signalled yet, and wakes us when it does) and
     * epoll has no event for us, a wake-up was missed: counted in {@link #missedWakeups()}.
     * Returns whether a descriptor {@link #leadWatching} added is ready.
     */
    private boolean sleepInEpoll(Sleeper sleeper, int timeoutMillis) throws IOException {
        pollCounters[PollCounter.EPOLL_SLEEPS.ordinal()]++;
        int n;
        long asleep = System.nanoTime();
        try {
            n = Epoll.wait(sleeper.epoll, sleeper.events, timeoutMillis);
        } finally {
            sleeper.awake();
        }
        if (n > 0) {
            if (sleeper == leaderSleeper) {
                leaderSlept(System.nanoTime() - asleep);
            }
            sleeper.wakeups.incrementAndGet();
            pollCounters[(sleeper == pollerSleeper ? PollCounter.POLLER_WAKEUPS : PollCounter.LEADER_WAKEUPS).ordinal()]++;
        }
        if (n > 0 || closed) {
            boolean watched = false;
            for (int i = 0; i < n; i++) {
                watched |= sleeper.events.data(i) == WATCHED;
            }
            return watched;
        }
        boolean waiting;
        lock.lock();
        try {
            waiting = queue.readinessSignalled() && !queue.armReadiness();
        } finally {
            lock.unlock();
        }
        if (waiting && Epoll.wait(sleeper.epoll, sleeper.events, 0) == 0) {
            missedWakeups.incrementAndGet();
            pollCounters[PollCounter.MISSED_WAKEUPS.ordinal()]++;
        }
        return false;
    }

    /**
     * {@link #await}'s spin and lead, the leader also waking when descriptor {@code fd} is ready
     * for {@code events} (the kernel socket of a wildcard datagram channel, so that one thread
     * sleeps on both paths): 1 when {@code readiness} moved, 0 when {@code fd} is ready, the
     * deadline passed or the thread was interrupted; -1 when, after the spin, another thread
     * leads, or at once for a virtual thread (the caller must then wait its own way).
     */
    int leadWatching(int fd, int events, Readiness readiness, int seen, long deadline) throws IOException {
        return leadWatching(null, fd, events, readiness, seen, deadline, true);
    }

    /**
     * {@link #leadWatching(int, int, Readiness, int, long)}, with or without its spin: a caller
     * that has just spun itself (a selector with kernel keys, which peeks at its inner selector
     * while it spins) leads at once. With an {@code owner}, the descriptor stays in the leader's
     * epoll set after the wait, so the owner's next wait costs no {@code epoll_ctl} (two system
     * calls per sleep otherwise); any other wait takes it out first, and the owner must call
     * {@link #dropKeptDescriptor} before the descriptor closes.
     */
    int leadWatching(Object owner, int fd, int events, Readiness readiness, int seen, long deadline,
            boolean spinFirst) throws IOException {
        Thread me = Thread.currentThread();
        if (me.isVirtual()) {
            return -1;
        }
        boolean led = false;
        spinners.incrementAndGet();
        try {
            long budget = spinFirst ? spinBudget() : 0;
            if (budget > 0 && spin(readiness, seen, deadline, me, budget)) {
                spinPaid();
                return 1;
            }
            if (budget > 0) {
                spinWasted();
            } else if (spinFirst) {
                spinSkipped();
            }
            if (readiness.movedSince(seen)) {
                return 1;
            }
            if (!LEADER.compareAndSet(this, null, me)) {
                return -1;
            }
            led = true;
            // The leader's epoll is its own (the poller sleeps in another), so the descriptor
            // wakes only the thread that waits for it.
            synchronized (kept) {
                if (owner == null || kept.owner != owner) {
                    dropKeptDescriptor(null);
                    Epoll.add(leaderSleeper.epoll, fd, events, WATCHED);
                    if (owner != null) {
                        kept.owner = owner;
                        kept.fd = fd;
                    }
                }
            }
            try {
                return lead(readiness, seen, deadline, me) ? 1 : 0;
            } finally {
                if (owner == null) {
                    try {
                        Epoll.delete(leaderSleeper.epoll, fd);
                    } catch (LinuxException closed) {
                        // closed meanwhile (its owner's close ended the wait): it left the set with it
                    }
                }
            }
        } catch (LinuxException e) {
            throw new IOException("watching descriptor " + fd + " from the stack's wait on VNIC " + vnic.name(), e);
        } finally {
            spinners.decrementAndGet();
            if (led) {
                leader = null; // the poller is not woken: see await
            }
        }
    }

    /** The descriptor a {@link #leadWatching} owner left in the leader's epoll set; guarded by itself. */
    private static final class KeptDescriptor {
        Object owner;
        int fd = -1;
    }

    private final KeptDescriptor kept = new KeptDescriptor();

    /**
     * Takes the descriptor {@link #leadWatching} kept for {@code owner} (any owner's when null)
     * out of the leader's epoll set: before another wait leads, and by the owner before the
     * descriptor closes (a closed descriptor leaves the set by itself, but its number may be
     * reused).
     */
    void dropKeptDescriptor(Object owner) {
        synchronized (kept) {
            if (kept.fd < 0 || (owner != null && kept.owner != owner)) {
                return;
            }
            try {
                Epoll.delete(leaderSleeper.epoll, kept.fd);
            } catch (LinuxException gone) {
                // already closed: it left the set with its last reference
            }
            kept.fd = -1;
            kept.owner = null;
        }
    }

    /**
     * How many sleeps in epoll ended by their safety-net timeout although a frame waited in the
     * queue, signalled, with no event in epoll for the sleeper: each is a stall of
     * up to {@link #LEADER_MAX_SLEEP_MILLIS}/{@link #POLLER_MAX_SLEEP_MILLIS}. Zero when the
     * sleep protocol is right.
     */
    long missedWakeups() {
        return missedWakeups.get();
    }

    /**
     * How many times the poller's sleep in epoll ended with an event: each is a wake-up of the
     * poller thread (a context switch), and, when an application thread waits for what it
     * brought, usually a second one for that thread.
     */
    long pollerWakeups() {
        return pollerSleeper.wakeups.get();
    }

    /** How many times a leader's sleep in epoll ended with an event: one wake-up of the thread that waited. */
    long leaderWakeups() {
        return leaderSleeper.wakeups.get();
    }

    /** One of the waiting machinery's {@link PollCounter}s (racy: see {@link #pollCounters}). */
    long pollCounter(PollCounter counter) {
        return pollCounters[counter.ordinal()];
    }

    /**
     * For tests: sets the longest sleeps of the leader and the poller, so that a wake-up that
     * does not come shows as a long stall rather than one hidden by the safety net; wakes the
     * poller so its next sleep uses them.
     */
    void safetyNets(int leaderMillis, int pollerMillis) {
        if (leaderMillis < 1 || pollerMillis < 1) {
            throw new IllegalArgumentException("the longest sleeps must be at least 1 ms, not " + leaderMillis + " and "
                    + pollerMillis);
        }
        leaderMaxSleepMillis = leaderMillis;
        pollerMaxSleepMillis = pollerMillis;
        pollerSleeper.wake(poller);
    }

    /** Milliseconds until {@code deadline} for epoll_wait, rounded up; -1 for none; 0 if under a millisecond away. */
    private static int timeoutMillis(long deadline) {
        if (deadline == Long.MAX_VALUE) {
            return -1;
        }
        long left = deadline - System.nanoTime();
        if (left < 1_000_000L) {
            return 0;
        }
        return (int) Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000);
    }

    Thread leaderThread() {
        return leader;
    }

    /** Ends the leader's sleep in epoll (another thread signalled the readiness it waits for). */
    void wakeLeader() {
        Thread l = leader;
        if (l != null) {
            leaderSleeper.wake(l);
        }
    }

    /**
     * A thread that polled the queue is about to wait without polling (parked, or asleep in a
     * JDK selector): the poller takes over now rather than within {@link #POLLER_RECHECK_NANOS}.
     */
    void handToPoller() {
        lastAppPoll = 0;
        LockSupport.unpark(poller);
    }

    /**
     * The last spinner left: the poller, parked while others polled, takes over. (If it sleeps
     * in epoll instead, it is armed there and wakes with the next frame.)
     */
    void wakePoller() {
        LockSupport.unpark(poller);
    }

    private void pollerLoop() {
        Sleeper sleeper = pollerSleeper;
        long recheck = POLLER_RECHECK_NANOS;
        long seenAppPoll = lastAppPoll;
        try {
            while (!closed) {
                if (spinners.get() > 0) {
                    // Someone polls already and runs the timers: a leader asleep on the queue
                    // (every frame wakes it), or spinners, who leave within their budget. Look
                    // again later rather than have each of them pay for waking us.
                    if (leader != null) {
                        LockSupport.parkNanos(this, POLLER_LEADER_RECHECK_NANOS);
                    } else {
                        LockSupport.parkNanos(this, recheck);
                        recheck = Math.min(2 * recheck, POLLER_RECHECK_MAX_NANOS);
                    }
                    pollCounters[PollCounter.POLLER_LOOKS.ordinal()]++;
                    continue;
                }
                long appPoll = lastAppPoll;
                long appPolledAgo = System.nanoTime() - appPoll;
                if (appPolledAgo < recheck) {
                    // An application thread polled a moment ago and is busy with what it got: it
                    // polls again when it next calls in (a read, a write, a select). Polling now
                    // would fight it for the lock and do its work on the other core; sleeping
                    // armed would make every frame meanwhile cost its sender an eventfd write and
                    // us a wake-up. Look again later, and later still while it keeps polling; a
                    // thread that stops polling to wait by other means hands over at once
                    // (handToPoller).
                    if (appPoll != seenAppPoll) {
                        seenAppPoll = appPoll;
                        recheck = Math.min(2 * recheck, POLLER_RECHECK_MAX_NANOS);
                    }
                    LockSupport.parkNanos(this, recheck - appPolledAgo);
                    pollCounters[PollCounter.POLLER_LOOKS.ordinal()]++;
                    continue;
                }
                recheck = POLLER_RECHECK_NANOS; // nobody polls: cover the queue, and look often next time
                long until;
                boolean outputPending;
                lock.lock();
                try {
                    if (pollLocked() > 0) {
                        pollCounters[PollCounter.POLLER_FRAMES.ordinal()]++;
                        continue;
                    }
                    outputPending = stack.outputPending();
                    if (!outputPending && !queue.armReadiness()) {
                        continue; // a frame came after the poll: take it
                    }
                    until = outputPending ? Long.MAX_VALUE
                            : sleeper.sleepUntil(stack.nextDeadline(), pollerMaxSleepMillis);
                } finally {
                    lock.unlock();
                }
                if (outputPending) {
                    // The peer's ring is full and its draining wakes nobody: retry shortly.
                    LockSupport.parkNanos(this, OUTPUT_RETRY_NANOS);
                    continue;
                }
                if (spinners.get() > 0) {
                    sleeper.awake();
                    continue;
                }
                int timeout = timeoutMillis(until);
                if (timeout == 0) {
                    LockSupport.parkNanos(this, Math.max(0, until - System.nanoTime()));
                    sleeper.awake();
                    continue;
                }
                sleepInEpoll(sleeper, timeout);
            }
        } catch (Throwable t) {
            if (!closed) {
                failure = t;
                System.getLogger(UserStack.class.getName()).log(System.Logger.Level.ERROR,
                        "arrakis: the poller of the user-level stack on VNIC " + vnic.name() + " stopped", t);
            }
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        pollerSleeper.wake(poller);
        try {
            poller.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (UserStack other : siblings) {
            if (other != this) {
                other.close(); // before the VNIC their queues belong to
            }
        }
        lock.lock();
        try {
            stack.close();
            if (primary == null) {
                vnic.close();
            }
        } finally {
            if (telemetry != null) {
                telemetry.close(); // after the stack: its last frames still pass the capture mirror
            }
            lock.unlock();
            if (primary == null) {
                sharedPorts.close();
            }
            pollerSleeper.close();
            leaderSleeper.close();
            if (capture != null) {
                synchronized (capture) { // the capture queues write under this lock
                    capture.close();
                }
            }
        }
    }

    @Override
    public String toString() {
        return "user-level stack " + Ipv4Text.format(address) + "/" + prefixLength + " on VNIC " + vnic.name()
                + (queueIndex == 0 ? "" : " queue " + queueIndex);
    }
}

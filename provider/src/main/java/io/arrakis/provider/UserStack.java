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
import io.arrakis.stack.tcp.TcpConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
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
 * <p>Thread-safe: everything touching the engine or the queue holds {@link #lock()}.
 */
final class UserStack implements AutoCloseable {
    /** Socket buffer sizes when the application sets none (Linux autotunes; we size for 10 Gbit/s at 100 µs). */
    static final int DEFAULT_BUFFER = 256 * 1024;
    /** How soon the poller retries output a full ring refused: a few frame times at 10 Gbit/s. */
    private static final long OUTPUT_RETRY_NANOS = 20_000;

    private final ReentrantLock lock = new ReentrantLock();
    private final Vnic vnic;
    private final VnicQueue queue;
    private final NetworkStack stack;
    private final TcpLayer tcp;
    private final int address;
    private final int prefixLength;
    private final long spinNanos;
    private final AtomicInteger spinners = new AtomicInteger();
    private final int epoll;
    private final int wakeFd;
    private final int readinessFd;
    private final Thread poller;
    private volatile boolean closed;
    private volatile Throwable failure;
    /** TCP ports bound by a channel (listening, connected or just bound), so binds conflict as in Linux. */
    private final java.util.BitSet boundTcpPorts = new java.util.BitSet(65_536);
    private int nextEphemeral = EPHEMERAL_FIRST + (int) (ProcessHandle.current().pid() % (EPHEMERAL_LAST - EPHEMERAL_FIRST));
    private static final int EPHEMERAL_FIRST = 32_768, EPHEMERAL_LAST = 60_999;

    private UserStack(Vnic vnic, int address, int prefixLength, int gateway, long spinNanos) throws IOException {
        this.vnic = vnic;
        this.queue = vnic.queue(0);
        this.address = address;
        this.prefixLength = prefixLength;
        this.spinNanos = spinNanos;
        StackConfig config = new StackConfig(address, prefixLength, gateway, vnic.mtu(), 30_000_000_000L,
                1_000_000_000L, 3, 30_000_000_000L, 64);
        this.stack = new NetworkStack(vnic, 0, config);
        this.tcp = new TcpLayer(stack, TcpConfig.DEFAULT, System.nanoTime() ^ ProcessHandle.current().pid() << 32);
        this.readinessFd = queue.readinessFd();
        if (readinessFd < 0) {
            throw new IOException("VNIC " + vnic.name() + " (backend " + vnic.backend()
                    + ") has no readiness descriptor, so its stack cannot idle without spinning");
        }
        try {
            this.epoll = Epoll.create(Epoll.EPOLL_CLOEXEC);
            this.wakeFd = EventFd.create(0, EventFd.EFD_CLOEXEC | EventFd.EFD_NONBLOCK);
            Epoll.add(epoll, readinessFd, Epoll.EPOLLIN, 0);
            Epoll.add(epoll, wakeFd, Epoll.EPOLLIN, 1);
        } catch (LinuxException e) {
            throw new IOException("cannot set up the idle wait of the stack on VNIC " + vnic.name(), e);
        }
        lock.lock();
        try {
            stack.start(System.nanoTime());
        } finally {
            lock.unlock();
        }
        this.poller = Thread.ofPlatform().daemon().name("arrakis-poller-" + vnic.name()).unstarted(this::pollerLoop);
        poller.start();
    }

    /** Attaches a VNIC from the configured backend and starts its stack. */
    static UserStack open(ProviderConfig config) throws IOException {
        String name = "jvm" + ProcessHandle.current().pid();
        Vnic vnic = DeviceBackends.vnicBackend(config.backend())
                .open(new VnicConfig(name, 1, VnicConfig.DEFAULT_BUFFERS_PER_QUEUE, VnicConfig.DEFAULT_BUFFER_SIZE,
                        config.backendOptions()));
        try {
            if (!(vnic instanceof ShmVnic shm)) {
                throw new IOException("backend " + config.backend() + " does not tell the VNIC's address;"
                        + " only the shm backend is supported by the provider in this version");
            }
            return new UserStack(vnic, shm.address(), shm.prefixLength(), shm.gateway(), config.spinNanos());
        } catch (IOException | RuntimeException e) {
            vnic.close();
            throw e;
        }
    }

    ReentrantLock lock() {
        return lock;
    }

    /**
     * Releases {@link #lock()} after an application call; if that call left output waiting for
     * a full ring, the sleeping poller is told to retry it (nobody else would).
     */
    void unlock() {
        boolean pending = stack.outputPending();
        lock.unlock();
        if (pending) {
            wakePoller();
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

    void releasePort(int port) {
        synchronized (boundTcpPorts) {
            boundTcpPorts.clear(port);
        }
    }

    // ------------------------------------------------------------------ UDP (datagram channels)

    /** UDP ports bound by a datagram channel of this process; separate from TCP's, as in Linux. */
    private final java.util.BitSet boundUdpPorts = new java.util.BitSet(65_536);
    private int nextUdpEphemeral = EPHEMERAL_FIRST + (int) ((ProcessHandle.current().pid() * 7919) % (EPHEMERAL_LAST - EPHEMERAL_FIRST));
    /** Datagram channels told when the device takes output again (their OP_WRITE, blocked sends). Under {@link #lock()}. */
    private final java.util.ArrayList<Readiness> waitingForOutputRoom = new java.util.ArrayList<>();

    /**
     * Reserves UDP port {@code port} for a datagram channel of this process, or an ephemeral one
     * when 0 (the next free one after the last handed out, so a caller retrying is offered another);
     * throws {@code BindException} as Linux would when it is taken (or none is free).
     */
    int reserveUdpPort(int port) throws java.net.BindException {
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
            int frames = stack.poll(System.nanoTime());
            if (!waitingForOutputRoom.isEmpty() && !stack.outputPending()) {
                signalOutputRoom();
            }
            return frames;
        } catch (IOException | RuntimeException e) {
            failure = e;
            throw e;
        }
    }

    /**
     * Waits until {@code readiness} moves past {@code seen}, {@code deadline} ({@link System#nanoTime}
     * scale; {@code Long.MAX_VALUE}: none) passes, or the thread is interrupted; returns whether it
     * moved. Spins first (polling the stack when the lock is free), then parks; the caller holds
     * nothing. Virtual threads park without pinning their carrier.
     */
    boolean await(Readiness readiness, int seen, long deadline) throws IOException {
        Thread me = Thread.currentThread();
        if (spinNanos > 0) {
            spinners.incrementAndGet();
            try {
                long now = System.nanoTime();
                long spinEnd = now + spinNanos;
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
                        break;
                    }
                }
            } finally {
                if (spinners.decrementAndGet() == 0) {
                    wakePoller();
                }
            }
        }
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

    /** Ends the poller's sleep so it re-arms (the last spinner left) or looks at a new deadline. */
    void wakePoller() {
        LockSupport.unpark(poller);
        try {
            EventFd.signal(wakeFd, 1);
        } catch (LinuxException e) {
            // EAGAIN: the counter is full, so the poller wakes anyway; EBADF: we are closed.
        }
    }

    private void pollerLoop() {
        try (Arena arena = Arena.ofConfined()) {
            Epoll.Events events = Epoll.Events.allocate(arena, 2);
            while (!closed) {
                if (spinners.get() > 0) {
                    // Someone polls already; timers run in its polls. Sleep until it leaves.
                    LockSupport.parkNanos(this, 1_000_000L);
                    continue;
                }
                long deadline;
                boolean outputPending;
                lock.lock();
                try {
                    if (pollLocked() > 0) {
                        continue;
                    }
                    outputPending = stack.outputPending();
                    if (!outputPending && !queue.armReadiness()) {
                        continue;
                    }
                    deadline = stack.nextDeadline();
                } finally {
                    lock.unlock();
                }
                if (outputPending) {
                    // The peer's ring is full and its draining wakes nobody: retry shortly.
                    LockSupport.parkNanos(this, OUTPUT_RETRY_NANOS);
                    continue;
                }
                if (spinners.get() > 0) {
                    continue;
                }
                int timeout = -1;
                if (deadline != Long.MAX_VALUE) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        continue;
                    }
                    timeout = (int) Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000);
                }
                int n = Epoll.wait(epoll, events, timeout);
                for (int i = 0; i < n; i++) {
                    if (events.data(i) == 1) {
                        EventFd.drain(wakeFd);
                    }
                }
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
        wakePoller();
        try {
            poller.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        lock.lock();
        try {
            stack.close();
            vnic.close();
        } finally {
            lock.unlock();
            try {
                Unistd.close(wakeFd);
                Unistd.close(epoll);
            } catch (LinuxException e) {
                // closing our own descriptors once cannot fail in a way we could act on
            }
        }
    }

    @Override
    public String toString() {
        return "user-level stack " + Ipv4Text.format(address) + "/" + prefixLength + " on VNIC " + vnic.name();
    }
}

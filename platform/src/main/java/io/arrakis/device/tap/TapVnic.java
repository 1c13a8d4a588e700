package io.arrakis.device.tap;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TransmitFilter;
import io.arrakis.device.TransmitPolicy;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.Errno;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.Ioctl;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Sockets;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A VNIC on a Linux TAP interface: one queue pair on one {@code /dev/net/tun} descriptor.
 *
 * <h2>Data path</h2>
 * Receive is a non-blocking {@code read(2)} per frame straight into a free buffer of the queue's
 * packet memory (at {@link VnicQueue#headroom()}), transmit a {@code write(2)} per frame straight
 * from the caller's buffer. Java copies nothing; the kernel copies each frame once, between its
 * socket buffer and our memory, in each direction. That copy, and a system call per frame, are
 * what the TAP costs compared with a device that shares rings with us.
 *
 * <h2>What a TAP cannot do</h2>
 * <ul>
 * <li><b>Steer flows to queues in the kernel.</b> The kernel sends us whatever it routes out of
 *     the interface. Receive filters are applied in software, on the receive path of the queue,
 *     after the frame has been read: an IPv4 frame must match an installed {@link FlowFilter}
 *     (ARP always passes), others are dropped and counted as {@code RX_DROPPED_FILTERED}. With no
 *     filter installed everything is delivered. Steering is trivial with one queue.
 * <li><b>More than one queue</b> (yet). {@code IFF_MULTI_QUEUE} would give one descriptor per
 *     queue: open {@code /dev/net/tun} once per queue and TUNSETIFF each with the same name and
 *     {@code IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE}. But the kernel then picks the queue of each
 *     frame by flow hash, not by our filters, so flows would land on the wrong queue unless a
 *     steering program ({@code TUNSETSTEERINGEBPF}) placed them; until that exists, a VNIC asking
 *     for more than one queue is refused.
 * <li><b>Enforce isolation against the application.</b> Filters and rate limits live in this
 *     process, so they bind a correct stack, not a hostile one; real enforcement belongs outside
 *     the application (XDP program, switch, NIC).
 * <li><b>Offloads.</b> None ({@code IFF_VNET_HDR} would bring checksum offload and TSO; not used).
 * </ul>
 *
 * <p>Identity and control are thread-safe; the queue belongs to its polling thread. The kernel
 * removes a non-persistent TAP interface when its descriptor closes, so {@link #close()} removes
 * the interface, wherever (in whichever namespace) it is by then.
 */
public final class TapVnic implements Vnic, VnicControl {
    static final long TAP_TAG = 1;
    static final long WAKEUP_TAG = 2;
    private static final int ETHERNET_HEADER = 14;
    private static final int MIN_MTU = 68;
    private static final Set<String> OPTIONS = Set.of(TapVnicBackend.OPTION_INTERFACE, TapVnicBackend.OPTION_MAC,
            TapVnicBackend.OPTION_MTU, TapVnicBackend.OPTION_ADDRESS, TapVnicBackend.OPTION_GATEWAY);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final String name;
    private final String interfaceName;
    private final MacAddress mac;
    private final int mtu;
    private final Arena arena;
    private final int tapFd;
    private final int epollFd;
    private final int wakeupFd;
    private final TapQueue queue;
    private volatile FlowFilter[] receiveFilters = new FlowFilter[0];
    private final TransmitPolicy transmitPolicy;
    private volatile boolean closed;

    private TapVnic(VnicConfig config, String interfaceName, MacAddress mac, int mtu, Arena arena,
            MemorySegment memory, int tapFd, int epollFd, int wakeupFd) {
        this.name = config.name();
        this.transmitPolicy = new TransmitPolicy(name);
        this.interfaceName = interfaceName;
        this.mac = mac;
        this.mtu = mtu;
        this.arena = arena;
        this.tapFd = tapFd;
        this.epollFd = epollFd;
        this.wakeupFd = wakeupFd;
        this.queue = new TapQueue(this, 0, memory, config.bufferSize(), Epoll.Events.allocate(arena, 2));
    }

    /** Opens {@code /dev/net/tun}, creates or attaches the interface, and sets up the queue. */
    static TapVnic open(VnicConfig config) throws IOException {
        String name = config.name();
        for (String key : new TreeSet<>(config.options().keySet())) {
            if (!OPTIONS.contains(key)) {
                throw new IllegalArgumentException("tap VNIC " + name + ": unknown option '" + key + "'; known: "
                        + new TreeSet<>(OPTIONS));
            }
        }
        if (config.queues() != 1) {
            throw new IllegalArgumentException("tap VNIC " + name + ": a TAP VNIC has exactly one queue, not "
                    + config.queues() + " (IFF_MULTI_QUEUE would spread frames by the kernel's flow hash, not by"
                    + " our receive filters; see TapVnic)");
        }
        String pattern = config.option(TapVnicBackend.OPTION_INTERFACE, TapVnicBackend.DEFAULT_INTERFACE);
        MacAddress mac = parseMac(name, config.option(TapVnicBackend.OPTION_MAC, null));
        int mtu = parseMtu(name, config.option(TapVnicBackend.OPTION_MTU, null));
        int room = config.bufferSize() - TapQueue.HEADROOM;
        if (TapQueue.maxFrame(mtu) >= room) {
            // Strictly less: a read that fills the room may have been truncated, so a full-size
            // frame must leave at least a byte free to be told from it.
            throw new IllegalArgumentException("tap VNIC " + name + ": an MTU of " + mtu + " means frames of up to "
                    + TapQueue.maxFrame(mtu) + " bytes (with a VLAN tag), but a " + config.bufferSize()
                    + "-byte buffer holds " + room + " after " + TapQueue.HEADROOM + " bytes of headroom, and needs"
                    + " a byte more than the largest frame: use larger buffers");
        }
        // Validates the name (length, NUL) before anything is opened.
        try (Arena scratch = Arena.ofConfined()) {
            Ioctl.interfaceRequest(scratch, pattern);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tap VNIC " + name + ": " + e.getMessage(), e);
        }

        Arena arena = Arena.ofShared();
        List<Integer> fds = new ArrayList<>(3);
        try {
            MemorySegment memory = arena.allocate((long) config.buffersPerQueue() * config.bufferSize(), 4096);
            int tapFd;
            try {
                tapFd = Unistd.open(TapVnicBackend.TUN_DEVICE,
                        Unistd.O_RDWR | Unistd.O_NONBLOCK | Unistd.O_CLOEXEC, 0);
            } catch (LinuxException e) {
                throw new IOException("tap VNIC " + name + ": " + TapVnicBackend.openFailure(e), e);
            }
            fds.add(tapFd);
            String interfaceName = attach(name, tapFd, pattern);
            setMtu(name, interfaceName, mtu);
            int epollFd = Epoll.create(Epoll.EPOLL_CLOEXEC);
            fds.add(epollFd);
            int wakeupFd = EventFd.create(0, EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
            fds.add(wakeupFd);
            Epoll.add(epollFd, tapFd, Epoll.EPOLLIN, TAP_TAG);
            Epoll.add(epollFd, wakeupFd, Epoll.EPOLLIN, WAKEUP_TAG);
            return new TapVnic(config, interfaceName, mac, mtu, arena, memory, tapFd, epollFd, wakeupFd);
        } catch (IOException | RuntimeException | Error e) {
            for (int fd : fds) {
                try {
                    Unistd.close(fd);
                } catch (LinuxException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            arena.close();
            throw e;
        }
    }

    private static String attach(String name, int tapFd, String pattern) throws IOException {
        try {
            return Ioctl.tunSetInterface(tapFd, pattern, Ioctl.IFF_TAP | Ioctl.IFF_NO_PI);
        } catch (LinuxException e) {
            String why = switch (e.errno()) {
                case Errno.EPERM -> TapVnicBackend.NEEDS_CAPABILITY;
                case Errno.EBUSY -> "interface \"" + pattern + "\" is already attached to another descriptor";
                case Errno.EINVAL -> "interface \"" + pattern + "\" exists and is not a TAP interface (or the name"
                        + " is invalid)";
                default -> "cannot create TAP interface \"" + pattern + "\"";
            };
            throw new IOException("tap VNIC " + name + ": " + why + ": " + e.getMessage(), e);
        }
    }

    private static void setMtu(String name, String interfaceName, int mtu) throws IOException {
        if (Ioctl.interfaceMtu(interfaceName) == mtu) {
            return;
        }
        int socket = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, 0);
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment ifreq = Ioctl.interfaceRequest(scratch, interfaceName);
            ifreq.set(ValueLayout.JAVA_INT, Ioctl.IFR_UNION, mtu);
            Ioctl.ioctl(socket, Ioctl.SIOCSIFMTU, ifreq);
        } catch (LinuxException e) {
            throw new IOException("tap VNIC " + name + ": cannot set the MTU of " + interfaceName + " to " + mtu
                    + ": " + e.getMessage(), e);
        } finally {
            Unistd.close(socket);
        }
    }

    private static MacAddress parseMac(String name, String text) {
        if (text == null) {
            return MacAddress.locallyAdministered(RANDOM.nextLong());
        }
        MacAddress mac;
        try {
            mac = MacAddress.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tap VNIC " + name + ": option mac: " + e.getMessage(), e);
        }
        if (mac.isMulticast() || mac.bits() == 0) {
            throw new IllegalArgumentException("tap VNIC " + name + ": option mac must be a unicast address, not "
                    + mac);
        }
        return mac;
    }

    private static int parseMtu(String name, String text) {
        if (text == null) {
            return TapVnicBackend.DEFAULT_MTU;
        }
        int mtu;
        try {
            mtu = Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("tap VNIC " + name + ": option mtu is not a number: " + text, e);
        }
        if (mtu < MIN_MTU || mtu > 65535 - ETHERNET_HEADER) {
            throw new IllegalArgumentException("tap VNIC " + name + ": option mtu out of range " + MIN_MTU + ".."
                    + (65535 - ETHERNET_HEADER) + ": " + mtu);
        }
        return mtu;
    }

    @Override
    public String name() {
        return name;
    }

    /**
     * The kernel's name of the TAP interface ({@code "arrakis0"}), for {@code ip link} and for
     * moving it into a namespace ({@code ip link set arrakis0 netns ns1}: the descriptor keeps
     * working wherever the interface goes).
     */
    public String interfaceName() {
        return interfaceName;
    }

    @Override
    public String backend() {
        return TapVnicBackend.NAME;
    }

    /** Our MAC, the one the user-level stack sends from; not the kernel's MAC of the interface. */
    @Override
    public MacAddress mac() {
        return mac;
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
        return 1;
    }

    @Override
    public VnicQueue queue(int index) {
        if (index != 0) {
            throw new IndexOutOfBoundsException("VNIC " + name + " has 1 queue; no queue " + index);
        }
        return queue;
    }

    @Override
    public VnicControl control() {
        return this;
    }

    /**
     * Delivers IPv4 frames matching {@code filter}; once any filter is installed, IPv4 and other
     * non-ARP frames that match none are dropped (in software, see the class comment).
     */
    @Override
    public synchronized void addReceiveFilter(FlowFilter filter, int queueIndex) {
        if (filter == null) {
            throw new IllegalArgumentException("VNIC " + name + ": receive filter must not be null");
        }
        if (queueIndex != 0) {
            throw new IllegalArgumentException("VNIC " + name + " (tap) has only queue 0; cannot steer " + filter
                    + " to queue " + queueIndex);
        }
        FlowFilter[] current = receiveFilters;
        for (FlowFilter existing : current) {
            if (existing.equals(filter)) {
                return;
            }
        }
        FlowFilter[] next = Arrays.copyOf(current, current.length + 1);
        next[current.length] = filter;
        receiveFilters = next;
    }

    @Override
    public synchronized boolean removeReceiveFilter(FlowFilter filter) {
        FlowFilter[] current = receiveFilters;
        for (int i = 0; i < current.length; i++) {
            if (current[i].equals(filter)) {
                FlowFilter[] next = new FlowFilter[current.length - 1];
                System.arraycopy(current, 0, next, 0, i);
                System.arraycopy(current, i + 1, next, i, current.length - i - 1);
                receiveFilters = next;
                return true;
            }
        }
        return false;
    }

    @Override
    public List<FlowFilter> receiveFilters() {
        return List.of(receiveFilters);
    }

    /** The installed filters, for the receive path: read once per batch, never modified. */
    FlowFilter[] receiveFilterArray() {
        return receiveFilters;
    }

    @Override
    public void setTransmitFilter(TransmitFilter filter) {
        transmitPolicy.setTransmitFilter(filter);
    }

    @Override
    public TransmitFilter transmitFilter() {
        return transmitPolicy.transmitFilter();
    }

    @Override
    public void setRateLimit(RateLimit limit) {
        transmitPolicy.setRateLimit(limit);
    }

    @Override
    public RateLimit rateLimit() {
        return transmitPolicy.rateLimit();
    }

    int tapFd() {
        return tapFd;
    }

    int epollFd() {
        return epollFd;
    }

    int wakeupFd() {
        return wakeupFd;
    }

    /**
     * Signals the wakeup eventfd; a no-op once closed. Synchronized with {@link #close()}, so a
     * late wakeup from another thread never writes to a descriptor number the process reused.
     */
    synchronized void signalWakeup() throws IOException {
        if (closed) {
            return;
        }
        try {
            EventFd.signal(wakeupFd, 1);
        } catch (LinuxException e) {
            throw new IOException("tap VNIC " + name + ": wakeup: " + e.getMessage(), e);
        }
    }

    /**
     * Closes the descriptors (the kernel then removes the interface unless it is persistent) and
     * frees the packet memory. Idempotent. Call it after the polling thread has stopped using the
     * queue: its buffers are gone afterwards.
     */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        IOException failure = null;
        for (int fd : new int[] {tapFd, wakeupFd, epollFd}) {
            try {
                Unistd.close(fd);
            } catch (LinuxException e) {
                if (failure == null) {
                    failure = new IOException("tap VNIC " + name + ": closing its descriptors", e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        arena.close();
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "tap VNIC " + name + " on " + interfaceName + " (mac " + mac + ", mtu " + mtu + ")";
    }
}

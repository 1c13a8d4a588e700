package io.arrakis.device.xdp;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
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
import io.arrakis.linux.EventFd;
import io.arrakis.linux.Ioctl;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Setns;
import io.arrakis.linux.Xsk;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A VNIC on queues of a real Linux interface through AF_XDP: one socket per queue pair, bound to
 * consecutive hardware queues from {@value AfXdpVnicBackend#OPTION_FIRST_QUEUE}, each with its own
 * UMEM (the queue's packet memory) and four mapped rings (see {@link AfXdpQueue}). The kernel
 * keeps the interface: frames reach us only when the XDP program (see {@link XdpFilterProgram})
 * redirects them, so every flow nobody claimed, and the kernel's own address, stay with the
 * kernel's stack.
 *
 * <p>Filters: with {@code filters=own} (the default) this VNIC attaches the program itself
 * ({@link XdpFilters}) and {@link #control()} edits its flow map: the process is its own
 * control plane, trusted like the TAP's. With {@code filters=external} the program belongs to a
 * control plane (e.g. {@code io.arrakis.control.xdp.XdpFilterOwner}) that got our sockets
 * ({@link #socketFd}) and installs the filters: unless {@code control-socket=none}, this VNIC
 * asks the control plane to admit its sockets ({@link XdpAdmission}) and {@link #control()}
 * forwards filter requests to it; with {@code control-socket=none} it refuses them.
 *
 * <p>Identity and control are thread-safe; each queue belongs to its polling thread.
 */
public final class AfXdpVnic implements Vnic, VnicControl {
    private final String name;
    private final String interfaceName;
    private final String namespace;
    private final MacAddress mac;
    private final int mtu;
    private final Arena arena;
    private final List<AfXdpSocket> sockets;
    private final AfXdpQueue[] queues;
    private final XdpFilters filters;
    private final XdpFilters.Mode xdpMode;
    /** The control plane's admission of our sockets ({@code filters=external}); null otherwise or until admitted. */
    private volatile XdpAdmission.Session admission;
    private final int address;
    /** Whether the address is dedicated to us (claim=address); else shared with the kernel, claimed port by port. */
    private volatile boolean claimsAddress;
    private final int prefixLength;
    private final int gateway;
    private final TransmitPolicy transmitPolicy;
    private volatile boolean closed;

    private AfXdpVnic(VnicConfig config, String interfaceName, String namespace, MacAddress mac, int mtu,
            Arena arena, List<AfXdpSocket> sockets, XdpFilters filters, XdpFilters.Mode xdpMode, int[] address)
            throws IOException {
        this.name = config.name();
        this.transmitPolicy = new TransmitPolicy(name);
        this.xdpMode = xdpMode;
        this.address = address[0];
        this.prefixLength = address[1];
        this.gateway = address[2];
        this.interfaceName = interfaceName;
        this.namespace = namespace;
        this.mac = mac;
        this.mtu = mtu;
        this.arena = arena;
        this.sockets = sockets;
        this.filters = filters;
        this.queues = new AfXdpQueue[sockets.size()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new AfXdpQueue(this, i, sockets.get(i), Epoll.Events.allocate(arena, 2),
                    arena.allocate(Xsk.STATISTICS_BYTES, 8));
            if (filters != null) {
                filters.setSocket(sockets.get(i).hardwareQueue(), sockets.get(i).fd());
            }
        }
    }

    static AfXdpVnic open(VnicConfig config) throws IOException {
        String name = config.name();
        for (String key : new TreeSet<>(config.options().keySet())) {
            if (!AfXdpVnicBackend.OPTIONS.contains(key)) {
                throw new IllegalArgumentException("af_xdp VNIC " + name + ": unknown option '" + key + "'; known: "
                        + new TreeSet<>(AfXdpVnicBackend.OPTIONS));
            }
        }
        String interfaceName = config.option(AfXdpVnicBackend.OPTION_INTERFACE, null);
        if (interfaceName == null || interfaceName.isBlank()) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": option interface is required (the NIC"
                    + " whose queues to use, e.g. interface=eth0)");
        }
        String namespace = config.option(AfXdpVnicBackend.OPTION_NETNS, null);
        AfXdpSocket.CopyMode copyMode = AfXdpSocket.CopyMode.parse(config.option(AfXdpVnicBackend.OPTION_MODE, "auto"));
        XdpFilters.Mode xdpMode = XdpFilters.Mode.parse(config.option(AfXdpVnicBackend.OPTION_XDP_MODE, "skb"));
        String filterOwner = config.option(AfXdpVnicBackend.OPTION_FILTERS, "own");
        if (!filterOwner.equals("own") && !filterOwner.equals("external")) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": option filters must be own or external, not '"
                    + filterOwner + "'");
        }
        int firstQueue = parseInt(name, AfXdpVnicBackend.OPTION_FIRST_QUEUE,
                config.option(AfXdpVnicBackend.OPTION_FIRST_QUEUE, "0"), 0, 1 << 16);
        Duration busyWindow = Duration.ofMillis(parseInt(name, AfXdpVnicBackend.OPTION_BUSY_WINDOW_MS,
                config.option(AfXdpVnicBackend.OPTION_BUSY_WINDOW_MS, "3000"), 0, 600_000));
        int[] address = parseAddress(name, config.option(AfXdpVnicBackend.OPTION_ADDRESS, null),
                config.option(AfXdpVnicBackend.OPTION_GATEWAY, null));
        String controlSocket = config.option(AfXdpVnicBackend.OPTION_CONTROL_SOCKET, null);
        boolean admitted = filterOwner.equals("external") && !"none".equals(controlSocket);
        if (controlSocket != null && !filterOwner.equals("external")) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": option control-socket needs"
                    + " filters=external (with filters=own this VNIC holds its program itself)");
        }
        String claim = config.option(AfXdpVnicBackend.OPTION_CLAIM,
                address[0] != 0 && (filterOwner.equals("own") || admitted) ? "address" : "none");
        if (!claim.equals("address") && !claim.equals("none")) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": option claim must be address or none, not '"
                    + claim + "'");
        }
        if (claim.equals("address") && (address[0] == 0 || !(filterOwner.equals("own") || admitted))) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": claim=address needs option address, and"
                    + " filters=own or a control plane (filters=external without control-socket=none)");
        }
        XdpAdmission admitter = admitted ? admissionService(name) : null;
        int ringSize = ringSize(config.buffersPerQueue());
        if (config.bufferSize() < 2048 || config.bufferSize() > 4096) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": buffer size must be 2048 or 4096 (a UMEM"
                    + " chunk holds a whole frame after " + AfXdpQueue.HEADROOM + " bytes of headroom, and at most a"
                    + " page), not " + config.bufferSize());
        }

        Arena arena = Arena.ofShared();
        List<AfXdpSocket> sockets = new ArrayList<>();
        XdpFilters filters = null;
        boolean ownedByVnic = false;
        try {
            long bytes = (long) config.buffersPerQueue() * config.bufferSize();
            List<MemorySegment> memories = new ArrayList<>();
            for (int q = 0; q < config.queues(); q++) {
                memories.add(arena.allocate(bytes, 4096));
            }
            record Link(int ifindex, int mtu, byte[] mac) {}
            Link link = Setns.callIn(namespace, () -> {
                try {
                    return new Link(Ioctl.interfaceIndex(interfaceName), Ioctl.interfaceMtu(interfaceName),
                            Ioctl.interfaceHardwareAddress(interfaceName));
                } catch (LinuxException e) {
                    throw new IOException("af_xdp VNIC " + name + ": no interface " + interfaceName
                            + (namespace == null ? "" : " in network namespace " + namespace) + ": " + e.getMessage(), e);
                }
            });
            if (link.mtu() + 18 > config.bufferSize() - AfXdpQueue.HEADROOM) {
                throw new IllegalArgumentException("af_xdp VNIC " + name + ": " + interfaceName + " has an MTU of "
                        + link.mtu() + ", too large for " + config.bufferSize() + "-byte buffers with "
                        + AfXdpQueue.HEADROOM + " bytes of headroom: use 4096-byte buffers or lower the MTU");
            }
            if (filterOwner.equals("own")) {
                filters = XdpFilters.attach(namespace, interfaceName, xdpMode, firstQueue + config.queues(),
                        XdpFilters.DEFAULT_MAX_FLOWS);
            }
            for (int q = 0; q < config.queues(); q++) {
                int hardwareQueue = firstQueue + q;
                MemorySegment memory = memories.get(q);
                String what = "af_xdp VNIC " + name + " queue " + q + " (" + interfaceName + " queue " + hardwareQueue
                        + ")";
                sockets.add(Setns.callIn(namespace, () -> AfXdpSocket.open(what, link.ifindex(), hardwareQueue, memory,
                        config.bufferSize(), ringSize, copyMode, busyWindow)));
            }
            AfXdpVnic vnic = new AfXdpVnic(config, interfaceName, namespace, macOf(link.mac()), link.mtu(), arena,
                    sockets, filters, xdpMode, address);
            ownedByVnic = true; // from here on, closing the VNIC frees sockets, filters and memory
            try {
                if (admitter != null) {
                    vnic.admission = admitter.admit(vnic, config);
                }
                if (claim.equals("address")) {
                    vnic.claimsAddress = true;
                    // A dedicated address: ARP for it and all its TCP and UDP, to queue 0.
                    vnic.addReceiveFilter(new FlowFilter(FlowFilter.Protocol.ARP, address[0], 0, 0, 0), 0);
                    vnic.addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, address[0], 0, 0, 0), 0);
                    vnic.addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, address[0], 0, 0, 0), 0);
                }
            } catch (IOException | RuntimeException e) {
                try {
                    vnic.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
            return vnic;
        } catch (IOException | RuntimeException | Error e) {
            if (ownedByVnic) {
                throw e;
            }
            for (AfXdpSocket socket : sockets) {
                try {
                    socket.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            if (filters != null) {
                try {
                    filters.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            arena.close();
            throw e;
        }
    }

    /** The control plane's client ({@link XdpAdmission}), which the control module provides. */
    private static XdpAdmission admissionService(String name) {
        return java.util.ServiceLoader.load(XdpAdmission.class, AfXdpVnic.class.getClassLoader()).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("af_xdp VNIC " + name + ": filters=external asks a"
                        + " control plane for its filters, but no control-plane client (the arrakis control module)"
                        + " is on the class path: add it, or use filters=own, or control-socket=none when something"
                        + " else admits the sockets"));
    }

    /** {address, prefix length, gateway} from {@code 198.18.0.3/24} and an optional gateway; zeros when absent. */
    private static int[] parseAddress(String name, String cidr, String gateway) {
        if (cidr == null) {
            if (gateway != null) {
                throw new IllegalArgumentException("af_xdp VNIC " + name + ": option gateway needs option address");
            }
            return new int[3];
        }
        String[] parts = cidr.strip().split("/", -1);
        try {
            int prefix = parts.length == 2 ? Integer.parseInt(parts[1]) : -1;
            if (prefix < 1 || prefix > 32) {
                throw new IllegalArgumentException("want an address with a prefix length 1..32");
            }
            return new int[] {Ipv4Text.parse(parts[0]), prefix, gateway == null ? 0 : Ipv4Text.parse(gateway.strip())};
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": option address must look like 198.18.0.3/24"
                    + " (gateway like 198.18.0.1): " + cidr + (gateway == null ? "" : ", gateway " + gateway) + ": "
                    + e.getMessage(), e);
        }
    }

    private static MacAddress macOf(byte[] bytes) {
        long bits = 0;
        for (int i = 0; i < 6; i++) {
            bits = bits << 8 | (bytes[i] & 0xFF);
        }
        return new MacAddress(bits);
    }

    /** Ring entries: half the buffers go to the fill ring at most, a power of two, 64..4096. */
    static int ringSize(int buffers) {
        int half = Math.max(64, buffers / 2);
        return Math.min(4096, Integer.highestOneBit(half));
    }

    private static int parseInt(String name, String option, String text, int min, int max) {
        int value;
        try {
            value = Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": option " + option + " is not a number: "
                    + text, e);
        }
        if (value < min || value > max) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": option " + option + " out of range " + min
                    + ".." + max + ": " + value);
        }
        return value;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return AfXdpVnicBackend.NAME;
    }

    public String interfaceName() {
        return interfaceName;
    }

    /** The network namespace of the interface as configured, or null for this process's. */
    public String namespace() {
        return namespace;
    }

    /** The stack's IPv4 address from option address (host order), or 0 when not configured. */
    public int address() {
        return address;
    }

    public int prefixLength() {
        return prefixLength;
    }

    /** The default gateway from option gateway, or 0. */
    public int gateway() {
        return gateway;
    }

    /** Whether every queue runs zero-copy (the driver supports it); false means copy mode. */
    public boolean zeroCopy() {
        for (AfXdpQueue queue : queues) {
            if (!queue.zeroCopy()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether this VNIC's address is dedicated ({@code claim=address}: ARP and every port of it
     * come here) rather than shared with the kernel's address on the interface ({@code
     * claim=none}), where each port the process serves needs its own receive filter and ARP
     * stays with the kernel.
     */
    public boolean claimsAddress() {
        return claimsAddress;
    }

    /** How the program is (or is to be) attached; with {@code filters=external}, what the control plane is asked for. */
    public XdpFilters.Mode xdpMode() {
        return xdpMode;
    }

    /** The XDP program and maps this VNIC owns; null with {@code filters=external}. */
    public XdpFilters filters() {
        return filters;
    }

    /** The AF_XDP socket of queue {@code index}, for a control plane to put in its XSKMAP. */
    public int socketFd(int index) {
        return queues[index].socketFd();
    }

    /** How many binds queue {@code index} took: more than 1 when the queue was busy (EBUSY) and retried. */
    public int bindAttempts(int index) {
        return sockets.get(index).bindAttempts();
    }

    /** The interface's queue that queue {@code index} is bound to. */
    public int hardwareQueue(int index) {
        return queues[index].hardwareQueue();
    }

    /** The interface's MAC: the user-level stack sends from it, as the kernel does. */
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
        return queues.length;
    }

    @Override
    public AfXdpQueue queue(int index) {
        if (index < 0 || index >= queues.length) {
            throw new IndexOutOfBoundsException("VNIC " + name + " has " + queues.length + " queues; no queue " + index);
        }
        return queues[index];
    }

    @Override
    public VnicControl control() {
        return this;
    }

    /**
     * Puts {@code filter} in the XDP program's flow map, naming queue {@code queueIndex}. XDP
     * cannot move a frame to another queue's socket, and on a veth or a NIC without steering rules
     * a flow arrives on the queue the sender or RSS picked: with {@code filters=own} (the XSKMAP
     * holds only this VNIC's sockets) a frame of the flow that arrives on another of our queues
     * goes to that queue's socket, never to the kernel, and whoever drives that queue hands it on
     * (the provider's stacks do). With a control plane's program (shared by several processes)
     * only frames arriving on the queue named are ours. A filter naming a connection (remote
     * address or port) is refused: the flow map is keyed by the local side, which the listener's
     * or the address's filter already covers, and steering one connection to a queue would take
     * the NIC's ntuple rules, which this backend does not install.
     */
    @Override
    public void addReceiveFilter(FlowFilter filter, int queueIndex) throws IOException {
        if (filter == null) {
            throw new IllegalArgumentException("VNIC " + name + ": receive filter must not be null");
        }
        int hardwareQueue = queue(queueIndex).hardwareQueue();
        if (filter.remoteAddress() != 0 || filter.remotePort() != 0) {
            throw new IllegalArgumentException("af_xdp VNIC " + name + ": cannot steer " + filter + " to queue "
                    + queueIndex + ": XDP redirects a frame only to the socket of the queue it arrived on, and"
                    + " steering one connection to a queue needs the NIC's ntuple rules, which this backend does not"
                    + " install; the flow keeps arriving under its local port's or address's filter");
        }
        XdpAdmission.Session session = admission;
        if (session != null) {
            session.addFlow(filter, hardwareQueue);
            return;
        }
        requireOwnFilters();
        filters.addFlow(filter, hardwareQueue, true);
    }

    @Override
    public boolean removeReceiveFilter(FlowFilter filter) throws IOException {
        XdpAdmission.Session session = admission;
        if (session != null) {
            return session.removeFlow(filter);
        }
        requireOwnFilters();
        return filters.removeFlow(filter);
    }

    @Override
    public List<FlowFilter> receiveFilters() {
        XdpAdmission.Session session = admission;
        if (session != null) {
            return session.flows();
        }
        return filters == null ? List.of() : List.copyOf(filters.flows().keySet());
    }

    private void requireOwnFilters() {
        if (filters == null) {
            throw new UnsupportedOperationException("af_xdp VNIC " + name + " was opened with filters=external and"
                    + " control-socket=none: its receive filters belong to whoever owns the XDP program on "
                    + interfaceName);
        }
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

    /** Signals queue {@code queue}'s wakeup eventfd; a no-op once closed (never writes a reused descriptor). */
    synchronized void signalWakeup(AfXdpQueue queue) throws IOException {
        if (closed) {
            return;
        }
        try {
            EventFd.signal(queue.wakeupFd(), 1);
        } catch (LinuxException e) {
            throw new IOException("af_xdp VNIC " + name + ": wakeup: " + e.getMessage(), e);
        }
    }

    /**
     * Detaches the program (if ours), closes the sockets (the kernel releases the queues; a new
     * socket on the same queue may see EBUSY for a moment) and frees the packet memory.
     * Idempotent; call it after the polling threads stopped.
     */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        IOException failure = null;
        XdpAdmission.Session session = admission;
        if (session != null) {
            try {
                session.close();
            } catch (IOException e) {
                failure = e;
            }
        }
        if (filters != null) {
            try {
                filters.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        for (AfXdpSocket socket : sockets) {
            try {
                socket.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
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
        return "af_xdp VNIC " + name + " on " + interfaceName + " (" + queues.length + " queues, "
                + (zeroCopy() ? "zero-copy" : "copy") + (filters == null ? (admission != null ? ", filters by the control plane" : ", external filters") : ", XDP "
                + filters.mode()) + ")";
    }
}

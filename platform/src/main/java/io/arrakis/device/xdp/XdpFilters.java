package io.arrakis.device.xdp;

import io.arrakis.device.FlowFilter;
import io.arrakis.linux.Bpf;
import io.arrakis.linux.Errno;
import io.arrakis.linux.Ioctl;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Setns;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The receive filters of one interface as the kernel enforces them: the flow map and the XSKMAP,
 * the {@link XdpFilterProgram} that reads them, and the {@code bpf_link} that attaches it to the
 * interface (so the program goes when this closes, or when the process holding it dies). Whoever
 * holds this is the interface's control plane: a standalone {@link AfXdpVnic}, or the control
 * plane's {@code XdpFilterOwner} serving several processes.
 *
 * <p>Thread-safe: every method is synchronized; the program reads the maps concurrently, and a
 * map update is atomic per entry.
 */
public final class XdpFilters implements AutoCloseable {
    /** How the program is attached: in the generic (skb) path, or in the driver (native). */
    public enum Mode {
        /** Generic XDP: any interface, after the kernel has built an skb (AF_XDP in copy mode). */
        SKB(Bpf.XDP_FLAGS_SKB_MODE),
        /** In the driver, before an skb exists; needs driver support (veth, mlx5, i40e, ice, ...). */
        NATIVE(Bpf.XDP_FLAGS_DRV_MODE);

        final int flags;

        Mode(int flags) {
            this.flags = flags;
        }

        public static Mode parse(String text) {
            return switch (text) {
                case "skb", "generic" -> SKB;
                case "native", "drv", "driver" -> NATIVE;
                default -> throw new IllegalArgumentException("XDP mode must be skb or native, not '" + text + "'");
            };
        }
    }

    public static final int DEFAULT_MAX_FLOWS = 4096;

    private final String interfaceName;
    private final int ifindex;
    private final Mode mode;
    private final int maxQueues;
    private final int maxFlows;
    private final int flowMap;
    private final int xskMap;
    private final int program;
    private final int link;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment key = arena.allocate(XdpFilterProgram.KEY_SIZE, 8);
    private final MemorySegment value = arena.allocate(8, 8);
    private final Map<FlowFilter, Integer> flows = new LinkedHashMap<>();
    private boolean closed;

    private XdpFilters(String interfaceName, int ifindex, Mode mode, int maxQueues, int maxFlows, int flowMap,
            int xskMap, int program, int link) {
        this.interfaceName = interfaceName;
        this.ifindex = ifindex;
        this.mode = mode;
        this.maxQueues = maxQueues;
        this.maxFlows = maxFlows;
        this.flowMap = flowMap;
        this.xskMap = xskMap;
        this.program = program;
        this.link = link;
    }

    /**
     * Creates the maps, loads the program and attaches it to {@code interfaceName} in network
     * namespace {@code namespace} (null: this process's) in {@code mode}.
     *
     * @throws IOException naming the interface: absent, already carrying an XDP program (EBUSY),
     *     native mode unsupported by its driver (EOPNOTSUPP), or the verifier's refusal
     */
    public static XdpFilters attach(String namespace, String interfaceName, Mode mode, int maxQueues, int maxFlows)
            throws IOException {
        List<Integer> fds = new ArrayList<>();
        try {
            int flowMap = Bpf.mapCreate(Bpf.BPF_MAP_TYPE_HASH, XdpFilterProgram.KEY_SIZE, XdpFilterProgram.VALUE_SIZE,
                    maxFlows, 0, "arrakis_flows");
            fds.add(flowMap);
            int xskMap = Bpf.mapCreate(Bpf.BPF_MAP_TYPE_XSKMAP, 4, 4, maxQueues, 0, "arrakis_xsks");
            fds.add(xskMap);
            int program = XdpFilterProgram.load(flowMap, xskMap);
            fds.add(program);
            int[] attached = Setns.callIn(namespace, () -> {
                int ifindex;
                try {
                    ifindex = Ioctl.interfaceIndex(interfaceName);
                } catch (LinuxException e) {
                    throw new IOException("XDP filters: no interface " + interfaceName + where(namespace) + ": "
                            + e.getMessage(), e);
                }
                try {
                    return new int[] {ifindex, Bpf.linkCreate(program, ifindex, Bpf.BPF_XDP, mode.flags)};
                } catch (LinuxException e) {
                    String why = switch (e.errno()) {
                        case Errno.EBUSY, Errno.EEXIST -> "it already has an XDP program (detach it, e.g. ip link set dev "
                                + interfaceName + " xdp off, or stop the other control plane)";
                        case Errno.EOPNOTSUPP, Errno.EINVAL -> "its driver does not support " + mode
                                + " XDP (use mode skb)";
                        default -> "attach failed";
                    };
                    throw new IOException("XDP filters: cannot attach to " + interfaceName + where(namespace) + " in "
                            + mode + " mode: " + why + ": " + e.getMessage(), e);
                }
            });
            fds.add(attached[1]);
            return new XdpFilters(interfaceName, attached[0], mode, maxQueues, maxFlows, flowMap, xskMap, program,
                    attached[1]);
        } catch (IOException | RuntimeException | Error e) {
            for (int fd : fds) {
                try {
                    Unistd.close(fd);
                } catch (LinuxException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static String where(String namespace) {
        return namespace == null || namespace.isEmpty() ? "" : " (network namespace " + namespace + ")";
    }

    public String interfaceName() {
        return interfaceName;
    }

    public int interfaceIndex() {
        return ifindex;
    }

    public Mode mode() {
        return mode;
    }

    public int maxQueues() {
        return maxQueues;
    }

    /** Puts the AF_XDP socket {@code xskFd} (bound to queue {@code queue}) in the XSKMAP slot of that queue. */
    public synchronized void setSocket(int queue, int xskFd) throws IOException {
        checkQueue(queue);
        key.set(ValueLayout.JAVA_INT, 0, queue);
        value.set(ValueLayout.JAVA_INT, 0, xskFd);
        try {
            Bpf.mapUpdate(xskMap, key, value, Bpf.BPF_ANY);
        } catch (LinuxException e) {
            throw new IOException("XDP filters on " + interfaceName + ": cannot put socket fd " + xskFd
                    + " in XSKMAP slot " + queue + " (the socket must be bound to that queue): " + e.getMessage(), e);
        }
    }

    /** Empties the XSKMAP slot of {@code queue}; frames for it then pass to the kernel. */
    public synchronized boolean clearSocket(int queue) throws IOException {
        checkQueue(queue);
        key.set(ValueLayout.JAVA_INT, 0, queue);
        return Bpf.mapDelete(xskMap, key);
    }

    /**
     * Sends frames matching {@code filter} to the socket of {@code queue} when they arrive on
     * that queue (others pass to the kernel); a filter already in the map for another queue is
     * refused (one owner per flow).
     */
    public void addFlow(FlowFilter filter, int queue) throws IOException {
        addFlow(filter, queue, false);
    }

    /**
     * As {@link #addFlow(FlowFilter, int)}; with {@code orArrivalQueue}, frames of the flow that
     * arrive on another queue go to that queue's socket (when its XSKMAP slot holds one) instead
     * of the kernel: for an owner whose XSKMAP holds only its own sockets, since XDP cannot move
     * a frame to another queue (see {@link XdpFilterProgram}).
     */
    public synchronized void addFlow(FlowFilter filter, int queue, boolean orArrivalQueue) throws IOException {
        checkOpen();
        checkQueue(queue);
        XdpFilterProgram.writeKey(filter, key);
        Integer existing = flows.get(filter);
        if (existing != null) {
            if (existing == queue) {
                return;
            }
            throw new IllegalArgumentException("XDP filters on " + interfaceName + ": " + filter
                    + " already goes to queue " + existing + "; remove it first");
        }
        value.set(ValueLayout.JAVA_INT, 0, queue | (orArrivalQueue ? XdpFilterProgram.VALUE_ANY_QUEUE : 0));
        try {
            Bpf.mapUpdate(flowMap, key, value, Bpf.BPF_NOEXIST);
        } catch (LinuxException e) {
            throw new IOException("XDP filters on " + interfaceName + ": cannot add " + filter + " (flow map of "
                    + "at most " + maxFlows + " entries full?): " + e.getMessage(), e);
        }
        flows.put(filter, queue);
    }

    /** Removes {@code filter}; true when it was installed. */
    public synchronized boolean removeFlow(FlowFilter filter) throws IOException {
        checkOpen();
        if (flows.remove(filter) == null) {
            return false;
        }
        XdpFilterProgram.writeKey(filter, key);
        Bpf.mapDelete(flowMap, key);
        return true;
    }

    /** The installed filters and their queues, in the order added. */
    public synchronized Map<FlowFilter, Integer> flows() {
        return Map.copyOf(flows);
    }

    /**
     * Looks {@code filter}'s key up in the kernel's flow map (not in this object's bookkeeping):
     * the queue it goes to, or -1. For tests and tools.
     */
    public synchronized int queueInKernel(FlowFilter filter) throws IOException {
        checkOpen();
        XdpFilterProgram.writeKey(filter, key);
        return Bpf.mapLookup(flowMap, key, value)
                ? value.get(ValueLayout.JAVA_INT, 0) & XdpFilterProgram.VALUE_QUEUE_MASK : -1;
    }

    private void checkQueue(int queue) {
        if (queue < 0 || queue >= maxQueues) {
            throw new IllegalArgumentException("XDP filters on " + interfaceName + ": queue " + queue
                    + " out of range 0.." + (maxQueues - 1));
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("XDP filters on " + interfaceName + " are closed");
        }
    }

    /** Detaches the program (closing the link) and frees the maps. Idempotent. */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        IOException failure = null;
        for (int fd : new int[] {link, program, xskMap, flowMap}) {
            try {
                Unistd.close(fd);
            } catch (LinuxException e) {
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
}

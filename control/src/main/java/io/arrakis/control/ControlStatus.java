package io.arrakis.control;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.MacAddress;
import io.arrakis.device.RateLimit;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a control plane reports when asked ({@link ControlClient#status()}): its VNICs, their
 * owners, addresses, rate limits, counters (per VNIC and per queue), receive filters and
 * announced listeners, and the channels between their queues. Immutable.
 *
 * @param pid the control plane's process
 * @param socket the path it listens on
 * @param subnet the subnet it assigns addresses from, as {@code a.b.c.d/n}
 * @param attaches VNICs created since start
 * @param detaches VNICs reclaimed since start (closed sockets: exits and kills alike)
 * @param xdp the interfaces where the control plane holds an XDP filter program, with the
 *     processes admitted to their queues and their flows
 * @param vsas the virtual storage areas it allocated ({@link VsaRegistry}), held or free
 */
public record ControlStatus(int pid, String socket, String subnet, long attaches, long detaches,
        List<VnicStatus> vnics, List<ChannelStatus> channels, List<XdpAttachment> xdp, List<VsaStatus> vsas) {

    public ControlStatus {
        vnics = List.copyOf(vnics);
        channels = List.copyOf(channels);
        xdp = List.copyOf(xdp);
        vsas = List.copyOf(vsas);
    }

    /** A status without VSAs. */
    public ControlStatus(int pid, String socket, String subnet, long attaches, long detaches, List<VnicStatus> vnics,
            List<ChannelStatus> channels, List<XdpAttachment> xdp) {
        this(pid, socket, subnet, attaches, detaches, vnics, channels, xdp, List.of());
    }

    /**
     * A VSA the control plane allocated.
     *
     * @param kind {@link VsaRegistry#KIND_FILE} (the file and io_uring backends) or {@link VsaRegistry#KIND_NVME}
     * @param uid the user it belongs to
     * @param bytes its size
     * @param firstLba its first LBA on the control plane's NVMe namespace (nvme), else 0
     * @param lbaCount how many LBAs (nvme), else 0
     * @param pid the process holding it, 0 when free (never attached since start, or its holder closed or died)
     */
    public record VsaStatus(String name, String kind, int uid, long bytes, long firstLba, long lbaCount, int pid) {
        public boolean free() {
            return pid == 0;
        }

        /** Where it is, for people: the size, and an NVMe range's LBAs. */
        public String extent() {
            return bytes + " bytes" + (VsaRegistry.KIND_NVME.equals(kind) ? ", LBAs " + firstLba + ".."
                    + (firstLba + lbaCount - 1) : "");
        }
    }

    /** The VSA {@code name} of {@code kind}, or null. */
    public VsaStatus vsa(String kind, String name) {
        return vsas.stream().filter(v -> v.kind().equals(kind) && v.name().equals(name)).findFirst().orElse(null);
    }

    /** A status without XDP attachments. */
    public ControlStatus(int pid, String socket, String subnet, long attaches, long detaches, List<VnicStatus> vnics,
            List<ChannelStatus> channels) {
        this(pid, socket, subnet, attaches, detaches, vnics, channels, List.of());
    }

    /**
     * An interface whose XDP program the control plane holds.
     *
     * @param namespace its network namespace, "" for the control plane's own
     * @param mode how the program is attached ({@code SKB} or {@code NATIVE})
     */
    public record XdpAttachment(String namespace, String interfaceName, String mode, List<XdpTenant> tenants) {
        public XdpAttachment {
            tenants = List.copyOf(tenants);
        }

        /** The tenant with process id {@code pid}, or null. */
        public XdpTenant tenant(long pid) {
            return tenants.stream().filter(t -> t.pid() == pid).findFirst().orElse(null);
        }
    }

    /** A process admitted to hardware queue {@code queue} with {@code address}, and its flows in the order added. */
    public record XdpTenant(int pid, int queue, int address, List<FlowFilter> flows) {
        public XdpTenant {
            flows = List.copyOf(flows);
        }
    }

    /** The XDP attachment of {@code interfaceName} (any namespace), or null. */
    public XdpAttachment xdpAttachment(String interfaceName) {
        return xdp.stream().filter(x -> x.interfaceName().equals(interfaceName)).findFirst().orElse(null);
    }

    /** A port a VNIC announced it listens on ({@link ShmVnic#announceListener}). */
    public record Listener(FlowFilter.Protocol protocol, int port) implements Comparable<Listener> {
        @Override
        public int compareTo(Listener other) {
            int byProtocol = protocol.compareTo(other.protocol);
            return byProtocol != 0 ? byProtocol : Integer.compare(port, other.port);
        }

        @Override
        public String toString() {
            return protocol.name().toLowerCase(Locale.ROOT) + "/" + port;
        }
    }

    /** A receive filter: flows matching {@code filter} go to queue {@code queue} of the VNIC. */
    public record Filter(FlowFilter filter, int queue) {
        public Filter {
            if (filter == null) {
                throw new IllegalArgumentException("a receive filter needs a flow filter");
            }
            if (queue < 0 || queue >= ChannelLayout.MAX_QUEUES) {
                throw new IllegalArgumentException("queue " + queue + " is not in 0.." + (ChannelLayout.MAX_QUEUES - 1));
            }
        }

        @Override
        public String toString() {
            return filter + " -> queue " + queue;
        }
    }

    /** One queue of a VNIC and its non-zero counters ({@code VnicCounter} and {@code ShmCounter} names). */
    public record QueueStatus(int index, Map<String, Long> counters) {
        public QueueStatus {
            counters = Map.copyOf(counters);
        }

        public long counter(Enum<?> name) {
            return counters.getOrDefault(name.name(), 0L);
        }
    }

    /**
     * One VNIC.
     *
     * @param counters the sums over its queues of the owner's counters ({@code VnicCounter} and
     *     {@code ShmCounter} names), as written by the owner into the shared counters pages
     * @param listeners the ports it announced, sorted
     * @param queues each queue with its own counters
     * @param filters its receive filters, in the order installed
     */
    public record VnicStatus(int id, String name, int pid, int uid, MacAddress mac, int address,
            RateLimit rateLimit, Map<String, Long> counters, List<Listener> listeners, List<QueueStatus> queues,
            List<Filter> filters) {
        public VnicStatus {
            counters = Map.copyOf(counters);
            listeners = listeners.stream().sorted().toList();
            queues = List.copyOf(queues);
            filters = List.copyOf(filters);
        }

        /** A one-queue VNIC without filters whose queue has the VNIC's counters. */
        public VnicStatus(int id, String name, int pid, int uid, MacAddress mac, int address, RateLimit rateLimit,
                Map<String, Long> counters, List<Listener> listeners) {
            this(id, name, pid, uid, mac, address, rateLimit, counters, listeners,
                    List.of(new QueueStatus(0, counters)), List.of());
        }

        public long counter(Enum<?> name) {
            return counters.getOrDefault(name.name(), 0L);
        }

        public QueueStatus queue(int index) {
            return queues.stream().filter(q -> q.index() == index).findFirst().orElse(null);
        }
    }

    /**
     * The channel from queue {@code fromQueue} of VNIC {@code from} to queue {@code toQueue} of
     * VNIC {@code to}: descriptors published and consumed so far.
     */
    public record ChannelStatus(int from, int to, long published, long consumed, int fromQueue, int toQueue) {
        /** The channel between queues 0 of the two VNICs. */
        public ChannelStatus(int from, int to, long published, long consumed) {
            this(from, to, published, consumed, 0, 0);
        }
    }

    /** The VNIC that announced {@code port}, or null. */
    public VnicStatus listener(FlowFilter.Protocol protocol, int port) {
        Listener wanted = new Listener(protocol, port);
        return vnics.stream().filter(v -> v.listeners().contains(wanted)).findFirst().orElse(null);
    }

    public VnicStatus vnic(String name) {
        return vnics.stream().filter(v -> v.name().equals(name)).findFirst().orElse(null);
    }

    /** A table for people, as the CLI prints it. */
    public String format() {
        StringBuilder text = new StringBuilder();
        text.append("control plane pid ").append(pid).append(" on ").append(socket).append(", subnet ")
                .append(subnet).append(": ").append(vnics.size()).append(" VNICs, ").append(channels.size())
                .append(" channels (").append(attaches).append(" attached, ").append(detaches)
                .append(" reclaimed since start)\n");
        for (VnicStatus v : vnics) {
            text.append(String.format("  %-4d %-16s pid %-7d uid %-5d %s %-15s rate %s%n", v.id(), v.name(), v.pid(),
                    v.uid(), v.mac(), Ipv4Text.format(v.address()), describe(v.rateLimit())));
            if (!v.listeners().isEmpty()) {
                text.append("       listening:");
                v.listeners().forEach(l -> text.append(' ').append(l));
                text.append('\n');
            }
            for (Filter filter : v.filters()) {
                text.append("       filter ").append(filter).append('\n');
            }
            if (v.queues().size() <= 1) {
                appendCounters(text, "       ", v.counters());
            } else {
                for (QueueStatus q : v.queues()) {
                    text.append("       queue ").append(q.index()).append(':');
                    appendCounters(text, "", q.counters());
                    if (q.counters().values().stream().allMatch(value -> value == 0)) {
                        text.append(" (idle)\n");
                    }
                }
            }
        }
        for (XdpAttachment x : xdp) {
            text.append("  xdp ").append(x.interfaceName()).append(x.namespace().isEmpty() ? "" : " in netns "
                    + x.namespace()).append(" (").append(x.mode().toLowerCase(Locale.ROOT)).append("): ")
                    .append(x.tenants().size()).append(" processes\n");
            for (XdpTenant t : x.tenants()) {
                text.append("       pid ").append(t.pid()).append(" queue ").append(t.queue()).append(' ')
                        .append(Ipv4Text.format(t.address())).append(": ").append(t.flows().size()).append(" flows\n");
                for (FlowFilter flow : t.flows()) {
                    text.append("         flow ").append(flow).append('\n');
                }
            }
        }
        for (VsaStatus v : vsas) {
            text.append(String.format("  vsa  %-16s %-4s uid %-5d %s: %s%n", v.name(), v.kind(), v.uid(),
                    v.extent(), v.free() ? "free" : "held by pid " + v.pid()));
        }
        for (ChannelStatus c : channels) {
            text.append("  channel ").append(c.from()).append('.').append(c.fromQueue()).append(" -> ")
                    .append(c.to()).append('.').append(c.toQueue()).append(": published ")
                    .append(c.published()).append(", consumed ").append(c.consumed()).append('\n');
        }
        return text.toString();
    }

    private static void appendCounters(StringBuilder text, String indent, Map<String, Long> values) {
        StringBuilder counters = new StringBuilder();
        values.entrySet().stream().filter(e -> e.getValue() != 0).sorted(Map.Entry.comparingByKey())
                .forEach(e -> counters.append(' ').append(e.getKey()).append('=').append(e.getValue()));
        if (!counters.isEmpty()) {
            text.append(indent).append(counters).append('\n');
        }
    }

    static String describe(RateLimit limit) {
        if (limit.isUnlimited()) {
            return "unlimited";
        }
        return (limit.bytesPerSecond() > 0 ? limit.bytesPerSecond() + " B/s" : "")
                + (limit.bytesPerSecond() > 0 && limit.packetsPerSecond() > 0 ? ", " : "")
                + (limit.packetsPerSecond() > 0 ? limit.packetsPerSecond() + " pkt/s" : "");
    }
}

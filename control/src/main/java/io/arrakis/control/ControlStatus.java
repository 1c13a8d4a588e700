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
 * owners, addresses, rate limits, counters and announced listeners, and the channels between
 * them. Immutable.
 *
 * @param pid the control plane's process
 * @param socket the path it listens on
 * @param subnet the subnet it assigns addresses from, as {@code a.b.c.d/n}
 * @param attaches VNICs created since start
 * @param detaches VNICs reclaimed since start (closed sockets: exits and kills alike)
 */
public record ControlStatus(int pid, String socket, String subnet, long attaches, long detaches,
        List<VnicStatus> vnics, List<ChannelStatus> channels) {

    public ControlStatus {
        vnics = List.copyOf(vnics);
        channels = List.copyOf(channels);
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

    /**
     * One VNIC.
     *
     * @param counters the owner's queue counters ({@code VnicCounter} and {@code ShmCounter} names),
     *     as written by the owner into the shared counters page
     * @param listeners the ports it announced, sorted
     */
    public record VnicStatus(int id, String name, int pid, int uid, MacAddress mac, int address,
            RateLimit rateLimit, Map<String, Long> counters, List<Listener> listeners) {
        public VnicStatus {
            counters = Map.copyOf(counters);
            listeners = listeners.stream().sorted().toList();
        }

        public long counter(Enum<?> name) {
            return counters.getOrDefault(name.name(), 0L);
        }
    }

    /** The channel from VNIC {@code from} to VNIC {@code to}: descriptors published and consumed so far. */
    public record ChannelStatus(int from, int to, long published, long consumed) {}

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
            StringBuilder counters = new StringBuilder();
            v.counters().entrySet().stream().filter(e -> e.getValue() != 0).sorted(Map.Entry.comparingByKey())
                    .forEach(e -> counters.append(' ').append(e.getKey()).append('=').append(e.getValue()));
            if (!counters.isEmpty()) {
                text.append("       ").append(counters).append('\n');
            }
        }
        for (ChannelStatus c : channels) {
            text.append("  channel ").append(c.from()).append(" -> ").append(c.to()).append(": published ")
                    .append(c.published()).append(", consumed ").append(c.consumed()).append('\n');
        }
        return text.toString();
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

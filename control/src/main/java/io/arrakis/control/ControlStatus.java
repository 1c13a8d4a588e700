package io.arrakis.control;

import io.arrakis.device.Ipv4Text;
import io.arrakis.device.MacAddress;
import io.arrakis.device.RateLimit;
import java.util.List;
import java.util.Map;

/**
 * What a control plane reports when asked ({@link ControlClient#status()}): its VNICs, their
 * owners, addresses, rate limits and counters, and the channels between them. Immutable.
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

    /**
     * One VNIC.
     *
     * @param counters the owner's queue counters ({@code VnicCounter} and {@code ShmCounter} names),
     *     as written by the owner into the shared counters page
     */
    public record VnicStatus(int id, String name, int pid, int uid, MacAddress mac, int address,
            RateLimit rateLimit, Map<String, Long> counters) {
        public VnicStatus {
            counters = Map.copyOf(counters);
        }

        public long counter(Enum<?> name) {
            return counters.getOrDefault(name.name(), 0L);
        }
    }

    /** The channel from VNIC {@code from} to VNIC {@code to}: descriptors published and consumed so far. */
    public record ChannelStatus(int from, int to, long published, long consumed) {}

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

package io.arrakis.control;

import io.arrakis.device.FlowFilter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * One VNIC's receive-filter table, compiled for the data path: which of its queues a frame goes
 * to. A sender uses the receiver's table to pick the channel (as a NIC steers by its filters),
 * and the receiving queue classifies its private copy again with its own table (a sender cannot
 * choose the queue). Immutable, so the control connection's thread swaps a whole table in with
 * one volatile store and the polling threads read it without locks; classifying allocates nothing.
 *
 * <p>The rules, documented in docs/architecture.md:
 * <ul>
 * <li>IPv4 (unicast, multicast or broadcast): the most specific matching filter (ties: the one
 *     installed first) names the queue; no match means the default queue, 0. A fragment carries
 *     no ports (only the first has them), so every fragment is matched with ports 0: only filters
 *     without ports match it, and all fragments of a datagram land on one queue (as RSS hashes
 *     fragments on addresses only).
 * <li>ARP: a matching {@link FlowFilter.Protocol#ARP} (or all-wildcard {@code ANY}) filter names
 *     the queue; otherwise every queue gets it ({@link #EVERY_QUEUE}): each queue runs its own
 *     stack with its own neighbour cache, and each must hear replies and announcements.
 * <li>Anything else (other ethertypes, runts): the default queue.
 * </ul>
 */
final class Steering {
    /** {@link #classify} result: deliver a copy to every queue. */
    static final int EVERY_QUEUE = -1;
    static final int DEFAULT_QUEUE = 0;
    /** The table of a VNIC without filters. */
    static final Steering NONE = new Steering(List.of());

    private static final int ETHERNET_HEADER = 14;
    private static final int ETHERTYPE_IPV4 = 0x0800;
    private static final int ETHERTYPE_ARP = 0x0806;
    private static final int ARP_PROTOCOL = FlowFilter.Protocol.ARP.number;
    private static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final List<ControlStatus.Filter> installed;
    /** Sorted by specificity (most first), then by installation order. */
    private final FlowFilter[] filters;
    private final int[] queues;

    Steering(List<ControlStatus.Filter> installed) {
        this.installed = List.copyOf(installed);
        List<ControlStatus.Filter> ordered = new ArrayList<>(this.installed);
        // A stable sort keeps installation order among equally specific filters.
        ordered.sort(Comparator.comparingInt((ControlStatus.Filter f) -> f.filter().specificity()).reversed());
        filters = new FlowFilter[ordered.size()];
        queues = new int[ordered.size()];
        for (int i = 0; i < filters.length; i++) {
            filters[i] = ordered.get(i).filter();
            queues[i] = ordered.get(i).queue();
        }
    }

    /** The filters in the order installed. */
    List<ControlStatus.Filter> installed() {
        return installed;
    }

    boolean isEmpty() {
        return filters.length == 0;
    }

    /**
     * The queue the frame of {@code length} bytes at {@code at} goes to, or {@link #EVERY_QUEUE}.
     * Reads only within the frame; any bytes give an answer.
     */
    int classify(MemorySegment memory, long at, int length) {
        if (length < ETHERNET_HEADER) {
            return DEFAULT_QUEUE;
        }
        int ethertype = memory.get(U16, at + 12) & 0xFFFF;
        if (ethertype == ETHERTYPE_IPV4) {
            return filters.length == 0 ? DEFAULT_QUEUE : classifyIpv4(memory, at + ETHERNET_HEADER,
                    length - ETHERNET_HEADER);
        }
        if (ethertype == ETHERTYPE_ARP) {
            if (length >= ETHERNET_HEADER + 28) {
                long arp = at + ETHERNET_HEADER;
                int sender = memory.get(U32, arp + 14);
                int target = memory.get(U32, arp + 24);
                for (int i = 0; i < filters.length; i++) {
                    if (filters[i].matches(ARP_PROTOCOL, target, 0, sender, 0)) {
                        return queues[i];
                    }
                }
            }
            return EVERY_QUEUE;
        }
        return DEFAULT_QUEUE;
    }

    private int classifyIpv4(MemorySegment memory, long ip, int length) {
        if (length < 20) {
            return DEFAULT_QUEUE;
        }
        int headerLength = (memory.get(U8, ip) & 0x0F) * 4;
        int protocol = memory.get(U8, ip + 9) & 0xFF;
        int source = memory.get(U32, ip + 12);
        int destination = memory.get(U32, ip + 16);
        boolean fragment = (memory.get(U16, ip + 6) & 0x3FFF) != 0;
        int sourcePort = 0;
        int destinationPort = 0;
        if (!fragment && (protocol == 6 || protocol == 17) && headerLength >= 20 && length >= headerLength + 4) {
            sourcePort = memory.get(U16, ip + headerLength) & 0xFFFF;
            destinationPort = memory.get(U16, ip + headerLength + 2) & 0xFFFF;
        }
        for (int i = 0; i < filters.length; i++) {
            if (filters[i].matches(protocol, destination, destinationPort, source, sourcePort)) {
                return queues[i];
            }
        }
        return DEFAULT_QUEUE;
    }

    @Override
    public String toString() {
        return installed.toString();
    }
}

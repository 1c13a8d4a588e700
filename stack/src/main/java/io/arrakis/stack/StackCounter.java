package io.arrakis.stack;

/** What a {@link NetworkStack} counts, drops split by reason. */
public enum StackCounter {
    FRAMES_IN,
    FRAMES_OUT,
    /** Frames for another MAC, or of an EtherType we do not speak (IPv6, VLAN). */
    FRAMES_NOT_FOR_US,
    /** Frames too short for their headers, or with inconsistent lengths. */
    DROPPED_MALFORMED,
    DROPPED_BAD_IP_CHECKSUM,
    DROPPED_BAD_L4_CHECKSUM,
    /** IPv4 datagrams for another address. */
    DROPPED_NOT_OUR_ADDRESS,
    DROPPED_UNKNOWN_PROTOCOL,
    ARP_REQUESTS_IN,
    ARP_REPLIES_IN,
    ARP_REQUESTS_OUT,
    ARP_REPLIES_OUT,
    /** Neighbours learnt (or changed) from the source of an IPv4 frame to us ({@code setGleanNeighbours}). */
    NEIGHBOURS_GLEANED,
    /** Packets dropped because the next hop did not answer ARP, or its pending queue was full. */
    DROPPED_NO_NEIGHBOUR,
    /** Packets dropped because no packet buffer was free to build them. */
    DROPPED_NO_BUFFER,
    FRAGMENTS_IN,
    DATAGRAMS_REASSEMBLED,
    /** Fragments dropped: reassembly timed out, ran out of slots, or overlapped inconsistently. */
    FRAGMENTS_DROPPED,
    FRAGMENTS_OUT,
    ICMP_ECHO_REPLIES_OUT,
    ICMP_UNREACHABLE_IN,
    ICMP_UNREACHABLE_OUT,
    /** ICMP "fragmentation needed" lowered the MTU toward a destination (RFC 1191). */
    PATH_MTU_LEARNT,
    UDP_DATAGRAMS_IN,
    UDP_DATAGRAMS_OUT,
    /** UDP datagrams dropped because the socket's receive buffer was full. */
    UDP_DROPPED_BUFFER_FULL,
    UDP_NO_PORT
}

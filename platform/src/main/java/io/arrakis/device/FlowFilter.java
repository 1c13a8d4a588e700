package io.arrakis.device;

/**
 * Matches IPv4 flows as seen by the receiver. Zero in an address or port, and
 * {@link Protocol#ANY}, are wildcards: {@code new FlowFilter(TCP, localIp, 6379, 0, 0)} is a
 * listening socket; a connection fills in all five. Addresses are IPv4 in host order.
 */
public record FlowFilter(Protocol protocol, int localAddress, int localPort, int remoteAddress, int remotePort) {

    /** IP protocols a filter can name, with their IANA numbers. */
    public enum Protocol {
        ANY(-1), ICMP(1), TCP(6), UDP(17), /** ARP is not IP; it matches ARP frames for the local address. */ ARP(-2);

        public final int number;

        Protocol(int number) {
            this.number = number;
        }
    }

    public FlowFilter {
        if (protocol == null) {
            throw new IllegalArgumentException("flow filter needs a protocol (Protocol.ANY for any)");
        }
        checkPort("local", localPort);
        checkPort("remote", remotePort);
    }

    private static void checkPort(String which, int port) {
        if (port < 0 || port > 0xFFFF) {
            throw new IllegalArgumentException(which + " port out of range 0..65535: " + port);
        }
    }

    /** Whether a packet with these header fields matches. */
    public boolean matches(int packetProtocol, int dstAddress, int dstPort, int srcAddress, int srcPort) {
        return (protocol == Protocol.ANY || protocol.number == packetProtocol)
                && (localAddress == 0 || localAddress == dstAddress)
                && (localPort == 0 || localPort == dstPort)
                && (remoteAddress == 0 || remoteAddress == srcAddress)
                && (remotePort == 0 || remotePort == srcPort);
    }

    /** More specific filters win when several match (a connection over its listener). */
    public int specificity() {
        return (protocol != Protocol.ANY ? 1 : 0) + (localAddress != 0 ? 1 : 0) + (localPort != 0 ? 1 : 0)
                + (remoteAddress != 0 ? 1 : 0) + (remotePort != 0 ? 1 : 0);
    }

    @Override
    public String toString() {
        return protocol + " " + Ipv4Text.format(localAddress) + ":" + localPort + " <- "
                + Ipv4Text.format(remoteAddress) + ":" + remotePort;
    }
}

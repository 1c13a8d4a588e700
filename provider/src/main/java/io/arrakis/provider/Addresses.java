package io.arrakis.provider;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.channels.UnsupportedAddressTypeException;
import java.util.Objects;

/** Conversions between the JDK's addresses and the stack's IPv4 ints, with the JDK's checks. Stateless. */
final class Addresses {
    /** What the JDK reports for {@code bind(null)}: its sockets are IPv6 dual-stack. */
    static final InetAddress IPV6_WILDCARD = inet6Wildcard();

    private Addresses() {}

    private static InetAddress inet6Wildcard() {
        try {
            return InetAddress.getByAddress(new byte[16]);
        } catch (UnknownHostException e) {
            throw new AssertionError("sixteen bytes are always an address", e);
        }
    }

    /** The JDK's {@code Net.checkAddress}: null, wrong type and unresolved rejected with its exceptions. */
    static InetSocketAddress check(SocketAddress address) {
        Objects.requireNonNull(address);
        if (!(address instanceof InetSocketAddress isa)) {
            throw new UnsupportedAddressTypeException();
        }
        if (isa.isUnresolved()) {
            throw new UnresolvedAddressException();
        }
        return isa;
    }

    /** As {@link #check}, and a wildcard destination means this host's loopback, as in the JDK. */
    static InetSocketAddress checkRemote(SocketAddress address) {
        InetSocketAddress isa = check(address);
        InetAddress host = isa.getAddress();
        if (host.isAnyLocalAddress()) {
            return new InetSocketAddress(host instanceof Inet6Address ? InetAddress.getLoopbackAddress()
                    : inet(0x7F00_0001), isa.getPort());
        }
        return isa;
    }

    /** The IPv4 address as an int, or 0 for anything that is not IPv4 (0.0.0.0 is never routed). */
    static int ipv4(InetAddress address) {
        if (address instanceof Inet4Address) {
            byte[] b = address.getAddress();
            return (b[0] & 0xFF) << 24 | (b[1] & 0xFF) << 16 | (b[2] & 0xFF) << 8 | (b[3] & 0xFF);
        }
        return 0;
    }

    static Inet4Address inet(int address) {
        try {
            return (Inet4Address) InetAddress.getByAddress(new byte[] {
                (byte) (address >>> 24), (byte) (address >>> 16), (byte) (address >>> 8), (byte) address});
        } catch (UnknownHostException e) {
            throw new AssertionError("four bytes are always an address", e);
        }
    }
}

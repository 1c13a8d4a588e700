package io.arrakis.stack.tcp;

import java.security.SecureRandom;

/**
 * Initial sequence numbers per RFC 6528: {@code ISN = M + F(localip, localport, remoteip,
 * remoteport, secretkey)}, with M a clock ticking every 4 µs and F SipHash-2-4 keyed by a random
 * per-stack secret; and the keyed hash behind SYN cookies. One per stack; immutable; thread-safe.
 */
public final class TcpIsn {
    private final long k0;
    private final long k1;
    // A second key, derived from the first, so ISNs and cookies never share a hash input space.
    private final long c0;
    private final long c1;

    /** A generator with a fresh secret from {@link SecureRandom}. */
    public TcpIsn() {
        this(new SecureRandom().nextLong(), new SecureRandom().nextLong());
    }

    /** A generator with a given secret (deterministic tests). */
    public TcpIsn(long k0, long k1) {
        this.k0 = k0;
        this.k1 = k1;
        this.c0 = SipHash.hash(k0, k1, 0x636f6f6b6965L, 0, 0, 8);
        this.c1 = SipHash.hash(k0, k1, 0x636f6f6b6966L, 0, 0, 8);
    }

    /** The ISN for a connection with this 4-tuple (addresses IPv4 host order) at time {@code nowNanos}. */
    public int isn(int localAddress, int localPort, int remoteAddress, int remotePort, long nowNanos) {
        long f = SipHash.hash(k0, k1, tupleWord(localAddress, remoteAddress), ports(localPort, remotePort), 0, 12);
        return (int) (nowNanos / 4_000L) + (int) f;
    }

    /** A 32-bit keyed hash for SYN cookies: 4-tuple, the peer's ISN and the cookie clock. */
    int cookieHash(int localAddress, int localPort, int remoteAddress, int remotePort, int peerIsn, int counter) {
        long w1 = ports(localPort, remotePort) | ((long) peerIsn << 32);
        long h = SipHash.hash(c0, c1, tupleWord(localAddress, remoteAddress), w1, counter & 0xFFFF_FFFFL, 20);
        return (int) (h ^ (h >>> 32));
    }

    private static long tupleWord(int a, int b) {
        return (a & 0xFFFF_FFFFL) | ((long) b << 32);
    }

    private static long ports(int localPort, int remotePort) {
        return (localPort & 0xFFFFL) | ((remotePort & 0xFFFFL) << 16);
    }
}

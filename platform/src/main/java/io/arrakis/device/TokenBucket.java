package io.arrakis.device;

/**
 * Enforces a {@link RateLimit}: two token buckets, bytes and packets, refilled from a nanosecond
 * clock the caller passes in (real time in a device, virtual time in a simulation). Not
 * thread-safe: it belongs to the transmit path of one queue. Allocation-free.
 */
public final class TokenBucket {
    /** A jumbo Ethernet frame: 9000 bytes of payload, header and VLAN tag. */
    private static final int MAX_FRAME_BYTES = 9018;

    private RateLimit limit = RateLimit.UNLIMITED;
    private double byteTokens;
    private double packetTokens;
    private long lastRefillNanos;

    /** Applies a new limit from {@code nowNanos}; the buckets start full. */
    public void setLimit(RateLimit limit, long nowNanos) {
        this.limit = limit;
        this.byteTokens = byteCapacity();
        this.packetTokens = packetCapacity();
        this.lastRefillNanos = nowNanos;
    }

    public RateLimit limit() {
        return limit;
    }

    /**
     * Takes the tokens for one frame of {@code bytes} if both buckets hold enough; returns
     * {@code false} (taking nothing) if the frame must wait.
     */
    public boolean tryTake(int bytes, long nowNanos) {
        if (limit.isUnlimited()) {
            return true;
        }
        refill(nowNanos);
        boolean bytesOk = limit.bytesPerSecond() == 0 || byteTokens >= bytes;
        boolean packetsOk = limit.packetsPerSecond() == 0 || packetTokens >= 1;
        if (!bytesOk || !packetsOk) {
            return false;
        }
        byteTokens -= bytes;
        packetTokens -= 1;
        return true;
    }

    private void refill(long nowNanos) {
        long elapsed = nowNanos - lastRefillNanos;
        if (elapsed <= 0) {
            return;
        }
        lastRefillNanos = nowNanos;
        double seconds = elapsed / 1e9;
        byteTokens = Math.min(byteCapacity(), byteTokens + seconds * limit.bytesPerSecond());
        packetTokens = Math.min(packetCapacity(), packetTokens + seconds * limit.packetsPerSecond());
    }

    /**
     * The configured burst, or one millisecond's worth of the rate; never less than one jumbo
     * frame, or a large frame could never pass.
     */
    private double byteCapacity() {
        long burst = limit.burstBytes() > 0 ? limit.burstBytes() : limit.bytesPerSecond() / 1000;
        return Math.max(burst, MAX_FRAME_BYTES);
    }

    private double packetCapacity() {
        long burst = limit.burstPackets() > 0 ? limit.burstPackets() : limit.packetsPerSecond() / 1000;
        return Math.max(burst, 1);
    }
}

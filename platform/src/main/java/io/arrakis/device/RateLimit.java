package io.arrakis.device;

/**
 * A token-bucket limit on what a VNIC sends: a sustained rate in bytes and in packets per second
 * (0: not limited on that axis), and the burst the bucket holds.
 */
public record RateLimit(long bytesPerSecond, long packetsPerSecond, long burstBytes, long burstPackets) {
    public static final RateLimit UNLIMITED = new RateLimit(0, 0, 0, 0);

    public RateLimit {
        if (bytesPerSecond < 0 || packetsPerSecond < 0 || burstBytes < 0 || burstPackets < 0) {
            throw new IllegalArgumentException("rate limit values must not be negative: " + bytesPerSecond + " B/s, "
                    + packetsPerSecond + " pkt/s, burst " + burstBytes + " B / " + burstPackets + " pkt");
        }
    }

    public boolean isUnlimited() {
        return bytesPerSecond == 0 && packetsPerSecond == 0;
    }
}

package io.arrakis.stack.tcp;

/**
 * Stack-wide TCP tunables, immutable; shared by every connection and listener of a stack. Times
 * are in nanoseconds of the caller's clock (the engine never reads a clock itself). Defaults
 * follow Linux where RFCs leave a choice. Build with {@link #builder()}; {@link #DEFAULT} is the
 * production default.
 */
public final class TcpConfig {
    /** Congestion controllers a connection can use. */
    public enum CongestionControl {
        /** RFC 5681 slow start and congestion avoidance with RFC 6582 NewReno recovery. */
        NEW_RENO,
        /** RFC 9438 CUBIC (with the same loss recovery). */
        CUBIC
    }

    /** When a listener answers a SYN with a SYN cookie (RFC 4987 §3.6) instead of queueing it. */
    public enum SynCookies {
        NEVER,
        /** Only when the SYN queue is full (the default, as Linux's tcp_syncookies=1). */
        WHEN_SYN_QUEUE_FULL,
        ALWAYS
    }

    public static final TcpConfig DEFAULT = builder().build();

    private static final long MS = 1_000_000L;
    private static final long S = 1_000_000_000L;

    public final CongestionControl congestionControl;
    public final boolean windowScaling;
    public final boolean timestamps;
    public final boolean sack;
    /** The MSS assumed when a SYN carries none (RFC 9293 §3.7.1: 536 for IPv4). */
    public final int defaultMss;
    /** Initial congestion window in segments (RFC 6928: 10). */
    public final int initialWindowSegments;
    public final long initialRtoNanos;
    public final long minRtoNanos;
    public final long maxRtoNanos;
    /** Clock granularity G of RFC 6298 §2. */
    public final long clockGranularityNanos;
    /** Retransmissions of one segment (or unanswered window probes) before TIMED_OUT (Linux tcp_retries2). */
    public final int maxRetransmissions;
    public final int maxSynRetransmissions;
    public final int maxSynAckRetransmissions;
    /** Maximum segment lifetime; TIME_WAIT lasts twice this. */
    public final long mslNanos;
    public final long delayedAckNanos;
    /** How long an orphaned (closed by the application) connection may sit in FIN_WAIT_2. */
    public final long finWait2TimeoutNanos;
    public final long keepAliveIdleNanos;
    public final long keepAliveIntervalNanos;
    public final int keepAliveProbes;
    /** Upper bound of the zero-window probe interval. */
    public final long maxPersistNanos;
    /** RFC 5961 §7: challenge ACKs per connection per second. */
    public final int challengeAckLimitPerSecond;
    /** At most one ACK per this interval in answer to out-of-window pure ACKs (ACK-loop guard). */
    public final long outOfWindowAckIntervalNanos;
    /** Distinct out-of-order intervals a receiver tracks (bounded memory; data beyond is dropped). */
    public final int maxOutOfOrderIntervals;
    /** Distinct SACKed intervals a sender remembers. */
    public final int maxSackScoreboard;
    public final SynCookies synCookies;
    /** SYN cookie clock period; a cookie is valid for two periods. */
    public final long synCookiePeriodNanos;

    private TcpConfig(Builder b) {
        congestionControl = b.congestionControl;
        windowScaling = b.windowScaling;
        timestamps = b.timestamps;
        sack = b.sack;
        defaultMss = b.defaultMss;
        initialWindowSegments = b.initialWindowSegments;
        initialRtoNanos = b.initialRtoNanos;
        minRtoNanos = b.minRtoNanos;
        maxRtoNanos = b.maxRtoNanos;
        clockGranularityNanos = b.clockGranularityNanos;
        maxRetransmissions = b.maxRetransmissions;
        maxSynRetransmissions = b.maxSynRetransmissions;
        maxSynAckRetransmissions = b.maxSynAckRetransmissions;
        mslNanos = b.mslNanos;
        delayedAckNanos = b.delayedAckNanos;
        finWait2TimeoutNanos = b.finWait2TimeoutNanos;
        keepAliveIdleNanos = b.keepAliveIdleNanos;
        keepAliveIntervalNanos = b.keepAliveIntervalNanos;
        keepAliveProbes = b.keepAliveProbes;
        maxPersistNanos = b.maxPersistNanos;
        challengeAckLimitPerSecond = b.challengeAckLimitPerSecond;
        outOfWindowAckIntervalNanos = b.outOfWindowAckIntervalNanos;
        maxOutOfOrderIntervals = b.maxOutOfOrderIntervals;
        maxSackScoreboard = b.maxSackScoreboard;
        synCookies = b.synCookies;
        synCookiePeriodNanos = b.synCookiePeriodNanos;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this configuration's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.congestionControl = congestionControl;
        b.windowScaling = windowScaling;
        b.timestamps = timestamps;
        b.sack = sack;
        b.defaultMss = defaultMss;
        b.initialWindowSegments = initialWindowSegments;
        b.initialRtoNanos = initialRtoNanos;
        b.minRtoNanos = minRtoNanos;
        b.maxRtoNanos = maxRtoNanos;
        b.clockGranularityNanos = clockGranularityNanos;
        b.maxRetransmissions = maxRetransmissions;
        b.maxSynRetransmissions = maxSynRetransmissions;
        b.maxSynAckRetransmissions = maxSynAckRetransmissions;
        b.mslNanos = mslNanos;
        b.delayedAckNanos = delayedAckNanos;
        b.finWait2TimeoutNanos = finWait2TimeoutNanos;
        b.keepAliveIdleNanos = keepAliveIdleNanos;
        b.keepAliveIntervalNanos = keepAliveIntervalNanos;
        b.keepAliveProbes = keepAliveProbes;
        b.maxPersistNanos = maxPersistNanos;
        b.challengeAckLimitPerSecond = challengeAckLimitPerSecond;
        b.outOfWindowAckIntervalNanos = outOfWindowAckIntervalNanos;
        b.maxOutOfOrderIntervals = maxOutOfOrderIntervals;
        b.maxSackScoreboard = maxSackScoreboard;
        b.synCookies = synCookies;
        b.synCookiePeriodNanos = synCookiePeriodNanos;
        return b;
    }

    @Override
    public String toString() {
        return "TcpConfig[" + congestionControl + " ws=" + windowScaling + " ts=" + timestamps + " sack=" + sack
                + " minRto=" + minRtoNanos / MS + "ms msl=" + mslNanos / MS + "ms delack=" + delayedAckNanos / MS
                + "ms retries=" + maxRetransmissions + " cookies=" + synCookies + "]";
    }

    /** Mutable builder; {@link #build()} checks the values. */
    public static final class Builder {
        private CongestionControl congestionControl = CongestionControl.CUBIC;
        private boolean windowScaling = true;
        private boolean timestamps = true;
        private boolean sack = true;
        private int defaultMss = 536;
        private int initialWindowSegments = 10;
        private long initialRtoNanos = 1 * S;
        private long minRtoNanos = 200 * MS;
        private long maxRtoNanos = 120 * S;
        private long clockGranularityNanos = 1 * MS;
        private int maxRetransmissions = 15;
        private int maxSynRetransmissions = 6;
        private int maxSynAckRetransmissions = 5;
        private long mslNanos = 30 * S;
        private long delayedAckNanos = 40 * MS;
        private long finWait2TimeoutNanos = 60 * S;
        private long keepAliveIdleNanos = 7200 * S;
        private long keepAliveIntervalNanos = 75 * S;
        private int keepAliveProbes = 9;
        private long maxPersistNanos = 60 * S;
        private int challengeAckLimitPerSecond = 1000;
        private long outOfWindowAckIntervalNanos = 500 * MS;
        private int maxOutOfOrderIntervals = 32;
        private int maxSackScoreboard = 32;
        private SynCookies synCookies = SynCookies.WHEN_SYN_QUEUE_FULL;
        private long synCookiePeriodNanos = 64 * S;

        private Builder() {}

        public Builder congestionControl(CongestionControl v) { congestionControl = v; return this; }
        public Builder windowScaling(boolean v) { windowScaling = v; return this; }
        public Builder timestamps(boolean v) { timestamps = v; return this; }
        public Builder sack(boolean v) { sack = v; return this; }
        public Builder defaultMss(int v) { defaultMss = v; return this; }
        public Builder initialWindowSegments(int v) { initialWindowSegments = v; return this; }
        public Builder initialRtoNanos(long v) { initialRtoNanos = v; return this; }
        public Builder minRtoNanos(long v) { minRtoNanos = v; return this; }
        public Builder maxRtoNanos(long v) { maxRtoNanos = v; return this; }
        public Builder clockGranularityNanos(long v) { clockGranularityNanos = v; return this; }
        public Builder maxRetransmissions(int v) { maxRetransmissions = v; return this; }
        public Builder maxSynRetransmissions(int v) { maxSynRetransmissions = v; return this; }
        public Builder maxSynAckRetransmissions(int v) { maxSynAckRetransmissions = v; return this; }
        public Builder mslNanos(long v) { mslNanos = v; return this; }
        public Builder delayedAckNanos(long v) { delayedAckNanos = v; return this; }
        public Builder finWait2TimeoutNanos(long v) { finWait2TimeoutNanos = v; return this; }
        public Builder keepAliveIdleNanos(long v) { keepAliveIdleNanos = v; return this; }
        public Builder keepAliveIntervalNanos(long v) { keepAliveIntervalNanos = v; return this; }
        public Builder keepAliveProbes(int v) { keepAliveProbes = v; return this; }
        public Builder maxPersistNanos(long v) { maxPersistNanos = v; return this; }
        public Builder challengeAckLimitPerSecond(int v) { challengeAckLimitPerSecond = v; return this; }
        public Builder outOfWindowAckIntervalNanos(long v) { outOfWindowAckIntervalNanos = v; return this; }
        public Builder maxOutOfOrderIntervals(int v) { maxOutOfOrderIntervals = v; return this; }
        public Builder maxSackScoreboard(int v) { maxSackScoreboard = v; return this; }
        public Builder synCookies(SynCookies v) { synCookies = v; return this; }
        public Builder synCookiePeriodNanos(long v) { synCookiePeriodNanos = v; return this; }

        public TcpConfig build() {
            require(congestionControl != null && synCookies != null, "congestionControl and synCookies must be set");
            require(defaultMss >= 88 && defaultMss <= 65495, "defaultMss " + defaultMss + " outside 88..65495");
            require(initialWindowSegments >= 1, "initialWindowSegments must be >= 1");
            require(minRtoNanos > 0 && minRtoNanos <= initialRtoNanos && initialRtoNanos <= maxRtoNanos,
                    "need 0 < minRto <= initialRto <= maxRto");
            require(clockGranularityNanos >= 0, "clockGranularity must be >= 0");
            require(maxRetransmissions >= 1 && maxSynRetransmissions >= 0 && maxSynAckRetransmissions >= 0,
                    "retransmission limits must be >= 0 (data: >= 1)");
            require(mslNanos >= 0 && delayedAckNanos >= 0 && finWait2TimeoutNanos > 0, "times must be >= 0");
            require(keepAliveIdleNanos > 0 && keepAliveIntervalNanos > 0 && keepAliveProbes >= 1,
                    "keep-alive idle, interval and probe count must be positive");
            require(maxPersistNanos >= minRtoNanos, "maxPersist must be >= minRto");
            require(challengeAckLimitPerSecond >= 0 && outOfWindowAckIntervalNanos >= 0, "ACK limits must be >= 0");
            require(maxOutOfOrderIntervals >= 1 && maxSackScoreboard >= 1, "interval tables need >= 1 entry");
            require(synCookiePeriodNanos > 0, "synCookiePeriod must be positive");
            return new TcpConfig(this);
        }

        private static void require(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("TcpConfig: " + message);
            }
        }
    }
}

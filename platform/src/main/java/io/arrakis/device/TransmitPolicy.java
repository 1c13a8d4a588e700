package io.arrakis.device;

/**
 * The transmit filter and rate limit of a software VNIC, which its queues enforce on every
 * transmit (there is no hardware to do it): what {@link VnicControl#setTransmitFilter} and
 * {@link VnicControl#setRateLimit} set. Thread-safe: set by a control call, read by the queues
 * once per batch.
 */
public final class TransmitPolicy {
    private final String vnicName;
    private volatile TransmitFilter transmitFilter = TransmitFilter.ANY;
    private volatile RateLimit rateLimit = RateLimit.UNLIMITED;

    /** @param vnicName the VNIC's name, for error messages */
    public TransmitPolicy(String vnicName) {
        this.vnicName = vnicName;
    }

    public void setTransmitFilter(TransmitFilter filter) {
        if (filter == null) {
            throw new IllegalArgumentException("VNIC " + vnicName + ": transmit filter must not be null (use"
                    + " TransmitFilter.ANY)");
        }
        transmitFilter = filter;
    }

    public TransmitFilter transmitFilter() {
        return transmitFilter;
    }

    public void setRateLimit(RateLimit limit) {
        if (limit == null) {
            throw new IllegalArgumentException("VNIC " + vnicName + ": rate limit must not be null (use"
                    + " RateLimit.UNLIMITED)");
        }
        rateLimit = limit;
    }

    public RateLimit rateLimit() {
        return rateLimit;
    }
}

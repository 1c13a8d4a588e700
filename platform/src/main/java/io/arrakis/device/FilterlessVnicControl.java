package io.arrakis.device;

import java.util.List;

/**
 * The control operations of a software VNIC that has no receive filters (every frame that
 * arrives belongs to its one owner): it keeps the transmit filter and the rate limit its queues
 * enforce on every transmit, and refuses receive filters with a message naming why, as the SPI
 * asks, rather than ignore them. Thread-safe: the queues read the settings on their own thread.
 */
public final class FilterlessVnicControl implements VnicControl {
    private final String whyNoReceiveFilters;
    private final TransmitPolicy transmitPolicy;

    /**
     * @param vnicName the VNIC's name, for error messages
     * @param whyNoReceiveFilters the whole sentence {@link #addReceiveFilter} throws with
     */
    public FilterlessVnicControl(String vnicName, String whyNoReceiveFilters) {
        this.whyNoReceiveFilters = whyNoReceiveFilters;
        this.transmitPolicy = new TransmitPolicy(vnicName);
    }

    @Override
    public void addReceiveFilter(FlowFilter filter, int queue) {
        throw new UnsupportedOperationException(whyNoReceiveFilters);
    }

    @Override
    public boolean removeReceiveFilter(FlowFilter filter) {
        return false;
    }

    @Override
    public List<FlowFilter> receiveFilters() {
        return List.of();
    }

    @Override
    public void setTransmitFilter(TransmitFilter filter) {
        transmitPolicy.setTransmitFilter(filter);
    }

    @Override
    public TransmitFilter transmitFilter() {
        return transmitPolicy.transmitFilter();
    }

    @Override
    public void setRateLimit(RateLimit limit) {
        transmitPolicy.setRateLimit(limit);
    }

    @Override
    public RateLimit rateLimit() {
        return transmitPolicy.rateLimit();
    }
}

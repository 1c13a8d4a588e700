package io.arrakis.device;

import java.io.IOException;
import java.util.List;

/**
 * The control-plane operations on one {@link Vnic}: which flows it receives on which queue, what
 * it may send, and how fast. In Arrakis these program the NIC; here the control plane enforces
 * them in whatever sits between the application and the wire (switch, XDP program, device).
 *
 * <p>Thread-safe. Backends that cannot enforce an operation throw
 * {@link UnsupportedOperationException} naming the backend, never ignore it silently.
 */
public interface VnicControl {
    /** Delivers frames matching {@code filter} to queue {@code queue}. */
    void addReceiveFilter(FlowFilter filter, int queue) throws IOException;

    /** Returns {@code true} when the filter was installed and is now removed. */
    boolean removeReceiveFilter(FlowFilter filter) throws IOException;

    List<FlowFilter> receiveFilters();

    /** Sets what this VNIC may send; frames that break it are dropped and counted. */
    void setTransmitFilter(TransmitFilter filter) throws IOException;

    TransmitFilter transmitFilter();

    /** Limits what this VNIC may send; {@link RateLimit#UNLIMITED} lifts the limit. */
    void setRateLimit(RateLimit limit) throws IOException;

    RateLimit rateLimit();
}

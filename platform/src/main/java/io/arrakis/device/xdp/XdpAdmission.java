package io.arrakis.device.xdp;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.VnicConfig;
import java.io.IOException;
import java.util.List;

/**
 * How an af_xdp VNIC opened with {@code filters=external} hands its sockets to the control plane
 * that owns the XDP program and maps, and asks it for filters. Implemented outside this module
 * (the control module's client, found with {@link java.util.ServiceLoader}), since the platform
 * does not know the control plane's protocol.
 *
 * <p>Implementations are thread-safe.
 */
public interface XdpAdmission {
    /**
     * Admits every socket of {@code vnic} (queue i on hardware queue {@code vnic.hardwareQueue(i)})
     * under its address; {@code config} has the VNIC's options (the implementation's own among
     * them, e.g. the control plane's socket).
     *
     * @throws IOException when the control plane refuses or cannot be reached, with its reason
     */
    Session admit(AfXdpVnic vnic, VnicConfig config) throws IOException;

    /** The admitted sockets of one VNIC; closing it gives back its queues and filters. */
    interface Session extends AutoCloseable {
        /** Asks for frames matching {@code filter} to go to hardware queue {@code hardwareQueue}'s socket. */
        void addFlow(FlowFilter filter, int hardwareQueue) throws IOException;

        /** Gives back {@code filter}; false if this VNIC held no such filter. */
        boolean removeFlow(FlowFilter filter) throws IOException;

        /** The filters this VNIC holds, in the order added. */
        List<FlowFilter> flows();

        @Override
        void close() throws IOException;
    }
}

package io.arrakis.provider;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.Vnic;
import io.arrakis.device.xdp.AfXdpVnic;
import java.io.IOException;
import java.net.BindException;

/**
 * The receive filters of an address shared with the kernel (the af_xdp backend with {@code
 * claim=none}): the XDP program sends a frame to us only for a (protocol, port) we claimed, so
 * every TCP or UDP port this process binds, listens or connects from gets a filter while it is
 * reserved, and everything else on the address (SSH, ICMP, the kernel's own sockets) stays with
 * the kernel. On any other VNIC (a dedicated address, or another backend) it does nothing.
 * A filter goes through the VNIC's control: the program's map, or the control plane that holds
 * it (a round trip on bind and close only, never on the data path).
 *
 * <p>Thread-safe: the VNIC's control is.
 */
final class SharedAddressPorts {
    private final Vnic vnic;
    private final int address;
    private final boolean shared;

    SharedAddressPorts(Vnic vnic, int address) {
        this.vnic = vnic;
        this.address = address;
        this.shared = vnic instanceof AfXdpVnic xdp && xdp.address() != 0 && !xdp.claimsAddress();
    }

    /** Whether the address is shared with the kernel: then filters are per port, and neighbours are gleaned. */
    boolean shared() {
        return shared;
    }

    /** Claims {@code port} for us; a refusal (another process holds it) is a BindException with the reason. */
    void claim(FlowFilter.Protocol protocol, int port) throws BindException {
        if (!shared) {
            return;
        }
        try {
            vnic.control().addReceiveFilter(new FlowFilter(protocol, address, port, 0, 0), 0);
        } catch (IOException | RuntimeException e) {
            BindException refused = new BindException("Address already in use (" + protocol + " port " + port
                    + " of the address shared with the kernel could not be claimed: " + e.getMessage() + ")");
            refused.initCause(e);
            throw refused;
        }
    }

    /** Gives {@code port} back to the kernel. */
    void release(FlowFilter.Protocol protocol, int port) {
        if (!shared) {
            return;
        }
        try {
            vnic.control().removeReceiveFilter(new FlowFilter(protocol, address, port, 0, 0));
        } catch (IOException | RuntimeException e) {
            System.getLogger("io.arrakis.provider").log(System.Logger.Level.WARNING, "could not give " + protocol
                    + " port " + port + " back to the kernel (its receive filter stays): " + e.getMessage());
        }
    }
}

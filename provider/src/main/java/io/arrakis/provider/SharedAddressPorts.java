package io.arrakis.provider;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.Vnic;
import io.arrakis.device.xdp.AfXdpVnic;
import io.arrakis.linux.Ioctl;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.NeighbourTable;
import io.arrakis.linux.Setns;
import io.arrakis.stack.NetworkStack;
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
final class SharedAddressPorts implements AutoCloseable {
    private final Vnic vnic;
    private final int address;
    private final boolean shared;
    /** The kernel's neighbour table of the interface (shared mode only), opened in its namespace. */
    private final NeighbourTable kernelTable;

    SharedAddressPorts(Vnic vnic, int address) throws IOException {
        this.vnic = vnic;
        this.address = address;
        this.shared = vnic instanceof AfXdpVnic xdp && xdp.address() != 0 && !xdp.claimsAddress();
        if (shared) {
            AfXdpVnic xdp = (AfXdpVnic) vnic;
            kernelTable = Setns.callIn(xdp.namespace(), () -> {
                try {
                    return NeighbourTable.open(Ioctl.interfaceIndex(xdp.interfaceName()));
                } catch (LinuxException e) {
                    throw new IOException("cannot open the kernel's neighbour table of " + xdp.interfaceName() + ": "
                            + e.getMessage(), e);
                }
            });
        } else {
            kernelTable = null;
        }
    }

    /**
     * In shared mode, the neighbour source of the stack: the kernel's table, which has the answers
     * to ARP on the shared address (our own requests' replies go to the kernel). A miss asks the
     * kernel to resolve, and the stack's next retry (a second later) finds the answer. Null
     * otherwise (the stack's own ARP).
     */
    NetworkStack.NeighbourSource kernelNeighbours() {
        if (kernelTable == null) {
            return null;
        }
        return wanted -> {
            synchronized (kernelTable) {
                long mac = kernelTable.lookup(wanted);
                if (mac < 0) {
                    kernelTable.resolve(wanted);
                }
                return mac;
            }
        };
    }

    @Override
    public void close() throws IOException {
        if (kernelTable != null) {
            synchronized (kernelTable) {
                kernelTable.close();
            }
        }
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

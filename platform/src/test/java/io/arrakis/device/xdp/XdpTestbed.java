package io.arrakis.device.xdp;

import io.arrakis.linux.Ioctl;
import io.arrakis.linux.Setns;
import io.arrakis.testing.NetworkNamespace;
import java.io.IOException;

/**
 * Two network namespaces joined by a veth pair: "ours", whose end {@link #ourLink} has the
 * kernel's address {@value #KERNEL_IP} and carries our AF_XDP sockets, and "peer", whose end
 * has {@value #PEER_IP} and runs the Linux clients. Our user-level address is the dedicated
 * {@value #OUR_IP} on the same link. IPv6 is off in both. Closing removes both namespaces (and
 * with them the veth pair and anything attached to it).
 */
public final class XdpTestbed implements AutoCloseable {
    public static final String KERNEL_IP = "198.18.0.1";
    public static final String PEER_IP = "198.18.0.2";
    public static final String OUR_IP = "198.18.0.3";

    public final NetworkNamespace ours;
    public final NetworkNamespace peer;
    public final String ourLink;
    public final String peerLink;

    private XdpTestbed(NetworkNamespace ours, NetworkNamespace peer, String ourLink, String peerLink) {
        this.ours = ours;
        this.peer = peer;
        this.ourLink = ourLink;
        this.peerLink = peerLink;
    }

    public static XdpTestbed create() throws IOException {
        return create(1);
    }

    /**
     * As {@link #create()}, with {@code queues} receive and transmit queues on each end. A
     * multi-queue pair is created inside the peer namespace with its other end sent straight to
     * ours, so it never exists in the host's namespace.
     */
    public static XdpTestbed create(int queues) throws IOException {
        NetworkNamespace ours = NetworkNamespace.create();
        NetworkNamespace peer = null;
        try {
            peer = NetworkNamespace.create();
            ours.disableIpv6();
            peer.disableIpv6();
            NetworkNamespace.Veth veth;
            if (queues == 1) {
                veth = peer.createVeth();
                ours.moveLink(veth.hostEnd());
            } else {
                String count = Integer.toString(queues);
                veth = new NetworkNamespace.Veth("xdpours", "xdppeer");
                peer.ip("link", "add", "name", veth.innerEnd(), "numtxqueues", count, "numrxqueues", count, "type",
                        "veth", "peer", "name", veth.hostEnd(), "numtxqueues", count, "numrxqueues", count, "netns",
                        ours.name());
            }
            ours.addAddress(veth.hostEnd(), KERNEL_IP + "/24");
            peer.addAddress(veth.innerEnd(), PEER_IP + "/24");
            // The peer's kernel must send whole checksums: nothing on a veth completes partial ones.
            String peerLink = veth.innerEnd();
            Setns.callIn(peer.name(), () -> {
                Ioctl.setTransmitChecksumOffload(peerLink, false);
                return null;
            });
            ours.setUp(veth.hostEnd());
            peer.setUp(veth.innerEnd());
            return new XdpTestbed(ours, peer, veth.hostEnd(), veth.innerEnd());
        } catch (IOException | RuntimeException e) {
            try {
                ours.close();
                if (peer != null) {
                    peer.close();
                }
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        try {
            ours.close();
        } finally {
            peer.close();
        }
    }
}

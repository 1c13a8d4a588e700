package io.arrakis.device.xdp;

import io.arrakis.device.Vnic;
import io.arrakis.device.VnicBackend;
import io.arrakis.device.VnicConfig;
import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import io.arrakis.linux.Xsk;
import java.io.IOException;
import java.util.Optional;
import java.util.Set;

/**
 * The {@code "af_xdp"} backend: each VNIC is AF_XDP sockets on queues of an existing Linux
 * interface, with the receive filters as an XDP program (see {@link AfXdpVnic}). Needs Linux
 * 5.11+ (bpf_link XDP attach; need-wakeup) and CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (root).
 * Options of {@link VnicConfig#options()}:
 * <ul>
 * <li>{@value #OPTION_INTERFACE} (required): the interface, e.g. {@code eth0}.
 * <li>{@value #OPTION_NETNS}: the network namespace it is in ({@code ip netns} name); default ours.
 * <li>{@value #OPTION_FIRST_QUEUE}: the interface queue of VNIC queue 0 (default 0); queue i is
 *     bound to hardware queue first-queue + i.
 * <li>{@value #OPTION_MODE}: {@code auto} (zero-copy if the driver offers it, else copy: see
 *     {@link AfXdpVnic#zeroCopy()}), {@code copy} or {@code zerocopy} (fail if not offered).
 * <li>{@value #OPTION_XDP_MODE}: {@code skb} (generic, any driver; the default) or {@code native}.
 * <li>{@value #OPTION_FILTERS}: {@code own} (this VNIC attaches the program and
 *     {@code control()} edits its flow map; the default) or {@code external} (a control plane
 *     owns program and maps and gets our sockets).
 * <li>{@value #OPTION_CONTROL_SOCKET}: with {@code filters=external}, the control plane's socket
 *     (default: the control plane's default path); the VNIC asks it to admit its sockets and
 *     for its filters ({@link XdpAdmission}, from the control module). {@code none}: someone
 *     else admits the sockets (e.g. a test holding an {@code XdpFilterOwner}), and
 *     {@code control()} refuses filters.
 * <li>{@value #OPTION_BUSY_WINDOW_MS}: how long to retry a bind refused with EBUSY (default 3000).
 * <li>{@value #OPTION_ADDRESS}: the IPv4 address the user-level stack uses, with its prefix
 *     ({@code 198.18.0.3/24}); {@value #OPTION_GATEWAY}: its default gateway. The provider reads
 *     them from the VNIC ({@link AfXdpVnic#address()}).
 * <li>{@value #OPTION_CLAIM}: {@code address} (the default when an address is given and the
 *     filters are our own) claims the address as dedicated: ARP for it and every TCP and UDP port
 *     of it come to us; {@code none} claims nothing at open, for an address shared with the
 *     kernel (the process then adds a filter per port it owns, and ARP stays with the kernel,
 *     which answers with the same MAC). With the control plane ({@code filters=external}) the
 *     control plane claims a dedicated address itself when the VNIC has {@code claim=address}.
 * </ul>
 * Thread-safe.
 */
public final class AfXdpVnicBackend implements VnicBackend {
    public static final String NAME = "af_xdp";
    public static final String OPTION_INTERFACE = "interface";
    public static final String OPTION_NETNS = "netns";
    public static final String OPTION_FIRST_QUEUE = "first-queue";
    public static final String OPTION_MODE = "mode";
    public static final String OPTION_XDP_MODE = "xdp-mode";
    public static final String OPTION_FILTERS = "filters";
    public static final String OPTION_BUSY_WINDOW_MS = "busy-window-ms";
    public static final String OPTION_ADDRESS = "address";
    public static final String OPTION_GATEWAY = "gateway";
    public static final String OPTION_CLAIM = "claim";
    public static final String OPTION_CONTROL_SOCKET = "control-socket";
    static final Set<String> OPTIONS = Set.of(OPTION_INTERFACE, OPTION_NETNS, OPTION_FIRST_QUEUE, OPTION_MODE,
            OPTION_XDP_MODE, OPTION_FILTERS, OPTION_BUSY_WINDOW_MS, OPTION_ADDRESS, OPTION_GATEWAY, OPTION_CLAIM,
            OPTION_CONTROL_SOCKET);

    @Override
    public String name() {
        return NAME;
    }

    /** Asks the kernel for an AF_XDP socket (and closes it): absent support or privilege shows here. */
    @Override
    public Optional<String> unavailableReason() {
        int fd;
        try {
            fd = Xsk.socket();
        } catch (LinuxException e) {
            return Optional.of(switch (e.errno()) {
                case Errno.EPERM, Errno.EACCES -> "needs CAP_NET_RAW and CAP_BPF: run as root";
                default -> "this kernel offers no AF_XDP sockets (CONFIG_XDP_SOCKETS): " + e.getMessage();
            });
        }
        try {
            Unistd.close(fd);
        } catch (LinuxException ignored) {
            // A probe descriptor: nothing depends on it.
        }
        return Optional.empty();
    }

    @Override
    public Vnic open(VnicConfig config) throws IOException {
        return AfXdpVnic.open(config);
    }
}

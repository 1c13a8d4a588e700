package io.arrakis.device.tap;

import io.arrakis.device.Vnic;
import io.arrakis.device.VnicBackend;
import io.arrakis.device.VnicConfig;
import io.arrakis.linux.Errno;
import io.arrakis.linux.Ioctl;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The {@code "tap"} backend: each VNIC is a Linux TAP interface ({@code /dev/net/tun} with
 * {@code IFF_TAP | IFF_NO_PI}). The kernel side of the interface is an ordinary Ethernet device
 * that an operator (or a test) addresses, brings up, moves into a network namespace or bridges;
 * what the kernel sends out of it we receive, and what we transmit the kernel receives on it.
 *
 * <p>Needs {@code /dev/net/tun} (the {@code tun} module) and {@code CAP_NET_ADMIN} to create an
 * interface. Options of {@link VnicConfig#options()}:
 * <ul>
 * <li>{@value #OPTION_INTERFACE}: the interface name, or a pattern with {@code %d} for the kernel
 *     to number (default {@value #DEFAULT_INTERFACE}). Naming an existing persistent TAP attaches
 *     to it.
 * <li>{@value #OPTION_MAC}: our MAC, the one the user-level stack sends from (default a random
 *     locally administered one). It is not the kernel's MAC of the interface: the two ends of the
 *     link have a MAC each, as two hosts on a cable do.
 * <li>{@value #OPTION_MTU}: the MTU, set on the interface too (default {@value #DEFAULT_MTU}); a
 *     frame of {@code mtu + 18} bytes (with a VLAN tag), plus one byte, must fit a buffer after
 *     its 128 bytes of headroom.
 * <li>{@value #OPTION_ADDRESS} ({@code A.B.C.D/len}) and {@value #OPTION_GATEWAY}: the IPv4
 *     address a stack on this VNIC answers as, and its router. The device does not use them (a
 *     TAP has no address of ours; the kernel's end has its own): they ride with the VNIC's
 *     configuration for its user, as the provider, which has no control plane to ask here.
 * </ul>
 * See {@link TapVnic} for the data path and what a TAP cannot do. Thread-safe.
 */
public final class TapVnicBackend implements VnicBackend {
    public static final String NAME = "tap";
    public static final String OPTION_INTERFACE = "interface";
    public static final String OPTION_MAC = "mac";
    public static final String OPTION_MTU = "mtu";
    public static final String OPTION_ADDRESS = "address";
    public static final String OPTION_GATEWAY = "gateway";
    public static final String DEFAULT_INTERFACE = "arrakis%d";
    public static final int DEFAULT_MTU = 1500;

    static final String TUN_DEVICE = "/dev/net/tun";
    static final String NEEDS_MODULE = "needs " + TUN_DEVICE + ", which is absent: load the tun module"
            + " (modprobe tun)";
    static final String NEEDS_CAPABILITY = "needs CAP_NET_ADMIN: run as root or grant the capability (e.g. setcap"
            + " cap_net_admin+ep on the java binary) to create TAP interfaces";

    /**
     * A name that no interface can have (interface names never contain {@code '%'} once created),
     * so that TUNSETIFF with it takes the path that creates an interface.
     */
    private static final String PROBE_NAME = "arrakisprobe%d";

    @Override
    public String name() {
        return NAME;
    }

    /**
     * Asks the kernel, without creating anything: TUNSETIFF for a new interface checks
     * CAP_NET_ADMIN (EPERM) before it looks at the flags, so a request with neither
     * {@code IFF_TAP} nor {@code IFF_TUN} answers EPERM without the capability and EINVAL with it.
     */
    @Override
    public Optional<String> unavailableReason() {
        if (!Files.exists(Path.of(TUN_DEVICE))) {
            return Optional.of(NEEDS_MODULE);
        }
        int fd;
        try {
            fd = Unistd.open(TUN_DEVICE, Unistd.O_RDWR | Unistd.O_CLOEXEC, 0);
        } catch (LinuxException e) {
            return Optional.of(openFailure(e));
        }
        try {
            Ioctl.tunSetInterface(fd, PROBE_NAME, Ioctl.IFF_NO_PI);
            // Cannot happen (no interface type); if a future kernel accepts it, the fd closes below.
            return Optional.empty();
        } catch (LinuxException e) {
            return switch (e.errno()) {
                case Errno.EINVAL -> Optional.empty();
                case Errno.EPERM -> Optional.of(NEEDS_CAPABILITY);
                default -> Optional.of("cannot probe " + TUN_DEVICE + ": " + e.getMessage());
            };
        } finally {
            try {
                Unistd.close(fd);
            } catch (LinuxException ignored) {
                // A probe descriptor: nothing depends on it.
            }
        }
    }

    /** The reason to give when {@code open("/dev/net/tun")} fails. */
    static String openFailure(LinuxException e) {
        return switch (e.errno()) {
            case Errno.ENOENT, Errno.ENODEV -> NEEDS_MODULE;
            case Errno.EACCES, Errno.EPERM -> "cannot open " + TUN_DEVICE + " (" + e.errnoName()
                    + "): run as root or make it readable and writable for this user";
            default -> "cannot open " + TUN_DEVICE + ": " + e.getMessage();
        };
    }

    @Override
    public Vnic open(VnicConfig config) throws IOException {
        return TapVnic.open(config);
    }
}

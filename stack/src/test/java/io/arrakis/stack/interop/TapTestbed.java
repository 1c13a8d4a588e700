package io.arrakis.stack.interop;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.tap.TapVnic;
import io.arrakis.stack.StackConfig;
import io.arrakis.stack.link.CaptureVnic;
import io.arrakis.stack.link.Clock;
import io.arrakis.stack.link.PcapWriter;
import io.arrakis.testing.NetworkNamespace;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Our stack, at {@value #OUR_CIDR}, on a TAP VNIC whose kernel side has been moved into a
 * network namespace of its own and given {@value #KERNEL_CIDR}: the Linux kernel is the other
 * host on the cable. IPv6 is off in the namespace so the kernel sends nothing unasked; the
 * kernel learns our MAC the ordinary way, by ARP. {@link #close()} ends the peers, the stack,
 * the TAP (so the interface goes) and the namespace, in that order.
 */
final class TapTestbed implements AutoCloseable {
    static final String KERNEL_IP = "198.18.0.1";
    static final String KERNEL_CIDR = KERNEL_IP + "/24";
    static final String OUR_IP = "198.18.0.2";
    static final String OUR_CIDR = OUR_IP + "/24";
    static final int BUFFERS = 512;
    static final Duration PEER_PATIENCE = Duration.ofSeconds(10);

    final NetworkNamespace namespace;
    final TapVnic tap;
    final String interfaceName;
    final StackDriver stack;
    private final PcapWriter capture;
    private final List<PeerProcess> peers = new ArrayList<>();

    private TapTestbed(NetworkNamespace namespace, TapVnic tap, PcapWriter capture, StackDriver stack) {
        this.namespace = namespace;
        this.tap = tap;
        this.interfaceName = tap.interfaceName();
        this.capture = capture;
        this.stack = stack;
    }

    static TapTestbed open() throws IOException {
        return open(null);
    }

    /** As {@link #open()}; if {@code pcap} is not null, every frame crossing our VNIC is captured to it. */
    static TapTestbed open(Path pcap) throws IOException {
        return open(pcap, UnaryOperator.identity());
    }

    /**
     * As {@link #open(Path)}, with the stack on {@code decorate.apply(vnic)} instead of the TAP
     * (or its capture): a {@link io.arrakis.stack.link.FaultyVnic}, say. The capture, if any, sees
     * the frames as they cross the TAP, below the decoration. Closing closes the TAP itself.
     */
    static TapTestbed open(Path pcap, UnaryOperator<Vnic> decorate) throws IOException {
        NetworkNamespace namespace = NetworkNamespace.create();
        TapVnic tap = null;
        PcapWriter capture = null;
        try {
            namespace.disableIpv6();
            tap = (TapVnic) DeviceBackends.vnicBackend("tap").open(new VnicConfig("interop", 1, BUFFERS, 2048,
                    Map.of("interface", "arktap%d")));
            namespace.moveLink(tap.interfaceName());
            namespace.addAddress(tap.interfaceName(), KERNEL_CIDR);
            namespace.setUp(tap.interfaceName());
            Vnic vnic = tap;
            if (pcap != null) {
                capture = new PcapWriter(FileChannel.open(pcap, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE), 65_535);
                vnic = new CaptureVnic(tap, capture, Clock.systemEpoch());
            }
            StackDriver stack = StackDriver.start(decorate.apply(vnic), StackConfig.of(OUR_IP, 24, null));
            return new TapTestbed(namespace, tap, capture, stack);
        } catch (IOException | RuntimeException | Error e) {
            closeQuietly(capture, e);
            closeQuietly(tap, e);
            closeQuietly(namespace, e);
            throw e;
        }
    }

    /** Starts {@link LinuxUdpPeer} with {@code args} in the namespace; it is ended when this closes. */
    PeerProcess startPeer(String... args) throws IOException {
        PeerProcess peer = PeerProcess.start(namespace, PEER_PATIENCE, args);
        peers.add(peer);
        return peer;
    }

    /** JVM options of the TCP peer: C2 and room to hash at full speed (unlike the UDP peer's quick-start options). */
    static final List<String> TCP_PEER_JVM = List.of("-XX:+UseSerialGC", "-Xmx256m", "-Xshare:auto");

    /** Starts {@link LinuxTcpPeer} with {@code args} in the namespace; it is ended when this closes. */
    PeerProcess startTcpPeer(String... args) throws IOException {
        PeerProcess peer = PeerProcess.start(namespace, PEER_PATIENCE, TCP_PEER_JVM, LinuxTcpPeer.class, args);
        peers.add(peer);
        return peer;
    }

    /** Runs {@code command} in the namespace (bounded by {@link NetworkNamespace#COMMAND_TIMEOUT}). */
    NetworkNamespace.Result inNamespace(String... command) throws IOException {
        return namespace.execAllowingFailure(command);
    }

    @Override
    public void close() throws IOException {
        Throwable first = null;
        for (PeerProcess peer : peers) {
            try {
                peer.close();
            } catch (RuntimeException e) {
                first = keep(first, e);
            }
        }
        try {
            stack.close();
        } catch (IOException | RuntimeException e) {
            first = keep(first, e);
        }
        for (AutoCloseable resource : new AutoCloseable[] {tap, capture, namespace}) {
            try {
                if (resource != null) {
                    resource.close();
                }
            } catch (Exception e) {
                first = keep(first, e);
            }
        }
        if (first instanceof IOException io) {
            throw io;
        }
        if (first instanceof RuntimeException runtime) {
            throw runtime;
        }
        if (first != null) {
            throw new IOException(first);
        }
    }

    private static Throwable keep(Throwable first, Throwable next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    private static void closeQuietly(AutoCloseable resource, Throwable into) {
        if (resource == null) {
            return;
        }
        try {
            resource.close();
        } catch (Exception e) {
            into.addSuppressed(e);
        }
    }
}

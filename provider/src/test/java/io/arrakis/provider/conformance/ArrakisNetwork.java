package io.arrakis.provider.conformance;

import io.arrakis.provider.ArrakisSelectorProvider;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Properties;

/**
 * Our provider, attached to an embedded control plane at a private socket: servers bind to the
 * VNIC's address and clients connect to it, so every connection runs on the user-level stack
 * (through the switch and back to the same VNIC). Created once per test class run.
 */
final class ArrakisNetwork implements Network {
    private final ArrakisSelectorProvider provider;
    private final InetAddress address;

    ArrakisNetwork() {
        try {
            Path directory = Files.createTempDirectory("arrakis-conformance");
            Properties properties = new Properties();
            properties.setProperty("arrakis.shm.socket", directory.resolve("control.sock").toString());
            properties.setProperty("arrakis.shm.embedded", "true");
            provider = ArrakisSelectorProvider.create(properties);
            address = provider.userLevelAddress();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot attach the Arrakis provider for the conformance suite", e);
        }
    }

    @Override
    public String name() {
        return "arrakis";
    }

    @Override
    public SelectorProvider provider() {
        return provider;
    }

    @Override
    public InetAddress serverAddress() {
        return address;
    }

    /** A port our stack just handed out and took back: nothing listens there. */
    @Override
    public InetSocketAddress unusedPort() throws IOException {
        try (ServerSocketChannel probe = provider.openServerSocketChannel()) {
            probe.bind(new InetSocketAddress(address, 0));
            return new InetSocketAddress(address, ((InetSocketAddress) probe.getLocalAddress()).getPort());
        }
    }

    /** Through the provider's entry point for {@code DatagramSocket}s, built as the agent's rewrite of {@code createDelegate} builds them. */
    @Override
    public java.net.DatagramSocket datagramSocket(java.net.SocketAddress local) throws IOException {
        return HookPathSockets.datagramSocket(provider, local);
    }

    @Override
    public java.net.MulticastSocket multicastSocket(java.net.SocketAddress local) throws IOException {
        return HookPathSockets.multicastSocket(provider, local);
    }

    /**
     * The VNIC is no interface of the operating system's: a user-level channel joins groups on
     * its VNIC whatever interface it is given, so the cases name the loopback interface.
     */
    @Override
    public java.net.NetworkInterface multicastInterface() throws java.net.SocketException {
        return java.net.NetworkInterface.getByName("lo");
    }

    /** Documented limitations (docs/architecture.md, "The provider", "Not done yet"). */
    @Override
    public java.util.Map<String, Deviation> knownDeviations() {
        Deviation unsharedUdpPorts = new Deviation("second bind to the same address -> threw BindException: Address already in use",
                "user-level UDP ports are not shared between channels (SO_REUSEADDR/SO_REUSEPORT)");
        return java.util.Map.of(
                "SocketOptions/twoDatagramChannelsWithReusePortShareAPort", unsharedUdpPorts,
                "SocketOptions/twoDatagramChannelsWithReuseAddressShareAPort", unsharedUdpPorts);
    }

    /**
     * Also a thread sleeping in our stack's epoll wait (a Panama downcall: RUNNABLE, no native
     * frame), from {@code await} or, on a wildcard datagram channel, {@code leadWatching}.
     */
    @Override
    public boolean isBlockedIn(Thread thread) {
        if (Network.super.isBlockedIn(thread)) {
            return true;
        }
        return thread.getState() == Thread.State.RUNNABLE && Arrays.stream(thread.getStackTrace())
                .anyMatch(frame -> frame.getClassName().equals("io.arrakis.provider.UserStack")
                        && (frame.getMethodName().equals("await") || frame.getMethodName().equals("leadWatching")));
    }

    @Override
    public void close() {
        try {
            provider.shutdown();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String toString() {
        return "arrakis";
    }
}

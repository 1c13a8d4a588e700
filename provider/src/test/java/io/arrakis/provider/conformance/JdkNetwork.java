package io.arrakis.provider.conformance;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.spi.SelectorProvider;

/** The JDK's own provider over kernel loopback: the oracle, and (under another name) a control subject. Stateless. */
final class JdkNetwork implements Network {
    private final String name;

    JdkNetwork(String name) {
        this.name = name;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public SelectorProvider provider() {
        return SelectorProvider.provider();
    }

    @Override
    public InetAddress serverAddress() {
        return InetAddress.getLoopbackAddress();
    }

    /** A port the kernel just handed out and took back: nothing listens there until it is handed out again. */
    @Override
    public InetSocketAddress unusedPort() throws IOException {
        try (ServerSocketChannel probe = provider().openServerSocketChannel()) {
            probe.bind(new InetSocketAddress(serverAddress(), 0));
            return new InetSocketAddress(serverAddress(), ((InetSocketAddress) probe.getLocalAddress()).getPort());
        }
    }

    @Override
    public void close() {
        // nothing to release: the kernel's loopback needs no setup
    }

    @Override
    public String toString() {
        return name;
    }
}

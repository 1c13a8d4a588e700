package io.arrakis.provider;

import java.io.IOException;
import java.net.ProtocolFamily;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.AbstractSelector;
import java.nio.channels.spi.SelectorProvider;

/**
 * The JVM-wide {@link SelectorProvider} that moves an application's sockets onto the user-level
 * stack: named by {@code -Djava.nio.channels.spi.SelectorProvider=io.arrakis.provider.ArrakisSelectorProvider}
 * or installed by the agent. Thread-safe.
 *
 * <p>This first step routes nothing yet: every channel is the JDK's own. Routing arrives with the
 * user-level channels.
 */
public class ArrakisSelectorProvider extends SelectorProvider {
    /** Called by {@link SelectorProvider#provider()} when the system property names this class. */
    public ArrakisSelectorProvider() {}

    private static SelectorProvider kernel() {
        return JdkProvider.get();
    }

    @Override
    public DatagramChannel openDatagramChannel() throws IOException {
        return kernel().openDatagramChannel();
    }

    @Override
    public DatagramChannel openDatagramChannel(ProtocolFamily family) throws IOException {
        return kernel().openDatagramChannel(family);
    }

    @Override
    public Pipe openPipe() throws IOException {
        return kernel().openPipe();
    }

    @Override
    public AbstractSelector openSelector() throws IOException {
        return kernel().openSelector();
    }

    @Override
    public ServerSocketChannel openServerSocketChannel() throws IOException {
        return kernel().openServerSocketChannel();
    }

    @Override
    public ServerSocketChannel openServerSocketChannel(ProtocolFamily family) throws IOException {
        return kernel().openServerSocketChannel(family);
    }

    @Override
    public SocketChannel openSocketChannel() throws IOException {
        return kernel().openSocketChannel();
    }

    @Override
    public SocketChannel openSocketChannel(ProtocolFamily family) throws IOException {
        return kernel().openSocketChannel(family);
    }

    @Override
    public Channel inheritedChannel() throws IOException {
        return kernel().inheritedChannel();
    }
}

package io.arrakis.provider.net;

import java.io.IOException;
import java.net.ProtocolFamily;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.AbstractSelector;
import java.nio.channels.spi.SelectorProvider;
import java.util.concurrent.atomic.AtomicInteger;

/** A provider that hands out the JDK's channels and counts them, to see which provider a socket used. */
class CountingProvider extends SelectorProvider {
    private final SelectorProvider jdk = SelectorProvider.provider();
    final AtomicInteger socketChannels = new AtomicInteger();
    final AtomicInteger serverSocketChannels = new AtomicInteger();

    @Override
    public DatagramChannel openDatagramChannel() throws IOException {
        return jdk.openDatagramChannel();
    }

    @Override
    public DatagramChannel openDatagramChannel(ProtocolFamily family) throws IOException {
        return jdk.openDatagramChannel(family);
    }

    @Override
    public Pipe openPipe() throws IOException {
        return jdk.openPipe();
    }

    @Override
    public AbstractSelector openSelector() throws IOException {
        return jdk.openSelector();
    }

    @Override
    public ServerSocketChannel openServerSocketChannel() throws IOException {
        serverSocketChannels.incrementAndGet();
        return jdk.openServerSocketChannel();
    }

    @Override
    public SocketChannel openSocketChannel() throws IOException {
        socketChannels.incrementAndGet();
        return jdk.openSocketChannel();
    }
}

package io.arrakis.provider;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.nio.channels.IllegalBlockingModeException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The {@code java.net.ServerSocket} view of an {@link ArrakisServerSocketChannel} (its
 * {@code socket()}), indistinguishable from the JDK's own adaptor: every call goes to the
 * channel, whose exceptions pass through as the JDK's adaptor lets them; {@code accept} honours
 * {@code SO_TIMEOUT} in blocking mode (the listener stays usable when it expires) and, as the
 * JDK's, also takes a connection that is already pending from a non-blocking channel; the
 * accepted {@code Socket} is the accepted channel's own adaptor.
 *
 * <p>Thread-safe: it keeps nothing but the accept timeout (volatile); the channel serializes
 * accepting threads.
 */
final class ArrakisServerSocketAdaptor extends ServerSocket {
    private final ArrakisServerSocketChannel channel;
    private volatile int timeout;

    ArrakisServerSocketAdaptor(ArrakisServerSocketChannel channel) {
        super(new DetachedSocketImpl());
        this.channel = channel;
    }

    // In java.net.ServerSocket's order, as the JDK's adaptor.

    @Override
    public void bind(SocketAddress local) throws IOException {
        bind(local, 50);
    }

    @Override
    public void bind(SocketAddress local, int backlog) throws IOException {
        try {
            channel.bind(local == null ? new InetSocketAddress(0) : local, backlog);
        } catch (Exception e) {
            throw AdaptorExceptions.translate(e);
        }
    }

    @Override
    public InetAddress getInetAddress() {
        InetSocketAddress local = channel.localAddressOrNull();
        return local == null ? null : local.getAddress();
    }

    @Override
    public int getLocalPort() {
        InetSocketAddress local = channel.localAddressOrNull();
        return local == null ? -1 : local.getPort();
    }

    @Override
    public Socket accept() throws IOException {
        SocketChannel accepted;
        try {
            int millis = timeout;
            if (millis > 0) {
                if (!channel.isBlocking()) {
                    throw new IllegalBlockingModeException();
                }
                accepted = channel.accept(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis));
            } else {
                // A non-blocking channel with a connection pending hands it over: the JDK's long-standing behaviour.
                accepted = channel.accept();
                if (accepted == null) {
                    throw new IllegalBlockingModeException();
                }
            }
        } catch (Exception e) {
            throw AdaptorExceptions.translate(e);
        }
        return accepted.socket();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public ServerSocketChannel getChannel() {
        return channel;
    }

    @Override
    public boolean isBound() {
        return channel.isBound();
    }

    @Override
    public boolean isClosed() {
        return !channel.isOpen();
    }

    @Override
    public void setSoTimeout(int timeout) throws SocketException {
        if (!channel.isOpen()) {
            throw new SocketException("Socket is closed");
        }
        if (timeout < 0) {
            throw new IllegalArgumentException("timeout < 0");
        }
        this.timeout = timeout;
    }

    @Override
    public int getSoTimeout() throws SocketException {
        if (!channel.isOpen()) {
            throw new SocketException("Socket is closed");
        }
        return timeout;
    }

    @Override
    public void setReuseAddress(boolean on) throws SocketException {
        try {
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, on);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    @Override
    public boolean getReuseAddress() throws SocketException {
        try {
            return channel.getOption(StandardSocketOptions.SO_REUSEADDR);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    @Override
    public String toString() {
        if (!isBound()) {
            return "ServerSocket[unbound]";
        }
        return "ServerSocket[addr=" + getInetAddress() + ",localport=" + getLocalPort() + "]";
    }

    @Override
    public void setReceiveBufferSize(int size) throws SocketException {
        if (size <= 0) { // 0 is valid for a channel, not for a ServerSocket
            throw new IllegalArgumentException("size cannot be 0 or negative");
        }
        try {
            channel.setOption(StandardSocketOptions.SO_RCVBUF, size);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    @Override
    public int getReceiveBufferSize() throws SocketException {
        try {
            return channel.getOption(StandardSocketOptions.SO_RCVBUF);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    @Override
    public <T> ServerSocket setOption(SocketOption<T> name, T value) throws IOException {
        channel.setOption(name, value);
        return this;
    }

    @Override
    public <T> T getOption(SocketOption<T> name) throws IOException {
        return channel.getOption(name);
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return channel.supportedOptions();
    }
}

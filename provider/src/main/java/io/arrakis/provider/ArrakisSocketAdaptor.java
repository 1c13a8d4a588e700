package io.arrakis.provider;

import io.arrakis.provider.net.HostInfo;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.IllegalBlockingModeException;
import java.nio.channels.NotYetConnectedException;
import java.nio.channels.SocketChannel;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The {@code java.net.Socket} view of an {@link ArrakisSocketChannel} (its {@code socket()}),
 * indistinguishable from the JDK's own adaptor: every call goes to the channel, whose exceptions
 * pass through as the JDK's adaptor lets them (see {@link AdaptorExceptions}); the streams need
 * blocking mode; reads honour {@code SO_TIMEOUT} and leave the socket usable when it expires;
 * {@code connect(address, timeout)} closes the socket when it fails, as every failed connect
 * does. On a user-level connection the streams use the channel's timed read and connect; on a
 * kernel connection they are the JDK channel's own adaptor's streams, kept at our timeout.
 *
 * <p>Thread-safe: it keeps nothing but the read timeout (volatile); the channel serializes
 * readers and writers.
 */
final class ArrakisSocketAdaptor extends Socket {
    /** The JDK's {@code SO_OOBINLINE} is not public API: it is the supported option of that name, if any. */
    private static final SocketOption<Boolean> OOB_INLINE = oobInlineOption();

    private final ArrakisSocketChannel channel;
    private volatile int timeout;
    /**
     * {@code SO_OOBINLINE} when the channel has no such option (the JDK's provider out of reach,
     * so the channel is user-level): kept and reported back, as it changes nothing on a stack
     * that has no urgent data.
     */
    private volatile boolean oobInlineKeptHere;

    private ArrakisSocketAdaptor(ArrakisSocketChannel channel) throws SocketException {
        super(new DetachedSocketImpl());
        this.channel = channel;
    }

    static Socket create(ArrakisSocketChannel channel) {
        try {
            return new ArrakisSocketAdaptor(channel);
        } catch (SocketException e) {
            throw new AssertionError("Socket(SocketImpl) only stores its argument", e);
        }
    }

    // In java.net.Socket's order, as the JDK's adaptor.

    @Override
    public void connect(SocketAddress remote) throws IOException {
        connect(remote, 0);
    }

    @Override
    public void connect(SocketAddress remote, int timeout) throws IOException {
        if (remote == null) {
            throw new IllegalArgumentException("connect: The address can't be null");
        }
        if (remote instanceof InetSocketAddress isa && isa.isUnresolved()) {
            if (!channel.isOpen()) {
                throw new SocketException("Socket is closed");
            }
            if (channel.isConnected()) {
                throw new SocketException("Already connected");
            }
            close();
            throw new UnknownHostException(HostInfo.inMessage(remote.toString()).trim());
        }
        if (timeout < 0) {
            throw new IllegalArgumentException("connect: timeout can't be negative");
        }
        try {
            InetSocketAddress target = Addresses.checkRemote(remote);
            if (!channel.isBlocking()) {
                throw new IllegalBlockingModeException();
            }
            long deadline = timeout > 0 ? System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeout) : Long.MAX_VALUE;
            channel.timedConnect(target, deadline);
        } catch (Exception e) {
            throw AdaptorExceptions.translate(e);
        }
    }

    @Override
    public void bind(SocketAddress local) throws IOException {
        try {
            channel.bind(local);
        } catch (Exception e) {
            throw AdaptorExceptions.translate(e);
        }
    }

    @Override
    public InetAddress getInetAddress() {
        InetSocketAddress remote = channel.remoteAddressOrNull();
        return remote == null ? null : remote.getAddress();
    }

    @Override
    public InetAddress getLocalAddress() {
        if (channel.isOpen()) {
            InetSocketAddress local = channel.localAddressOrNull();
            if (local != null) {
                return local.getAddress();
            }
        }
        return new InetSocketAddress(0).getAddress();
    }

    @Override
    public int getPort() {
        InetSocketAddress remote = channel.remoteAddressOrNull();
        return remote == null ? 0 : remote.getPort();
    }

    @Override
    public int getLocalPort() {
        InetSocketAddress local = channel.localAddressOrNull();
        return local == null ? -1 : local.getPort();
    }

    @Override
    public SocketAddress getRemoteSocketAddress() {
        return channel.remoteAddressOrNull();
    }

    @Override
    public SocketAddress getLocalSocketAddress() {
        return channel.localAddressOrNull();
    }

    @Override
    public SocketChannel getChannel() {
        return channel;
    }

    @Override
    public InputStream getInputStream() throws IOException {
        if (!channel.isOpen()) {
            throw new SocketException("Socket is closed");
        }
        if (!channel.isConnected()) {
            throw new SocketException("Socket is not connected");
        }
        if (!channel.isInputOpen()) {
            throw new SocketException("Socket input is shutdown");
        }
        SocketChannel k = channel.kernelChannel();
        if (k == null) {
            return new UserLevelInput();
        }
        k.socket().setSoTimeout(timeout); // the kernel may have come after our setSoTimeout
        return new KernelInput(k.socket().getInputStream());
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
        if (!channel.isOpen()) {
            throw new SocketException("Socket is closed");
        }
        if (!channel.isConnected()) {
            throw new SocketException("Socket is not connected");
        }
        if (!channel.isOutputOpen()) {
            throw new SocketException("Socket output is shutdown");
        }
        SocketChannel k = channel.kernelChannel();
        return k == null ? new UserLevelOutput() : new KernelOutput(k.socket().getOutputStream());
    }

    private <T> void setLegacyOption(SocketOption<T> name, T value) throws SocketException {
        try {
            channel.setOption(name, value);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    private <T> T legacyOption(SocketOption<T> name) throws SocketException {
        try {
            return channel.getOption(name);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    @Override
    public void setTcpNoDelay(boolean on) throws SocketException {
        setLegacyOption(StandardSocketOptions.TCP_NODELAY, on);
    }

    @Override
    public boolean getTcpNoDelay() throws SocketException {
        return legacyOption(StandardSocketOptions.TCP_NODELAY);
    }

    @Override
    public void setSoLinger(boolean on, int linger) throws SocketException {
        setLegacyOption(StandardSocketOptions.SO_LINGER, on ? linger : -1);
    }

    @Override
    public int getSoLinger() throws SocketException {
        return legacyOption(StandardSocketOptions.SO_LINGER);
    }

    /**
     * On a kernel connection, the JDK's. The user-level stack has no urgent (out-of-band) data:
     * the call fails as a socket without urgent data support does, once the socket is known to
     * be open and connected.
     */
    @Override
    public void sendUrgentData(int data) throws IOException {
        SocketChannel k = channel.kernelChannel();
        if (k != null) {
            kernelCall(() -> {
                k.socket().sendUrgentData(data);
                return null;
            });
            return;
        }
        ensureOpenAndConnected();
        throw new SocketException("Urgent data not supported: the user-level TCP stack of "
                + channel.localAddressOrNull() + " sends no out-of-band data");
    }

    @Override
    public void setOOBInline(boolean on) throws SocketException {
        if (OOB_INLINE != null) {
            setLegacyOption(OOB_INLINE, on);
            return;
        }
        ensureOpenForOption();
        oobInlineKeptHere = on;
    }

    @Override
    public boolean getOOBInline() throws SocketException {
        if (OOB_INLINE != null) {
            return legacyOption(OOB_INLINE);
        }
        ensureOpenForOption();
        return oobInlineKeptHere;
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
        SocketChannel k = channel.kernelChannel();
        if (k != null) {
            k.socket().setSoTimeout(timeout); // its streams are the ones we hand out
        }
    }

    @Override
    public int getSoTimeout() throws SocketException {
        if (!channel.isOpen()) {
            throw new SocketException("Socket is closed");
        }
        return timeout;
    }

    @Override
    public void setSendBufferSize(int size) throws SocketException {
        if (size <= 0) { // 0 is valid for a channel, not for a Socket
            throw new IllegalArgumentException("Invalid send size");
        }
        setLegacyOption(StandardSocketOptions.SO_SNDBUF, size);
    }

    @Override
    public int getSendBufferSize() throws SocketException {
        return legacyOption(StandardSocketOptions.SO_SNDBUF);
    }

    @Override
    public void setReceiveBufferSize(int size) throws SocketException {
        if (size <= 0) {
            throw new IllegalArgumentException("Invalid receive size");
        }
        setLegacyOption(StandardSocketOptions.SO_RCVBUF, size);
    }

    @Override
    public int getReceiveBufferSize() throws SocketException {
        return legacyOption(StandardSocketOptions.SO_RCVBUF);
    }

    @Override
    public void setKeepAlive(boolean on) throws SocketException {
        setLegacyOption(StandardSocketOptions.SO_KEEPALIVE, on);
    }

    @Override
    public boolean getKeepAlive() throws SocketException {
        return legacyOption(StandardSocketOptions.SO_KEEPALIVE);
    }

    @Override
    public void setTrafficClass(int tc) throws SocketException {
        setLegacyOption(StandardSocketOptions.IP_TOS, tc);
    }

    @Override
    public int getTrafficClass() throws SocketException {
        return legacyOption(StandardSocketOptions.IP_TOS);
    }

    @Override
    public void setReuseAddress(boolean on) throws SocketException {
        setLegacyOption(StandardSocketOptions.SO_REUSEADDR, on);
    }

    @Override
    public boolean getReuseAddress() throws SocketException {
        return legacyOption(StandardSocketOptions.SO_REUSEADDR);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public void shutdownInput() throws IOException {
        try {
            channel.shutdownInput();
        } catch (Exception e) {
            throw AdaptorExceptions.translate(e);
        }
    }

    @Override
    public void shutdownOutput() throws IOException {
        try {
            channel.shutdownOutput();
        } catch (Exception e) {
            throw AdaptorExceptions.translate(e);
        }
    }

    @Override
    public String toString() {
        if (channel.isConnected()) {
            return "Socket[addr=" + getInetAddress() + ",port=" + getPort() + ",localport=" + getLocalPort() + "]";
        }
        return "Socket[unconnected]";
    }

    @Override
    public boolean isConnected() {
        return channel.isConnected();
    }

    @Override
    public boolean isBound() {
        return channel.localAddressOrNull() != null;
    }

    @Override
    public boolean isClosed() {
        return !channel.isOpen();
    }

    @Override
    public boolean isInputShutdown() {
        return !channel.isInputOpen();
    }

    @Override
    public boolean isOutputShutdown() {
        return !channel.isOutputOpen();
    }

    @Override
    public <T> Socket setOption(SocketOption<T> name, T value) throws IOException {
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

    // ------------------------------------------------------------------ streams

    /** The JDK's order for a stream transfer: closed, then not connected, then the wrong mode. */
    private void ensureBlockingTransfer() throws ClosedChannelException {
        ensureOpenAndConnected();
        if (!channel.isBlocking()) {
            throw new IllegalBlockingModeException();
        }
    }

    private void ensureOpenAndConnected() throws ClosedChannelException {
        if (!channel.isOpen()) {
            throw new ClosedChannelException();
        }
        if (!channel.isConnected()) {
            throw new NotYetConnectedException();
        }
    }

    private void ensureOpenForOption() throws SocketException {
        if (!channel.isOpen()) {
            throw new SocketException("Socket is closed");
        }
    }

    @SuppressWarnings("unchecked")
    private static SocketOption<Boolean> oobInlineOption() {
        for (SocketOption<?> option : SocketOptionValues.forSocket().supported()) {
            if (option.name().equals("SO_OOBINLINE") && option.type() == Boolean.class) {
                return (SocketOption<Boolean>) option;
            }
        }
        return null;
    }

    /** A call on the JDK channel's adaptor that closed the JDK channel (async close, interrupt) closes ours too. */
    private <T> T kernelCall(ArrakisSocketChannel.KernelCall<T> call) throws IOException {
        try {
            return call.run();
        } catch (AsynchronousCloseException e) {
            channel.close();
            throw e;
        }
    }

    private final class UserLevelInput extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n > 0 ? one[0] & 0xFF : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            ensureBlockingTransfer();
            int millis = timeout;
            long deadline = millis > 0 ? System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis) : Long.MAX_VALUE;
            return channel.timedRead(ByteBuffer.wrap(b, off, len), deadline);
        }

        @Override
        public int available() throws IOException {
            return channel.available();
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    private final class UserLevelOutput extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return;
            }
            ensureBlockingTransfer();
            if (!channel.isOutputOpen()) {
                throw new ClosedChannelException(); // the JDK's answer once output is shut down
            }
            ByteBuffer src = ByteBuffer.wrap(b, off, len);
            while (src.hasRemaining()) {
                channel.write(src);
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    /** The JDK channel's adaptor's stream, closing our channel with it. */
    private final class KernelInput extends InputStream {
        private final InputStream in;

        KernelInput(InputStream in) {
            this.in = in;
        }

        @Override
        public int read() throws IOException {
            return kernelCall(in::read);
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return kernelCall(() -> in.read(b, off, len));
        }

        @Override
        public int available() throws IOException {
            return in.available();
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    private final class KernelOutput extends OutputStream {
        private final OutputStream out;

        KernelOutput(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            kernelCall(() -> {
                out.write(b);
                return null;
            });
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            kernelCall(() -> {
                out.write(b, off, len);
                return null;
            });
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}

package io.arrakis.provider;

import io.arrakis.provider.net.DatagramSocketHook;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.MulticastSocket;
import java.net.NetworkInterface;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketOption;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.UnsupportedAddressTypeException;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The {@code java.net.DatagramSocket} view of an {@link ArrakisDatagramChannel} (its
 * {@code socket()}), and the delegate of every {@code DatagramSocket}/{@code MulticastSocket} an
 * application makes under the agent ({@link DatagramSocketHook}). Indistinguishable from the
 * JDK's own adaptor: it is a {@code MulticastSocket} overriding every public method of
 * {@code DatagramSocket} and {@code MulticastSocket} (in their order), each going to the channel,
 * whose exceptions become the JDK adaptor's ({@link AdaptorExceptions}); send and receive need
 * blocking mode; receive honours {@code SO_TIMEOUT} and leaves the socket usable when it expires.
 * Built with {@link DatagramSocketHook#noDelegate()}, so {@code java.net} must be open to us (the
 * agent arranges it; tests pass {@code --add-opens java.base/java.net=ALL-UNNAMED}).
 *
 * <p>Thread-safe: it keeps the receive timeout (volatile) and the interface cache (under its
 * lock); the channel serializes readers and writers.
 */
final class ArrakisDatagramSocketAdaptor extends MulticastSocket {
    private final ArrakisDatagramChannel channel;
    private volatile int timeout;

    /** Held by the TTL setters and {@link #send(DatagramPacket, byte)}: its TTL change and restore are one step. */
    private final ReentrantLock sendLock = new ReentrantLock();
    /** The interface {@link #setInterface} named, with the address it was named by ({@link #getInterface} answers that one). */
    private final Object outgoingInterfaceLock = new Object();
    private NetworkInterface outgoingNetworkInterface;
    private InetAddress outgoingInetAddress;

    private ArrakisDatagramSocketAdaptor(ArrakisDatagramChannel channel) throws IOException {
        super(DatagramSocketHook.noDelegate());
        this.channel = channel;
    }

    static DatagramSocket create(ArrakisDatagramChannel channel) {
        try {
            return new ArrakisDatagramSocketAdaptor(channel);
        } catch (IOException e) {
            throw new AssertionError("MulticastSocket(NO_DELEGATE) neither opens nor binds anything", e);
        }
    }

    // ------------------------------------------------------------------ java.net.DatagramSocket, in its order

    @Override
    public void bind(SocketAddress local) throws SocketException {
        InetSocketAddress address = local == null ? new InetSocketAddress(0) : inet(local);
        try {
            channel.bind(address);
        } catch (Exception e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    @Override
    public void connect(InetAddress address, int port) {
        if (address == null) {
            throw new IllegalArgumentException("Address can't be null");
        }
        try {
            connectInternal(new InetSocketAddress(address, port));
        } catch (SocketException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void connect(SocketAddress remote) throws SocketException {
        if (remote == null) {
            throw new IllegalArgumentException("Address can't be null");
        }
        connectInternal(inet(remote));
    }

    /** As the JDK's adaptor: connecting again is allowed, and a closed socket is silently left as it is. */
    private void connectInternal(InetSocketAddress remote) throws SocketException {
        try {
            channel.connectForAdaptor(remote);
        } catch (ClosedChannelException e) {
            // the JDK's adaptor ignores it too
        } catch (Exception e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    @Override
    public void disconnect() {
        try {
            channel.disconnect();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public boolean isBound() {
        return channel.isBoundForAdaptor();
    }

    @Override
    public boolean isConnected() {
        return channel.remoteAddressOrNull() != null;
    }

    @Override
    public InetAddress getInetAddress() {
        InetSocketAddress remote = channel.remoteAddressOrNull();
        return remote != null ? remote.getAddress() : null;
    }

    @Override
    public int getPort() {
        InetSocketAddress remote = channel.remoteAddressOrNull();
        return remote != null ? remote.getPort() : -1;
    }

    @Override
    public SocketAddress getRemoteSocketAddress() {
        return channel.remoteAddressOrNull();
    }

    @Override
    public SocketAddress getLocalSocketAddress() {
        return isClosed() ? null : channel.localAddressOrNull();
    }

    @Override
    public void send(DatagramPacket p) throws IOException {
        try {
            synchronized (p) {
                channel.sendPacket(p);
            }
        } catch (AlreadyConnectedException e) {
            throw new IllegalArgumentException("Connected and packet address differ");
        } catch (ClosedChannelException e) {
            throw new SocketException("Socket closed", e);
        }
    }

    @Override
    public void receive(DatagramPacket p) throws IOException {
        try {
            synchronized (p) {
                channel.receivePacket(p, timeout);
            }
        } catch (SocketTimeoutException | ClosedByInterruptException e) {
            throw e;
        } catch (InterruptedIOException e) {
            Thread thread = Thread.currentThread();
            if (thread.isVirtual() && thread.isInterrupted()) {
                close();
                throw new SocketException("Closed by interrupt");
            }
            throw e;
        } catch (ClosedChannelException e) {
            throw new SocketException("Socket closed", e);
        }
    }

    @Override
    public InetAddress getLocalAddress() {
        if (isClosed()) {
            return null;
        }
        InetSocketAddress local = channel.localAddressOrNull();
        return (local != null ? local : new InetSocketAddress(0)).getAddress();
    }

    @Override
    public int getLocalPort() {
        if (isClosed()) {
            return -1;
        }
        InetSocketAddress local = channel.localAddressOrNull();
        return local != null ? local.getPort() : 0;
    }

    @Override
    public void setSoTimeout(int timeout) throws SocketException {
        if (isClosed()) {
            throw new SocketException("Socket is closed");
        }
        if (timeout < 0) {
            throw new IllegalArgumentException("timeout < 0");
        }
        this.timeout = timeout;
    }

    @Override
    public int getSoTimeout() throws SocketException {
        if (isClosed()) {
            throw new SocketException("Socket is closed");
        }
        return timeout;
    }

    @Override
    public void setSendBufferSize(int size) throws SocketException {
        if (size <= 0) {
            throw new IllegalArgumentException("Invalid send size");
        }
        setSocketOption(StandardSocketOptions.SO_SNDBUF, size);
    }

    @Override
    public int getSendBufferSize() throws SocketException {
        return getSocketOption(StandardSocketOptions.SO_SNDBUF);
    }

    @Override
    public void setReceiveBufferSize(int size) throws SocketException {
        if (size <= 0) {
            throw new IllegalArgumentException("Invalid receive size");
        }
        setSocketOption(StandardSocketOptions.SO_RCVBUF, size);
    }

    @Override
    public int getReceiveBufferSize() throws SocketException {
        return getSocketOption(StandardSocketOptions.SO_RCVBUF);
    }

    @Override
    public void setReuseAddress(boolean on) throws SocketException {
        setSocketOption(StandardSocketOptions.SO_REUSEADDR, on);
    }

    @Override
    public boolean getReuseAddress() throws SocketException {
        return getSocketOption(StandardSocketOptions.SO_REUSEADDR);
    }

    @Override
    public void setBroadcast(boolean on) throws SocketException {
        setSocketOption(StandardSocketOptions.SO_BROADCAST, on);
    }

    @Override
    public boolean getBroadcast() throws SocketException {
        return getSocketOption(StandardSocketOptions.SO_BROADCAST);
    }

    @Override
    public void setTrafficClass(int tc) throws SocketException {
        setSocketOption(StandardSocketOptions.IP_TOS, tc);
    }

    @Override
    public int getTrafficClass() throws SocketException {
        return getSocketOption(StandardSocketOptions.IP_TOS);
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // DatagramSocket.close declares nothing; the channel is closed all the same.
            throw new UncheckedIOException("closing " + channel + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean isClosed() {
        return !channel.isOpen();
    }

    @Override
    public DatagramChannel getChannel() {
        return channel;
    }

    @Override
    public <T> DatagramSocket setOption(SocketOption<T> name, T value) throws IOException {
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

    /** A legacy setter: the channel's option, its exceptions as {@code SocketException}s. */
    private <T> void setSocketOption(SocketOption<T> name, T value) throws SocketException {
        try {
            channel.setOption(name, value);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    private <T> T getSocketOption(SocketOption<T> name) throws SocketException {
        try {
            return channel.getOption(name);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    /** The JDK's {@code Net.asInetSocketAddress}. */
    private static InetSocketAddress inet(SocketAddress address) {
        if (!(address instanceof InetSocketAddress isa)) {
            throw new UnsupportedAddressTypeException();
        }
        return isa;
    }

    // ------------------------------------------------------------------ java.net.MulticastSocket, in its order

    @Override
    @SuppressWarnings("removal")
    public void setTTL(byte ttl) throws IOException {
        setTimeToLive(Byte.toUnsignedInt(ttl));
    }

    @Override
    public void setTimeToLive(int ttl) throws IOException {
        sendLock.lock();
        try {
            setSocketOption(StandardSocketOptions.IP_MULTICAST_TTL, ttl);
        } finally {
            sendLock.unlock();
        }
    }

    @Override
    @SuppressWarnings("removal")
    public byte getTTL() throws IOException {
        return (byte) getTimeToLive();
    }

    @Override
    public int getTimeToLive() throws IOException {
        sendLock.lock();
        try {
            return getSocketOption(StandardSocketOptions.IP_MULTICAST_TTL);
        } finally {
            sendLock.unlock();
        }
    }

    @Override
    @Deprecated
    public void joinGroup(InetAddress group) throws IOException {
        Objects.requireNonNull(group);
        try {
            joinGroup(new InetSocketAddress(group, 0), null);
        } catch (IllegalArgumentException e) {
            // the one-argument form does not declare IllegalArgumentException
            throw new SocketException("joinGroup failed", e);
        }
    }

    @Override
    @Deprecated
    public void leaveGroup(InetAddress group) throws IOException {
        Objects.requireNonNull(group);
        try {
            leaveGroup(new InetSocketAddress(group, 0), null);
        } catch (IllegalArgumentException e) {
            throw new SocketException("leaveGroup failed", e);
        }
    }

    @Override
    public void joinGroup(SocketAddress mcastaddr, NetworkInterface netIf) throws IOException {
        InetAddress group = checkGroup(mcastaddr);
        NetworkInterface ni = netIf != null ? netIf : defaultNetworkInterface();
        if (isClosed()) {
            throw new SocketException("Socket is closed");
        }
        synchronized (this) {
            if (channel.membershipOf(group, ni) != null) {
                throw new SocketException("Already a member of group");
            }
            channel.join(group, ni);
        }
    }

    @Override
    public void leaveGroup(SocketAddress mcastaddr, NetworkInterface netIf) throws IOException {
        InetAddress group = checkGroup(mcastaddr);
        NetworkInterface ni = netIf != null ? netIf : defaultNetworkInterface();
        if (isClosed()) {
            throw new SocketException("Socket is closed");
        }
        synchronized (this) {
            var key = channel.membershipOf(group, ni);
            if (key == null) {
                throw new SocketException("Not a member of group");
            }
            key.drop();
        }
    }

    /** The group of a {@code joinGroup}/{@code leaveGroup} address, checked as the JDK's adaptor checks it. */
    private static InetAddress checkGroup(SocketAddress mcastaddr) throws SocketException {
        if (!(mcastaddr instanceof InetSocketAddress address)) {
            throw new IllegalArgumentException("Unsupported address type");
        }
        InetAddress group = address.getAddress();
        if (group == null) {
            throw new IllegalArgumentException("Unresolved address");
        }
        if (!group.isMulticastAddress()) {
            throw new SocketException("Not a multicast address");
        }
        return group;
    }

    @Override
    @Deprecated
    public void setInterface(InetAddress inf) throws SocketException {
        if (inf == null) {
            throw new SocketException("Invalid value 'null'");
        }
        NetworkInterface ni = NetworkInterface.getByInetAddress(inf);
        if (ni == null) {
            throw new SocketException("No network interface found with address " + inf.getHostAddress());
        }
        synchronized (outgoingInterfaceLock) {
            setNetworkInterface(ni);
            outgoingNetworkInterface = ni;
            outgoingInetAddress = inf;
        }
    }

    @Override
    @Deprecated
    public InetAddress getInterface() throws SocketException {
        synchronized (outgoingInterfaceLock) {
            NetworkInterface ni = outgoingNetworkInterface();
            if (ni != null) {
                if (ni.equals(outgoingNetworkInterface)) {
                    return outgoingInetAddress;
                }
                // changed through IP_MULTICAST_IF since: answer with its first address from now on
                InetAddress first = ni.inetAddresses().findFirst().orElse(null);
                outgoingNetworkInterface = ni;
                outgoingInetAddress = first;
                return first;
            }
        }
        return anyInetAddress();
    }

    @Override
    public void setNetworkInterface(NetworkInterface netIf) throws SocketException {
        try {
            setOption(StandardSocketOptions.IP_MULTICAST_IF, netIf);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    @Override
    public NetworkInterface getNetworkInterface() throws SocketException {
        NetworkInterface ni = outgoingNetworkInterface();
        return ni != null ? ni : anyNetworkInterface();
    }

    @Override
    @Deprecated
    public void setLoopbackMode(boolean disable) throws SocketException {
        setSocketOption(StandardSocketOptions.IP_MULTICAST_LOOP, !disable);
    }

    @Override
    @Deprecated
    public boolean getLoopbackMode() throws SocketException {
        return !getSocketOption(StandardSocketOptions.IP_MULTICAST_LOOP);
    }

    @Override
    @SuppressWarnings("removal")
    public void send(DatagramPacket p, byte ttl) throws IOException {
        sendLock.lock();
        try {
            int before = getTimeToLive();
            try {
                setTTL(ttl);
                send(p);
            } finally {
                setTimeToLive(before);
            }
        } finally {
            sendLock.unlock();
        }
    }

    /** {@code IP_MULTICAST_IF}, or null when none was set. */
    private NetworkInterface outgoingNetworkInterface() throws SocketException {
        try {
            return getOption(StandardSocketOptions.IP_MULTICAST_IF);
        } catch (IOException e) {
            throw AdaptorExceptions.toSocketException(e);
        }
    }

    /**
     * The interface a join or leave without one uses: {@code IP_MULTICAST_IF} if set, else the
     * JDK's default interface (macOS only), else the "any interface" placeholder (index 0).
     */
    private NetworkInterface defaultNetworkInterface() throws SocketException {
        NetworkInterface ni = outgoingNetworkInterface();
        if (ni == null) {
            ni = JavaNet.defaultInterface();
        }
        return ni != null ? ni : anyNetworkInterface();
    }

    /** The placeholder for "any interface" the JDK's adaptor answers with: index 0, the wildcard address. */
    private static NetworkInterface anyNetworkInterface() {
        InetAddress any = anyInetAddress();
        return JavaNet.newInterface(any.getHostName(), 0, new InetAddress[] {any});
    }

    private static InetAddress anyInetAddress() {
        return new InetSocketAddress(0).getAddress();
    }

    // ------------------------------------------------------------------ packet fields, for the channel

    /** The room a receive may fill: the packet's buffer length, which a received datagram's length does not shrink. */
    static int bufferLength(DatagramPacket p) {
        return (int) JavaNet.BUF_LENGTH.get(p);
    }

    /** Sets the received length without shrinking the buffer length ({@code setLength} would shrink both). */
    static void setReceivedLength(DatagramPacket p, int length) {
        JavaNet.LENGTH.set(p, length);
    }

    /**
     * Non-public members of {@code java.net} the JDK's adaptor uses too; reachable because
     * {@code java.net} is open to us, as {@link DatagramSocketHook#noDelegate()} needs already.
     */
    private static final class JavaNet {
        static final VarHandle LENGTH;
        static final VarHandle BUF_LENGTH;
        static final MethodHandle DEFAULT_INTERFACE;
        static final MethodHandle NEW_INTERFACE;

        static {
            try {
                MethodHandles.Lookup packet = MethodHandles.privateLookupIn(DatagramPacket.class, MethodHandles.lookup());
                LENGTH = packet.findVarHandle(DatagramPacket.class, "length", int.class);
                BUF_LENGTH = packet.findVarHandle(DatagramPacket.class, "bufLength", int.class);
                MethodHandles.Lookup nif = MethodHandles.privateLookupIn(NetworkInterface.class, MethodHandles.lookup());
                DEFAULT_INTERFACE = nif.findStatic(NetworkInterface.class, "getDefault",
                        MethodType.methodType(NetworkInterface.class));
                NEW_INTERFACE = nif.findConstructor(NetworkInterface.class,
                        MethodType.methodType(void.class, String.class, int.class, InetAddress[].class));
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("Arrakis: java.net is not open to "
                        + ArrakisDatagramSocketAdaptor.class.getModule() + ", or this JDK's DatagramPacket and"
                        + " NetworkInterface differ from JDK 25's: start the JVM with -javaagent:<arrakis agent jar>,"
                        + " or add --add-opens java.base/java.net=ALL-UNNAMED", e);
            }
        }

        static NetworkInterface defaultInterface() {
            try {
                return (NetworkInterface) DEFAULT_INTERFACE.invokeExact();
            } catch (Throwable e) {
                throw new IllegalStateException("NetworkInterface.getDefault failed", e);
            }
        }

        static NetworkInterface newInterface(String name, int index, InetAddress[] addresses) {
            try {
                return (NetworkInterface) NEW_INTERFACE.invokeExact(name, index, addresses);
            } catch (Throwable e) {
                throw new IllegalStateException("new NetworkInterface(" + name + ", " + index + ") failed", e);
            }
        }
    }
}

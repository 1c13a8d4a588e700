package io.arrakis.stack.udp;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The receive side of a bound UDP port: datagrams wait in an off-heap ring of
 * {@code receiveBufferBytes} (SO_RCVBUF), each as a record of source address, source port,
 * length and payload. When the ring cannot hold a datagram it is dropped and counted, as the
 * kernel does. Owned by the stack's polling thread; the provider calls it on that thread.
 *
 * <p>A connected socket only accepts datagrams from its peer, and learns of ICMP port
 * unreachable errors for datagrams it sent, reported once by {@link #takeError()}.
 */
public final class UdpSocket {
    private static final int RECORD_HEADER = 8;
    private static final ValueLayout.OfInt BIG_ENDIAN_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(
            java.nio.ByteOrder.BIG_ENDIAN);

    /** Four bytes of scratch: record header words may wrap around the ring's end. */
    private final MemorySegment header = MemorySegment.ofArray(new byte[4]);

    private final int port;
    private final MemorySegment ring;
    private final long capacity;
    private long head;
    private long tail;
    private int queued;
    private int connectedAddress;
    private int connectedPort;
    private int pendingError;
    private long dropped;
    private boolean closed;

    private int lastSourceAddress;
    private int lastSourcePort;
    private UdpReceiver receiver;
    private Runnable readableListener;
    private int[] groups = new int[0];

    /** ICMP-reported error codes, as {@link #takeError()} returns them. */
    public static final int ERROR_NONE = 0;
    public static final int ERROR_PORT_UNREACHABLE = 1;

    public UdpSocket(int port, int receiveBufferBytes, Arena arena) {
        this.port = port;
        this.capacity = Math.max(receiveBufferBytes, 2048);
        this.ring = arena.allocate(capacity, 8);
    }

    public int port() {
        return port;
    }

    /** Restricts receiving to {@code address:port} (host order); 0, 0 disconnects. */
    public void connect(int address, int remotePort) {
        connectedAddress = address;
        connectedPort = remotePort;
    }

    public boolean isConnected() {
        return connectedAddress != 0;
    }

    public int connectedAddress() {
        return connectedAddress;
    }

    public int connectedPort() {
        return connectedPort;
    }

    /**
     * Switches this socket to the native receive path: datagrams go to {@code receiver} in place,
     * with no copy, and no longer to {@link #receive}. {@code null} switches back.
     */
    public void setReceiver(UdpReceiver receiver) {
        this.receiver = receiver;
    }

    /**
     * Runs {@code listener} (on the polling thread, during {@code poll}) each time a datagram is
     * queued for {@link #receive} or an ICMP error is recorded for {@link #takeError}, so whoever
     * waits for this socket learns it without looking at every socket after every poll. {@code null}
     * removes it.
     */
    public void setReadableListener(Runnable listener) {
        this.readableListener = listener;
    }

    /** Called by the stack for each datagram to this port; returns false if it was not queued. */
    public boolean deliver(int sourceAddress, int sourcePort, MemorySegment packet, long payloadAt, int length) {
        if (closed || (connectedAddress != 0 && (sourceAddress != connectedAddress || sourcePort != connectedPort))) {
            return false;
        }
        UdpReceiver direct = receiver;
        if (direct != null) {
            direct.datagram(packet, payloadAt, length, sourceAddress, sourcePort);
            return true;
        }
        long needed = RECORD_HEADER + length;
        if (capacity - (tail - head) < needed) {
            dropped++;
            return false;
        }
        putInt(tail, sourceAddress);
        putInt(tail + 4, (sourcePort << 16) | length);
        copyIn(packet, payloadAt, tail + RECORD_HEADER, length);
        tail += needed;
        queued++;
        Runnable listener = readableListener;
        if (listener != null) {
            listener.run();
        }
        return true;
    }

    /** Called by the stack when ICMP reports our datagram to {@code address:port} unreachable. */
    public void reportUnreachable(int address, int remotePort) {
        // Like Linux, only a connected socket hears about it: otherwise whom would we tell?
        if (connectedAddress == address && connectedPort == remotePort) {
            pendingError = ERROR_PORT_UNREACHABLE;
            Runnable listener = readableListener;
            if (listener != null) {
                listener.run();
            }
        }
    }

    /** Records membership of {@code group}; false if already a member. Use {@code NetworkStack.joinGroup}, which also tells the network. */
    public boolean join(int group) {
        if (isMemberOf(group)) {
            return false;
        }
        groups = java.util.Arrays.copyOf(groups, groups.length + 1);
        groups[groups.length - 1] = group;
        return true;
    }

    /** Forgets membership of {@code group}; false if not a member. */
    public boolean leave(int group) {
        for (int i = 0; i < groups.length; i++) {
            if (groups[i] == group) {
                groups[i] = groups[groups.length - 1];
                groups = java.util.Arrays.copyOf(groups, groups.length - 1);
                return true;
            }
        }
        return false;
    }

    public boolean isMemberOf(int group) {
        for (int g : groups) {
            if (g == group) {
                return true;
            }
        }
        return false;
    }

    /** The multicast groups this socket joined (a copy). */
    public int[] groups() {
        return groups.clone();
    }

    /** Whether an ICMP-reported error waits for {@link #takeError()}. */
    public boolean hasPendingError() {
        return pendingError != ERROR_NONE;
    }

    /** The pending error, cleared by this call. */
    public int takeError() {
        int error = pendingError;
        pendingError = ERROR_NONE;
        return error;
    }

    public boolean isReadable() {
        return queued > 0 || pendingError != ERROR_NONE;
    }

    /**
     * Copies the next datagram into {@code destination} (at most {@code maxLength} bytes; the
     * rest of a longer datagram is discarded, as {@code DatagramChannel.receive} does) and
     * returns its full length, or -1 if none is waiting. The sender is then in
     * {@link #lastSourceAddress()}/{@link #lastSourcePort()}.
     */
    public int receive(MemorySegment destination, long offset, int maxLength) {
        if (queued == 0) {
            return -1;
        }
        lastSourceAddress = getInt(head);
        int portAndLength = getInt(head + 4);
        lastSourcePort = portAndLength >>> 16;
        int length = portAndLength & 0xFFFF;
        copyOut(head + RECORD_HEADER, destination, offset, Math.min(length, maxLength));
        head += RECORD_HEADER + length;
        queued--;
        return length;
    }

    public int lastSourceAddress() {
        return lastSourceAddress;
    }

    public int lastSourcePort() {
        return lastSourcePort;
    }

    /** Datagrams dropped because the receive buffer was full. */
    public long dropped() {
        return dropped;
    }

    public int queuedDatagrams() {
        return queued;
    }

    public void close() {
        closed = true;
        head = tail;
        queued = 0;
    }

    public boolean isClosed() {
        return closed;
    }

    // The ring is addressed by ever-growing positions; a record may wrap around its end.

    private void putInt(long position, int value) {
        header.set(BIG_ENDIAN_INT, 0, value);
        copyIn(header, 0, position, 4);
    }

    private int getInt(long position) {
        copyOut(position, header, 0, 4);
        return header.get(BIG_ENDIAN_INT, 0);
    }

    private void copyIn(MemorySegment source, long sourceAt, long position, int length) {
        long at = position % capacity;
        long first = Math.min(length, capacity - at);
        MemorySegment.copy(source, sourceAt, ring, at, first);
        if (first < length) {
            MemorySegment.copy(source, sourceAt + first, ring, 0, length - first);
        }
    }

    private void copyOut(long position, MemorySegment destination, long destinationAt, int length) {
        long at = position % capacity;
        long first = Math.min(length, capacity - at);
        MemorySegment.copy(ring, at, destination, destinationAt, first);
        if (first < length) {
            MemorySegment.copy(ring, 0, destination, destinationAt + first, length - first);
        }
    }
}

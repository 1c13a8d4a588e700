package io.arrakis.stack;

import io.arrakis.observe.ConnectionClosedEvent;
import io.arrakis.observe.ConnectionOpenedEvent;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpCounter;
import io.arrakis.stack.tcp.TcpCounters;
import io.arrakis.stack.tcp.TcpIsn;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.tcp.TcpReset;
import io.arrakis.stack.tcp.TcpSegmentSink;
import io.arrakis.stack.tcp.TcpState;
import io.arrakis.stack.wire.Icmp;
import io.arrakis.stack.wire.Ipv4;
import io.arrakis.stack.wire.Tcp;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * TCP on a {@link NetworkStack}: demultiplexes segments to connections (by remote address,
 * remote port and local port) and listeners (by local port), answers strays with RST, keeps
 * every connection's and listener's deadline in one {@link TimerQueue}, and is the
 * {@link TcpSegmentSink} the engines write into (it fills the checksum and hands the segment to
 * the stack's IPv4 output). Runs on the stack's polling thread, like everything of the stack.
 *
 * <p>The application-facing calls ({@link #connect}, {@link #listen}, {@link #write},
 * {@link #read}, {@link #close}…) go through this class rather than straight to the engine, so
 * that after each one the connection's timer is re-armed, and a closed connection leaves the
 * tables.
 */
public final class TcpLayer implements IpProtocolHandler, TcpSegmentSink {
    /** RFC 6335's dynamic range, as Linux uses (net.ipv4.ip_local_port_range). */
    private static final int EPHEMERAL_FIRST = 32_768;
    private static final int EPHEMERAL_LAST = 60_999;
    private static final int IPV4_AND_TCP_HEADERS = Ipv4.MIN_HEADER_LENGTH + Tcp.MIN_HEADER_LENGTH;

    private final NetworkStack stack;
    private final TcpConfig config;
    private final TcpCounters counters = new TcpCounters();
    private final TcpIsn isn;
    private final FlowTable<ConnectionTimer> connections = new FlowTable<>(64);
    private final ListenerTimer[] listeners = new ListenerTimer[65_536];
    private final TimerQueue timers = new TimerQueue();
    private final SplittableRandom random;
    private int nextEphemeral;

    /** Where segments of flows this layer does not hold may belong instead, or null (see {@link #setStrayDiverter}). */
    private StrayDiverter diverter;
    /** Told of each connection the layer forgets once it reached CLOSED, or null. */
    private java.util.function.Consumer<TcpConnection> forgotten;

    /** A segment found no free packet buffer since the last retry (see {@link #runTimers}). */
    private boolean sinkBlocked;

    // The segment being built between begin() and send().
    private long segmentAt = -1;
    private int segmentSource;
    private int segmentDestination;

    /** Plugs TCP into {@code stack}; {@code seed} keys the ISN generator and ephemeral ports. */
    public TcpLayer(NetworkStack stack, TcpConfig config, long seed) {
        this.stack = stack;
        this.config = config;
        this.random = new SplittableRandom(seed);
        this.isn = new TcpIsn(random.nextLong(), random.nextLong());
        this.nextEphemeral = EPHEMERAL_FIRST + random.nextInt(EPHEMERAL_LAST - EPHEMERAL_FIRST + 1);
        stack.setTcpHandler(this);
    }

    public TcpCounters counters() {
        return counters;
    }

    /** The MSS we advertise: the route's MTU less the IPv4 and TCP headers. */
    private int mssTo(int destination) {
        return stack.mtuTo(destination) - IPV4_AND_TCP_HEADERS;
    }

    // ------------------------------------------------------------------ application side

    /**
     * Opens a connection to {@code remoteAddress:remotePort} from {@code localPort} (0: an
     * ephemeral port) and sends the SYN. Watch {@link TcpConnection#isConnected()} or the
     * events for the outcome.
     *
     * @throws IllegalStateException if the 4-tuple is taken or no ephemeral port is free
     */
    public TcpConnection connect(int remoteAddress, int remotePort, int localPort, int sendBufferSize,
            int receiveBufferSize, long now) {
        int port = localPort != 0 ? localPort : ephemeralPort(remoteAddress, remotePort);
        long key = FlowTable.key(remoteAddress, remotePort, port);
        if (connections.get(key) != null) {
            throw new IllegalStateException("a TCP connection " + stack.config().address() + ":" + port + " -> "
                    + remoteAddress + ":" + remotePort + " already exists");
        }
        int local = stack.config().address();
        TcpConnection connection = new TcpConnection(config, this, counters, local, port, remoteAddress, remotePort,
                isn.isn(local, port, remoteAddress, remotePort, now), mssTo(remoteAddress), sendBufferSize,
                receiveBufferSize);
        ConnectionTimer timer = register(connection, key);
        connection.flush(now);
        after(timer, now);
        return connection;
    }

    /**
     * Listens on {@code port}.
     *
     * @throws IllegalStateException if something already listens there
     */
    public TcpListener listen(int port, int backlog, int sendBufferSize, int receiveBufferSize) {
        if (listeners[port] != null) {
            throw new IllegalStateException("TCP port " + port + " already has a listener on " + stack);
        }
        TcpListener listener = new TcpListener(config, this, counters, isn, stack.config().address(), port,
                mssTo(stack.config().gateway() != 0 ? stack.config().gateway() : stack.config().address()), backlog,
                sendBufferSize, receiveBufferSize);
        listeners[port] = new ListenerTimer(listener);
        return listener;
    }

    /** The next established connection of {@code listener}, or null. */
    public TcpConnection accept(TcpListener listener) {
        return listener.accept();
    }

    public void closeListener(TcpListener listener, long now) {
        ListenerTimer timer = listeners[listener.localPort()];
        listener.close(now);
        if (timer != null && timer.listener == listener) {
            timers.cancel(timer);
            listeners[listener.localPort()] = null;
        }
    }

    public int write(TcpConnection connection, MemorySegment source, long offset, int length, long now) {
        int written = connection.write(source, offset, length, now);
        after(connection, now);
        return written;
    }

    public int read(TcpConnection connection, MemorySegment destination, long offset, int length, long now) {
        int read = connection.read(destination, offset, length, now);
        after(connection, now);
        return read;
    }

    /**
     * The native path: queues {@code n} bytes the application wrote in place into
     * {@link TcpConnection#sendBuffer()} at {@link TcpConnection#writableOffset()}.
     */
    public void commit(TcpConnection connection, int n, long now) {
        connection.commit(n, now);
        after(connection, now);
    }

    /**
     * The native path: marks {@code n} bytes read in place from
     * {@link TcpConnection#receiveBuffer()} at {@link TcpConnection#readableOffset()} as consumed.
     */
    public void consume(TcpConnection connection, int n, long now) {
        connection.consume(n, now);
        after(connection, now);
    }

    public void shutdownOutput(TcpConnection connection, long now) {
        connection.shutdownOutput(now);
        after(connection, now);
    }

    public void close(TcpConnection connection, long now) {
        connection.close(now);
        after(connection, now);
    }

    public void abort(TcpConnection connection, long now) {
        connection.abort(now);
        after(connection, now);
    }

    /** Sends what the windows allow on every connection whose output waited for buffers. */
    public void flushBlocked(long now) {
        connections.forEach(timer -> {
            if (timer.connection.outputBlocked()) {
                timer.connection.flush(now);
                after(timer, now);
            }
        });
    }

    public int connectionCount() {
        return connections.size();
    }

    // ------------------------------------------------------------------ several stacks, one address

    /**
     * Another TCP layer of the same host address may hold a connection this one does not (one
     * stack per queue of one VNIC, connections moving between them): a segment that matches no
     * connection here is offered to the diverter first, before a listener or a RST sees it.
     */
    public interface StrayDiverter {
        /**
         * Offered a segment ({@code length} TCP bytes at {@code at}, checksum verified) from
         * {@code source} to {@code destination} that matches no connection of this layer; returns
         * true when it took it (copied it: the memory is the receive buffer, reused after the call).
         */
        boolean divert(MemorySegment packet, long at, int length, int source, int destination, int localPort,
                int remotePort);
    }

    /** Sets (or with null removes) the {@link StrayDiverter}. On the stack's thread. */
    public void setStrayDiverter(StrayDiverter diverter) {
        this.diverter = diverter;
    }

    /** Tells {@code listener} of every connection forgotten after it reached CLOSED (not of those {@linkplain #release released}). */
    public void onForgotten(java.util.function.Consumer<TcpConnection> listener) {
        this.forgotten = listener;
    }

    /**
     * Takes {@code connection} out of this layer (its flow table entry and its timer) without
     * closing it, so that another layer of the same address can {@link #adopt} it; returns false
     * (and changes nothing) when this layer does not hold it. Segments for it that arrive here
     * afterwards go to the {@link StrayDiverter}.
     */
    public boolean release(TcpConnection connection) {
        long key = FlowTable.key(connection.remoteAddress(), connection.remotePort(), connection.localPort());
        ConnectionTimer timer = connections.get(key);
        if (timer == null || timer.connection != connection) {
            return false;
        }
        timers.cancel(timer);
        connections.remove(key);
        return true;
    }

    /**
     * Takes over a connection {@linkplain #release released} by another layer of the same host
     * address: it now sends through this layer's stack, counts into this layer's counters, and
     * its timer runs here. The caller holds both layers' stacks (their locks) for the move.
     *
     * @throws IllegalStateException if this layer already has a connection on the same 4-tuple,
     *     or the connection belongs to another address
     */
    public void adopt(TcpConnection connection, long now) {
        if (connection.localAddress() != stack.config().address()) {
            throw new IllegalStateException("connection " + connection.info() + " is not of this stack's address "
                    + io.arrakis.device.Ipv4Text.format(stack.config().address()));
        }
        long key = FlowTable.key(connection.remoteAddress(), connection.remotePort(), connection.localPort());
        if (connections.get(key) != null) {
            throw new IllegalStateException("a TCP connection on the 4-tuple of " + connection.info()
                    + " already exists on " + stack);
        }
        connection.rehome(this, counters);
        ConnectionTimer timer = new ConnectionTimer(connection, key);
        connections.put(key, timer);
        after(timer, now);
    }

    // ------------------------------------------------------------------ from the stack

    @Override
    public void received(MemorySegment packet, long at, int length, int source, int destination, long now) {
        if (length < Tcp.MIN_HEADER_LENGTH || !Tcp.checksumValid(packet, at, length, source, destination)) {
            stack.counters().increment(length < Tcp.MIN_HEADER_LENGTH ? StackCounter.DROPPED_MALFORMED
                    : StackCounter.DROPPED_BAD_L4_CHECKSUM);
            return;
        }
        int localPort = Tcp.destinationPort(packet, at);
        int remotePort = Tcp.sourcePort(packet, at);
        ConnectionTimer timer = remotePort == 0 || localPort == 0 ? null
                : connections.get(FlowTable.key(source, remotePort, localPort));
        if (timer != null) {
            boolean consumed = timer.connection.segmentArrived(packet, at, length, now);
            after(timer, now);
            if (consumed) {
                return;
            }
            // A SYN reopened a 4-tuple in TIME_WAIT: the old connection is CLOSED (and gone from
            // the table after `after`), and the listener takes the same segment.
        }
        StrayDiverter d = diverter;
        if (timer == null && d != null && localPort != 0 && remotePort != 0
                && d.divert(packet, at, length, source, destination, localPort, remotePort)) {
            return;
        }
        ListenerTimer listening = listeners[localPort];
        if (listening != null) {
            TcpConnection established = listening.listener.segmentArrived(packet, at, length, destination, source, now);
            if (established != null) {
                after(register(established, FlowTable.key(source, remotePort, localPort)), now);
            }
            timers.schedule(listening, listening.listener.nextDeadline());
            return;
        }
        TcpReset.replyToStray(packet, at, length, destination, source, this, counters);
    }

    @Override
    public void unreachable(int icmpCode, MemorySegment original, long at, int length, int nextHopMtu, long now) {
        long tcp = at + Ipv4.headerLength(original, at);
        int remoteAddress = Ipv4.destination(original, at);
        int localPort = Tcp.sourcePort(original, tcp);
        int remotePort = Tcp.destinationPort(original, tcp);
        ConnectionTimer timer = connections.get(FlowTable.key(remoteAddress, remotePort, localPort));
        // The quoted sequence number must be one in flight, or a blind attacker could shrink our
        // MSS or kill a connect (RFC 5927 §4.1).
        if (timer == null || !timer.connection.icmpQuoteAcceptable(Tcp.sequence(original, tcp))) {
            return;
        }
        if (nextHopMtu > 0) {
            timer.connection.pathMtuDecreased(nextHopMtu, now);
        } else if (icmpCode == Icmp.CODE_PROTOCOL_UNREACHABLE || icmpCode == Icmp.CODE_PORT_UNREACHABLE) {
            timer.connection.hardError(now);
        }
        after(timer, now);
    }

    @Override
    public long nextDeadline() {
        return timers.nextDeadline();
    }

    @Override
    public boolean outputBlocked() {
        return sinkBlocked;
    }

    /**
     * Runs the due timers, then, if a segment found no packet buffer since the last poll, retries
     * the connections that wait for one ({@link #flushBlocked}): the sink's side of the contract
     * (the engine sends on the next flush, which the core calls once buffers are free again),
     * since a blocked connection with nothing in flight has no timer and no ACK to wake it.
     * Every poll releases the buffers it received, just before calling this.
     */
    @Override
    public void runTimers(long now) {
        timers.expire(now);
        if (sinkBlocked) {
            sinkBlocked = false;
            flushBlocked(now);
        }
    }

    // ------------------------------------------------------------------ the sink

    @Override
    public long begin(int sourceAddress, int destinationAddress, int maxTcpBytes) {
        // An engine asking for more than the MTU has a bug; beginPacket says so rather than clamp.
        long at = stack.beginPacket(maxTcpBytes);
        if (at >= 0) {
            segmentAt = at;
            segmentSource = sourceAddress;
            segmentDestination = destinationAddress;
        } else {
            sinkBlocked = true;
        }
        return at;
    }

    @Override
    public MemorySegment memory() {
        return stack.memory();
    }

    @Override
    public void send(int tcpBytes) {
        Tcp.fillChecksum(stack.memory(), segmentAt, tcpBytes, segmentSource, segmentDestination);
        segmentAt = -1;
        try {
            stack.sendPacket(tcpBytes, Ipv4.PROTOCOL_TCP, segmentDestination);
        } catch (IOException e) {
            // The device refused the frame outright (e.g. the interface went away): the engine
            // treats it as lost and retransmits; the stack's counters say what happened.
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ bookkeeping

    private ConnectionTimer register(TcpConnection connection, long key) {
        ConnectionTimer timer = new ConnectionTimer(connection, key);
        connections.put(key, timer);
        ConnectionOpenedEvent event = new ConnectionOpenedEvent();
        if (event.isEnabled()) {
            event.local = endpoint(connection.localAddress(), connection.localPort());
            event.remote = endpoint(connection.remoteAddress(), connection.remotePort());
            event.state = connection.state().name();
            event.commit();
        }
        return timer;
    }

    private void forget(ConnectionTimer timer) {
        connections.remove(timer.key);
        java.util.function.Consumer<TcpConnection> told = forgotten;
        if (told != null) {
            told.accept(timer.connection);
        }
        ConnectionClosedEvent event = new ConnectionClosedEvent();
        if (event.isEnabled()) {
            TcpConnection c = timer.connection;
            event.local = endpoint(c.localAddress(), c.localPort());
            event.remote = endpoint(c.remoteAddress(), c.remotePort());
            event.bytesIn = c.counters().get(TcpCounter.DATA_BYTES_IN);
            event.bytesOut = c.counters().get(TcpCounter.DATA_BYTES_OUT);
            event.retransmits = c.retransmittedSegments();
            event.failure = c.failure() == null ? "NONE" : c.failure().name();
            event.commit();
        }
    }

    private static String endpoint(int address, int port) {
        return io.arrakis.device.Ipv4Text.format(address) + ":" + port;
    }

    /**
     * Calls {@code action} for every connection the layer holds (not those still in a listener's
     * queues), for diagnostics: {@code arrakis ss}, statistics. On the stack's thread.
     */
    public void forEachConnection(java.util.function.Consumer<TcpConnection> action) {
        connections.forEach(timer -> action.accept(timer.connection));
    }

    private void after(TcpConnection connection, long now) {
        ConnectionTimer timer = connections.get(
                FlowTable.key(connection.remoteAddress(), connection.remotePort(), connection.localPort()));
        if (timer != null && timer.connection == connection) {
            after(timer, now);
        }
    }

    /** Re-arms the connection's timer, or forgets it once it reached CLOSED. */
    private void after(ConnectionTimer timer, long now) {
        if (timer.connection.state() == TcpState.CLOSED) {
            timers.cancel(timer);
            if (connections.get(timer.key) == timer) {
                forget(timer);
            }
            return;
        }
        timers.schedule(timer, timer.connection.nextDeadline());
    }

    private int ephemeralPort(int remoteAddress, int remotePort) {
        int range = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
        for (int tries = 0; tries < range; tries++) {
            int port = nextEphemeral;
            nextEphemeral = port == EPHEMERAL_LAST ? EPHEMERAL_FIRST : port + 1;
            if (listeners[port] == null && connections.get(FlowTable.key(remoteAddress, remotePort, port)) == null) {
                return port;
            }
        }
        throw new IllegalStateException("no ephemeral port free toward " + remoteAddress + ":" + remotePort);
    }

    private final class ConnectionTimer extends TimerQueue.Timer {
        final TcpConnection connection;
        final long key;

        ConnectionTimer(TcpConnection connection, long key) {
            this.connection = connection;
            this.key = key;
        }

        @Override
        protected void fire(long now) {
            connection.onTimer(now);
            after(this, now);
        }
    }

    private final class ListenerTimer extends TimerQueue.Timer {
        final TcpListener listener;

        ListenerTimer(TcpListener listener) {
            this.listener = listener;
        }

        @Override
        protected void fire(long now) {
            listener.onTimer(now);
            timers.schedule(this, listener.nextDeadline());
        }
    }
}

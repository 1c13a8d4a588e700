package io.arrakis.provider;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.VnicControl;
import io.arrakis.stack.FlowTable;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpState;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The process's stacks when it drives several queues of its VNIC ({@code arrakis.queues} > 1),
 * one {@link UserStack} per queue, and the moves of TCP connections between them.
 *
 * <p>Everything starts on the stack of queue 0: listeners, datagram channels, blocking
 * channels, and every connection when it is accepted or connected (unmatched flows arrive on
 * queue 0; where the VNIC cannot steer, as on AF_XDP, a segment that arrives on another queue and
 * is no moved connection's is handed to queue 0's stack). A selector gets a stack of its own, round robin, when the first TCP connection is
 * registered with it ({@link #homeFor}); a connection registered with a selector whose stack is
 * another {@linkplain #move moves} there: a receive filter steers its flow to that stack's queue,
 * its state moves from one TCP layer to the other under both stacks' locks, and a segment of it
 * that still arrives on another stack (sent before the peer had the new filter table, or on its
 * way meanwhile) is handed to the stack that holds it, never answered with a RST. When the
 * connection is over (forgotten by its stack after CLOSED) its filter is removed by a helper
 * thread, which sleeps while there is nothing to remove.
 *
 * <p>Thread-safe: moves run in the registering thread; the diverter runs inside a stack's poll
 * (under that stack's lock) and takes no other lock.
 */
final class QueueStacks implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(QueueStacks.class.getName());

    private final List<UserStack> stacks;
    private final VnicControl control;
    private final int address;
    private final AtomicInteger nextHome = new AtomicInteger();
    /**
     * Connections that moved (or are moving), by {@link FlowTable#key}: whichever stack a segment
     * of theirs reaches, it is handed to the stack their channel is on now.
     */
    private final ConcurrentHashMap<Long, ArrakisSocketChannel> moved = new ConcurrentHashMap<>();
    private final AtomicLong moves = new AtomicLong();
    private final AtomicLong refusedMoves = new AtomicLong();
    private final LinkedBlockingQueue<Runnable> cleanups = new LinkedBlockingQueue<>();
    private final Thread cleaner;
    private volatile boolean closed;
    private volatile boolean refusalLogged;

    QueueStacks(List<UserStack> stacks) {
        this.stacks = List.copyOf(stacks);
        UserStack first = stacks.get(0);
        this.control = first.vnic().control();
        this.address = first.address();
        for (UserStack s : this.stacks) {
            s.lock().lock();
            try {
                s.tcp().setStrayDiverter((packet, at, length, source, destination, localPort, remotePort) ->
                        divert(s, packet, at, length, source, destination, localPort, remotePort));
                s.tcp().onForgotten(c -> forgotten(s, c));
                if (s != first) {
                    // UDP never moves: a datagram that arrived on another queue belongs to queue 0's stack.
                    s.stack().setUdpStrayDiverter((packet, at, length, source, destination) -> {
                        first.divertUdpHere(packet, at, length, source, destination);
                        return true;
                    });
                }
            } finally {
                s.lock().unlock();
            }
        }
        this.cleaner = Thread.ofPlatform().daemon().name("arrakis-filters-" + first.vnic().name())
                .unstarted(this::cleanLoop);
        cleaner.start();
    }

    List<UserStack> stacks() {
        return stacks;
    }

    /** The stack for a selector that has none yet: the next one, round robin, starting with queue 0's. */
    UserStack nextHome() {
        return stacks.get(Math.floorMod(nextHome.getAndIncrement(), stacks.size()));
    }

    /** Connections moved to another stack so far. */
    long moves() {
        return moves.get();
    }

    /** Moves not made because the VNIC refused the receive filter (e.g. its filter table was full). */
    long refusedMoves() {
        return refusedMoves.get();
    }

    /** The receive filters installed for moved connections and not yet removed. */
    int movedFlows() {
        return moved.size();
    }

    /**
     * Moves {@code channel}'s TCP connection to stack {@code to}: steers its flow to {@code to}'s
     * queue (one control-plane round trip), then moves the connection's state under both stacks'
     * locks. Returns whether it now lives on {@code to}; false (nothing changed) when the channel
     * has no user-level connection, it is over, or the VNIC refused the filter (the connection
     * then stays where it is and works, its selector judging it under its own stack's lock).
     */
    boolean move(ArrakisSocketChannel channel, UserStack to) {
        TcpConnection c = channel.userConnection();
        UserStack from = channel.userStack();
        if (c == null || from == null || closed) {
            return false;
        }
        if (from == to) {
            return true;
        }
        long key = FlowTable.key(c.remoteAddress(), c.remotePort(), c.localPort());
        FlowFilter filter = new FlowFilter(FlowFilter.Protocol.TCP, address, c.localPort(), c.remoteAddress(),
                c.remotePort());
        ArrakisSocketChannel previous = moved.putIfAbsent(key, channel);
        if (previous != null && previous != channel) {
            return false; // an earlier connection on the same 4-tuple is still winding down
        }
        try {
            if (from.queueIndex() != 0) {
                control.removeReceiveFilter(filter); // a filter names one queue: out with the old one first
            }
            if (to.queueIndex() != 0) {
                control.addReceiveFilter(filter, to.queueIndex());
            }
        } catch (IOException | RuntimeException e) {
            refusedMoves.incrementAndGet();
            if (!refusalLogged) {
                refusalLogged = true;
                LOG.log(System.Logger.Level.WARNING, "arrakis: connection " + c.info() + " stays on queue "
                        + from.queueIndex() + " instead of moving to queue " + to.queueIndex()
                        + " (its selector's): the VNIC refused its receive filter: " + e.getMessage()
                        + ". It works there, at the cost of its selector taking two stacks' locks; "
                        + "logged once");
            }
            if (from.queueIndex() == 0) {
                moved.remove(key, channel);
            }
            return false;
        }
        UserStack low = from.queueIndex() < to.queueIndex() ? from : to;
        UserStack high = low == from ? to : from;
        boolean done = false;
        low.lock().lock();
        high.lock().lock();
        try {
            if (channel.userStack() == from && channel.userConnection() == c && c.state() != TcpState.CLOSED
                    && from.tcp().release(c)) {
                to.tcp().adopt(c, System.nanoTime());
                channel.movedTo(to);
                done = true;
            }
        } finally {
            high.unlock(); // flushes what the move produced and wakes a sleeper whose timer moved earlier
            low.unlock();
        }
        if (done) {
            moves.incrementAndGet();
        } else {
            // Closed meanwhile: its filter goes as it would have at the end.
            cleanups.add(() -> removeFilter(key, channel, filter));
        }
        return done;
    }

    /**
     * A stack's TCP layer found no connection for a segment: hand it to the stack that holds its
     * flow now, or, when it is no moved connection's and arrived on another queue than 0, to queue
     * 0's stack, which holds the listeners and every connection that did not move. Where the
     * VNIC cannot steer a flow to a queue (AF_XDP: XDP delivers a frame only to the socket of the
     * queue it arrived on, and on a veth or with RSS that is the sender's or the hash's choice),
     * this is how a SYN or a segment that arrived on queue 1 reaches the listener or connection
     * on queue 0 instead of being answered with a RST. Queue 0's own strays get no second hand-on.
     */
    private boolean divert(UserStack at, MemorySegment packet, long offset, int length, int source, int destination,
            int localPort, int remotePort) {
        ArrakisSocketChannel channel = moved.isEmpty() ? null : moved.get(FlowTable.key(source, remotePort, localPort));
        UserStack home = channel == null ? stacks.get(0) : channel.userStack();
        if (home == null || home == at) {
            return false;
        }
        home.divertHere(packet, offset, length, source, destination);
        return true;
    }

    /** Under {@code at}'s lock: a connection is over; if it had moved, its filter goes (on the helper thread). */
    private void forgotten(UserStack at, TcpConnection c) {
        if (moved.isEmpty()) {
            return;
        }
        long key = FlowTable.key(c.remoteAddress(), c.remotePort(), c.localPort());
        ArrakisSocketChannel channel = moved.get(key);
        if (channel != null && channel.userConnection() == c) {
            FlowFilter filter = new FlowFilter(FlowFilter.Protocol.TCP, address, c.localPort(), c.remoteAddress(),
                    c.remotePort());
            cleanups.add(() -> removeFilter(key, channel, filter));
        }
    }

    private void removeFilter(long key, ArrakisSocketChannel channel, FlowFilter filter) {
        try {
            control.removeReceiveFilter(filter);
        } catch (IOException | RuntimeException e) {
            // the control plane is gone, and the VNIC's filters with it
        }
        moved.remove(key, channel);
    }

    private void cleanLoop() {
        while (!closed) {
            try {
                cleanups.take().run();
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        cleaner.interrupt();
    }
}

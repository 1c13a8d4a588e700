package io.arrakis.stack.tcp;

import io.arrakis.stack.wire.NetworkOrder;
import io.arrakis.stack.wire.Tcp;
import io.arrakis.stack.wire.TcpOptions;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * An in-memory network of two hosts, 198.18.0.1 and 198.18.0.2, in virtual time, standing in for
 * the stack core: each host is a {@link TcpSegmentSink} that checksums what engines send and puts
 * it on a link with a delay; delivery validates the checksum, demultiplexes by 4-tuple to a
 * connection, else to the listener of the port, else answers with a RST, as the core will. Faults
 * (loss, duplication, reordering, corruption, no free buffer) come from one seeded {@link SplittableRandom},
 * so a run is a pure function of its seed. {@link #step()} jumps virtual time to the next delivery
 * or timer deadline.
 */
final class TcpTestNetwork {
    static final int A = (198 << 24) | (18 << 16) | 1;
    static final int B = (198 << 24) | (18 << 16) | 2;
    static final long MS = 1_000_000L;
    static final long US = 1_000L;

    /** One segment on the wire (a copy of the TCP bytes). */
    record Segment(int source, int destination, byte[] bytes, long sentAt) {
        MemorySegment memory() {
            return MemorySegment.ofArray(bytes);
        }

        int flags() {
            return Tcp.flags(memory(), 0);
        }

        boolean has(int flag) {
            return (flags() & flag) != 0;
        }

        int seq() {
            return Tcp.sequence(memory(), 0);
        }

        int ack() {
            return Tcp.acknowledgment(memory(), 0);
        }

        int window() {
            return Tcp.window(memory(), 0);
        }

        int sourcePort() {
            return Tcp.sourcePort(memory(), 0);
        }

        int destinationPort() {
            return Tcp.destinationPort(memory(), 0);
        }

        int headerLength() {
            return Tcp.headerLength(memory(), 0);
        }

        int payloadLength() {
            return bytes.length - headerLength();
        }

        TcpOptions options() {
            TcpOptions o = new TcpOptions();
            o.parse(memory(), 0, headerLength());
            return o;
        }

        boolean pureAck() {
            return flags() == Tcp.ACK && payloadLength() == 0;
        }

        @Override
        public String toString() {
            StringBuilder f = new StringBuilder();
            int fl = flags();
            if ((fl & Tcp.SYN) != 0) f.append('S');
            if ((fl & Tcp.FIN) != 0) f.append('F');
            if ((fl & Tcp.RST) != 0) f.append('R');
            if ((fl & Tcp.PSH) != 0) f.append('P');
            if ((fl & Tcp.ACK) != 0) f.append('.');
            TcpOptions o = options();
            StringBuilder opts = new StringBuilder();
            if (o.mss() >= 0) opts.append(" mss ").append(o.mss());
            if (o.windowShift() >= 0) opts.append(" wscale ").append(o.windowShift());
            if (o.sackPermitted()) opts.append(" sackOK");
            if (o.hasTimestamps()) opts.append(" TS ").append(Integer.toUnsignedString(o.timestampValue())).append(':')
                    .append(Integer.toUnsignedString(o.timestampEcho()));
            for (int b = 0; b < o.sackBlockCount(); b++) {
                opts.append(" sack ").append(Integer.toUnsignedString(o.sackLeft(b))).append('-')
                        .append(Integer.toUnsignedString(o.sackRight(b)));
            }
            return String.format("%.3fms %s:%d > %s:%d [%s] seq %s ack %s win %d len %d%s", sentAt / 1e6,
                    name(source), sourcePort(), name(destination), destinationPort(), f,
                    Integer.toUnsignedString(seq()), Integer.toUnsignedString(ack()), window(), payloadLength(),
                    opts.isEmpty() ? "" : " <" + opts.substring(1) + ">");
        }
    }

    private record InFlight(long deliverAt, long order, Segment segment) {}

    /** One end: a sink, its connections by (local port, remote address, remote port) and its listeners. */
    final class Host implements TcpSegmentSink {
        final int address;
        final TcpCounters aggregate = new TcpCounters();
        final Map<Long, TcpConnection> connections = new LinkedHashMap<>();
        final Map<Integer, TcpListener> listeners = new LinkedHashMap<>();
        private final MemorySegment scratch = MemorySegment.ofArray(new byte[65536 + 60]);
        private int pendingSource;
        private int pendingDestination;
        private int pendingMax = -1;

        Host(int address) {
            this.address = address;
        }

        @Override
        public long begin(int sourceAddress, int destinationAddress, int maxTcpBytes) {
            if (pendingMax >= 0) {
                throw new AssertionError("begin() twice without send()");
            }
            if (maxTcpBytes < Tcp.MIN_HEADER_LENGTH || maxTcpBytes > scratch.byteSize()) {
                throw new AssertionError("begin(" + maxTcpBytes + ")");
            }
            if (sourceAddress != address) {
                throw new AssertionError("host " + name(address) + " asked to send from " + name(sourceAddress));
            }
            if (noBufferRate > 0 && random.nextDouble() < noBufferRate) {
                noBuffer++;
                return -1;
            }
            pendingSource = sourceAddress;
            pendingDestination = destinationAddress;
            pendingMax = maxTcpBytes;
            return 0;
        }

        @Override
        public MemorySegment memory() {
            return scratch;
        }

        @Override
        public void send(int tcpBytes) {
            if (pendingMax < 0 || tcpBytes > pendingMax || tcpBytes < Tcp.MIN_HEADER_LENGTH) {
                throw new AssertionError("send(" + tcpBytes + ") after begin(" + pendingMax + ")");
            }
            pendingMax = -1;
            Tcp.fillChecksum(scratch, 0, tcpBytes, pendingSource, pendingDestination);
            byte[] bytes = scratch.asSlice(0, tcpBytes).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            transmit(new Segment(pendingSource, pendingDestination, bytes, now));
        }

        TcpConnection connect(TcpConfig config, int localPort, int remoteAddress, int remotePort, int iss, int mss,
                int sendBuffer, int receiveBuffer) {
            TcpConnection c = new TcpConnection(config, this, aggregate, address, localPort, remoteAddress, remotePort,
                    iss, mss, sendBuffer, receiveBuffer);
            register(c);
            c.flush(now);
            return c;
        }

        TcpListener listen(TcpConfig config, int port, int mss, int backlog, int sendBuffer, int receiveBuffer) {
            TcpListener l = new TcpListener(config, this, aggregate, isn, address, port, mss, backlog, sendBuffer,
                    receiveBuffer);
            listeners.put(port, l);
            return l;
        }

        void register(TcpConnection c) {
            connections.put(key(c.localPort(), c.remoteAddress(), c.remotePort()), c);
            all.add(c);
        }

        void deliver(Segment s) {
            MemorySegment m = s.memory();
            int length = s.bytes.length;
            if (!Tcp.checksumValid(m, 0, length, s.source, s.destination)) {
                badChecksums++;
                return;
            }
            int localPort = Tcp.destinationPort(m, 0);
            int remotePort = Tcp.sourcePort(m, 0);
            long k = key(localPort, s.source, remotePort);
            TcpConnection c = connections.get(k);
            if (c != null && c.state() != TcpState.CLOSED) {
                if (c.segmentArrived(m, 0, length, now)) {
                    return;
                }
                connections.remove(k); // TIME_WAIT reopened: the listener takes the SYN
            }
            TcpListener l = listeners.get(localPort);
            if (l != null && l.state() == TcpState.LISTEN) {
                TcpConnection created = l.segmentArrived(m, 0, length, address, s.source, now);
                if (created != null) {
                    register(created);
                    if (onAccept != null) {
                        onAccept.accept(created);
                    }
                }
                return;
            }
            TcpReset.replyToStray(m, 0, length, address, s.source, this, aggregate);
        }
    }

    final SplittableRandom random;
    final TcpIsn isn;
    final Host a = new Host(A);
    final Host b = new Host(B);
    final List<TcpConnection> all = new ArrayList<>();
    final List<Segment> log = new ArrayList<>();
    private final PriorityQueue<InFlight> wire = new PriorityQueue<>(
            (x, y) -> x.deliverAt != y.deliverAt ? Long.compare(x.deliverAt, y.deliverAt) : Long.compare(x.order, y.order));
    private long order;
    long now;
    long steps;

    // Link model and faults.
    long delayNanos = 1 * MS;
    long jitterNanos;
    double lossRate;
    double duplicateRate;
    double reorderRate;
    long reorderExtraNanos = 5 * MS;
    double corruptRate;
    double noBufferRate;
    /** Bytes per second per direction (0: unlimited) and the tail-drop queue bound in bytes. */
    long bandwidth;
    long queueLimitBytes = 256 * 1024;
    private long linkFreeAtAB;
    private long linkFreeAtBA;
    /** Extra drop rule for targeted tests; sees every segment as it is sent. */
    Predicate<Segment> dropIf = s -> false;
    boolean keepLog = true;
    java.util.function.Consumer<TcpConnection> onAccept;

    long sent;
    long lost;
    long duplicated;
    long corrupted;
    long badChecksums;
    long noBuffer;
    long queueDrops;

    TcpTestNetwork(long seed) {
        this.random = new SplittableRandom(seed);
        this.isn = new TcpIsn(seed * 31 + 7, seed ^ 0x5DEECE66DL);
    }

    static String name(int address) {
        return address == A ? "A" : address == B ? "B" : TcpConnection.ipv4(address);
    }

    static long key(int localPort, int remoteAddress, int remotePort) {
        return ((long) localPort << 48) | ((long) remotePort << 32) | (remoteAddress & 0xFFFF_FFFFL);
    }

    Host host(int address) {
        return address == A ? a : b;
    }

    private void transmit(Segment s) {
        sent++;
        if (keepLog) {
            log.add(s);
        }
        if (dropIf.test(s)) {
            lost++;
            return;
        }
        if (lossRate > 0 && random.nextDouble() < lossRate) {
            lost++;
            return;
        }
        int copies = duplicateRate > 0 && random.nextDouble() < duplicateRate ? 2 : 1;
        if (copies == 2) {
            duplicated++;
        }
        for (int i = 0; i < copies; i++) {
            byte[] bytes = s.bytes;
            if (corruptRate > 0 && random.nextDouble() < corruptRate) {
                bytes = bytes.clone();
                int bit = random.nextInt(bytes.length * 8);
                bytes[bit / 8] ^= (byte) (1 << (bit % 8));
                corrupted++;
            }
            long at = now;
            if (bandwidth > 0) {
                boolean ab = s.source == A;
                long free = Math.max(now, ab ? linkFreeAtAB : linkFreeAtBA);
                long queued = (free - now) * bandwidth / 1_000_000_000L;
                if (queued > queueLimitBytes) {
                    queueDrops++;
                    continue;
                }
                long serialization = (bytes.length + 40) * 1_000_000_000L / bandwidth;
                free += serialization;
                if (ab) {
                    linkFreeAtAB = free;
                } else {
                    linkFreeAtBA = free;
                }
                at = free;
            }
            at += delayNanos;
            if (jitterNanos > 0) {
                at += (long) (random.nextDouble() * jitterNanos);
            }
            if (reorderRate > 0 && random.nextDouble() < reorderRate) {
                at += (long) (random.nextDouble() * reorderExtraNanos);
            }
            wire.add(new InFlight(at, order++, new Segment(s.source, s.destination, bytes, s.sentAt)));
        }
    }

    /** Delivers a hand-made segment (checksum filled here) at the current time, as if it came off the wire. */
    void inject(int source, int destination, byte[] tcp) {
        MemorySegment m = MemorySegment.ofArray(tcp);
        Tcp.fillChecksum(m, 0, tcp.length, source, destination);
        host(destination).deliver(new Segment(source, destination, tcp, now));
    }

    /** Builds a segment: header without options plus payload. */
    static byte[] segment(int sourcePort, int destinationPort, int seq, int ack, int flags, int window, byte[] payload,
            byte[] options) {
        int optionLength = options == null ? 0 : (options.length + 3) & ~3;
        int headerLength = 20 + optionLength;
        byte[] bytes = new byte[headerLength + (payload == null ? 0 : payload.length)];
        MemorySegment m = MemorySegment.ofArray(bytes);
        Tcp.write(m, 0, sourcePort, destinationPort, seq, ack, headerLength, flags, window);
        if (options != null) {
            System.arraycopy(options, 0, bytes, 20, options.length);
        }
        if (payload != null) {
            System.arraycopy(payload, 0, bytes, headerLength, payload.length);
        }
        return bytes;
    }

    /** NOP NOP TS option bytes. */
    static byte[] timestampOption(int value, int echo) {
        byte[] o = new byte[12];
        TcpOptions.writeTimestamps(MemorySegment.ofArray(o), 0, value, echo);
        return o;
    }

    /** The time of the next thing to happen, or {@link TcpConnection#NEVER}. */
    long nextEventTime() {
        long t = wire.isEmpty() ? TcpConnection.NEVER : wire.peek().deliverAt;
        for (Host h : new Host[] {a, b}) {
            for (TcpConnection c : h.connections.values()) {
                t = Math.min(t, c.nextDeadline());
                if (c.outputBlocked()) {
                    t = Math.min(t, now + 10 * US);
                }
            }
            for (TcpListener l : h.listeners.values()) {
                t = Math.min(t, l.nextDeadline());
            }
        }
        return t;
    }

    String pending() {
 StringBuilder sb = new StringBuilder("next " + nextEventTime() + " wire " + (wire.isEmpty() ? "-" : wire.peek().deliverAt + " " + wire.peek().segment));
        for (Host h : new Host[] {a, b}) {
            for (TcpConnection c : h.connections.values()) {
                sb.append("\n  conn next=" + c.nextDeadline() + " ").append(c.info()).append(' ').append(c.timers());
            }
            for (TcpListener l : h.listeners.values()) {
                sb.append("\n  listener ").append(l.nextDeadline());
            }
        }
        return sb.toString();
    }

    /** Advances to the next event and processes everything due then. Returns false if nothing is left to do. */
    boolean step() {
        long t = nextEventTime();
        if (t == TcpConnection.NEVER) {
            return false;
        }
        advanceTo(t);
        return true;
    }

    /** Moves time to {@code t} (not backwards), delivering and firing everything due up to then. */
    void advanceTo(long t) {
        steps++;
        now = Math.max(now, t);
        while (!wire.isEmpty() && wire.peek().deliverAt <= now) {
            Segment s = wire.poll().segment;
            host(s.destination).deliver(s);
        }
        for (Host h : new Host[] {a, b}) {
            for (TcpConnection c : new ArrayList<>(h.connections.values())) {
                if (c.nextDeadline() <= now) {
                    c.onTimer(now);
                }
                if (c.outputBlocked()) {
                    c.flush(now); // the core frees buffers and flushes the connections that waited
                }
            }
            for (TcpListener l : h.listeners.values()) {
                if (l.nextDeadline() <= now) {
                    l.onTimer(now);
                }
            }
            h.connections.values().removeIf(c -> c.state() == TcpState.CLOSED);
        }
    }

    /** Steps until {@code done} holds; fails after {@code maxNanos} of virtual time from now or {@code maxSteps}. */
    void runUntil(BooleanSupplier done, long maxNanos, long maxSteps) {
        long deadline = now + maxNanos;
        long stepLimit = steps + maxSteps;
        while (!done.getAsBoolean()) {
            long t = nextEventTime();
            if (t == TcpConnection.NEVER || t > deadline) {
                throw new AssertionError("nothing left to do (or past the time limit) at " + now / 1e6 + " ms");
            }
            if (steps >= stepLimit) {
                throw new AssertionError("step limit " + maxSteps + " reached at " + now / 1e6 + " ms");
            }
            advanceTo(t);
        }
    }

    /** Steps while there is something to do until {@code nanos} from now; time ends exactly there. */
    void runFor(long nanos) {
        long end = now + nanos;
        while (true) {
            long t = nextEventTime();
            if (t > end) {
                break;
            }
            advanceTo(t);
        }
        now = end;
    }

    /** Segments logged so far, as text (for failure messages). */
    String trace(int last) {
        StringBuilder sb = new StringBuilder();
        for (int i = Math.max(0, log.size() - last); i < log.size(); i++) {
            sb.append(log.get(i)).append('\n');
        }
        return sb.toString();
    }

    static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    static int u16(byte[] b, int at) {
        return NetworkOrder.u16(MemorySegment.ofArray(b), at);
    }
}

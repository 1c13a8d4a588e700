package io.arrakis.stack;

import io.arrakis.device.Counters;
import io.arrakis.device.MacAddress;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TokenBucket;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.ip.Ipv4Reassembly;
import io.arrakis.stack.ip.NeighbourCache;
import io.arrakis.stack.udp.UdpSocket;
import io.arrakis.stack.wire.Arp;
import io.arrakis.stack.wire.Ethernet;
import io.arrakis.stack.wire.Icmp;
import io.arrakis.stack.wire.InternetChecksum;
import io.arrakis.stack.wire.Ipv4;
import io.arrakis.stack.wire.NetworkOrder;
import io.arrakis.stack.wire.Udp;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One user-level IPv4 stack on one queue pair of a {@link Vnic}: Ethernet, ARP with a neighbour
 * cache, IPv4 with routing to a gateway, reassembly and fragmentation, ICMP echo and errors,
 * UDP, and a slot for a transport such as TCP ({@link IpProtocolHandler}).
 *
 * <p>Run to completion on one thread at a time: {@link #poll} receives a batch, handles each
 * frame start to finish, runs what timers are due and transmits what it produced. Everything,
 * including the application-facing calls, happens on the thread that holds the stack (an owner's
 * lock may pass it between threads, so its memory is shared, not confined); nothing on the
 * packet path allocates.
 * Time is always passed in (nanoseconds), so the same code runs on real and virtual time.
 */
public final class NetworkStack implements AutoCloseable {
    private static final int BATCH = 64;
    private static final int L3 = Ethernet.HEADER_LENGTH;
    private static final int L4 = L3 + Ipv4.MIN_HEADER_LENGTH;
    private static final int LIMITED_BROADCAST = 0xFFFF_FFFF;
    /** RFC 792: an ICMP error quotes the offending IP header and the first 8 bytes after it. */
    private static final int ICMP_QUOTE = 8;

    private final VnicQueue queue;
    private final MemorySegment memory;
    private final int bufferSize;
    private final int headroom;
    private final long mac;
    private final StackConfig config;
    /** Shared, not confined: the provider builds a stack on one thread and runs it from any thread under its lock. */
    private final Arena arena = Arena.ofShared();
    private final Counters<StackCounter> counters = Counters.onHeap(StackCounter.class);
    private final PacketBatch received = new PacketBatch(BATCH);
    private final PacketBatch outgoing = new PacketBatch(BATCH);
    private final PacketBatch lent = new PacketBatch(1);
    /** Room for every fragment of the largest datagram at the smallest MTU (65,535 / 552 < 128). */
    private final PacketBatch fragmentProbe = new PacketBatch(128);
    /** The UDP header of a datagram sent in fragments, built before the first fragment. */
    private final MemorySegment udpHeader = arena.allocate(Udp.HEADER_LENGTH);
    private final NeighbourCache neighbours = new NeighbourCache(64);
    private final Ipv4Reassembly reassembly;
    private final TokenBucket icmpErrorLimit = new TokenBucket();
    private final UdpSocket[] udpPorts = new UdpSocket[65_536];
    private final int[] evicted = new int[3];
    private IpProtocolHandler tcp;
    private boolean gleanNeighbours;
    private NeighbourSource neighbourSource;

    /**
     * Where to ask for a neighbour's MAC instead of sending our own ARP request (e.g. the
     * kernel's table, for an address shared with it). Asked when a request would be due: at the
     * first miss and at each retry, at most {@code arpMaxRequests} times.
     */
    public interface NeighbourSource {
        /** The MAC of {@code address}, or -1 when not known yet (the source may start resolving it). */
        long macOf(int address) throws IOException;
    }
    // Path MTUs learnt from ICMP "fragmentation needed" (RFC 1191), forgotten after 10 minutes.
    private static final int PATH_MTU_ENTRIES = 16;
    private static final long PATH_MTU_AGE_NANOS = 600_000_000_000L;
    /** Linux's net.ipv4.route.min_pmtu: a smaller "next-hop MTU" is more likely an attack than a link. */
    private static final int MIN_PATH_MTU = 552;
    // Multicast groups some socket joined (RFC 1112 host extensions), with how many sockets did.
    private static final int MAX_GROUPS = 32;
    private final int[] groups = new int[MAX_GROUPS];
    private final int[] groupMembers = new int[MAX_GROUPS];
    private final int[] pathMtuDestinations = new int[PATH_MTU_ENTRIES];
    private final int[] pathMtus = new int[PATH_MTU_ENTRIES];
    private final long[] pathMtuExpiry = new long[PATH_MTU_ENTRIES];
    private int nextIdentification;
    private long lastNow;

    // The packet being built by beginPacket/sendPacket.
    private int building = -1;

    public NetworkStack(Vnic vnic, int queueIndex, StackConfig config) {
        this.queue = vnic.queue(queueIndex);
        this.memory = queue.memory();
        this.bufferSize = queue.bufferSize();
        this.headroom = queue.headroom();
        this.mac = vnic.mac().bits();
        this.config = config.mtu() > vnic.mtu() ? config.withMtu(vnic.mtu()) : config;
        this.reassembly = new Ipv4Reassembly(8, arena);
        this.icmpErrorLimit.setLimit(new RateLimit(0, 1000, 0, 50), 0);
    }

    public StackConfig config() {
        return config;
    }

    public long mac() {
        return mac;
    }

    public Counters<StackCounter> counters() {
        return counters;
    }

    /** Plugs in the transport for {@code protocol} (only TCP, 6, is accepted). */
    public void setTcpHandler(IpProtocolHandler handler) {
        this.tcp = handler;
    }

    /**
     * Learn neighbours from received IPv4 frames too, not only from ARP: the source MAC of a
     * unicast datagram to our address from an on-link source is that source's MAC. For an
     * address shared with the kernel (AF_XDP, claim=none), where the replies to our ARP
     * requests go to the kernel, this is how a server learns its clients. Call before polling.
     */
    public void setGleanNeighbours(boolean glean) {
        this.gleanNeighbours = glean;
    }

    /** Asks {@code source} for neighbours instead of ARP (null: ARP). Call before polling. */
    public void setNeighbourSource(NeighbourSource source) {
        this.neighbourSource = source;
    }

    /**
     * Announces our address with a gratuitous ARP request (an RFC 5227 §2.3 announcement: sender
     * and target address both ours), so peers that still cache an old MAC for it update at once.
     */
    public void start(long now) throws IOException {
        lastNow = now;
        sendArp(Arp.OPERATION_REQUEST, MacAddress.BROADCAST.bits(), config.address(), config.address());
        flush();
    }

    /**
     * Receives and handles up to a batch of frames, runs due timers and transmits what they
     * produced; returns the number of frames received (0: idle).
     */
    public int poll(long now) throws IOException {
        lastNow = now;
        int count = queue.receive(received);
        for (int i = 0; i < count; i++) {
            counters.increment(StackCounter.FRAMES_IN);
            handleFrame(received.buffer(i), received.offset(i), received.length(i), now);
        }
        queue.release(received);
        runTimers(now);
        flush();
        return count;
    }

    /**
     * Whether frames wait for the device (its transmit ring was full) or TCP waits for packet
     * buffers: then a later {@link #poll} must retry even if nothing arrives, since the device
     * draining its ring wakes nobody. A poller that sleeps should sleep briefly while this holds.
     */
    public boolean outputPending() {
        return !outgoing.isEmpty() || (tcp != null && tcp.outputBlocked());
    }

    /** The earliest time {@link #poll} has timer work to do; Long.MAX_VALUE if none. */
    public long nextDeadline() {
        long next = Math.min(neighbours.nextDeadline(), reassembly.nextDeadline());
        return tcp == null ? next : Math.min(next, tcp.nextDeadline());
    }

    // ------------------------------------------------------------------ receive

    private void handleFrame(int buffer, int offset, int length, long now) throws IOException {
        long frame = (long) buffer * bufferSize + offset;
        if (length < Ethernet.HEADER_LENGTH) {
            counters.increment(StackCounter.DROPPED_MALFORMED);
            return;
        }
        long destination = Ethernet.destination(memory, frame);
        if (destination != mac && destination != MacAddress.BROADCAST.bits() && !joinedMulticastMac(destination)) {
            counters.increment(StackCounter.FRAMES_NOT_FOR_US);
            return;
        }
        switch (Ethernet.etherType(memory, frame)) {
            case Ethernet.TYPE_ARP -> handleArp(frame + L3, length - L3, now);
            case Ethernet.TYPE_IPV4 -> handleIpv4(frame + L3, length - L3, now);
            default -> counters.increment(StackCounter.FRAMES_NOT_FOR_US);
        }
    }

    private void handleArp(long at, int length, long now) throws IOException {
        if (!Arp.isEthernetIpv4(memory, at, length)) {
            counters.increment(StackCounter.DROPPED_MALFORMED);
            return;
        }
        int operation = Arp.operation(memory, at);
        int sender = Arp.senderAddress(memory, at);
        long senderMac = Arp.senderMac(memory, at);
        int target = Arp.targetAddress(memory, at);
        boolean forUs = target == config.address();
        // RFC 826 merge: refresh an entry we have; add one only when the packet is for us.
        boolean known = neighbours.lookup(sender, now, Long.MAX_VALUE) >= 0;
        if (sender != 0 && sender != config.address() && (forUs || known)) {
            int entry = neighbours.confirm(sender, senderMac, now);
            if (entry >= 0) {
                sendPending(entry);
            }
        }
        if (operation == Arp.OPERATION_REQUEST) {
            counters.increment(StackCounter.ARP_REQUESTS_IN);
            if (forUs) {
                sendArp(Arp.OPERATION_REPLY, senderMac, sender, config.address());
            }
        } else if (operation == Arp.OPERATION_REPLY) {
            counters.increment(StackCounter.ARP_REPLIES_IN);
        }
    }

    /**
     * Learns that on-link {@code source} is at {@code sourceMac}, when that is news (absent, a
     * different MAC, or confirmed more than half the reachable time ago), so a busy flow does not
     * rewrite the cache on every frame. Off-link sources are skipped: their frames carry the
     * MAC of whichever router forwarded them, not theirs.
     */
    private void glean(int source, long sourceMac, long now) throws IOException {
        if (source == 0 || source == config.address() || !config.onLink(source)
                || (sourceMac & 0x0100_0000_0000L) != 0) {
            return;
        }
        if (neighbours.lookup(source, now, config.arpReachableNanos() / 2) == sourceMac) {
            return;
        }
        int entry = neighbours.confirm(source, sourceMac, now);
        if (entry >= 0) {
            counters.increment(StackCounter.NEIGHBOURS_GLEANED);
            sendPending(entry);
        }
    }

    private void handleIpv4(long at, int length, long now) throws IOException {
        String invalid = Ipv4.validate(memory, at, length);
        if (invalid != null) {
            counters.increment(invalid.contains("checksum") ? StackCounter.DROPPED_BAD_IP_CHECKSUM
                    : StackCounter.DROPPED_MALFORMED);
            return;
        }
        int destination = Ipv4.destination(memory, at);
        boolean broadcast = destination == LIMITED_BROADCAST || destination == config.subnetBroadcast()
                || isMulticast(destination) && joined(destination);
        if (destination != config.address() && !broadcast) {
            counters.increment(StackCounter.DROPPED_NOT_OUR_ADDRESS);
            return;
        }
        int headerLength = Ipv4.headerLength(memory, at);
        int payloadLength = Ipv4.totalLength(memory, at) - headerLength;
        int source = Ipv4.source(memory, at);
        if (gleanNeighbours && destination == config.address()) {
            glean(source, Ethernet.source(memory, at - L3), now);
        }
        int protocol = Ipv4.protocol(memory, at);
        MemorySegment payload = memory;
        long payloadAt = at + headerLength;
        if (Ipv4.isFragment(memory, at)) {
            counters.increment(StackCounter.FRAGMENTS_IN);
            Ipv4Reassembly.Outcome outcome = reassembly.accept(source, destination, protocol,
                    Ipv4.identification(memory, at), Ipv4.fragmentOffset(memory, at), Ipv4.moreFragments(memory, at),
                    memory, payloadAt, payloadLength, now, config.reassemblyTimeoutNanos());
            if (outcome != Ipv4Reassembly.Outcome.COMPLETE) {
                if (outcome != Ipv4Reassembly.Outcome.HELD) {
                    counters.increment(StackCounter.FRAGMENTS_DROPPED);
                }
                return;
            }
            counters.increment(StackCounter.DATAGRAMS_REASSEMBLED);
            payload = reassembly.datagram();
            payloadAt = reassembly.datagramOffset();
            payloadLength = reassembly.datagramLength();
        }
        switch (protocol) {
            case Ipv4.PROTOCOL_ICMP -> handleIcmp(payload, payloadAt, payloadLength, source, broadcast, at);
            case Ipv4.PROTOCOL_UDP -> handleUdp(payload, payloadAt, payloadLength, source, destination, broadcast, at);
            case Ipv4.PROTOCOL_TCP -> {
                if (tcp != null && !broadcast) {
                    tcp.received(payload, payloadAt, payloadLength, source, destination, now);
                } else {
                    counters.increment(StackCounter.DROPPED_UNKNOWN_PROTOCOL);
                }
            }
            default -> {
                counters.increment(StackCounter.DROPPED_UNKNOWN_PROTOCOL);
                if (!broadcast) {
                    sendIcmpError(Icmp.CODE_PROTOCOL_UNREACHABLE, at, payload, payloadAt, payloadLength);
                }
            }
        }
    }

    private void handleIcmp(MemorySegment p, long at, int length, int source, boolean broadcast, long ipAt)
            throws IOException {
        if (length < Icmp.HEADER_LENGTH || !Icmp.checksumValid(p, at, length)) {
            counters.increment(length < Icmp.HEADER_LENGTH ? StackCounter.DROPPED_MALFORMED
                    : StackCounter.DROPPED_BAD_L4_CHECKSUM);
            return;
        }
        int type = Icmp.type(p, at);
        if (type == Icmp.TYPE_ECHO_REQUEST && !broadcast) {
            if (length > config.mtu() - Ipv4.MIN_HEADER_LENGTH) {
                // A reassembled request: the reply carries all its data (RFC 1122 §3.2.2.6), so it
                // is built where the request lies and sent in fragments.
                Icmp.setTypeAndCode(p, at, Icmp.TYPE_ECHO_REPLY, 0);
                Icmp.fillChecksum(p, at, length);
                if (sendFragments(Ipv4.PROTOCOL_ICMP, source, p, at, 0, p, at, length)) {
                    counters.increment(StackCounter.ICMP_ECHO_REPLIES_OUT);
                }
                return;
            }
            long l4 = beginPacket(length);
            if (l4 < 0) {
                return;
            }
            MemorySegment.copy(p, at, memory, l4, length);
            Icmp.setTypeAndCode(memory, l4, Icmp.TYPE_ECHO_REPLY, 0);
            Icmp.fillChecksum(memory, l4, length);
            sendPacket(length, Ipv4.PROTOCOL_ICMP, source);
            counters.increment(StackCounter.ICMP_ECHO_REPLIES_OUT);
        } else if (type == Icmp.TYPE_DESTINATION_UNREACHABLE
                && length >= Icmp.HEADER_LENGTH + Ipv4.MIN_HEADER_LENGTH + ICMP_QUOTE) {
            counters.increment(StackCounter.ICMP_UNREACHABLE_IN);
            long original = at + Icmp.HEADER_LENGTH;
            int originalHeader = Ipv4.headerLength(p, original);
            int quoted = length - Icmp.HEADER_LENGTH;
            if (originalHeader < Ipv4.MIN_HEADER_LENGTH || quoted < originalHeader + ICMP_QUOTE
                    || Ipv4.source(p, original) != config.address()) {
                counters.increment(StackCounter.DROPPED_MALFORMED);
                return;
            }
            int code = Icmp.code(p, at);
            int mtu = code == Icmp.CODE_FRAGMENTATION_NEEDED
                    ? learnPathMtu(Ipv4.destination(p, original), Icmp.nextHopMtu(p, at), Ipv4.totalLength(p, original))
                    : 0;
            if (code == Icmp.CODE_FRAGMENTATION_NEEDED && mtu == 0) {
                return;
            }
            switch (Ipv4.protocol(p, original)) {
                case Ipv4.PROTOCOL_UDP -> {
                    long udp = original + originalHeader;
                    UdpSocket socket = udpPorts[Udp.sourcePort(p, udp)];
                    if (socket != null && code == Icmp.CODE_PORT_UNREACHABLE) {
                        socket.reportUnreachable(Ipv4.destination(p, original), Udp.destinationPort(p, udp));
                    }
                }
                case Ipv4.PROTOCOL_TCP -> {
                    if (tcp != null) {
                        tcp.unreachable(code, p, original, quoted, mtu, lastNow);
                    }
                }
                default -> { }
            }
        }
    }

    /**
     * Where a UDP datagram for a port with no socket here may belong instead, when several stacks
     * of one process share an address (one per queue of a VNIC that cannot steer every flow to
     * the stack holding it): offered before the datagram counts as {@code UDP_NO_PORT} and an ICMP
     * port unreachable is sent.
     */
    public interface UdpStrayDiverter {
        /**
         * Offered a datagram ({@code length} UDP bytes, header included, at {@code at}, checksum
         * verified) from {@code source} to {@code destination}; returns true when it took it (a
         * copy: the memory is reused after the call).
         */
        boolean divert(MemorySegment packet, long at, int length, int source, int destination);
    }

    private UdpStrayDiverter udpDiverter;

    /** Sets (or with null removes) the {@link UdpStrayDiverter}. On the stack's thread. */
    public void setUdpStrayDiverter(UdpStrayDiverter diverter) {
        this.udpDiverter = diverter;
    }

    /**
     * A datagram another stack of this process received for a port of this one ({@link
     * UdpStrayDiverter}; {@code length} UDP bytes at {@code at}, checksum already verified):
     * delivered to its socket, or, when there is none, counted as {@code UDP_NO_PORT} and dropped
     * (the stack that received it no longer holds its IP header for an ICMP error). On the
     * stack's thread.
     */
    public void receiveDivertedUdp(MemorySegment p, long at, int length, int source, int destination) {
        UdpSocket socket = udpPorts[Udp.destinationPort(p, at)];
        if (socket != null && isMulticast(destination) && !socket.isMemberOf(destination)) {
            socket = null;
        }
        if (socket == null) {
            counters.increment(StackCounter.UDP_NO_PORT);
            return;
        }
        if (!socket.deliver(source, Udp.sourcePort(p, at), p, at + Udp.HEADER_LENGTH, length - Udp.HEADER_LENGTH)
                && !socket.isConnected()) {
            counters.increment(StackCounter.UDP_DROPPED_BUFFER_FULL);
        }
    }

    private void handleUdp(MemorySegment p, long at, int length, int source, int destination, boolean broadcast,
            long ipAt) throws IOException {
        if (length < Udp.HEADER_LENGTH || Udp.length(p, at) < Udp.HEADER_LENGTH || Udp.length(p, at) > length) {
            counters.increment(StackCounter.DROPPED_MALFORMED);
            return;
        }
        int udpLength = Udp.length(p, at);
        if (!Udp.checksumValid(p, at, udpLength, source, destination)) {
            counters.increment(StackCounter.DROPPED_BAD_L4_CHECKSUM);
            return;
        }
        counters.increment(StackCounter.UDP_DATAGRAMS_IN);
        UdpSocket socket = udpPorts[Udp.destinationPort(p, at)];
        if (socket != null && isMulticast(destination) && !socket.isMemberOf(destination)) {
            socket = null;
        }
        if (socket == null) {
            UdpStrayDiverter d = udpDiverter;
            if (d != null && d.divert(p, at, udpLength, source, destination)) {
                return;
            }
            counters.increment(StackCounter.UDP_NO_PORT);
            if (!broadcast) {
                sendIcmpError(Icmp.CODE_PORT_UNREACHABLE, ipAt, p, at, length);
            }
            return;
        }
        if (!socket.deliver(source, Udp.sourcePort(p, at), p, at + Udp.HEADER_LENGTH, udpLength - Udp.HEADER_LENGTH)
                && !socket.isConnected()) {
            counters.increment(StackCounter.UDP_DROPPED_BUFFER_FULL);
        }
    }

    /** Destination unreachable quoting the datagram whose IP header is at {@code ipAt} (RFC 1122 §3.2.2). */
    private void sendIcmpError(int code, long ipAt) throws IOException {
        int headerLength = Ipv4.headerLength(memory, ipAt);
        sendIcmpError(code, ipAt, memory, ipAt + headerLength, Ipv4.totalLength(memory, ipAt) - headerLength);
    }

    /**
     * Destination unreachable quoting the datagram whose IP header is at {@code ipAt} and whose
     * payload ({@code payloadLength} bytes) is at {@code payloadAt} in {@code p}: the packet
     * memory, or the reassembly buffer, in which case {@code ipAt} holds the header of the
     * fragment that completed it and the quote gets the whole datagram's header back (offset 0,
     * no MF, its total length), as Linux quotes it.
     */
    private void sendIcmpError(int code, long ipAt, MemorySegment p, long payloadAt, int payloadLength)
            throws IOException {
        if (!icmpErrorLimit.tryTake(1, lastNow)) {
            return;
        }
        int headerLength = Ipv4.headerLength(memory, ipAt);
        int payloadQuoted = Math.min(payloadLength, ICMP_QUOTE);
        int quoted = headerLength + payloadQuoted;
        int length = Icmp.HEADER_LENGTH + quoted;
        int destination = Ipv4.source(memory, ipAt);
        long l4 = beginPacket(length);
        if (l4 < 0) {
            return;
        }
        Icmp.setTypeAndCode(memory, l4, Icmp.TYPE_DESTINATION_UNREACHABLE, code);
        Icmp.setRestOfHeader(memory, l4, 0);
        long quote = l4 + Icmp.HEADER_LENGTH;
        MemorySegment.copy(memory, ipAt, memory, quote, headerLength);
        MemorySegment.copy(p, payloadAt, memory, quote + headerLength, payloadQuoted);
        if (p != memory) {
            Ipv4.setTotalLength(memory, quote, headerLength + payloadLength);
            Ipv4.setFragmentField(memory, quote, Ipv4.fragmentField(memory, quote) & Ipv4.FLAG_DF);
            Ipv4.fillChecksum(memory, quote);
        }
        Icmp.fillChecksum(memory, l4, length);
        sendPacket(length, Ipv4.PROTOCOL_ICMP, destination);
        counters.increment(StackCounter.ICMP_UNREACHABLE_OUT);
    }

    // ------------------------------------------------------------------ UDP API

    /**
     * Binds UDP port {@code port} (1..65535) with a receive buffer of {@code receiveBufferBytes}.
     *
     * @throws IllegalStateException if the port is taken (the provider maps it to BindException)
     */
    public UdpSocket openUdp(int port, int receiveBufferBytes) {
        if (port <= 0 || port > 0xFFFF) {
            throw new IllegalArgumentException("UDP port out of range 1..65535: " + port);
        }
        if (udpPorts[port] != null) {
            throw new IllegalStateException("UDP port " + port + " is already bound on " + this);
        }
        // Its own automatic arena: a closed socket's ring is reclaimed with it, not kept until the stack closes.
        UdpSocket socket = new UdpSocket(port, receiveBufferBytes, Arena.ofAuto());
        udpPorts[port] = socket;
        return socket;
    }

    public void closeUdp(UdpSocket socket) throws IOException {
        if (udpPorts[socket.port()] == socket) {
            udpPorts[socket.port()] = null;
        }
        for (int group : socket.groups()) {
            leaveGroup(socket, group);
        }
        socket.close();
    }

    /**
     * Makes {@code socket} receive datagrams sent to multicast {@code group} (224.0.0.0/4) on its
     * port, and announces the membership with an IGMPv2 report (RFC 2236) so that switches that
     * snoop IGMP forward the group here. Backends deliver multicast frames as they come: the
     * simulated link and a TAP do; a NIC filtering by MAC would need the group's MAC added.
     */
    public void joinGroup(UdpSocket socket, int group) throws IOException {
        if (!isMulticast(group)) {
            throw new IllegalArgumentException(io.arrakis.device.Ipv4Text.format(group) + " is not a multicast group");
        }
        if (!socket.join(group)) {
            return;
        }
        int free = -1;
        for (int i = 0; i < MAX_GROUPS; i++) {
            if (groupMembers[i] > 0 && groups[i] == group) {
                groupMembers[i]++;
                return;
            }
            if (groupMembers[i] == 0 && free < 0) {
                free = i;
            }
        }
        if (free < 0) {
            socket.leave(group);
            throw new IllegalStateException(this + " has joined " + MAX_GROUPS + " multicast groups already");
        }
        groups[free] = group;
        groupMembers[free] = 1;
        sendIgmp(IGMP_V2_REPORT, group, group);
        flush();
    }

    /** Undoes {@link #joinGroup}; the last member leaving sends an IGMPv2 leave to all routers. */
    public void leaveGroup(UdpSocket socket, int group) throws IOException {
        if (!socket.leave(group)) {
            return;
        }
        for (int i = 0; i < MAX_GROUPS; i++) {
            if (groupMembers[i] > 0 && groups[i] == group && --groupMembers[i] == 0) {
                sendIgmp(IGMP_V2_LEAVE, group, ALL_ROUTERS);
                flush();
            }
        }
    }

    private static final int IGMP_V2_REPORT = 0x16;
    private static final int IGMP_V2_LEAVE = 0x17;
    private static final int ALL_ROUTERS = 0xE000_0002;
    private static final int PROTOCOL_IGMP = 2;

    /** An IGMPv2 message with the Router Alert option (RFC 2236 §2, RFC 2113), TTL 1. */
    private void sendIgmp(int type, int group, int destination) throws IOException {
        if (queue.allocate(lent, 1) == 0) {
            counters.increment(StackCounter.DROPPED_NO_BUFFER);
            return;
        }
        int buffer = lent.buffer(0);
        lent.clear();
        long frame = (long) buffer * bufferSize + headroom;
        Ethernet.write(memory, frame, multicastMac(destination), mac, Ethernet.TYPE_IPV4);
        long ip = frame + L3;
        int headerLength = Ipv4.MIN_HEADER_LENGTH + 4;
        Ipv4.write(memory, ip, 0xC0, headerLength + 8, nextIdentification++ & 0xFFFF, 0, 1, PROTOCOL_IGMP,
                config.address(), destination);
        NetworkOrder.setU8(memory, ip, 0x40 | headerLength / 4);
        NetworkOrder.setU32(memory, ip + Ipv4.MIN_HEADER_LENGTH, 0x9404_0000);
        Ipv4.fillChecksum(memory, ip);
        long igmp = ip + headerLength;
        NetworkOrder.setU8(memory, igmp, type);
        NetworkOrder.setU8(memory, igmp + 1, 0);
        NetworkOrder.setU16(memory, igmp + 2, 0);
        NetworkOrder.setU32(memory, igmp + 4, group);
        NetworkOrder.setU16(memory, igmp + 2, InternetChecksum.of(memory, igmp, 8));
        enqueue(buffer, L3 + headerLength + 8);
    }

    private static boolean isMulticast(int address) {
        return (address >>> 28) == 0xE;
    }

    private static long multicastMac(int group) {
        return 0x0100_5E00_0000L | (group & 0x7F_FFFF);
    }

    private boolean joined(int group) {
        for (int i = 0; i < MAX_GROUPS; i++) {
            if (groupMembers[i] > 0 && groups[i] == group) {
                return true;
            }
        }
        return false;
    }

    private boolean joinedMulticastMac(long destination) {
        if ((destination & 0xFFFF_FF80_0000L) != 0x0100_5E00_0000L) {
            return false;
        }
        for (int i = 0; i < MAX_GROUPS; i++) {
            if (groupMembers[i] > 0 && multicastMac(groups[i]) == destination) {
                return true;
            }
        }
        return false;
    }

    /** The largest UDP payload one datagram carries (fragmented as needed): 65,507 bytes. */
    public static final int MAX_UDP_PAYLOAD = 65_535 - Ipv4.MIN_HEADER_LENGTH - Udp.HEADER_LENGTH;

    /**
     * Sends {@code length} bytes at {@code data[offset]} from {@code socket} to
     * {@code destination:port}, fragmenting if it exceeds the MTU. Returns false if no packet
     * buffer was free (nothing was sent: UDP may drop, and the caller may retry).
     */
    public boolean sendUdp(UdpSocket socket, int destination, int port, MemorySegment data, long offset, int length)
            throws IOException {
        if (length < 0 || length > MAX_UDP_PAYLOAD) {
            throw new IllegalArgumentException("UDP payload of " + length + " bytes exceeds " + MAX_UDP_PAYLOAD);
        }
        int udpLength = Udp.HEADER_LENGTH + length;
        int maxIpPayload = mtuTo(destination) - Ipv4.MIN_HEADER_LENGTH;
        if (udpLength <= maxIpPayload) {
            long l4 = beginPacket(udpLength);
            if (l4 < 0) {
                return false;
            }
            MemorySegment.copy(data, offset, memory, l4 + Udp.HEADER_LENGTH, length);
            Udp.write(memory, l4, socket.port(), port, length, config.address(), destination);
            sendPacket(udpLength, Ipv4.PROTOCOL_UDP, destination);
            counters.increment(StackCounter.UDP_DATAGRAMS_OUT);
            return true;
        }
        return sendFragmentedUdp(socket.port(), destination, port, data, offset, length);
    }

    /**
     * The native (Arrakis/N) send path: lends a packet buffer for a datagram of at most
     * {@code maxPayload} bytes and returns the offset in {@link #memory()} where the application
     * writes the payload itself; {@link #sendDatagram} then sends it with no copy. Returns -1
     * when no buffer is free. One datagram at a time; it must fit the MTU.
     */
    public long beginDatagram(int maxPayload) {
        long l4 = beginPacket(Udp.HEADER_LENGTH + maxPayload);
        return l4 < 0 ? -1 : l4 + Udp.HEADER_LENGTH;
    }

    /** Sends the datagram {@link #beginDatagram} lent, with {@code length} bytes of payload written in place. */
    public void sendDatagram(UdpSocket socket, int destination, int port, int length) throws IOException {
        if (building < 0) {
            throw new IllegalStateException("no datagram begun: call beginDatagram first");
        }
        long l4 = (long) building * bufferSize + headroom + L4;
        Udp.write(memory, l4, socket.port(), port, length, config.address(), destination);
        sendPacket(Udp.HEADER_LENGTH + length, Ipv4.PROTOCOL_UDP, destination);
        counters.increment(StackCounter.UDP_DATAGRAMS_OUT);
    }

    private boolean sendFragmentedUdp(int sourcePort, int destination, int port, MemorySegment data, long offset,
            int length) throws IOException {
        int udpLength = Udp.HEADER_LENGTH + length;
        // The checksum covers the whole datagram: header fields plus data, summed once up front.
        long sum = InternetChecksum.pseudoHeaderSum(config.address(), destination, Ipv4.PROTOCOL_UDP, udpLength)
                + sourcePort + port + udpLength + InternetChecksum.sum(data, offset, length, 0);
        int checksum = InternetChecksum.finish(sum);
        NetworkOrder.setU16(udpHeader, 0, sourcePort);
        NetworkOrder.setU16(udpHeader, 2, port);
        NetworkOrder.setU16(udpHeader, 4, udpLength);
        NetworkOrder.setU16(udpHeader, 6, checksum == 0 ? 0xFFFF : checksum);
        if (!sendFragments(Ipv4.PROTOCOL_UDP, destination, udpHeader, 0, Udp.HEADER_LENGTH, data, offset, length)) {
            return false;
        }
        counters.increment(StackCounter.UDP_DATAGRAMS_OUT);
        return true;
    }

    /**
     * Sends a transport datagram that is already complete (checksum included) but too big for
     * one packet, as IPv4 fragments: {@code headLength} bytes at {@code head[headAt]} followed by
     * {@code bodyLength} bytes at {@code body[bodyAt]} (the head lets UDP prepend its header to
     * the application's bytes without copying them twice). All or nothing: returns false,
     * sending nothing, if the queue lacks the buffers.
     */
    private boolean sendFragments(int protocol, int destination, MemorySegment head, long headAt, int headLength,
            MemorySegment body, long bodyAt, int bodyLength) throws IOException {
        int length = headLength + bodyLength;
        int perFragment = (mtuTo(destination) - Ipv4.MIN_HEADER_LENGTH) & ~7;
        int fragments = (length + perFragment - 1) / perFragment;
        if (queueFreeBuffersAtLeast(fragments) < fragments) {
            counters.increment(StackCounter.DROPPED_NO_BUFFER);
            return false;
        }
        int identification = nextIdentification++ & 0xFFFF;
        for (int sent = 0; sent < length; ) {
            int chunk = Math.min(perFragment, length - sent);
            long l4 = beginPacket(chunk);
            int fromHead = Math.max(0, Math.min(chunk, headLength - sent));
            if (fromHead > 0) {
                MemorySegment.copy(head, headAt + sent, memory, l4, fromHead);
            }
            MemorySegment.copy(body, bodyAt + sent + fromHead - headLength, memory, l4 + fromHead, chunk - fromHead);
            boolean more = sent + chunk < length;
            sendIpv4(building, chunk, protocol, destination, identification, (more ? Ipv4.FLAG_MF : 0) | (sent / 8));
            building = -1;
            counters.increment(StackCounter.FRAGMENTS_OUT);
            sent += chunk;
        }
        return true;
    }

    private int queueFreeBuffersAtLeast(int wanted) {
        // Take them all now, so a datagram is either sent whole or not at all; give them back.
        int got = queue.allocate(fragmentProbe, wanted);
        queue.release(fragmentProbe);
        return got;
    }

    // ------------------------------------------------------------------ transmit

    /** The packet memory transports write into (see {@link #beginPacket}). */
    public MemorySegment memory() {
        return memory;
    }

    /**
     * Lends a packet buffer for one IPv4 datagram whose transport part is at most
     * {@code maxL4Bytes}; returns the offset in {@link #memory()} where the transport header
     * goes, or -1 if no buffer is free now (counted).
     *
     * @throws IllegalArgumentException if the packet would exceed the MTU or a buffer
     */
    public long beginPacket(int maxL4Bytes) {
        if (building >= 0) {
            throw new IllegalStateException("a packet is already being built; send it first");
        }
        if (maxL4Bytes > config.mtu() - Ipv4.MIN_HEADER_LENGTH || headroom + L4 + maxL4Bytes > bufferSize) {
            throw new IllegalArgumentException(this + ": a packet with " + maxL4Bytes + " bytes of transport data"
                    + " does not fit the MTU of " + config.mtu() + " or a " + bufferSize + "-byte buffer (headroom "
                    + headroom + "); fragment it or ask mtuTo(destination) first");
        }
        if (queue.allocate(lent, 1) == 0) {
            counters.increment(StackCounter.DROPPED_NO_BUFFER);
            return -1;
        }
        building = lent.buffer(0);
        lent.clear();
        return (long) building * bufferSize + headroom + L4;
    }

    /** Sends the packet {@link #beginPacket} lent, with {@code l4Bytes} of transport header and payload. */
    public void sendPacket(int l4Bytes, int protocol, int destination) throws IOException {
        int buffer = building;
        building = -1;
        sendIpv4(buffer, l4Bytes, protocol, destination, nextIdentification++ & 0xFFFF,
                protocol == Ipv4.PROTOCOL_TCP ? Ipv4.FLAG_DF : 0);
    }

    /** The MTU toward {@code destination}: the link's, or lower where ICMP said the path is narrower. */
    public int mtuTo(int destination) {
        for (int i = 0; i < PATH_MTU_ENTRIES; i++) {
            if (pathMtus[i] != 0 && pathMtuDestinations[i] == destination) {
                if (lastNow - pathMtuExpiry[i] >= 0) {
                    pathMtus[i] = 0;
                    break;
                }
                return Math.min(config.mtu(), pathMtus[i]);
            }
        }
        return config.mtu();
    }

    /**
     * Records that the path to {@code destination} carries at most {@code mtu} bytes; 0 (an old
     * router) means the next plateau below {@code originalLength} (RFC 1191 §7). Returns the
     * MTU recorded, or 0 if the report was not plausible and was ignored.
     */
    private int learnPathMtu(int destination, int mtu, int originalLength) {
        if (mtu == 0) {
            for (int plateau : new int[] {1492, 1006, 576}) {
                if (plateau < originalLength) {
                    mtu = plateau;
                    break;
                }
            }
        }
        int current = mtuTo(destination);
        if (mtu < MIN_PATH_MTU || mtu >= current) {
            return 0;
        }
        int slot = 0;
        for (int i = 0; i < PATH_MTU_ENTRIES; i++) {
            if (pathMtuDestinations[i] == destination || pathMtus[i] == 0) {
                slot = i;
                break;
            }
            if (pathMtuExpiry[i] - pathMtuExpiry[slot] < 0) {
                slot = i;
            }
        }
        pathMtuDestinations[slot] = destination;
        pathMtus[slot] = mtu;
        pathMtuExpiry[slot] = lastNow + PATH_MTU_AGE_NANOS;
        counters.increment(StackCounter.PATH_MTU_LEARNT);
        return mtu;
    }

    private void sendIpv4(int buffer, int l4Bytes, int protocol, int destination, int identification,
            int fragmentField) throws IOException {
        long frame = (long) buffer * bufferSize + headroom;
        int length = L4 + l4Bytes;
        Ipv4.write(memory, frame + L3, 0, Ipv4.MIN_HEADER_LENGTH + l4Bytes, identification, fragmentField,
                config.defaultTtl(), protocol, config.address(), destination);
        Ethernet.setSource(memory, frame, mac);
        Ethernet.setEtherType(memory, frame, Ethernet.TYPE_IPV4);
        if (destination == LIMITED_BROADCAST || destination == config.subnetBroadcast()) {
            Ethernet.setDestination(memory, frame, MacAddress.BROADCAST.bits());
            enqueue(buffer, length);
            return;
        }
        if (isMulticast(destination)) {
            // RFC 1112 §6.4: the group's low 23 bits under 01:00:5e; one hop unless told otherwise.
            Ethernet.setDestination(memory, frame, multicastMac(destination));
            Ipv4.setTtl(memory, frame + L3, 1);
            Ipv4.fillChecksum(memory, frame + L3);
            enqueue(buffer, length);
            return;
        }
        if (destination == config.address()) {
            // To ourselves: addressed to our own MAC, which the device loops back to our receive
            // path (the shm switch does; ARP for our own address would get no answer).
            Ethernet.setDestination(memory, frame, mac);
            enqueue(buffer, length);
            return;
        }
        int nextHop = config.onLink(destination) ? destination : config.gateway();
        if (nextHop == 0) {
            counters.increment(StackCounter.DROPPED_NO_NEIGHBOUR);
            freeBuffer(buffer);
            return;
        }
        long nextHopMac = neighbours.lookup(nextHop, lastNow, config.arpReachableNanos());
        if (nextHopMac >= 0) {
            Ethernet.setDestination(memory, frame, nextHopMac);
            enqueue(buffer, length);
            return;
        }
        if (neighbours.hold(nextHop, buffer, headroom, length, lastNow, evicted)) {
            counters.increment(StackCounter.DROPPED_NO_NEIGHBOUR);
            freeBuffer(evicted[0]);
        }
        if (neighbours.requestDue(nextHop, lastNow, config.arpRetryNanos(), config.arpMaxRequests())) {
            solicit(nextHop);
        }
    }

    private void sendPending(int entry) throws IOException {
        long nextHopMac = neighbours.mac(entry);
        for (int k = 0; k < neighbours.pendingCount(entry); k++) {
            int buffer = neighbours.pendingBuffer(entry, k);
            long frame = (long) buffer * bufferSize + neighbours.pendingOffset(entry, k);
            Ethernet.setDestination(memory, frame, nextHopMac);
            enqueue(buffer, neighbours.pendingLength(entry, k));
        }
        neighbours.clearPending(entry);
    }

    private void sendArp(int operation, long targetMac, int target, int sender) throws IOException {
        if (queue.allocate(lent, 1) == 0) {
            counters.increment(StackCounter.DROPPED_NO_BUFFER);
            return;
        }
        int buffer = lent.buffer(0);
        lent.clear();
        long frame = (long) buffer * bufferSize + headroom;
        long ethernetDestination = operation == Arp.OPERATION_REQUEST ? MacAddress.BROADCAST.bits() : targetMac;
        Ethernet.write(memory, frame, ethernetDestination, mac, Ethernet.TYPE_ARP);
        Arp.write(memory, frame + L3, operation, mac, sender,
                operation == Arp.OPERATION_REQUEST ? 0 : targetMac, target);
        // Pad to the 60-byte Ethernet minimum: some peers drop runts.
        memory.asSlice(frame + L3 + Arp.LENGTH, 60 - L3 - Arp.LENGTH).fill((byte) 0);
        enqueue(buffer, 60);
        counters.increment(operation == Arp.OPERATION_REQUEST ? StackCounter.ARP_REQUESTS_OUT
                : StackCounter.ARP_REPLIES_OUT);
    }

    private void enqueue(int buffer, int length) throws IOException {
        if (outgoing.isFull()) {
            flush();
            if (outgoing.isFull()) {
                // The device takes nothing: drop the new frame rather than block the poll loop.
                counters.increment(StackCounter.DROPPED_NO_BUFFER);
                freeBuffer(buffer);
                return;
            }
        }
        outgoing.add(buffer, headroom, length);
        counters.increment(StackCounter.FRAMES_OUT);
    }

    /** Hands queued frames to the device; what it cannot take yet stays queued for the next poll. */
    public void flush() throws IOException {
        if (!outgoing.isEmpty()) {
            queue.transmit(outgoing);
        }
    }

    private void freeBuffer(int buffer) {
        lent.add(buffer, 0, 0);
        queue.release(lent);
    }

    private void runTimers(long now) throws IOException {
        if (now >= neighbours.nextDeadline()) {
            runNeighbourTimers(now);
        }
        int expired = reassembly.expire(now);
        if (expired > 0) {
            counters.add(StackCounter.FRAGMENTS_DROPPED, expired);
        }
        if (tcp != null) {
            tcp.runTimers(now);
        }
    }

    private void runNeighbourTimers(long now) throws IOException {
        retryArp(now);
        int failed;
        while ((failed = neighbours.failed(now, config.arpRetryNanos(), config.arpMaxRequests())) >= 0) {
            for (int k = 0; k < neighbours.pendingCount(failed); k++) {
                freeBuffer(neighbours.pendingBuffer(failed, k));
                counters.increment(StackCounter.DROPPED_NO_NEIGHBOUR);
            }
            neighbours.remove(failed);
        }
    }

    private void retryArp(long now) throws IOException {
        int address;
        while ((address = neighbours.nextDueRequest(now, config.arpRetryNanos(), config.arpMaxRequests())) != 0) {
            solicit(address);
        }
    }

    /** Asks for {@code address}'s MAC: our ARP request, or the neighbour source (whose answer may be at once). */
    private void solicit(int address) throws IOException {
        if (neighbourSource == null) {
            sendArp(Arp.OPERATION_REQUEST, MacAddress.BROADCAST.bits(), address, config.address());
            return;
        }
        long mac = neighbourSource.macOf(address);
        if (mac >= 0) {
            int entry = neighbours.confirm(address, mac, lastNow);
            if (entry >= 0) {
                sendPending(entry);
            }
        }
    }

    @Override
    public void close() {
        arena.close();
    }

    @Override
    public String toString() {
        return "stack " + io.arrakis.device.Ipv4Text.format(config.address()) + "/" + config.prefixLength();
    }
}

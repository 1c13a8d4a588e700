package io.arrakis.control;

import static io.arrakis.control.ChannelLayout.DESCRIPTORS;
import static io.arrakis.control.ChannelLayout.DESCRIPTOR_BYTES;
import static io.arrakis.control.ChannelLayout.DESCRIPTOR_LENGTH;
import static io.arrakis.control.ChannelLayout.DESCRIPTOR_OFFSET;
import static io.arrakis.control.ChannelLayout.POSITION;

import io.arrakis.device.Counters;
import io.arrakis.device.LentBuffers;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TokenBucket;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.memory.BufferPool;
import io.arrakis.memory.Doorbell;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One queue pair of a {@link ShmVnic}: frames move through direct channels between this queue
 * and each queue of each peer VNIC (see {@link ChannelLayout}), with no switch thread and every
 * channel single-producer single-consumer. Transmit copies each frame from our packet buffer
 * into a free slot of the channel to its destination (the peer chosen by destination MAC, its
 * queue by the peer's receive filters, as a NIC steers; broadcast to every peer; ARP requests for
 * a peer's address answered locally) and rings that queue's bell only if it sleeps. Receive
 * validates every descriptor and copies the frame into one of our buffers (the one copy a NIC's
 * DMA would make), then checks on that private copy that the sender did not spoof its source
 * MAC or address and that our own filters steer the frame to this queue.
 *
 * <p>Owned by one thread, except {@link #wakeup()}, {@link #counters()} and {@link #post},
 * through which the control connection's thread hands over channel changes: the polling thread
 * applies them at the top of {@link #receive}, {@link #transmit} and {@link #awaitReceive}.
 */
final class ShmQueue implements VnicQueue {
    /** Bytes left free before each received frame, as the TAP backend and DPDK leave. */
    static final int HEADROOM = 128;
    /** Longest single sleep when the caller asked for no limit: a wait re-checks this often. */
    private static final long MAX_SLEEP_NANOS = 1_000_000_000L;
    /** Frames to ourselves waiting for our own receive path (a process talking to itself, proxy ARP). */
    private static final int LOCAL_CAPACITY = 512;

    private static final int ETHERNET_HEADER = 14;
    private static final int ETHERTYPE_IPV4 = 0x0800;
    private static final int ETHERTYPE_ARP = 0x0806;
    private static final int ARP_FRAME = ETHERNET_HEADER + 28;
    private static final long MULTICAST_BIT = 0x0100_0000_0000L;
    private static final long BROADCAST = 0xFFFF_FFFF_FFFFL;
    private static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt NATIVE_INT = ValueLayout.JAVA_INT;
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle().withInvokeExactBehavior();

    /** A change of membership, handed from the control connection's thread to the polling thread. */
    sealed interface Change permits AddPeer, RemovePeer, PeerRate {}

    record AddPeer(PeerLink link) implements Change {}

    record RemovePeer(int id) implements Change {}

    record PeerRate(int id, RateLimit limit) implements Change {}

    private final ShmVnic vnic;
    private final int index;
    private final int queueCount;
    private final BufferPool pool;
    private final MemorySegment memory;
    private final long ownMac;
    private final int ownAddress;
    private final int capacity;
    private final long mask;
    private final int frameSlot;
    private final long areaOffset;
    private final long areaSize;
    private final int maxFrame;
    private final LentBuffers lent;
    private final Bell ownBell;
    private final Doorbell ownDoorbell;
    private final Counters<VnicCounter> counters;
    private final Counters<ShmCounter> shmCounters;
    private final TokenBucket bucket = new TokenBucket();
    private final ConcurrentLinkedQueue<Change> mailbox = new ConcurrentLinkedQueue<>();
    private volatile boolean wakeupPending;
    private volatile boolean readinessEnabled;

    private PeerLink[] peers = new PeerLink[0];
    private PeerLink.Outbound[] dirty = new PeerLink.Outbound[0];
    private int dirtyCount;
    private int nextPeer;
    /** The peer the last unicast frame went to: most streams go to one peer. */
    private PeerLink lastDestination;

    // Frames for our own receive path: proxy ARP replies, frames to our own MAC.
    private final int[] localBuffers = new int[LOCAL_CAPACITY];
    private final int[] localLengths = new int[LOCAL_CAPACITY];
    private int localHead;
    private int localCount;

    ShmQueue(ShmVnic vnic, int index, int queueCount, MemorySegment packetMemory, int bufferSize, Bell ownBell,
            MemorySegment counterPage, int capacity, int frameSlot, int mtu) {
        this.vnic = vnic;
        this.index = index;
        this.queueCount = queueCount;
        this.pool = new BufferPool(packetMemory, bufferSize);
        this.memory = pool.segment();
        this.ownMac = vnic.mac().bits();
        this.ownAddress = vnic.address();
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.frameSlot = frameSlot;
        this.areaOffset = ChannelLayout.areaOffset(capacity);
        this.areaSize = ChannelLayout.areaSize(capacity, frameSlot);
        this.maxFrame = ControlPlaneConfig.maxFrame(mtu);
        this.lent = new LentBuffers(pool, HEADROOM, mtu, maxFrame, describe());
        this.ownBell = ownBell;
        this.ownDoorbell = ownBell.doorbell();
        this.counters = Counters.over(VnicCounter.class,
                counterPage.asSlice(ChannelLayout.COUNTERS_VNIC, Counters.bytesFor(VnicCounter.class)));
        this.shmCounters = Counters.over(ShmCounter.class,
                counterPage.asSlice(ChannelLayout.COUNTERS_SHM, Counters.bytesFor(ShmCounter.class)));
        if (bufferSize - HEADROOM < maxFrame) {
            throw new IllegalArgumentException("shm VNIC " + vnic.name() + ": buffers of " + bufferSize
                    + " bytes leave " + (bufferSize - HEADROOM) + " after the " + HEADROOM
                    + "-byte headroom, less than the largest frame of MTU " + mtu + " (" + maxFrame
                    + " bytes): use larger buffers");
        }
    }

    // ------------------------------------------------------------------ membership

    /**
     * Hands a change to the polling thread (any thread) and rings our bell, so a poller asleep in
     * {@link #awaitReceive} wakes and applies it. Unlike {@link #wakeup()} it leaves no pending
     * wakeup behind: a poller that is awake applies it at its next call anyway.
     */
    void post(Change change) {
        mailbox.add(change);
        vnic.ringOwnBell(ownBell);
    }

    private void applyMailbox() {
        Change change;
        while ((change = mailbox.poll()) != null) {
            switch (change) {
                case AddPeer(PeerLink link) -> {
                    int existing = indexOf(link.id);
                    if (existing >= 0) {
                        removePeerAt(existing);
                    }
                    setPolicer(link, link.senderLimit);
                    peers = Arrays.copyOf(peers, peers.length + 1);
                    peers[peers.length - 1] = link;
                    dirty = new PeerLink.Outbound[outboundCount()];
                    shmCounters.increment(ShmCounter.PEERS_ADDED);
                }
                case RemovePeer(int id) -> {
                    int index = indexOf(id);
                    if (index >= 0) {
                        removePeerAt(index);
                        shmCounters.increment(ShmCounter.PEERS_REMOVED);
                    }
                }
                case PeerRate(int id, RateLimit limit) -> {
                    int index = indexOf(id);
                    if (index >= 0) {
                        setPolicer(peers[index], limit);
                    }
                }
            }
        }
    }

    private int indexOf(int id) {
        for (int i = 0; i < peers.length; i++) {
            if (peers[i].id == id) {
                return i;
            }
        }
        return -1;
    }

    private void removePeerAt(int index) {
        PeerLink link = peers[index];
        PeerLink[] next = new PeerLink[peers.length - 1];
        System.arraycopy(peers, 0, next, 0, index);
        System.arraycopy(peers, index + 1, next, index, peers.length - index - 1);
        peers = next;
        dirty = new PeerLink.Outbound[outboundCount()];
        if (lastDestination == link) {
            lastDestination = null;
        }
        link.close();
    }

    private int outboundCount() {
        int count = 0;
        for (PeerLink link : peers) {
            count += link.out.length;
        }
        return count;
    }

    /**
     * The receiver-side policer: the sender's own limit plus 5%, with the sender's burst plus a
     * whole ring per channel into this queue (frames a well-behaved sender paced, its burst
     * included, can still arrive at once after we slept). A sender that bypasses its library's
     * limiter gets at most that into each of our queues.
     */
    private void setPolicer(PeerLink link, RateLimit limit) {
        link.senderLimit = limit;
        RateLimit policed = limit.isUnlimited() ? RateLimit.UNLIMITED
                : new RateLimit(limit.bytesPerSecond() + limit.bytesPerSecond() / 20,
                        limit.packetsPerSecond() + limit.packetsPerSecond() / 20,
                        senderBurst(limit.burstBytes(), limit.bytesPerSecond()) + (long) capacity * frameSlot * link.in.length,
                        senderBurst(limit.burstPackets(), limit.packetsPerSecond()) + (long) capacity * link.in.length);
        link.policer.setLimit(policed, System.nanoTime());
    }

    /** The burst a sender's {@code TokenBucket} allows: the configured one, else a millisecond of the rate. */
    private static long senderBurst(long configured, long perSecond) {
        return configured > 0 ? configured : perSecond / 1000;
    }

    /** Unmaps every channel; the polling thread must have stopped. */
    void close() {
        for (PeerLink link : peers) {
            link.close();
        }
        peers = new PeerLink[0];
        Change change;
        while ((change = mailbox.poll()) != null) {
            if (change instanceof AddPeer(PeerLink link)) {
                link.close();
            }
        }
    }

    int peerCount() {
        return peers.length;
    }

    // ------------------------------------------------------------------ identity of the SPI

    @Override
    public int index() {
        return index;
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }

    @Override
    public int bufferSize() {
        return pool.bufferSize();
    }

    @Override
    public int headroom() {
        return HEADROOM;
    }

    @Override
    public Counters<VnicCounter> counters() {
        return counters;
    }

    Counters<ShmCounter> shmCounters() {
        return shmCounters;
    }

    // ------------------------------------------------------------------ receive

    /**
     * Takes frames from our local queue, then from each peer's channels to this queue in turn
     * (starting one peer further each call, for fairness), copying each into a free buffer. A
     * frame with a bad descriptor, a spoofed source, another VNIC's unicast MAC, beyond the
     * sender's policed rate, or steered here against our filters is dropped and counted; a
     * channel with impossible positions is given up. Without a free buffer frames stay in their
     * channel (the sender drops when it fills).
     */
    @Override
    public int receive(PacketBatch batch) throws IOException {
        if (!mailbox.isEmpty()) {
            applyMailbox();
        }
        int received = 0;
        while (localCount > 0 && !batch.isFull()) {
            int buffer = localBuffers[localHead];
            int length = localLengths[localHead];
            localHead = (localHead + 1) % LOCAL_CAPACITY;
            localCount--;
            batch.add(buffer, HEADROOM, length);
            received++;
            counters.increment(VnicCounter.RX_PACKETS);
            counters.add(VnicCounter.RX_BYTES, length);
        }
        PeerLink[] links = peers;
        int n = links.length;
        if (n > 0) {
            int start = nextPeer < n ? nextPeer : 0;
            for (int k = 0; k < n && !batch.isFull(); k++) {
                PeerLink link = links[start + k < n ? start + k : start + k - n];
                PeerLink.Inbound[] in = link.in;
                // The peer's queues take turns at going first too, so none starves behind a busy one.
                int first = link.nextInbound;
                for (int c = 0; c < in.length && !batch.isFull(); c++) {
                    PeerLink.Inbound channel = in[first + c < in.length ? first + c : first + c - in.length];
                    if (!channel.broken) {
                        received += drain(link, channel, batch);
                    }
                }
                link.nextInbound = first + 1 < in.length ? first + 1 : 0;
            }
            nextPeer = start + 1 < n ? start + 1 : 0;
        }
        return received;
    }

    private int drain(PeerLink link, PeerLink.Inbound channel, PacketBatch batch) {
        MemorySegment forward = channel.forward;
        long position = channel.polled;
        int count = 0;
        long now = 0;
        boolean policed = !link.policer.limit().isUnlimited();
        if (policed) {
            now = System.nanoTime();
        }
        while (!batch.isFull()) {
            if (position == channel.producerCache) {
                long producer = (long) LONG.getAcquire(forward, POSITION);
                if (producer < channel.producerCache || producer - channel.released > capacity) {
                    channel.broken = true;
                    broken(link, "inbound channel from its queue " + channel.fromQueue + ": producer position "
                            + producer + " (we consumed " + channel.released + ", capacity " + capacity + ")");
                    break;
                }
                channel.producerCache = producer;
                if (producer == position) {
                    break;
                }
            }
            long descriptor = DESCRIPTORS + (position & mask) * DESCRIPTOR_BYTES;
            int offset = forward.get(NATIVE_INT, descriptor + DESCRIPTOR_OFFSET);
            int length = forward.get(NATIVE_INT, descriptor + DESCRIPTOR_LENGTH);
            if (offset < 0 || length < ETHERNET_HEADER || length > maxFrame || offset + (long) length > areaSize) {
                position++;
                shmCounters.increment(ShmCounter.RX_BAD_DESCRIPTOR);
                counters.increment(VnicCounter.RX_DROPPED_MALFORMED);
                continue;
            }
            int buffer = pool.allocate();
            if (buffer < 0) {
                // Left in the channel for a later call; the sender drops once the channel is full.
                counters.increment(VnicCounter.RX_DROPPED_NO_BUFFER);
                break;
            }
            position++;
            if (policed && !link.policer.tryTake(length, now)) {
                pool.free(buffer);
                shmCounters.increment(ShmCounter.RX_POLICED);
                continue;
            }
            long at = pool.offset(buffer) + HEADROOM;
            MemorySegment.copy(forward, areaOffset + offset, memory, at, length);
            // Checked on our private copy: the sender cannot change it under us any more.
            if (!fromPeer(link, at, length)) {
                pool.free(buffer);
                continue;
            }
            batch.add(buffer, HEADROOM, length);
            count++;
            counters.increment(VnicCounter.RX_PACKETS);
            counters.add(VnicCounter.RX_BYTES, length);
        }
        channel.polled = position;
        if (position != channel.released && !channel.broken) {
            LONG.setRelease(channel.returnPage, POSITION, position);
            channel.released = position;
        }
        return count;
    }

    /**
     * The receiver's protection: the Ethernet source, an IPv4 source and an ARP sender must be
     * the peer's registered identity (an ARP probe's sender address 0 is allowed), a unicast
     * frame must be for us, and our own receive filters must steer it to this queue (or to every
     * queue): a sender cannot choose the queue, whatever it writes.
     */
    private boolean fromPeer(PeerLink link, long at, int length) {
        if (mac(memory, at + 6) != link.mac) {
            return spoofed();
        }
        long destination = mac(memory, at);
        if ((destination & MULTICAST_BIT) == 0 && destination != ownMac) {
            shmCounters.increment(ShmCounter.RX_NOT_FOR_US);
            counters.increment(VnicCounter.RX_DROPPED_FILTERED);
            return false;
        }
        int ethertype = memory.get(U16, at + 12) & 0xFFFF;
        if (ethertype == ETHERTYPE_IPV4 && length >= ETHERNET_HEADER + 20) {
            if (memory.get(U32, at + ETHERNET_HEADER + 12) != link.address) {
                return spoofed();
            }
        } else if (ethertype == ETHERTYPE_ARP && length >= ARP_FRAME) {
            int sender = memory.get(U32, at + ETHERNET_HEADER + 14);
            if (mac(memory, at + ETHERNET_HEADER + 8) != link.mac || (sender != link.address && sender != 0)) {
                return spoofed();
            }
        }
        if (queueCount > 1) {
            int steered = vnic.steering().classify(memory, at, length);
            if (steered != Steering.EVERY_QUEUE && steered != index) {
                shmCounters.increment(ShmCounter.RX_MISSTEERED);
                counters.increment(VnicCounter.RX_DROPPED_FILTERED);
                return false;
            }
        }
        return true;
    }

    private boolean spoofed() {
        shmCounters.increment(ShmCounter.RX_SPOOFED);
        counters.increment(VnicCounter.RX_DROPPED_FILTERED);
        return false;
    }

    /** Counts a channel of {@code link} given up because its shared positions are impossible: the peer is broken. */
    private void broken(PeerLink link, String what) {
        shmCounters.increment(ShmCounter.CHANNELS_BROKEN);
        vnic.channelBroken(link, what);
    }

    // ------------------------------------------------------------------ transmit

    /**
     * Sends the frames in order: each is checked against our own identity (as the receiver
     * will check it), charged to the rate limit (a frame the limit holds back stays in the batch
     * with those after it), then copied into the channel to its destination; the buffer goes
     * back to our pool at once. A full channel drops the frame ({@code TX_RING_FULL}), as a
     * switch port does, so a receiver that stops reading cannot stall our traffic to others.
     * Bells are rung once per channel per call, and only for receivers that sleep.
     */
    @Override
    public int transmit(PacketBatch batch) throws IOException {
        if (!mailbox.isEmpty()) {
            applyMailbox();
        }
        int size = batch.size();
        for (int i = 0; i < size; i++) {
            lent.checkTransmit(batch.buffer(i), batch.offset(i), batch.length(i));
        }
        RateLimit limit = vnic.rateLimit();
        long now = System.nanoTime();
        if (bucket.limit() != limit) {
            bucket.setLimit(limit, now);
        }
        int accepted = 0;
        try {
            for (int i = 0; i < size; i++) {
                int buffer = batch.buffer(i);
                int length = batch.length(i);
                if (!pool.isAllocated(buffer)) {
                    throw new IllegalArgumentException(describe() + ": buffer " + buffer + " appears twice in the"
                            + " batch; frames before it were sent, it and those after it were not");
                }
                long frame = pool.offset(buffer) + batch.offset(i);
                if (localCount == LOCAL_CAPACITY && mac(memory, frame) == ownMac) {
                    // Our own receive path is full: push back (the frame stays with the caller,
                    // to be offered again after a poll drains it) rather than drop it.
                    counters.increment(VnicCounter.TX_RING_FULL);
                    break;
                }
                if (!bucket.tryTake(length, now)) {
                    counters.increment(VnicCounter.TX_RATE_LIMITED);
                    break;
                }
                accepted++;
                if (!transmitAllowed(frame, length)) {
                    counters.increment(VnicCounter.TX_DROPPED_FILTERED);
                    pool.free(buffer);
                    continue;
                }
                counters.increment(VnicCounter.TX_PACKETS);
                counters.add(VnicCounter.TX_BYTES, length);
                forward(buffer, frame, length);
            }
        } finally {
            publish();
            batch.removeFirst(accepted);
        }
        return accepted;
    }

    /** Routes one frame and gives its buffer back (or to our own receive path). */
    private void forward(int buffer, long frame, int length) {
        long destination = mac(memory, frame);
        if (destination == ownMac) {
            shmCounters.increment(ShmCounter.LOOPED_BACK);
            enqueueLocal(buffer, frame, length);
            return;
        }
        if ((destination & MULTICAST_BIT) != 0) {
            if (destination != BROADCAST || !proxyArp(frame, length)) {
                for (PeerLink link : peers) {
                    steer(link, frame, length);
                }
            }
            pool.free(buffer);
            return;
        }
        PeerLink link = lastDestination;
        if (link == null || link.mac != destination) {
            link = null;
            for (PeerLink candidate : peers) {
                if (candidate.mac == destination) {
                    link = candidate;
                    lastDestination = candidate;
                    break;
                }
            }
        }
        if (link == null) {
            shmCounters.increment(ShmCounter.TX_NO_PEER);
        } else {
            steer(link, frame, length);
        }
        pool.free(buffer);
    }

    /**
     * Copies the frame into the channel to the peer's queue its receive filters name (queue 0
     * when it has one queue or no filters), or into the channels to all its queues.
     */
    private void steer(PeerLink link, long frame, int length) {
        PeerLink.Outbound[] out = link.out;
        if (out.length == 1) {
            copyTo(out[0], frame, length);
            return;
        }
        Steering steering = link.peer.steering;
        int queue = steering.classify(memory, frame, length);
        if (queue == Steering.EVERY_QUEUE) {
            for (PeerLink.Outbound channel : out) {
                copyTo(channel, frame, length);
            }
        } else {
            copyTo(out[queue < out.length ? queue : 0], frame, length);
        }
    }

    private void copyTo(PeerLink.Outbound channel, long frame, int length) {
        if (channel.broken) {
            shmCounters.increment(ShmCounter.TX_NO_PEER);
            return;
        }
        long position = channel.claimed;
        if (position - channel.consumerCache >= capacity) {
            long consumer = (long) LONG.getAcquire(channel.returnPage, POSITION);
            if (consumer < channel.consumerCache || consumer > channel.committed) {
                channel.broken = true;
                broken(channel.link, "outbound channel to its queue " + channel.toQueue + ": consumer position "
                        + consumer + " (last " + channel.consumerCache + ", we published " + channel.committed + ")");
                return;
            }
            channel.consumerCache = consumer;
            if (position - consumer >= capacity) {
                shmCounters.increment(ShmCounter.TX_CHANNEL_FULL);
                counters.increment(VnicCounter.TX_RING_FULL);
                ringFullDrop();
                return;
            }
        }
        long slot = position & mask;
        long areaAt = slot * frameSlot;
        MemorySegment forward = channel.forward;
        MemorySegment.copy(memory, frame, forward, areaOffset + areaAt, length);
        long descriptor = DESCRIPTORS + slot * DESCRIPTOR_BYTES;
        forward.set(NATIVE_INT, descriptor + DESCRIPTOR_OFFSET, (int) areaAt);
        forward.set(NATIVE_INT, descriptor + DESCRIPTOR_LENGTH, length);
        channel.claimed = position + 1;
        if (!channel.dirty) {
            channel.dirty = true;
            dirty[dirtyCount++] = channel;
        }
    }

    /** Publishes every channel written since the last call (one release store each) and rings its bell. */
    private void publish() {
        for (int i = 0; i < dirtyCount; i++) {
            PeerLink.Outbound channel = dirty[i];
            dirty[i] = null;
            channel.dirty = false;
            LONG.setRelease(channel.forward, POSITION, channel.claimed);
            channel.committed = channel.claimed;
            int rung = channel.bell.ring();
            if ((rung & Bell.WOKE_SLEEPER) != 0) {
                counters.increment(VnicCounter.DOORBELLS_RUNG);
            }
            if ((rung & Bell.SIGNALLED_EVENTFD) != 0) {
                shmCounters.increment(ShmCounter.READINESS_SIGNALS);
            }
        }
        dirtyCount = 0;
    }

    /**
     * Answers a broadcast ARP request for a peer's address from the directory, into our own
     * receive path, instead of sending it to every peer. Announcements and probes (sender
     * address equal to the target, or 0) still go to everyone: peers update their caches from them.
     */
    private boolean proxyArp(long frame, int length) {
        if (length < ARP_FRAME || (memory.get(U16, frame + 12) & 0xFFFF) != ETHERTYPE_ARP) {
            return false;
        }
        long arp = frame + ETHERNET_HEADER;
        if (memory.get(U16, arp) != 1 || memory.get(U16, arp + 2) != ETHERTYPE_IPV4 || memory.get(U8, arp + 4) != 6
                || memory.get(U8, arp + 5) != 4 || memory.get(U16, arp + 6) != 1) {
            return false;
        }
        int senderAddress = memory.get(U32, arp + 14);
        int targetAddress = memory.get(U32, arp + 24);
        if (senderAddress == 0 || senderAddress == targetAddress) {
            return false;
        }
        PeerLink target = null;
        for (PeerLink candidate : peers) {
            if (candidate.address == targetAddress) {
                target = candidate;
                break;
            }
        }
        if (target == null || localCount == LOCAL_CAPACITY) {
            return false;
        }
        int reply = pool.allocate();
        if (reply < 0) {
            return false;
        }
        long senderMac = mac(memory, arp + 8);
        long at = pool.offset(reply) + HEADROOM;
        putMac(memory, at, senderMac);
        putMac(memory, at + 6, target.mac);
        memory.set(U16, at + 12, (short) ETHERTYPE_ARP);
        long out = at + ETHERNET_HEADER;
        memory.set(U16, out, (short) 1);
        memory.set(U16, out + 2, (short) ETHERTYPE_IPV4);
        memory.set(U8, out + 4, (byte) 6);
        memory.set(U8, out + 5, (byte) 4);
        memory.set(U16, out + 6, (short) 2);
        putMac(memory, out + 8, target.mac);
        memory.set(U32, out + 14, target.address);
        putMac(memory, out + 18, senderMac);
        memory.set(U32, out + 24, senderAddress);
        localBuffers[(localHead + localCount) % LOCAL_CAPACITY] = reply;
        localLengths[(localHead + localCount) % LOCAL_CAPACITY] = ARP_FRAME;
        localCount++;
        localFrameQueued();
        shmCounters.increment(ShmCounter.PROXY_ARP_REPLIES);
        return true;
    }

    /** Queues a frame we sent to ourselves for our own receive path (moved to the headroom offset). */
    private void enqueueLocal(int buffer, long frame, int length) {
        if (localCount == LOCAL_CAPACITY) {
            counters.increment(VnicCounter.RX_DROPPED_NO_BUFFER);
            pool.free(buffer);
            return;
        }
        long at = pool.offset(buffer) + HEADROOM;
        if (frame != at) {
            MemorySegment.copy(memory, frame, memory, at, length);
        }
        localBuffers[(localHead + localCount) % LOCAL_CAPACITY] = buffer;
        localLengths[(localHead + localCount) % LOCAL_CAPACITY] = length;
        localCount++;
        localFrameQueued();
    }

    /**
     * A frame for our own receive path appeared while we transmitted: if a poller armed the
     * readiness descriptor and sleeps on it, no sender will ring for this frame, so we take the
     * arming and signal it as a sender would. (Arming and this run under the caller's lock, so a
     * poller arming later sees the frame when it re-checks.)
     */
    private void localFrameQueued() {
        ownBell.signalIfArmed();
    }

    /** Our own identity, as the receiver will check it: a well-behaved stack never trips this. */
    private boolean transmitAllowed(long frame, int length) {
        if (mac(memory, frame + 6) != ownMac) {
            return false;
        }
        int ethertype = memory.get(U16, frame + 12) & 0xFFFF;
        if (ethertype == ETHERTYPE_IPV4 && length >= ETHERNET_HEADER + 20) {
            return memory.get(U32, frame + ETHERNET_HEADER + 12) == ownAddress;
        }
        if (ethertype == ETHERTYPE_ARP && length >= ARP_FRAME) {
            int sender = memory.get(U32, frame + ETHERNET_HEADER + 14);
            return mac(memory, frame + ETHERNET_HEADER + 8) == ownMac && (sender == ownAddress || sender == 0);
        }
        return true;
    }


    // ------------------------------------------------------------------ buffers

    @Override
    public int allocate(PacketBatch batch, int n) {
        return lent.allocate(batch, n);
    }

    @Override
    public void release(PacketBatch batch) {
        lent.release(batch);
    }

    // ------------------------------------------------------------------ waiting

    /** Whether {@link #awaitReceive} should return: frames waiting, a change to apply, or a wakeup. */
    private boolean hasWork() {
        if (localCount > 0 || wakeupPending || !mailbox.isEmpty()) {
            return true;
        }
        for (PeerLink link : peers) {
            for (PeerLink.Inbound channel : link.in) {
                if (!channel.broken && (long) LONG.getAcquire(channel.forward, POSITION) != channel.polled) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Sleeps on our bell's futex (the Doorbell protocol: announce, re-check every channel, sleep)
     * until a sender rings, {@link #wakeup()} is called, or the timeout passes. One futex for all
     * inbound channels. A pending readiness signal (see {@link #readinessFd()}) is consumed and
     * returns at once.
     */
    @Override
    public boolean awaitReceive(long timeoutNanos) throws IOException {
        counters.increment(VnicCounter.IDLE_WAITS);
        if (!mailbox.isEmpty()) {
            applyMailbox();
        }
        if (readinessEnabled) {
            long signals;
            try {
                signals = EventFd.drain(ownBell.eventFd());
            } catch (LinuxException e) {
                throw new IOException(describe() + ": reading the readiness eventfd", e);
            }
            if (signals > 0) {
                wakeupPending = false;
                return true;
            }
        }
        long deadline = timeoutNanos > 0 ? System.nanoTime() + timeoutNanos : 0;
        while (true) {
            int ticket = ownDoorbell.prepareToWait();
            if (hasWork()) {
                ownDoorbell.cancelWait();
                wakeupPending = false;
                return true;
            }
            long sleep = MAX_SLEEP_NANOS;
            if (timeoutNanos > 0) {
                sleep = Math.min(sleep, deadline - System.nanoTime());
                if (sleep <= 0) {
                    ownDoorbell.cancelWait();
                    return false;
                }
            }
            if (ownDoorbell.await(ticket, sleep)) {
                wakeupPending = false;
                return true;
            }
            if (timeoutNanos > 0 && deadline - System.nanoTime() <= 0) {
                return false;
            }
        }
    }

    /** Any thread: ends a concurrent (or the next) {@link #awaitReceive}, and makes {@link #readinessFd()} readable. */
    @Override
    public void wakeup() {
        wakeupPending = true;
        vnic.wakeOwnBell(ownBell, readinessEnabled);
    }

    /**
     * Our readiness eventfd: readable once a frame arrives after {@link #armReadiness()}, or
     * after {@link #wakeup()}. Cheap: a sender writes it only when it finds it armed (flipping it
     * back, so a busy stream costs senders nothing). As with the TAP backend, a
     * selector that finds it readable but {@link #receive} empty calls {@link #awaitReceive},
     * which consumes the signal and returns at once.
     */
    @Override
    public int readinessFd() {
        readinessEnabled = true;
        return ownBell.eventFd();
    }

    /**
     * Arms our bell so the next sender writes the readiness eventfd (one store and a fence). Not
     * done by {@link #receive}: a thread spinning on receive would make every sender pay an
     * eventfd write and wake the sleeper for nothing; only a poller about to sleep arms.
     *
     * <p>Nothing here or in {@link #receive} disarms the bell or reads the eventfd: only a sender
     * (taking the arming, then writing the eventfd) or {@link #awaitReceive} does. Several threads
     * of one process may sleep on the descriptor at once while another polls; a receive that
     * disarmed would leave them deaf, and one that read the eventfd could swallow the signal of a
     * frame it had not seen (published after it looked, signalled before it read the counter).
     * The cost of leaving the bell armed after a poll took the frames: the next sender writes the
     * eventfd once, and sleepers wake once for nothing.
     */
    @Override
    public boolean armReadiness() {
        if (!readinessEnabled) {
            readinessFd();
        }
        ownBell.arm();
        // StoreLoad: our ARMED store before the reads of the senders' positions (the Dekker
        // pair of Bell.ring's fence), so either the sender sees us armed or we see its frame.
        VarHandle.fullFence();
        return !hasWork();
    }

    /** A sender (or a wakeup, or a membership change) took the arming and has written the eventfd. */
    @Override
    public boolean readinessSignalled() {
        return readinessEnabled && ownBell.signalWritten();
    }

    // ------------------------------------------------------------------ helpers

    private static long mac(MemorySegment segment, long at) {
        return ((long) (segment.get(U16, at) & 0xFFFF) << 32) | (segment.get(U32, at + 2) & 0xFFFF_FFFFL);
    }

    private static void putMac(MemorySegment segment, long at, long mac) {
        segment.set(U16, at, (short) (mac >>> 32));
        segment.set(U32, at + 2, (int) mac);
    }

    /** A frame dropped because the channel to its receiver was full: a JFR event when recording (one check otherwise). */
    private void ringFullDrop() {
        io.arrakis.observe.RingFullDropEvent event = new io.arrakis.observe.RingFullDropEvent();
        if (event.isEnabled()) {
            event.vnic = vnic.name();
            event.queue = index;
            event.frames = 1;
            event.commit();
        }
    }

    private String describe() {
        return "shm VNIC " + vnic.name() + " queue " + index;
    }
}

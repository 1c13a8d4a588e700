package io.arrakis.device.tap;

import io.arrakis.device.Counters;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.LentBuffers;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.TokenBucket;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import io.arrakis.memory.BufferPool;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The one queue pair of a {@link TapVnic}: frames move between the TAP descriptor and the
 * buffers of a {@link BufferPool}, one {@code read(2)} or {@code write(2)} per frame, with no
 * copy in Java (the kernel copies each frame once, into or out of our buffer). The transmit
 * filter, the rate limit and the receive filters of the VNIC are enforced here, in software.
 * Owned by one thread, except {@link #wakeup()} and {@link #counters()}.
 *
 * <p>Every frame sent is its own {@code write(2)}, the TAP's doorbell: {@code DOORBELLS_RUNG}
 * counts those calls. {@code IDLE_WAITS} counts calls of {@link #awaitReceive}.
 *
 * <p>Buffers the queue holds are free in its pool; buffers handed to the caller (received or
 * allocated) are allocated in it, which is how a descriptor the caller did not own is caught.
 */
final class TapQueue implements VnicQueue {
    /**
     * Bytes left free before each received frame, so a stack can prepend headers (a tunnel, a
     * VLAN tag) in place; DPDK leaves the same.
     */
    static final int HEADROOM = 128;

    private static final int ETHERNET_HEADER = 14;
    private static final int VLAN_TAG = 4;
    private static final int ETHERTYPE_IPV4 = 0x0800;
    private static final int ETHERTYPE_ARP = 0x0806;
    private static final int IPV4_HEADER = 20;
    private static final int PROTOCOL_TCP = 6;
    private static final int PROTOCOL_UDP = 17;
    private static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final TapVnic vnic;
    private final int index;
    private final int tapFd;
    private final BufferPool pool;
    /** Room for a received frame after the headroom. */
    private final int room;
    /**
     * The longest frame the MTU allows (with a VLAN tag). Always less than {@link #room}, so a
     * read that filled the room was truncated: a TAP read returns only what it copied.
     */
    private final int maxFrame;
    private final LentBuffers lent;
    private final Epoll.Events events;
    private final Counters<VnicCounter> counters = Counters.onHeap(VnicCounter.class);
    private final TokenBucket bucket = new TokenBucket();

    TapQueue(TapVnic vnic, int index, MemorySegment memory, int bufferSize, Epoll.Events events) {
        this.vnic = vnic;
        this.index = index;
        this.tapFd = vnic.tapFd();
        this.pool = new BufferPool(memory, bufferSize);
        this.room = bufferSize - HEADROOM;
        this.maxFrame = maxFrame(vnic.mtu());
        this.lent = new LentBuffers(pool, HEADROOM, vnic.mtu(), maxFrame, describe());
        this.events = events;
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public MemorySegment memory() {
        return pool.segment();
    }

    @Override
    public int bufferSize() {
        return pool.bufferSize();
    }

    @Override
    public int headroom() {
        return HEADROOM;
    }

    /**
     * Reads frames until the TAP has none ({@code EAGAIN}), the batch is full, or the pool has no
     * free buffer. Without a buffer the frame stays queued in the kernel (not lost, unless the
     * TAP's own queue of {@code txqueuelen} frames overflows, which the kernel counts as the
     * interface's tx_dropped); {@code RX_DROPPED_NO_BUFFER} counts the receives that had to leave
     * frames behind for that reason. A frame longer than the MTU allows (the kernel side's MTU
     * was raised behind our back) cannot be told from one cut short to fit the buffer, and is
     * dropped as {@code RX_DROPPED_MALFORMED}.
     */
    @Override
    public int receive(PacketBatch batch) throws IOException {
        FlowFilter[] filters = vnic.receiveFilterArray();
        MemorySegment memory = pool.segment();
        int received = 0;
        // Frames we drop (filtered, malformed) do not fill the batch: bound the reads per call
        // so a flood of them cannot keep the polling thread here.
        int reads = 2 * (batch.capacity() - batch.size());
        while (!batch.isFull() && reads-- > 0) {
            int buffer = pool.allocate();
            if (buffer < 0) {
                if (tapReadable()) {
                    counters.increment(VnicCounter.RX_DROPPED_NO_BUFFER);
                }
                break;
            }
            long frame = pool.offset(buffer) + HEADROOM;
            long n;
            try {
                n = Unistd.read(tapFd, memory.asSlice(frame, room));
            } catch (LinuxException e) {
                pool.free(buffer);
                throw failure("receive", e);
            }
            if (n <= 0) {
                pool.free(buffer);
                break;
            }
            // Longer than the MTU allows: the kernel side's MTU was raised behind our back, and the
            // frame may have been cut to the room (a TAP read silently truncates).
            if (n < ETHERNET_HEADER || n > maxFrame) {
                pool.free(buffer);
                counters.increment(VnicCounter.RX_DROPPED_MALFORMED);
                continue;
            }
            int length = (int) n;
            if (filters.length > 0 && !receiveAllowed(filters, memory, frame, length)) {
                pool.free(buffer);
                counters.increment(VnicCounter.RX_DROPPED_FILTERED);
                continue;
            }
            batch.add(buffer, HEADROOM, length);
            received++;
            counters.increment(VnicCounter.RX_PACKETS);
            counters.add(VnicCounter.RX_BYTES, length);
        }
        return received;
    }

    /** Whether the kernel has frames queued for us: a look that does not wait (one system call). */
    private boolean tapReadable() throws IOException {
        int ready;
        try {
            ready = Epoll.wait(vnic.epollFd(), events, 0);
        } catch (LinuxException e) {
            throw failure("poll", e);
        }
        for (int i = 0; i < ready; i++) {
            if (events.data(i) == TapVnic.TAP_TAG) {
                return true;
            }
        }
        return false;
    }

    /**
     * Software receive filtering: ARP always passes; an IPv4 frame passes if it matches one of
     * {@code filters} by its 5-tuple (ports only for TCP and UDP in a first or only fragment;
     * later fragments carry none, so only filters without ports match them); anything else
     * (IPv6, other ethertypes, truncated headers) is dropped.
     */
    private static boolean receiveAllowed(FlowFilter[] filters, MemorySegment memory, long frame, int length) {
        int ethertype = memory.get(U16, frame + 12) & 0xFFFF;
        if (ethertype == ETHERTYPE_ARP) {
            return true;
        }
        if (ethertype != ETHERTYPE_IPV4 || length < ETHERNET_HEADER + IPV4_HEADER) {
            return false;
        }
        long ip = frame + ETHERNET_HEADER;
        int headerLength = (memory.get(U8, ip) & 0x0F) * 4;
        if (headerLength < IPV4_HEADER || ETHERNET_HEADER + headerLength > length) {
            return false;
        }
        int protocol = memory.get(U8, ip + 9) & 0xFF;
        int source = memory.get(U32, ip + 12);
        int destination = memory.get(U32, ip + 16);
        int sourcePort = 0;
        int destinationPort = 0;
        boolean firstFragment = (memory.get(U16, ip + 6) & 0x1FFF) == 0;
        if ((protocol == PROTOCOL_TCP || protocol == PROTOCOL_UDP) && firstFragment
                && ETHERNET_HEADER + headerLength + 4 <= length) {
            sourcePort = memory.get(U16, ip + headerLength) & 0xFFFF;
            destinationPort = memory.get(U16, ip + headerLength + 2) & 0xFFFF;
        }
        for (FlowFilter filter : filters) {
            if (filter.matches(protocol, destination, destinationPort, source, sourcePort)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Writes the frames in order, one {@code write(2)} each, and returns each buffer to the pool
     * once the kernel has copied it. Stops, leaving the rest in the batch, when the rate limit
     * holds a frame back ({@code TX_RATE_LIMITED}) or the TAP refuses one with {@code EAGAIN}
     * ({@code TX_RING_FULL}: its socket send buffer is full; rare, and the tokens of that frame
     * are spent). A frame the transmit filter refuses counts as accepted: it is dropped, its
     * buffer freed, and {@code TX_DROPPED_FILTERED} counted.
     *
     * <p>Every descriptor is checked before anything is sent: a bad one throws
     * {@link IllegalArgumentException} and leaves the batch and every buffer as they were. If
     * {@code write(2)} fails otherwise (e.g. {@code EIO}: the interface is down), the frames
     * sent so far leave the batch and the failing one stays in it, still the caller's.
     */
    @Override
    public int transmit(PacketBatch batch) throws IOException {
        int size = batch.size();
        for (int i = 0; i < size; i++) {
            lent.checkTransmit(batch.buffer(i), batch.offset(i), batch.length(i));
        }
        if (bucket.limit() != vnic.rateLimit()) {
            bucket.setLimit(vnic.rateLimit(), System.nanoTime());
        }
        MemorySegment memory = pool.segment();
        long now = System.nanoTime();
        int accepted = 0;
        try {
            for (int i = 0; i < size; i++) {
                int buffer = batch.buffer(i);
                int length = batch.length(i);
                if (!pool.isAllocated(buffer)) {
                    // Allocated when checked above, so an earlier frame of this batch freed it.
                    throw new IllegalArgumentException(describe() + ": buffer " + buffer
                            + " appears twice in the batch; frames before it were sent, it and those after it"
                            + " were not");
                }
                if (!bucket.tryTake(length, now)) {
                    counters.increment(VnicCounter.TX_RATE_LIMITED);
                    break;
                }
                long frame = pool.offset(buffer) + batch.offset(i);
                if (!vnic.transmitFilter().allowsFrame(memory, frame, length)) {
                    counters.increment(VnicCounter.TX_DROPPED_FILTERED);
                    pool.free(buffer);
                    accepted++;
                    continue;
                }
                long written;
                try {
                    written = Unistd.write(tapFd, memory.asSlice(frame, length));
                } catch (LinuxException e) {
                    throw failure("transmit of a " + length + "-byte frame from buffer " + buffer
                            + " failed; it stays in the batch", e);
                } finally {
                    counters.increment(VnicCounter.DOORBELLS_RUNG);
                }
                if (written < 0) {
                    counters.increment(VnicCounter.TX_RING_FULL);
                    break;
                }
                pool.free(buffer);
                accepted++;
                counters.increment(VnicCounter.TX_PACKETS);
                counters.add(VnicCounter.TX_BYTES, length);
            }
        } finally {
            batch.removeFirst(accepted);
        }
        return accepted;
    }

    /** The longest frame an MTU allows: the IP packet, the Ethernet header and a VLAN tag. */
    static int maxFrame(int mtu) {
        return mtu + ETHERNET_HEADER + VLAN_TAG;
    }


    @Override
    public int allocate(PacketBatch batch, int n) {
        return lent.allocate(batch, n);
    }

    @Override
    public void release(PacketBatch batch) {
        lent.release(batch);
    }

    /**
     * Waits in {@code epoll_wait} on the TAP descriptor and the wakeup eventfd (the descriptor
     * {@link #readinessFd()} returns), and consumes a pending wakeup. The timeout has millisecond
     * resolution, rounded up; a signal does not end the wait early.
     */
    @Override
    public boolean awaitReceive(long timeoutNanos) throws IOException {
        counters.increment(VnicCounter.IDLE_WAITS);
        long deadline = System.nanoTime() + timeoutNanos;
        int epollFd = vnic.epollFd();
        try {
            while (true) {
                int millis = -1;
                if (timeoutNanos > 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    millis = (int) Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000);
                }
                int ready = Epoll.wait(epollFd, events, millis);
                if (ready > 0) {
                    for (int i = 0; i < ready; i++) {
                        if (events.data(i) == TapVnic.WAKEUP_TAG) {
                            EventFd.drain(vnic.wakeupFd());
                        }
                    }
                    return true;
                }
                // 0: timed out or interrupted by a signal; the deadline decides.
            }
        } catch (LinuxException e) {
            throw failure("awaitReceive", e);
        }
    }

    @Override
    public void wakeup() throws IOException {
        vnic.signalWakeup();
    }

    /**
     * The epoll descriptor {@link #awaitReceive} waits on: readable while the TAP has frames or a
     * wakeup is pending. A pending wakeup keeps it readable until {@link #awaitReceive} consumes
     * it, so a selector that nests this descriptor should call {@code awaitReceive} (it returns
     * at once then) when it reports readable and {@link #receive} found nothing.
     */
    @Override
    public int readinessFd() {
        return vnic.epollFd();
    }

    @Override
    public Counters<VnicCounter> counters() {
        return counters;
    }

    /**
     * An {@link IOException} naming this queue and its interface, with a hint for the errors a TAP
     * descriptor gives when its interface is down (EIO on write) or gone (EBADFD).
     */
    private IOException failure(String what, LinuxException e) {
        String hint = switch (e.errnoName()) {
            case "EIO" -> " (the interface is down: bring it up, e.g. ip link set " + vnic.interfaceName() + " up)";
            case "EBADFD" -> " (the interface is gone: deleted, or its network namespace was; close this VNIC)";
            default -> "";
        };
        return new IOException(describe() + ": " + what + hint + ": " + e.getMessage(), e);
    }

    private String describe() {
        return "VNIC " + vnic.name() + " queue " + index + " (tap " + vnic.interfaceName() + ")";
    }
}

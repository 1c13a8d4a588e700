package io.arrakis.device.xdp;

import io.arrakis.device.Counters;
import io.arrakis.device.LentBuffers;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.TokenBucket;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.Errno;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Xsk;
import io.arrakis.memory.BufferPool;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One queue pair of an {@link AfXdpVnic}: an AF_XDP socket bound to one hardware queue, its
 * UMEM being this queue's packet memory (the {@link BufferPool}'s region, one chunk per buffer).
 *
 * <p>Buffers move by index only: free buffers go to the kernel on the fill ring; received frames
 * come back on the RX ring as (address, length), address = buffer * bufferSize + offset; frames
 * to send go on the TX ring and their buffers come back on the completion ring, when they return
 * to the pool. Buffers the kernel holds (fill ring, RX not yet read, TX not yet completed) and
 * buffers the caller holds are allocated in the pool; free ones are the queue's.
 *
 * <p>Doorbells: with {@code XDP_USE_NEED_WAKEUP} the kernel says, per ring, when it needs a
 * system call: a {@code sendto} after TX descriptors ({@code DOORBELLS_RUNG}), a
 * {@code recvfrom} after refilling an empty fill ring. In copy mode TX always needs one; a
 * zero-copy driver that polls its rings needs none while busy.
 *
 * <p>Owned by one thread, except {@link #wakeup()} and {@link #counters()}.
 */
final class AfXdpQueue implements VnicQueue {
    /** linux/bpf.h XDP_PACKET_HEADROOM: where the kernel puts a received frame in its chunk. */
    static final int HEADROOM = 256;
    static final long XSK_TAG = 1;
    static final long WAKEUP_TAG = 2;

    private final AfXdpVnic vnic;
    private final int index;
    private final int hardwareQueue;
    private final int fd;
    private final int epollFd;
    private final int wakeupFd;
    private final BufferPool pool;
    private final int bufferSize;
    private final int bufferShift;
    private final boolean zeroCopy;
    private final XskRing fill;
    private final XskRing completion;
    private final XskRing rx;
    private final XskRing tx;
    private final LentBuffers lent;
    private final Epoll.Events events;
    private final Counters<VnicCounter> counters = Counters.onHeap(VnicCounter.class);
    private final TokenBucket bucket = new TokenBucket();
    private final String description;
    private long kernelDropsSeen;
    /** Where the idle path reads XDP_STATISTICS, so that reading them allocates nothing. */
    private final MemorySegment statistics;

    AfXdpQueue(AfXdpVnic vnic, int index, AfXdpSocket socket, Epoll.Events events, MemorySegment statisticsMemory) {
        this.vnic = vnic;
        this.index = index;
        this.hardwareQueue = socket.hardwareQueue();
        this.fd = socket.fd();
        this.epollFd = socket.epollFd();
        this.wakeupFd = socket.wakeupFd();
        this.pool = socket.pool();
        this.bufferSize = pool.bufferSize();
        this.bufferShift = Integer.numberOfTrailingZeros(bufferSize);
        this.zeroCopy = socket.zeroCopy();
        this.fill = socket.fill();
        this.completion = socket.completion();
        this.rx = socket.rx();
        this.tx = socket.tx();
        this.description = "VNIC " + vnic.name() + " queue " + index + " (af_xdp " + vnic.interfaceName() + " queue "
                + hardwareQueue + ", " + (zeroCopy ? "zero-copy" : "copy") + ")";
        int maxFrame = vnic.mtu() + 18;
        this.lent = new LentBuffers(pool, HEADROOM, vnic.mtu(), maxFrame, description);
        this.events = events;
        this.statistics = statisticsMemory;
        refill();
    }

    @Override
    public int index() {
        return index;
    }

    /** The interface's queue this socket is bound to. */
    public int hardwareQueue() {
        return hardwareQueue;
    }

    /** Whether the kernel runs this socket in zero-copy mode (XDP_OPTIONS). */
    public boolean zeroCopy() {
        return zeroCopy;
    }

    int socketFd() {
        return fd;
    }

    @Override
    public MemorySegment memory() {
        return pool.segment();
    }

    @Override
    public int bufferSize() {
        return bufferSize;
    }

    @Override
    public int headroom() {
        return HEADROOM;
    }

    /** Keeps the fill ring stocked with free buffers, leaving at least a quarter of the pool for transmit. */
    private void refill() {
        int free = fill.free();
        int spare = pool.available() - pool.capacity() / 4;
        int n = Math.min(free, spare);
        if (n <= 0) {
            return;
        }
        int put = 0;
        while (put < n) {
            int buffer = pool.allocate();
            if (buffer < 0) {
                break;
            }
            fill.putAddress(put, (long) buffer << bufferShift);
            put++;
        }
        fill.submit(put);
    }

    /** Returns the buffers of transmitted frames to the pool. */
    private void reapCompletions() {
        int n = completion.available(completion.size());
        for (int i = 0; i < n; i++) {
            long address = completion.address(i);
            int buffer = (int) (address >>> bufferShift);
            if (buffer >= 0 && buffer < pool.capacity() && pool.isAllocated(buffer)) {
                pool.free(buffer);
            }
        }
        if (n > 0) {
            completion.release(n);
        }
    }

    @Override
    public int receive(PacketBatch batch) throws IOException {
        reapCompletions();
        refill();
        int n = rx.available(batch.capacity() - batch.size());
        for (int i = 0; i < n; i++) {
            long address = rx.address(i);
            int length = rx.length(i);
            int buffer = (int) (address >>> bufferShift);
            int offset = (int) (address & (bufferSize - 1));
            if (buffer < 0 || buffer >= pool.capacity() || length < 14 || offset + length > bufferSize) {
                counters.increment(VnicCounter.RX_DROPPED_MALFORMED);
                if (buffer >= 0 && buffer < pool.capacity() && pool.isAllocated(buffer)) {
                    pool.free(buffer);
                }
                continue;
            }
            batch.add(buffer, offset, length);
            counters.increment(VnicCounter.RX_PACKETS);
            counters.add(VnicCounter.RX_BYTES, length);
        }
        if (n > 0) {
            rx.release(n);
            refill();
        } else if (fill.needsWakeup()) {
            // The driver stopped for want of buffers and wants to hear that the fill ring has some.
            Xsk.wake(fd);
            counters.increment(VnicCounter.DOORBELLS_RUNG);
        }
        return n;
    }

    @Override
    public int transmit(PacketBatch batch) throws IOException {
        int size = batch.size();
        for (int i = 0; i < size; i++) {
            lent.checkTransmit(batch.buffer(i), batch.offset(i), batch.length(i));
        }
        reapCompletions();
        if (bucket.limit() != vnic.rateLimit()) {
            bucket.setLimit(vnic.rateLimit(), System.nanoTime());
        }
        MemorySegment memory = pool.segment();
        long now = System.nanoTime();
        int room = tx.free();
        int accepted = 0;
        int queued = 0;
        try {
            for (int i = 0; i < size; i++) {
                int buffer = batch.buffer(i);
                int length = batch.length(i);
                if (queued == room) {
                    counters.increment(VnicCounter.TX_RING_FULL);
                    break;
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
                tx.putDescriptor(queued, frame, length);
                queued++;
                accepted++;
                counters.increment(VnicCounter.TX_PACKETS);
                counters.add(VnicCounter.TX_BYTES, length);
            }
        } finally {
            if (queued > 0) {
                tx.submit(queued);
            }
            batch.removeFirst(accepted);
        }
        if (queued > 0 || tx.outstanding() > 0) {
            kickTransmit();
        }
        return accepted;
    }

    /** The TX doorbell, when the kernel asked for it; transient refusals are retried on the next call. */
    private void kickTransmit() throws IOException {
        if (!tx.needsWakeup()) {
            return;
        }
        counters.increment(VnicCounter.DOORBELLS_RUNG);
        int errno = Xsk.kick(fd);
        switch (errno) {
            case 0, Errno.EAGAIN, Errno.EBUSY, Errno.ENOBUFS -> { }
            default -> throw new IOException(description + ": TX doorbell (sendto) failed: " + Errno.name(errno)
                    + " (" + Errno.description(errno) + ")" + (errno == 100 ? ": the interface is down" : ""));
        }
    }

    @Override
    public int allocate(PacketBatch batch, int n) {
        reapCompletions();
        return lent.allocate(batch, n);
    }

    @Override
    public void release(PacketBatch batch) {
        lent.release(batch);
    }

    @Override
    public boolean armReadiness() {
        return rx.available(1) == 0;
    }

    /**
     * Waits in {@code epoll_wait} on the socket (readable when its RX ring has frames; polling it
     * also wakes a driver that wants the fill ring kicked) and the wakeup eventfd. Also folds the
     * kernel's drop counters into ours, since this is the idle path.
     */
    @Override
    public boolean awaitReceive(long timeoutNanos) throws IOException {
        counters.increment(VnicCounter.IDLE_WAITS);
        foldKernelStatistics();
        if (tx.outstanding() > 0) {
            kickTransmit();
        }
        long deadline = System.nanoTime() + timeoutNanos;
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
                        if (events.data(i) == WAKEUP_TAG) {
                            EventFd.drain(wakeupFd);
                        }
                    }
                    return true;
                }
            }
        } catch (LinuxException e) {
            throw new IOException(description + ": awaitReceive: " + e.getMessage(), e);
        }
    }

    /** The kernel's XDP_STATISTICS of this socket. */
    public Xsk.Statistics kernelStatistics() throws IOException {
        try {
            return Xsk.statistics(fd);
        } catch (LinuxException e) {
            throw new IOException(description + ": " + e.getMessage(), e);
        }
    }

    private void foldKernelStatistics() throws IOException {
        try {
            Xsk.readStatistics(fd, statistics);
        } catch (LinuxException e) {
            throw new IOException(description + ": " + e.getMessage(), e);
        }
        // rx_dropped, rx_ring_full and rx_fill_ring_empty_descs: frames the kernel had no room for.
        long drops = statistics.get(ValueLayout.JAVA_LONG, 0) + statistics.get(ValueLayout.JAVA_LONG, 24)
                + statistics.get(ValueLayout.JAVA_LONG, 32);
        if (drops > kernelDropsSeen) {
            counters.add(VnicCounter.RX_DROPPED_NO_BUFFER, drops - kernelDropsSeen);
            kernelDropsSeen = drops;
        }
    }

    @Override
    public void wakeup() throws IOException {
        vnic.signalWakeup(this);
    }

    @Override
    public int readinessFd() {
        return epollFd;
    }

    @Override
    public Counters<VnicCounter> counters() {
        return counters;
    }

    int wakeupFd() {
        return wakeupFd;
    }

    @Override
    public String toString() {
        return description;
    }
}

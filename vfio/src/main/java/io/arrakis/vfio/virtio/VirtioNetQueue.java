package io.arrakis.vfio.virtio;

import io.arrakis.device.Counters;
import io.arrakis.device.FilterlessVnicControl;
import io.arrakis.device.LentBuffers;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.TokenBucket;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.memory.BufferPool;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One queue pair of a {@link VirtioNetVnic}: a receive and a transmit split virtqueue whose
 * descriptors point straight into this queue's {@link BufferPool} (mapped for the device's DMA),
 * so a frame is never copied: the device writes a received frame, after its 12-byte
 * {@link VirtioNetHeader}, at {@link #HEADROOM} of a pool buffer, and reads a transmitted one
 * from the caller's buffer, its header written into the 12 bytes just before the frame (or, when
 * the frame starts less than 12 bytes into its buffer, from a header slot of this queue, as a
 * two-descriptor chain).
 *
 * <p>Batches: received buffers are replaced in batches of at least an eighth of the ring and the
 * device notified once per batch; a transmit batch is published with one notification, and only
 * when the device asked for one ({@code EVENT_IDX} or its NO_NOTIFY flag). Transmitted buffers
 * return to the pool when the queue next receives or transmits (the transmit queue interrupts
 * nobody). {@code DOORBELLS_RUNG} counts notifications; {@code IDLE_WAITS} calls of
 * {@link #awaitReceive}.
 *
 * <p>Owned by one thread, except {@link #wakeup()} and {@link #counters()}. Allocates nothing
 * on the packet path.
 */
final class VirtioNetQueue implements VnicQueue {
    /** Bytes before each frame left for prepended headers, as the other backends leave (the device's header is in its end). */
    static final int HEADROOM = 128;
    private static final int ETHERNET_HEADER = 14;
    private static final int VLAN_TAG = 4;
    private static final int HEADER = VirtioNetHeader.BYTES;

    private final int index;
    private final String description;
    private final VirtioPciTransport transport;
    private final SplitVirtqueue rx;
    private final long rxDoorbell;
    private final int rxQueueIndex;
    private final SplitVirtqueue tx;
    private final long txDoorbell;
    private final int txQueueIndex;
    private final MemorySegment txHeaders;
    private final long txHeadersIova;
    private final BufferPool pool;
    private final MemorySegment memory;
    private final long poolIova;
    private final int bufferShift;
    private final int maxFrame;
    private final boolean mergeable;
    private final int refillBatch;
    private final int epollFd;
    private final int wakeupFd;
    private final int rxInterruptFd;
    private final int configInterruptFd;
    private final FilterlessVnicControl control;
    private final VirtioNetVnic.WakeupGuard guard;
    private final LentBuffers lent;
    private final Epoll.Events events;
    private final Counters<VnicCounter> counters = Counters.onHeap(VnicCounter.class);
    private final TokenBucket bucket = new TokenBucket();
    /** The pool buffer behind each descriptor the device holds (by head descriptor). */
    private final int[] rxBufferOf;
    private final int[] txBufferOf;
    /** Buffers the device holds for transmission, so a buffer offered twice is refused. */
    private final boolean[] transmitting;
    /** Buffers of a received frame spread over several (mergeable rx), still to be dropped. */
    private int dropBuffers;
    private long checksumsCompleted;
    /** Whether the receive ring was left empty (the pool had no free buffer) at the last refill. */
    private boolean starved;
    private boolean armed;

    VirtioNetQueue(int index, String description, VirtioPciTransport transport, SplitVirtqueue rx, long rxDoorbell,
            int rxQueueIndex, SplitVirtqueue tx, long txDoorbell, int txQueueIndex, MemorySegment txHeaders,
            long txHeadersIova, MemorySegment poolMemory, long poolIova, int bufferSize, int mtu, boolean mergeable,
            int epollFd, int wakeupFd, int rxInterruptFd, int configInterruptFd, FilterlessVnicControl control,
            VirtioNetVnic.WakeupGuard guard, Arena arena) {
        this.index = index;
        this.description = description;
        this.transport = transport;
        this.rx = rx;
        this.rxDoorbell = rxDoorbell;
        this.rxQueueIndex = rxQueueIndex;
        this.tx = tx;
        this.txDoorbell = txDoorbell;
        this.txQueueIndex = txQueueIndex;
        this.txHeaders = txHeaders;
        this.txHeadersIova = txHeadersIova;
        this.pool = new BufferPool(poolMemory, bufferSize);
        this.memory = pool.segment();
        this.poolIova = poolIova;
        this.bufferShift = Integer.numberOfTrailingZeros(bufferSize);
        this.maxFrame = maxFrame(mtu);
        this.mergeable = mergeable;
        this.refillBatch = Math.max(1, rx.size() / 8);
        this.epollFd = epollFd;
        this.wakeupFd = wakeupFd;
        this.rxInterruptFd = rxInterruptFd;
        this.configInterruptFd = configInterruptFd;
        this.control = control;
        this.guard = guard;
        this.lent = new LentBuffers(pool, HEADROOM, mtu, maxFrame, description);
        this.events = Epoll.Events.allocate(arena, 3);
        this.rxBufferOf = new int[rx.size()];
        this.txBufferOf = new int[tx.size()];
        this.transmitting = new boolean[pool.capacity()];
        // The transmit queue never interrupts (it has no vector); receive interrupts only when armed.
        tx.disableInterrupts();
        rx.disableInterrupts();
    }

    /** The longest frame an MTU allows: the IP packet, the Ethernet header and a VLAN tag. */
    static int maxFrame(int mtu) {
        return mtu + ETHERNET_HEADER + VLAN_TAG;
    }

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

    private long iovaOf(int buffer) {
        return poolIova + ((long) buffer << bufferShift);
    }

    /**
     * Posts free pool buffers to the receive ring until it is full or the pool is empty, when at
     * least a batch's worth of descriptors is free (or the device holds none), and notifies the
     * device once if it asked.
     */
    void refill() throws IOException {
        int free = rx.freeDescriptors();
        if (free < refillBatch && rx.inFlight() > 0) {
            return;
        }
        int posted = 0;
        while (posted < free) {
            int buffer = pool.allocate();
            if (buffer < 0) {
                break;
            }
            int id = rx.allocateDescriptor();
            rx.writeDescriptor(id, iovaOf(buffer) + HEADROOM - HEADER, pool.bufferSize() - HEADROOM + HEADER,
                    SplitVirtqueue.FLAG_WRITE, 0);
            rxBufferOf[id] = buffer;
            rx.offer(id);
            posted++;
        }
        boolean starvedNow = rx.inFlight() == 0;
        if (starvedNow && !starved) {
            // The device has nowhere to put a frame: what arrives now it drops, uncounted. We count
            // the times it was left so (once per episode, not per poll).
            counters.increment(VnicCounter.RX_DROPPED_NO_BUFFER);
        }
        starved = starvedNow;
        if (rx.publish()) {
            transport.notifyQueue(rxDoorbell, rxQueueIndex);
            counters.increment(VnicCounter.DOORBELLS_RUNG);
        }
    }

    /**
     * Takes frames from the used ring until it is empty or the batch full, completes partial
     * checksums the device left ({@code NEEDS_CSUM}, when GUEST_CSUM was negotiated), drops
     * malformed ones ({@code RX_DROPPED_MALFORMED}: shorter than an Ethernet header, longer than
     * the MTU allows, or spread over several buffers), then refills the ring.
     */
    @Override
    public int receive(PacketBatch batch) throws IOException {
        if (armed) {
            rx.disableInterrupts();
            armed = false;
        }
        reclaimTransmitted();
        int received = 0;
        while (!batch.isFull() && rx.hasUsed()) {
            int id = rx.usedId();
            int length = rx.usedLength();
            rx.advanceUsed();
            if (!rx.descriptorInUse(id)) {
                throw deviceError("completed receive descriptor " + id + ", which it did not hold");
            }
            int buffer = rxBufferOf[id];
            rx.freeDescriptor(id);
            if (dropBuffers > 0) {
                dropBuffers--;
                pool.free(buffer);
                continue;
            }
            long header = ((long) buffer << bufferShift) + HEADROOM - HEADER;
            int frameLength = length - HEADER;
            int buffers = mergeable ? VirtioNetHeader.numBuffers(memory, header) : 1;
            if (buffers > 1) {
                dropBuffers = buffers - 1;
            }
            if (buffers != 1 || frameLength < ETHERNET_HEADER || frameLength > maxFrame
                    || !checksumComplete(header, frameLength)) {
                pool.free(buffer);
                counters.increment(VnicCounter.RX_DROPPED_MALFORMED);
                continue;
            }
            batch.add(buffer, HEADROOM, frameLength);
            received++;
            counters.increment(VnicCounter.RX_PACKETS);
            counters.add(VnicCounter.RX_BYTES, frameLength);
        }
        refill();
        return received;
    }

    private boolean checksumComplete(long header, int frameLength) {
        if ((VirtioNetHeader.flags(memory, header) & VirtioNetHeader.F_NEEDS_CSUM) == 0) {
            return true;
        }
        if (!VirtioNetHeader.completeChecksum(memory, header + HEADER, frameLength,
                VirtioNetHeader.checksumStart(memory, header), VirtioNetHeader.checksumOffset(memory, header))) {
            return false;
        }
        checksumsCompleted++;
        return true;
    }

    /** The transmit virtqueue, for lab tests that hand the device what no caller of {@link #transmit} can. */
    SplitVirtqueue transmitRing() {
        return tx;
    }

    /** Rings the transmit queue's doorbell, for the same tests. */
    void notifyTransmit() {
        transport.notifyQueue(txDoorbell, txQueueIndex);
    }

    /** Received frames whose partial checksum ({@code NEEDS_CSUM}) this queue completed; owner thread only. */
    long checksumsCompleted() {
        return checksumsCompleted;
    }

    /** Returns the buffers of transmissions the device finished to the pool. */
    private void reclaimTransmitted() throws IOException {
        while (tx.hasUsed()) {
            int id = tx.usedId();
            tx.advanceUsed();
            if (!tx.descriptorInUse(id)) {
                throw deviceError("completed transmit descriptor " + id + ", which it did not hold");
            }
            if ((tx.descriptorFlags(id) & SplitVirtqueue.FLAG_NEXT) != 0) {
                tx.freeDescriptor(tx.descriptorNext(id));
            }
            int buffer = txBufferOf[id];
            tx.freeDescriptor(id);
            transmitting[buffer] = false;
            pool.free(buffer);
        }
    }

    /**
     * Offers the frames in order and notifies the device once for the batch. Stops, leaving the
     * rest in the batch, when the ring is full ({@code TX_RING_FULL}) or the rate limit holds a
     * frame back ({@code TX_RATE_LIMITED}). A frame the transmit filter refuses counts as
     * accepted: dropped, its buffer freed, {@code TX_DROPPED_FILTERED} counted. Every descriptor
     * is checked before anything is offered; a bad one throws {@link IllegalArgumentException}
     * and leaves the batch as it was.
     */
    @Override
    public int transmit(PacketBatch batch) throws IOException {
        int size = batch.size();
        for (int i = 0; i < size; i++) {
            int buffer = batch.buffer(i);
            lent.checkTransmit(buffer, batch.offset(i), batch.length(i));
            if (transmitting[buffer]) {
                throw new IllegalArgumentException(description + ": buffer " + buffer + " is already being"
                        + " transmitted (offered before and not yet sent); nothing in the batch was sent");
            }
        }
        reclaimTransmitted();
        if (bucket.limit() != control.rateLimit()) {
            bucket.setLimit(control.rateLimit(), System.nanoTime());
        }
        long now = System.nanoTime();
        int accepted = 0;
        try {
            for (int i = 0; i < size; i++) {
                int buffer = batch.buffer(i);
                int offset = batch.offset(i);
                int length = batch.length(i);
                if (transmitting[buffer]) {
                    throw new IllegalArgumentException(description + ": buffer " + buffer + " appears twice in the"
                            + " batch; frames before it were sent, it and those after it were not");
                }
                int descriptors = offset >= HEADER ? 1 : 2;
                if (tx.freeDescriptors() < descriptors) {
                    counters.increment(VnicCounter.TX_RING_FULL);
                    break;
                }
                if (!bucket.tryTake(length, now)) {
                    counters.increment(VnicCounter.TX_RATE_LIMITED);
                    break;
                }
                long frame = ((long) buffer << bufferShift) + offset;
                if (!control.transmitFilter().allowsFrame(memory, frame, length)) {
                    counters.increment(VnicCounter.TX_DROPPED_FILTERED);
                    pool.free(buffer);
                    accepted++;
                    continue;
                }
                int head = tx.allocateDescriptor();
                if (descriptors == 1) {
                    VirtioNetHeader.writePlain(memory, frame - HEADER);
                    tx.writeDescriptor(head, iovaOf(buffer) + offset - HEADER, length + HEADER, 0, 0);
                } else {
                    int body = tx.allocateDescriptor();
                    long slot = (long) head * 16;
                    VirtioNetHeader.writePlain(txHeaders, slot);
                    tx.writeDescriptor(head, txHeadersIova + slot, HEADER, SplitVirtqueue.FLAG_NEXT, body);
                    tx.writeDescriptor(body, iovaOf(buffer) + offset, length, 0, 0);
                }
                txBufferOf[head] = buffer;
                transmitting[buffer] = true;
                tx.offer(head);
                accepted++;
                counters.increment(VnicCounter.TX_PACKETS);
                counters.add(VnicCounter.TX_BYTES, length);
            }
        } finally {
            batch.removeFirst(accepted);
            if (tx.publish()) {
                transport.notifyQueue(txDoorbell, txQueueIndex);
                counters.increment(VnicCounter.DOORBELLS_RUNG);
            }
        }
        return accepted;
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
     * Checks the device is still running, asks it to interrupt on the next frame, and sleeps in
     * {@code epoll_wait} on the receive queue's MSI-X eventfd, the wakeup eventfd and the
     * configuration-change vector (a device that needs a reset says so there), unless frames
     * already wait. The timeout has millisecond resolution, rounded up.
     */
    @Override
    public boolean awaitReceive(long timeoutNanos) throws IOException {
        counters.increment(VnicCounter.IDLE_WAITS);
        if (!armReadiness()) {
            return true;
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
                    boolean config = false;
                    for (int i = 0; i < ready; i++) {
                        long tag = events.data(i);
                        if (tag == VirtioNetVnic.WAKEUP_TAG) {
                            EventFd.drain(wakeupFd);
                        } else if (tag == VirtioNetVnic.CONFIG_TAG) {
                            config = true;
                        }
                    }
                    if (config) {
                        // Drained, or the level-triggered epoll would never sleep again; the other
                        // queues' pollers look at the status when they next arm.
                        EventFd.drain(configInterruptFd);
                        VirtioNetVnic.checkStatus(transport, description, "while the queue slept");
                    }
                    return true;
                }
            }
        } catch (LinuxException e) {
            throw new IOException(description + ": awaitReceive: " + e.getMessage(), e);
        }
    }

    @Override
    public void wakeup() throws IOException {
        guard.signal(wakeupFd, description);
    }

    /**
     * The epoll descriptor {@link #awaitReceive} sleeps on (receive interrupts, wakeups and
     * configuration changes). It reports frames only after {@link #armReadiness()}: a polling
     * receiver leaves interrupts off.
     */
    @Override
    public int readinessFd() {
        return epollFd;
    }

    /**
     * Checks the device status (a device needing a reset fails here, with the reason), consumes
     * earlier interrupts, enables the receive interrupt and re-checks the used ring: {@code false}
     * when frames already wait.
     */
    @Override
    public boolean armReadiness() throws IOException {
        VirtioNetVnic.checkStatus(transport, description, "before the queue slept");
        try {
            EventFd.drain(rxInterruptFd);
        } catch (LinuxException e) {
            throw new IOException(description + ": draining the receive interrupt: " + e.getMessage(), e);
        }
        armed = true;
        return rx.enableInterrupts();
    }

    @Override
    public Counters<VnicCounter> counters() {
        return counters;
    }

    private IOException deviceError(String what) {
        return new IOException(description + ": the device " + what + "; the queue's state can no longer be trusted:"
                + " close this VNIC and open it again (that resets the device)");
    }

    @Override
    public String toString() {
        return description;
    }
}

package io.arrakis.vfio.virtio;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The virtio-net control virtqueue, used here for one command: how many queue pairs the device
 * should use ({@code VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET}), without which a multi-queue device
 * delivers everything to pair 0. A command is a three-descriptor chain (header, data, the
 * device's one-byte ack) and completes synchronously, polled with a bounded wait. Used only
 * during bring-up, by the opening thread.
 */
final class ControlQueue {
    static final int CLASS_MQ = 4;
    static final int MQ_VQ_PAIRS_SET = 0;
    static final int OK = 0;
    private static final int MAX_SIZE = 16;
    /** Command buffer after the ring: header at 0 (class, command), data at 8, ack at 16. */
    private static final int BUFFER_BYTES = 64;
    private static final long TIMEOUT_NANOS = 1_000_000_000L;
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Where the control queue is and how large, decided before the DMA memory is allocated. */
    record Plan(int queueIndex, int size, String device) {
        long bytes() {
            return SplitVirtqueue.bytes(size) + BUFFER_BYTES;
        }

        ControlQueue setUp(VirtioPciTransport transport, MemorySegment memory, long iova, boolean eventIndex)
                throws IOException {
            SplitVirtqueue ring = new SplitVirtqueue(memory.asSlice(0, SplitVirtqueue.bytes(size)), iova, size,
                    eventIndex);
            long doorbell = transport.setUpQueue(queueIndex, ring, VirtioPciTransport.NO_VECTOR);
            long buffer = SplitVirtqueue.bytes(size);
            return new ControlQueue(transport, ring, doorbell, queueIndex, memory.asSlice(buffer, BUFFER_BYTES),
                    iova + buffer, device);
        }
    }

    static Plan plan(VirtioPciTransport transport, int queueIndex, String device) throws IOException {
        int max = transport.maxQueueSize(queueIndex);
        if (max == 0) {
            throw new IOException(device + " negotiated a control queue but has no virtqueue " + queueIndex);
        }
        return new Plan(queueIndex, Integer.highestOneBit(Math.min(max, MAX_SIZE)), device);
    }

    private final VirtioPciTransport transport;
    private final SplitVirtqueue ring;
    private final long doorbell;
    private final int queueIndex;
    private final MemorySegment buffer;
    private final long bufferIova;
    private final String device;

    private ControlQueue(VirtioPciTransport transport, SplitVirtqueue ring, long doorbell, int queueIndex,
            MemorySegment buffer, long bufferIova, String device) {
        this.transport = transport;
        this.ring = ring;
        this.doorbell = doorbell;
        this.queueIndex = queueIndex;
        this.buffer = buffer;
        this.bufferIova = bufferIova;
        this.device = device;
        ring.disableInterrupts();
    }

    /** Tells the device to spread traffic over {@code pairs} queue pairs; waits for its ack. */
    void setQueuePairs(int pairs) throws IOException {
        buffer.set(ValueLayout.JAVA_BYTE, 0, (byte) CLASS_MQ);
        buffer.set(ValueLayout.JAVA_BYTE, 1, (byte) MQ_VQ_PAIRS_SET);
        buffer.set(LE16, 8, (short) pairs);
        buffer.set(ValueLayout.JAVA_BYTE, 16, (byte) 0xFF);
        int header = ring.allocateDescriptor();
        int data = ring.allocateDescriptor();
        int ack = ring.allocateDescriptor();
        ring.writeDescriptor(header, bufferIova, 2, SplitVirtqueue.FLAG_NEXT, data);
        ring.writeDescriptor(data, bufferIova + 8, 2, SplitVirtqueue.FLAG_NEXT, ack);
        ring.writeDescriptor(ack, bufferIova + 16, 1, SplitVirtqueue.FLAG_WRITE, 0);
        ring.offer(header);
        ring.publish();
        transport.notifyQueue(doorbell, queueIndex); // once, during bring-up: always notify
        long deadline = System.nanoTime() + TIMEOUT_NANOS;
        while (!ring.hasUsed()) {
            if (System.nanoTime() - deadline > 0) {
                throw new IOException(device + " did not answer the control command setting " + pairs
                        + " queue pairs within 1 s");
            }
            Thread.onSpinWait();
        }
        ring.advanceUsed();
        ring.freeDescriptor(ack);
        ring.freeDescriptor(data);
        ring.freeDescriptor(header);
        int status = buffer.get(ValueLayout.JAVA_BYTE, 16) & 0xFF;
        if (status != OK) {
            throw new IOException(device + " refused to use " + pairs + " queue pairs (control status " + status + ")");
        }
    }
}

package io.arrakis.bench.shm;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicQueue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

/**
 * Raw frames at the shm queue, no stack on either side: a UDP frame built once is copied into a
 * transmit buffer, stamped with the sequence number, sent, and the benchmark thread spins on
 * {@code receive} until the peer's echo (addresses swapped) comes back. What the switch costs by
 * itself: two copies each way (into the channel, out of it), a release store, an acquire load.
 * Steered: both VNICs have two queues and a receive filter that sends the flow (UDP port
 * {@value #PORT}) to queue 1, where both sides run it; each frame is classified by the sender
 * against the receiver's filters and again by the receiving queue.
 */
final class RawFramePath implements RoundTripPath {
    private static final int SEQUENCE_AT = 14 + 20 + 8;
    static final int PORT = 5000;

    private final ShmFixture fixture;
    private final VnicQueue queue;
    private final byte[] frame;
    private final PacketBatch out = new PacketBatch(1);
    private final PacketBatch in = new PacketBatch(16);

    private RawFramePath(ShmFixture fixture, int queueIndex) {
        this.fixture = fixture;
        this.queue = fixture.vnic.queue(queueIndex);
        this.frame = udpFrame(fixture.vnic.mac().bits(), fixture.peerMac, fixture.vnic.address(), fixture.peerAddress);
    }

    static RawFramePath open(boolean steered) throws IOException {
        if (!steered) {
            return new RawFramePath(ShmFixture.open("shm-raw", "pinger-raw"), 0);
        }
        ShmFixture fixture = ShmFixture.open("shm-raw-steered", "pinger-steered", 2);
        try {
            fixture.vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, fixture.vnic.address(),
                    PORT, 0, 0), 1);
            // The echo's control thread applies our filter a moment after our OK; until then it
            // would steer its echoes to queue 0, where they are dropped as missteered.
            Thread.sleep(200);
            return new RawFramePath(fixture, 1);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fixture.close();
            throw new IOException("interrupted while setting up the steered path", e);
        } catch (IOException | RuntimeException e) {
            fixture.close();
            throw e;
        }
    }

    @Override
    public void roundTrip(int sequence) throws IOException {
        if (queue.allocate(out, 1) != 1) {
            throw new IOException("no free transmit buffer on " + fixture.vnic);
        }
        long at = (long) out.buffer(0) * queue.bufferSize() + out.offset(0);
        MemorySegment memory = queue.memory();
        MemorySegment.copy(frame, 0, memory, ValueLayout.JAVA_BYTE, at, frame.length);
        memory.set(ValueLayout.JAVA_INT_UNALIGNED, at + SEQUENCE_AT, sequence);
        out.setLength(0, frame.length);
        long deadline = System.nanoTime() + ECHO_PATIENCE_NANOS;
        queue.transmit(out);
        if (!out.isEmpty()) {
            queue.release(out);
            throw new IOException("the rate limiter held back frame " + sequence + " on " + fixture.vnic);
        }
        while (true) {
            int n = queue.receive(in);
            boolean back = false;
            for (int k = 0; k < n; k++) {
                long got = (long) in.buffer(k) * queue.bufferSize() + in.offset(k);
                back |= memory.get(ValueLayout.JAVA_INT_UNALIGNED, got + SEQUENCE_AT) == sequence;
            }
            queue.release(in);
            if (back) {
                return;
            }
            if (n == 0 && System.nanoTime() - deadline > 0) {
                fixture.peer.checkAlive();
                throw new IOException("no echo of raw frame " + sequence + " within "
                        + ECHO_PATIENCE_NANOS / 1_000_000 + " ms; counters " + queue.counters().snapshot());
            }
        }
    }

    /** Ethernet + IPv4 (header checksum filled in) + UDP (checksum 0) with a zero payload of {@link #PAYLOAD} bytes. */
    static byte[] udpFrame(long sourceMac, long destinationMac, int source, int destination) {
        ByteBuffer frame = ByteBuffer.allocate(14 + 20 + 8 + PAYLOAD);
        frame.putShort((short) (destinationMac >>> 32)).putInt((int) destinationMac);
        frame.putShort((short) (sourceMac >>> 32)).putInt((int) sourceMac);
        frame.putShort((short) 0x0800);
        int ip = frame.position();
        frame.put((byte) 0x45).put((byte) 0).putShort((short) (20 + 8 + PAYLOAD)).putShort((short) 0)
                .putShort((short) 0x4000).put((byte) 64).put((byte) 17).putShort((short) 0).putInt(source)
                .putInt(destination);
        int sum = 0;
        for (int i = 0; i < 20; i += 2) {
            sum += frame.getShort(ip + i) & 0xFFFF;
        }
        sum = (sum & 0xFFFF) + (sum >>> 16);
        sum = (sum & 0xFFFF) + (sum >>> 16);
        frame.putShort(ip + 10, (short) ~sum);
        frame.putShort((short) PORT).putShort((short) PORT).putShort((short) (8 + PAYLOAD)).putShort((short) 0);
        return frame.array();
    }

    @Override
    public void close() throws IOException {
        fixture.close();
    }
}

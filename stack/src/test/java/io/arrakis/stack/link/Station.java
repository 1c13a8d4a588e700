package io.arrakis.stack.link;

import io.arrakis.device.PacketBatch;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicQueue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/** A minimal test driver for queue 0 of a VNIC: sends UDP frames, receives and releases. */
final class Station {
    interface FrameConsumer {
        void accept(MemorySegment memory, long at, int length);
    }

    final VnicQueue queue;
    private final long mac;
    private final long peerMac;
    private final int address;
    private final int peerAddress;
    private final PacketBatch tx = new PacketBatch(64);
    private final PacketBatch rx = new PacketBatch(64);

    Station(Vnic vnic, long mac, long peerMac, int address, int peerAddress) {
        this.queue = vnic.queue(0);
        this.mac = mac;
        this.peerMac = peerMac;
        this.address = address;
        this.peerAddress = peerAddress;
    }

    static Station a(Vnic vnic) {
        return new Station(vnic, Frames.MAC_A, Frames.MAC_B, Frames.IP_A, Frames.IP_B);
    }

    static Station b(Vnic vnic) {
        return new Station(vnic, Frames.MAC_B, Frames.MAC_A, Frames.IP_B, Frames.IP_A);
    }

    long frameAddress(PacketBatch batch, int i) {
        return (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i);
    }

    /** Writes this station's UDP frame number {@code sequence} at {@code at}; returns its length. */
    int write(MemorySegment memory, long at, int sequence, int payload) {
        return Frames.udp(memory, at, mac, peerMac, address, peerAddress, 40001, 40002, sequence, payload);
    }

    /**
     * Allocates up to {@code count} buffers, fills each with a UDP frame of {@code payload} bytes
     * numbered from {@code firstSequence}, offers them, and releases what the queue refused.
     * Returns how many the queue accepted.
     */
    int send(int firstSequence, int count, int payload) throws IOException {
        tx.clear();
        int allocated = queue.allocate(tx, Math.min(count, tx.capacity()));
        MemorySegment memory = queue.memory();
        for (int i = 0; i < allocated; i++) {
            tx.setLength(i, write(memory, frameAddress(tx, i), firstSequence + i, payload));
        }
        int accepted = queue.transmit(tx);
        queue.release(tx);
        return accepted;
    }

    /** Receives everything waiting, shows each frame to {@code consumer}, releases it; returns the count. */
    int receive(FrameConsumer consumer) throws IOException {
        int total = 0;
        while (true) {
            rx.clear();
            int n = queue.receive(rx);
            if (n == 0) {
                return total;
            }
            for (int i = 0; i < n; i++) {
                consumer.accept(queue.memory(), frameAddress(rx, i), rx.length(i));
            }
            queue.release(rx);
            total += n;
        }
    }

    int drain() throws IOException {
        return receive((m, at, length) -> {});
    }
}

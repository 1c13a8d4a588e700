package io.arrakis.stack.link;

import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicQueue;
import java.io.IOException;
import java.util.Set;

/**
 * A {@link Vnic} that records every frame its queues receive and every frame the device accepts
 * for transmission to a {@link FrameSink} (a {@link PcapWriter}, or the ring a capturing tool
 * drains), stamped with a {@link Clock} (use
 * {@link Clock#systemEpoch()} on real time, the simulation's {@link VirtualClock} on virtual
 * time): tcpdump for traffic the kernel never sees. Behaviour is unchanged: descriptors pass
 * through untouched, and the only copy is the one into the pcap writer's buffer.
 *
 * <p>Received frames are written right after the wrapped queue hands them out; transmitted
 * frames right after it accepts them (frames it refuses stay in the batch and are written when
 * a later attempt succeeds), read from the buffers just given to the device: the buffers cannot
 * have been reused yet, since only the owning thread, which is still inside this call, takes
 * buffers back. Frames the device drops after accepting them (transmit filter) are in the
 * capture, as tcpdump shows what a host sent. Queues of one VNIC share the sink, so they may be
 * polled by different threads only when the sink locks (as {@link FrameSink#of} does).
 *
 * <p>Identity and {@link #control()} are the wrapped VNIC's. {@link #close()} closes the wrapped
 * VNIC, not the writer: whoever made the writer closes it.
 */
public final class CaptureVnic implements Vnic {
    private final Vnic inner;
    private final Clock clock;
    private final CaptureQueue[] queues;

    /** Captures to a pcap file; the queues share the writer under its lock. */
    public CaptureVnic(Vnic inner, PcapWriter writer, Clock clock) {
        this(inner, FrameSink.of(requireWriter(writer)), clock);
    }

    public CaptureVnic(Vnic inner, FrameSink sink, Clock clock) {
        if (inner == null || sink == null || clock == null) {
            throw new NullPointerException("a capture needs a VNIC, a frame sink and a clock");
        }
        this.inner = inner;
        this.clock = clock;
        this.queues = new CaptureQueue[inner.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new CaptureQueue(inner.queue(i), sink, clock);
        }
    }

    private static PcapWriter requireWriter(PcapWriter writer) {
        if (writer == null) {
            throw new NullPointerException("a capture needs a VNIC, a pcap writer and a clock");
        }
        return writer;
    }

    /** The VNIC being captured. */
    public Vnic inner() {
        return inner;
    }

    public Clock clock() {
        return clock;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public String backend() {
        return inner.backend();
    }

    @Override
    public MacAddress mac() {
        return inner.mac();
    }

    @Override
    public int mtu() {
        return inner.mtu();
    }

    @Override
    public Set<Offload> offloads() {
        return inner.offloads();
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public VnicQueue queue(int index) {
        if (index < 0 || index >= queues.length) {
            // Let the wrapped VNIC word the error, as it would without the capture.
            return inner.queue(index);
        }
        return queues[index];
    }

    @Override
    public VnicControl control() {
        return inner.control();
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }

    @Override
    public String toString() {
        return "CaptureVnic[" + inner + "]";
    }
}

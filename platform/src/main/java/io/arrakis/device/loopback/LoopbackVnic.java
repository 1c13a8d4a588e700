package io.arrakis.device.loopback;

import io.arrakis.device.FilterlessVnicControl;
import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TransmitFilter;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicQueue;
import java.lang.foreign.Arena;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A VNIC whose queues reflect what they transmit. Identity and control are thread-safe; each
 * queue belongs to its polling thread.
 */
final class LoopbackVnic implements Vnic {
    private static final AtomicInteger NEXT_MAC = new AtomicInteger(1);

    private final String name;
    private final FilterlessVnicControl control;
    private final MacAddress mac;
    private final Arena arena = Arena.ofShared();
    private final LoopbackQueue[] queues;
    private boolean closed;

    LoopbackVnic(VnicConfig config) {
        this.name = config.name();
        this.control = new FilterlessVnicControl(name, "loopback VNIC " + name
                + " delivers every frame back to the queue that sent it; it has no receive filters");
        this.mac = MacAddress.locallyAdministered(0x4C_0000_0000L | NEXT_MAC.getAndIncrement());
        this.queues = new LoopbackQueue[config.queues()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new LoopbackQueue(this, i,
                    arena.allocate((long) config.buffersPerQueue() * config.bufferSize(), 4096),
                    config.bufferSize());
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return LoopbackVnicBackend.NAME;
    }

    @Override
    public MacAddress mac() {
        return mac;
    }

    @Override
    public int mtu() {
        return 1500;
    }

    @Override
    public Set<Offload> offloads() {
        return Set.of();
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public VnicQueue queue(int index) {
        if (index < 0 || index >= queues.length) {
            throw new IndexOutOfBoundsException("VNIC " + name + " has " + queues.length + " queues; no queue " + index);
        }
        return queues[index];
    }

    @Override
    public VnicControl control() {
        return control;
    }

    /** Shorthands for the queues, which enforce these on every transmit. */
    TransmitFilter transmitFilter() {
        return control.transmitFilter();
    }

    RateLimit rateLimit() {
        return control.rateLimit();
    }


    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}

package io.arrakis.stack.link;

import io.arrakis.device.FilterlessVnicControl;
import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TransmitFilter;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicQueue;
import io.arrakis.memory.BufferPool;
import java.util.Set;

/**
 * One end of a {@link SimulatedLink}: a VNIC with a single queue over its own packet memory.
 * Its transmit filter and rate limit are enforced as a device would, the rate limit on the
 * link's virtual clock. It has no receive filters: every frame that arrives goes to queue 0.
 *
 * <p>Belongs to the simulation thread, like its link; {@link #control()} may be used from any
 * thread.
 */
public final class SimulatedVnic implements Vnic {
    private final SimulatedLink link;
    private final SimulatedLink.Direction transmitDirection;
    private final String name;
    private final FilterlessVnicControl control;
    private final MacAddress mac;
    private final BufferPool pool;
    private final SimulatedQueue queue;
    private boolean closed;

    SimulatedVnic(SimulatedLink link, SimulatedLink.Direction transmitDirection, String name, MacAddress mac,
            BufferPool pool) {
        this.link = link;
        this.transmitDirection = transmitDirection;
        this.name = name;
        this.control = new FilterlessVnicControl(name, "simulated VNIC " + name
                + " has one queue and delivers every frame that arrives to it; it has no receive filters");
        this.mac = mac;
        this.pool = pool;
        this.queue = new SimulatedQueue(link, this, pool);
    }

    /** The link this is an end of. */
    public SimulatedLink link() {
        return link;
    }

    /** The direction of the frames this end transmits. */
    public SimulatedLink.Direction transmitDirection() {
        return transmitDirection;
    }

    /** Free buffers in this end's pool: all of {@link #bufferCount()} once every frame has been delivered and released. */
    public int freeBuffers() {
        return pool.available();
    }

    /** Buffers in this end's pool. */
    public int bufferCount() {
        return pool.capacity();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return SimulatedLink.BACKEND;
    }

    @Override
    public MacAddress mac() {
        return mac;
    }

    @Override
    public int mtu() {
        return Math.min(1500, pool.bufferSize() - queue.headroom() - 14);
    }

    @Override
    public Set<Offload> offloads() {
        return Set.of();
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public VnicQueue queue(int index) {
        if (index != 0) {
            throw new IndexOutOfBoundsException("simulated VNIC " + name + " has 1 queue; no queue " + index);
        }
        return queue;
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


    /**
     * Closes this end: frames still arriving for it are dropped and counted; its memory is freed
     * when the other end closes too, or the link does. Idempotent.
     */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            link.endpointClosed();
        }
    }

    boolean isClosed() {
        return closed;
    }

    BufferPool pool() {
        return pool;
    }

    SimulatedQueue queue() {
        return queue;
    }

    @Override
    public String toString() {
        return "SimulatedVnic[" + name + ", " + mac + "]";
    }
}

package io.arrakis.provider;

import io.arrakis.control.ControlPlane;
import io.arrakis.control.ShmCounter;
import io.arrakis.control.ShmVnic;
import io.arrakis.control.stats.StatsFile;
import io.arrakis.control.stats.StatsPublisher;
import io.arrakis.device.Counters;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicCounter;
import io.arrakis.observe.CounterMBean;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.StackCounter;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.link.CaptureVnic;
import io.arrakis.stack.link.FrameSink;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpCounter;
import io.arrakis.stack.tcp.TcpCounters;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * What a process's user-level stack shows to operators: its {@linkplain StatsFile stats file}
 * (counters and connection table, published at most every
 * {@link StatsPublisher#DEFAULT_INTERVAL_NANOS} by whichever thread polls, and the capture ring
 * that the stack's {@link CaptureVnic} fills through {@link #captureSink}) and its MBeans ({@code io.arrakis:type=Vnic,name=<vnic>},
 * {@code io.arrakis:type=TcpStack,name=<vnic>}).
 *
 * <p>{@link #publish} and {@link #close} run under the stack's lock; the MBeans read counters
 * racily from the JMX thread (single-writer counters: slightly stale values, never torn).
 */
final class StackTelemetry implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(StackTelemetry.class.getName());
    private static final int CONNECTION_ROWS = 1024;
    private static final VnicCounter[] VNIC = VnicCounter.values();
    private static final ShmCounter[] SHM = ShmCounter.values();
    private static final StackCounter[] STACK = StackCounter.values();
    private static final TcpCounter[] TCP = TcpCounter.values();
    private static final UserStack.PollCounter[] POLL = UserStack.PollCounter.values();

    private final Vnic vnic;
    private final Counters<VnicCounter> vnicCounters;
    private final Counters<ShmCounter> shmCounters;
    private final NetworkStack stack;
    private final TcpLayer tcp;
    private final long[] pollCounters;
    private final int address;
    /** Null when the file could not be created (then only the MBeans exist). */
    private final StatsPublisher publisher;
    private final List<CounterMBean.Registration> mbeans = new ArrayList<>();
    // Publication state, reused (no allocation per publication but the connection walk's lambda).
    private int row;
    private long total;
    private Runnable listenerWalk;

    private StackTelemetry(Vnic vnic, NetworkStack stack, TcpLayer tcp, long[] pollCounters, int address,
            StatsPublisher publisher) {
        this.vnic = vnic;
        this.vnicCounters = vnic.queue(0).counters();
        this.shmCounters = vnic instanceof ShmVnic shm ? shm.shmCounters(0) : null;
        this.stack = stack;
        this.tcp = tcp;
        this.pollCounters = pollCounters;
        this.address = address;
        this.publisher = publisher;
    }

    /**
     * Creates the stats file of {@code vnic} beside its control plane's socket, or goes without
     * (logged at DEBUG: a directory the user may not write, say). Call before the stack runs.
     */
    static StatsPublisher openPublisher(Vnic vnic) {
        Path socket = vnic instanceof ShmVnic shm ? shm.controlSocket() : ControlPlane.defaultSocketPath();
        Path path = StatsFile.path(socket, vnic.name());
        try {
            return StatsPublisher.create(path, vnic.name(), counterNames(vnic), CONNECTION_ROWS,
                    StatsPublisher.DEFAULT_CAPTURE_BYTES, StatsPublisher.DEFAULT_INTERVAL_NANOS);
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "arrakis: VNIC " + vnic.name() + " publishes no stats file ("
                    + path + "): " + e + "; arrakis ss/stat/capture will not see this process");
            return null;
        }
    }

    /**
     * The stats file's capture ring as a {@link FrameSink}: frames are wanted only while a tool
     * ({@code arrakis capture}) asks, so an idle capture costs one read per batch.
     */
    static FrameSink captureSink(StatsPublisher publisher) {
        return new FrameSink() {
            @Override
            public boolean wanted() {
                return publisher.captureWanted();
            }

            @Override
            public void frame(long epochNanos, java.lang.foreign.MemorySegment memory, long offset, int length) {
                publisher.capture(epochNanos, memory, offset, length);
            }
        };
    }

    /** Starts publishing into {@code publisher} (may be null) and registers the MBeans. */
    static StackTelemetry start(Vnic vnic, NetworkStack stack, TcpLayer tcp, long[] pollCounters, int address,
            StatsPublisher publisher) {
        StackTelemetry telemetry = new StackTelemetry(vnic, stack, tcp, pollCounters, address, publisher);
        telemetry.registerMBeans();
        return telemetry;
    }

    private static List<String> counterNames(Vnic vnic) {
        List<String> names = new ArrayList<>();
        for (VnicCounter c : VNIC) {
            names.add("vnic." + c.name());
        }
        if (vnic instanceof ShmVnic) {
            for (ShmCounter c : SHM) {
                names.add("shm." + c.name());
            }
        }
        for (StackCounter c : STACK) {
            names.add("stack." + c.name());
        }
        for (TcpCounter c : TCP) {
            names.add("tcp." + c.name());
        }
        for (UserStack.PollCounter c : POLL) {
            names.add("poll." + c.name());
        }
        names.add("tcp.CONNECTIONS");
        return names;
    }

    private void registerMBeans() {
        Map<String, LongSupplier> device = new LinkedHashMap<>();
        for (VnicCounter c : VNIC) {
            device.put(c.name(), () -> vnicCounters.get(c));
        }
        if (shmCounters != null) {
            for (ShmCounter c : SHM) {
                device.put(c.name(), () -> shmCounters.get(c));
            }
        }
        mbeans.add(CounterMBean.register(CounterMBean.objectName("Vnic", vnic.name()),
                new CounterMBean("VNIC " + vnic.name() + " (" + vnic.backend() + "), queue 0", device)));
        Map<String, LongSupplier> stackCounters = new LinkedHashMap<>();
        TcpCounters tcpCounters = tcp.counters();
        for (TcpCounter c : TCP) {
            stackCounters.put(c.name(), () -> tcpCounters.get(c));
        }
        for (StackCounter c : STACK) {
            stackCounters.put(c.name(), () -> stack.counters().get(c));
        }
        for (UserStack.PollCounter c : POLL) {
            stackCounters.put(c.name(), () -> pollCounters[c.ordinal()]);
        }
        stackCounters.put("CONNECTIONS", tcp::connectionCount);
        mbeans.add(CounterMBean.register(CounterMBean.objectName("TcpStack", vnic.name()),
                new CounterMBean("the user-level TCP/IP stack on VNIC " + vnic.name(), stackCounters)));
    }

    /** Under the stack's lock: one comparison, and a publication when one is due. */
    void maybePublish(long now) {
        if (publisher != null && publisher.due(now)) {
            publish(now);
        }
    }

    private void publish(long now) {
        StatsPublisher p = publisher;
        p.begin(now);
        int i = 0;
        for (VnicCounter c : VNIC) {
            p.counter(i++, vnicCounters.get(c));
        }
        if (shmCounters != null) {
            for (ShmCounter c : SHM) {
                p.counter(i++, shmCounters.get(c));
            }
        }
        Counters<StackCounter> sc = stack.counters();
        for (StackCounter c : STACK) {
            p.counter(i++, sc.get(c));
        }
        TcpCounters tc = tcp.counters();
        for (TcpCounter c : TCP) {
            p.counter(i++, tc.get(c));
        }
        for (UserStack.PollCounter c : POLL) {
            p.counter(i++, pollCounters[c.ordinal()]);
        }
        p.counter(i, tcp.connectionCount());
        row = 0;
        total = 0;
        if (listenerWalk != null) {
            listenerWalk.run();
        }
        tcp.forEachConnection(this::publishConnection);
        p.end(row, total);
    }

    /**
     * Under the stack's lock: {@code walk} calls {@link #publishListener} for each listener (the
     * stack's owner knows them; the engine keeps them in a 64 Ki-entry table not worth scanning).
     */
    void listenersFrom(Runnable walk) {
        this.listenerWalk = walk;
    }

    /** From the listener walk, during a publication: listeners come first in the table. */
    void publishListener(int port, int acceptQueue) {
        if (row < publisher.connectionCapacity()) {
            publisher.row(row++).listener(address, port, acceptQueue);
        }
        total++;
    }

    private void publishConnection(TcpConnection c) {
        total++;
        if (row >= publisher.connectionCapacity()) {
            return;
        }
        publisher.row(row++)
                .connection(c.localAddress(), c.localPort(), c.remoteAddress(), c.remotePort())
                .state(c.state().name())
                .queues(c.sendQueueBytes(), c.receiveQueueBytes(), c.bytesInFlight())
                .timing(c.srttNanos(), c.rttVarNanos(), c.rtoNanos())
                .congestion(c.congestionWindow(), c.slowStartThreshold(), c.sendMss(), c.sendWindow(), c.receiveWindow())
                .traffic(c.counters().get(TcpCounter.DATA_BYTES_IN), c.counters().get(TcpCounter.DATA_BYTES_OUT),
                        c.retransmittedSegments());
    }

    StatsPublisher publisher() {
        return publisher;
    }

    /** Under the stack's lock: unregisters the MBeans, deletes the stats file. */
    @Override
    public void close() {
        for (CounterMBean.Registration r : mbeans) {
            r.close();
        }
        if (publisher != null) {
            publisher.close();
        }
    }
}

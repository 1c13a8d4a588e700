package io.arrakis.control.xdp;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.xdp.XdpFilters;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Pidfd;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The control plane's side of AF_XDP on one interface: it owns the XDP program and its maps
 * ({@link XdpFilters}); application processes own only their AF_XDP sockets (opened with
 * {@code filters=external}). A process is admitted to a queue with {@link #admit}: its socket goes
 * into that queue's XSKMAP slot, and from then on it may add and remove filters only towards that
 * queue, and only flows nobody else holds. When the process dies its filters are removed (the
 * kernel empties its XSKMAP slot itself when the socket's last descriptor closes), so the next
 * process can take the queue and the same ports. Embeddable: the control plane holds one per
 * interface and forwards its clients' requests.
 *
 * <p>Thread-safe: every method is synchronized; process exits arrive on a JDK thread.
 */
public final class XdpFilterOwner implements AutoCloseable {
    /** What the owner knows of one admitted process. */
    private record Tenant(long pid, int queue, Set<FlowFilter> flows) {}

    private final XdpFilters filters;
    private final Map<Long, Tenant> tenants = new HashMap<>();
    private final Map<Integer, Long> queueHolders = new HashMap<>();
    private final Consumer<String> log;
    private boolean closed;

    private XdpFilterOwner(XdpFilters filters, Consumer<String> log) {
        this.filters = filters;
        this.log = log;
    }

    /**
     * Loads and attaches the filter program to {@code interfaceName} (in network namespace
     * {@code namespace}, null for ours) in {@code mode}, for queues {@code 0..queues-1}.
     */
    public static XdpFilterOwner attach(String namespace, String interfaceName, XdpFilters.Mode mode, int queues,
            Consumer<String> log) throws IOException {
        return new XdpFilterOwner(XdpFilters.attach(namespace, interfaceName, mode, queues,
                XdpFilters.DEFAULT_MAX_FLOWS), log);
    }

    public XdpFilters filters() {
        return filters;
    }

    /**
     * Admits process {@code pid} to hardware queue {@code queue} with its AF_XDP socket
     * {@code socketFdInProcess} (a descriptor number in that process, bound to that queue): takes
     * a duplicate with {@code pidfd_getfd}, puts it in the XSKMAP slot, and closes the duplicate
     * (the map does not keep the socket alive; the process does). Refused when another live
     * process holds the queue.
     */
    public synchronized void admit(long pid, int queue, int socketFdInProcess) throws IOException {
        checkOpen();
        Tenant existing = tenants.get(pid);
        if (existing != null && existing.queue() != queue) {
            throw new IllegalStateException("process " + pid + " already holds XDP queue " + existing.queue() + " of "
                    + filters.interfaceName() + "; a process holds one queue here");
        }
        Long holder = queueHolders.get(queue);
        if (holder != null && holder != pid && ProcessHandle.of(holder).map(ProcessHandle::isAlive).orElse(false)) {
            throw new IllegalStateException("XDP queue " + queue + " of " + filters.interfaceName()
                    + " belongs to process " + holder + "; process " + pid + " cannot take it");
        }
        if (holder != null && holder != pid) {
            // Dead, and its exit not yet seen: its filters go now, before the queue changes hands.
            release(holder);
        }
        int pidfd;
        try {
            pidfd = Pidfd.open(pid);
        } catch (LinuxException e) {
            throw new IOException("cannot admit process " + pid + " to XDP queue " + queue + ": " + e.getMessage(), e);
        }
        try {
            int socket = Pidfd.getfd(pidfd, socketFdInProcess);
            try {
                filters.setSocket(queue, socket);
            } finally {
                Unistd.close(socket);
            }
        } catch (LinuxException e) {
            throw new IOException("cannot take AF_XDP socket " + socketFdInProcess + " of process " + pid + ": "
                    + e.getMessage(), e);
        } finally {
            Unistd.close(pidfd);
        }
        tenants.putIfAbsent(pid, new Tenant(pid, queue, new LinkedHashSet<>()));
        queueHolders.put(queue, pid);
        if (pid != ProcessHandle.current().pid()) {
            // (Our own process, an embedded control plane's tenant, dies with the owner: nothing to watch.)
            ProcessHandle.of(pid).ifPresentOrElse(
                    process -> process.onExit().thenRun(() -> processExited(pid)),
                    () -> processExited(pid));
        }
        log.accept("XDP " + filters.interfaceName() + ": process " + pid + " admitted to queue " + queue);
    }

    /** Adds {@code filter} for admitted process {@code pid}, towards its queue. */
    public synchronized void addFlow(long pid, FlowFilter filter) throws IOException {
        Tenant tenant = tenant(pid);
        filters.addFlow(filter, tenant.queue());
        tenant.flows().add(filter);
    }

    /** Removes {@code filter} of process {@code pid}; false if it held no such filter. */
    public synchronized boolean removeFlow(long pid, FlowFilter filter) throws IOException {
        Tenant tenant = tenant(pid);
        if (!tenant.flows().remove(filter)) {
            return false;
        }
        return filters.removeFlow(filter);
    }

    /** The hardware queue of each admitted process. */
    public synchronized Map<Long, Integer> queueByProcess() {
        Map<Long, Integer> view = new HashMap<>();
        tenants.forEach((pid, tenant) -> view.put(pid, tenant.queue()));
        return view;
    }

    /** The filters of each admitted process. */
    public synchronized Map<Long, List<FlowFilter>> flowsByProcess() {
        Map<Long, List<FlowFilter>> view = new HashMap<>();
        tenants.forEach((pid, tenant) -> view.put(pid, List.copyOf(tenant.flows())));
        return view;
    }

    /** Removes every filter of {@code pid} and frees its queue (what happens when it exits). */
    public synchronized void release(long pid) throws IOException {
        Tenant tenant = tenants.remove(pid);
        if (tenant == null) {
            return;
        }
        boolean stillHolder = queueHolders.remove(tenant.queue(), pid);
        if (closed) {
            return;
        }
        for (FlowFilter filter : new ArrayList<>(tenant.flows())) {
            filters.removeFlow(filter);
        }
        if (stillHolder) {
            filters.clearSocket(tenant.queue());
        }
        log.accept("XDP " + filters.interfaceName() + ": process " + pid + " released; removed "
                + tenant.flows().size() + " filters");
    }

    private void processExited(long pid) {
        try {
            release(pid);
        } catch (IOException | RuntimeException e) {
            log.accept("XDP " + filters.interfaceName() + ": could not remove the filters of exited process " + pid
                    + ": " + e.getMessage());
        }
    }

    private Tenant tenant(long pid) {
        checkOpen();
        Tenant tenant = tenants.get(pid);
        if (tenant == null) {
            throw new IllegalStateException("process " + pid + " holds no queue of " + filters.interfaceName()
                    + ": admit it first");
        }
        return tenant;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("XDP filter owner of " + filters.interfaceName() + " is closed");
        }
    }

    /** Detaches the program and frees the maps. */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        tenants.clear();
        queueHolders.clear();
        filters.close();
    }
}

package io.arrakis.control;

import io.arrakis.control.xdp.XdpFilterOwner;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.xdp.XdpFilters;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The control plane's AF_XDP side: one {@link XdpFilterOwner} per interface (attached on the
 * first admission to it, detached when the control plane stops), the address each admitted
 * process was admitted with, and the checks on what a process may ask for: flows only towards
 * its own queue and only on its own address. Process identity is the connection's SO_PEERCRED
 * pid, never a number the process sends.
 *
 * <p>Confined to the control plane's thread, except that an owner releases an exited process on
 * a JDK thread (the owner is synchronized, and {@link #addresses} is concurrent for that reason).
 */
final class XdpAdmissions implements AutoCloseable {
    /** XSKMAP slots per interface: hardware queues 0..63 can be admitted. */
    static final int MAX_QUEUES = 64;

    /** One interface's owner and where it is. */
    private record Interface(String namespace, String name, XdpFilterOwner owner,
            Map<Long, Integer> addresses) {}

    private final Map<String, Interface> interfaces = new LinkedHashMap<>();

    private static String key(String namespace, String interfaceName) {
        return namespace + "\0" + interfaceName;
    }

    /**
     * Admits {@code pid}'s socket; returns the interface's key for the connection to remember.
     *
     * @throws IOException or IllegalArgumentException/IllegalStateException with the reason
     */
    String admit(long pid, Protocol.XdpAdmit request) throws IOException {
        if (request.queue() >= MAX_QUEUES) {
            throw new IllegalArgumentException("hardware queue " + request.queue() + " of " + request.interfaceName()
                    + " is beyond the " + MAX_QUEUES + " queues the control plane admits");
        }
        if (request.address() == 0) {
            throw new IllegalArgumentException("an AF_XDP process needs its IPv4 address (option address) to be"
                    + " admitted: its flows are limited to it");
        }
        XdpFilters.Mode mode = request.nativeMode() ? XdpFilters.Mode.NATIVE : XdpFilters.Mode.SKB;
        String key = key(request.namespace(), request.interfaceName());
        Interface entry = interfaces.get(key);
        if (entry == null) {
            XdpFilterOwner owner = XdpFilterOwner.attach(request.namespace().isEmpty() ? null : request.namespace(),
                    request.interfaceName(), mode, MAX_QUEUES,
                    line -> System.err.println("arrakis control plane: " + line));
            entry = new Interface(request.namespace(), request.interfaceName(), owner, new ConcurrentHashMap<>());
            interfaces.put(key, entry);
        } else if (entry.owner().filters().mode() != mode) {
            throw new IllegalStateException("the XDP program on " + request.interfaceName() + " is attached in "
                    + entry.owner().filters().mode() + " mode, and process " + pid + " asks for " + mode
                    + ": use xdp-mode=" + entry.owner().filters().mode().name().toLowerCase(java.util.Locale.ROOT));
        }
        Integer earlier = entry.addresses().get(pid);
        if (earlier != null && earlier != request.address()
                && entry.owner().queueByProcess().containsKey(pid)) {
            throw new IllegalStateException("process " + pid + " was admitted to " + request.interfaceName()
                    + " with address " + Ipv4Text.format(earlier) + ", not " + Ipv4Text.format(request.address()));
        }
        entry.owner().admit(pid, request.queue(), request.socketFd());
        entry.addresses().put(pid, request.address());
        return key;
    }

    /**
     * What a process of {@code uid} may not claim, or null: like binding, a port below
     * {@code unprivilegedPortStart} needs root, and so do a whole address (port 0, every port of
     * it, the privileged ones included) and its ARP (claiming the ARP of an address the kernel
     * also uses would take the kernel's address away from it).
     */
    static String flowRefusedTo(int uid, FlowFilter filter, int unprivilegedPortStart) {
        if (uid == 0) {
            return null;
        }
        if (filter.protocol() == FlowFilter.Protocol.ARP) {
            return "uid " + uid + " may not claim ARP for an address; only root may (a dedicated address)";
        }
        if (filter.localPort() == 0) {
            return "uid " + uid + " may not claim every port of an address; only root may (a dedicated address)";
        }
        if (filter.localPort() < unprivilegedPortStart) {
            return "uid " + uid + " may not claim " + filter.protocol() + " port " + filter.localPort() + ": ports below "
                    + unprivilegedPortStart + " need root (as binding them does)";
        }
        return null;
    }

    /** Adds a flow for admitted process {@code pid} of {@code uid}, after checking queue, address and privilege. */
    void addFlow(long pid, int uid, int unprivilegedPortStart, Protocol.XdpAddFlow request) throws IOException {
        Interface entry = admittedInterface(pid, request.namespace(), request.interfaceName());
        Integer queue = entry.owner().queueByProcess().get(pid);
        if (queue == null || queue != request.queue()) {
            throw new IllegalArgumentException("process " + pid + " holds queue " + queue + " of "
                    + request.interfaceName() + ", not queue " + request.queue());
        }
        FlowFilter filter = request.filter();
        int address = entry.addresses().getOrDefault(pid, 0);
        if (filter.localAddress() != address) {
            throw new IllegalArgumentException("process " + pid + " was admitted with address "
                    + Ipv4Text.format(address) + "; it may claim flows only to that address, not " + filter);
        }
        if (filter.protocol() != FlowFilter.Protocol.TCP && filter.protocol() != FlowFilter.Protocol.UDP
                && filter.protocol() != FlowFilter.Protocol.ARP) {
            throw new IllegalArgumentException("the XDP program matches TCP, UDP and ARP flows, not " + filter);
        }
        String refused = flowRefusedTo(uid, filter, unprivilegedPortStart);
        if (refused != null) {
            throw new IllegalArgumentException(refused);
        }
        entry.owner().addFlow(pid, filter);
    }

    /** Removes a flow of admitted process {@code pid}; false if it held none such. */
    boolean removeFlow(long pid, Protocol.XdpRemoveFlow request) throws IOException {
        return admittedInterface(pid, request.namespace(), request.interfaceName()).owner()
                .removeFlow(pid, request.filter());
    }

    private Interface admittedInterface(long pid, String namespace, String interfaceName) {
        Interface entry = interfaces.get(key(namespace, interfaceName));
        if (entry == null || !entry.owner().queueByProcess().containsKey(pid)) {
            throw new IllegalStateException("process " + pid + " is not admitted to " + interfaceName
                    + (namespace.isEmpty() ? "" : " in network namespace " + namespace) + ": send XDP_ADMIT first");
        }
        return entry;
    }

    /** Removes every flow of {@code pid} on the interface of {@code key} (its connection closed). */
    void release(long pid, String key) {
        Interface entry = interfaces.get(key);
        if (entry == null) {
            return;
        }
        try {
            entry.owner().release(pid);
        } catch (IOException | RuntimeException e) {
            System.err.println("arrakis control plane: could not remove the XDP flows of process " + pid + " on "
                    + entry.name() + ": " + e.getMessage());
        }
        entry.addresses().remove(pid);
    }

    List<ControlStatus.XdpAttachment> status() {
        List<ControlStatus.XdpAttachment> list = new ArrayList<>();
        for (Interface entry : interfaces.values()) {
            Map<Long, Integer> queues = entry.owner().queueByProcess();
            Map<Long, List<FlowFilter>> flows = entry.owner().flowsByProcess();
            List<ControlStatus.XdpTenant> tenants = new ArrayList<>();
            queues.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> tenants.add(
                    new ControlStatus.XdpTenant((int) (long) e.getKey(), e.getValue(),
                            entry.addresses().getOrDefault(e.getKey(), 0),
                            flows.getOrDefault(e.getKey(), List.of()))));
            list.add(new ControlStatus.XdpAttachment(entry.namespace(), entry.name(),
                    entry.owner().filters().mode().name(), tenants));
        }
        return list;
    }

    /** Detaches every program (the sockets stay with their processes, but no frame reaches them any more). */
    @Override
    public void close() {
        for (Interface entry : interfaces.values()) {
            try {
                entry.owner().close();
            } catch (IOException | RuntimeException e) {
                System.err.println("arrakis control plane: could not detach the XDP program of " + entry.name() + ": "
                        + e.getMessage());
            }
        }
        interfaces.clear();
    }
}

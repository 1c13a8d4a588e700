package io.arrakis.vfio.virtio;

import io.arrakis.device.FilterlessVnicControl;
import io.arrakis.device.MacAddress;
import io.arrakis.device.Offload;
import io.arrakis.device.RateLimit;
import io.arrakis.device.TransmitFilter;
import io.arrakis.device.Vnic;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicControl;
import io.arrakis.device.VnicQueue;
import io.arrakis.linux.Epoll;
import io.arrakis.linux.EventFd;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import io.arrakis.vfio.DmaRegion;
import io.arrakis.vfio.PciFunction;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A VNIC on a modern (1.x) virtio-net PCI function driven from user space through VFIO: the
 * device's rings live in memory mapped for its DMA, frames move between its queues and our
 * buffer pools without a copy, and an idle queue sleeps on its MSI-X eventfd.
 *
 * <h2>Bring-up</h2>
 * Capabilities ({@link VirtioPciCapabilities}), reset, ACKNOWLEDGE and DRIVER, feature
 * negotiation ({@link VirtioFeatures}), FEATURES_OK read back, the device configuration (MAC,
 * link status, queue pairs, MTU), MSI-X (vector 0: configuration changes; vector 1 + i: receive
 * queue i; transmit queues interrupt nobody: they are reclaimed when the queue is polled), queue
 * pair i on virtqueues 2i (receive) and 2i + 1 (transmit), the control queue when more than one
 * pair is asked for, DRIVER_OK, and receive buffers posted.
 *
 * <h2>Memory</h2>
 * One shared arena holds every queue's packet buffers (one pool per queue), mapped once for the
 * device's DMA with {@link PciFunction#mapForDma}; the rings and the transmit header slots are in
 * one {@link PciFunction#allocateDma} region.
 *
 * <h2>What the device does not do here</h2>
 * It delivers every frame of its link to this VNIC (no flow steering without RSS or ntuple
 * filters, which QEMU's device lacks): {@link #control()} refuses receive filters, and enforces
 * the transmit filter and the rate limit in software, on the queues' transmit path.
 *
 * <p>Identity and control are thread-safe; each queue belongs to its polling thread. Close after
 * the pollers stopped: closing resets the device (it stops all DMA) before any memory goes.
 */
public final class VirtioNetVnic implements Vnic, VnicControl {
    static final int DEFAULT_MTU = 1500;
    /** Device configuration offsets of {@code struct virtio_net_config}. */
    static final int CONFIG_MAC = 0, CONFIG_STATUS = 6, CONFIG_MAX_QUEUE_PAIRS = 8, CONFIG_MTU = 10;
    static final int LINK_UP = 1;
    static final int STATUS_ANNOUNCE = 2;
    /** Epoll data of a queue's descriptors. */
    static final long RX_TAG = 1, WAKEUP_TAG = 2, CONFIG_TAG = 3;
    /** Largest ring the driver sets up: 256 frames of receive in flight suffice for 10 Gbit/s at 300 us. */
    static final int MAX_RING = 256;
    private static final int TX_HEADER_SLOT = 16;
    private static final int MIN_MTU = 68;
    private static final Set<String> OPTIONS = Set.of(VirtioNetVnicBackend.OPTION_PCI, VirtioNetVnicBackend.OPTION_MAC,
            VirtioNetVnicBackend.OPTION_MTU, VirtioNetVnicBackend.OPTION_ADDRESS, VirtioNetVnicBackend.OPTION_GATEWAY);

    private final String name;
    private final String device;
    private final PciFunction pci;
    private final boolean ownsPci;
    private final VirtioPciTransport transport;
    private final long features;
    private final MacAddress mac;
    private final int mtu;
    private final Set<Offload> offloads;
    private final FilterlessVnicControl control;
    private final Arena arena;
    private final DmaRegion packets;
    private final DmaRegion rings;
    private final List<Integer> ownFds;
    private final VirtioNetQueue[] queues;
    private final WakeupGuard guard;

    private VirtioNetVnic(Builder b) {
        this.name = b.config.name();
        this.device = b.device;
        this.pci = b.pci;
        this.ownsPci = b.ownsPci;
        this.transport = b.transport;
        this.features = b.features;
        this.mac = b.mac;
        this.mtu = b.mtu;
        this.offloads = b.offloads;
        this.control = b.control;
        this.guard = b.guard;
        this.arena = b.arena;
        this.packets = b.packets;
        this.rings = b.rings;
        this.ownFds = b.fds;
        this.queues = b.queues;
    }

    /** What {@link #open} gathers before the VNIC exists, so a failure part-way can undo it. */
    private static final class Builder {
        VnicConfig config;
        String device;
        FilterlessVnicControl control;
        final WakeupGuard guard = new WakeupGuard();
        PciFunction pci;
        boolean ownsPci;
        VirtioPciTransport transport;
        long features;
        MacAddress mac;
        int mtu;
        Set<Offload> offloads;
        Arena arena;
        DmaRegion packets;
        DmaRegion rings;
        int[] msixFds;
        final List<Integer> fds = new ArrayList<>();
        VirtioNetQueue[] queues;
    }

    /**
     * Brings {@code pci} up as a VNIC of {@code config}. With {@code ownsPci}, closing the VNIC
     * (or a failure here) closes the function too.
     */
    public static VirtioNetVnic open(PciFunction pci, VnicConfig config, boolean ownsPci) throws IOException {
        Builder b = new Builder();
        b.config = config;
        b.pci = pci;
        b.ownsPci = ownsPci;
        b.device = "virtio-net " + pci.address();
        b.control = new FilterlessVnicControl(config.name(), "virtio-net VNIC " + config.name() + " (" + b.device
                + "): the device delivers every frame of its link to this VNIC and cannot steer flows to queues (no"
                + " RSS or ntuple filters); put receive filters where a NIC can enforce them (an SR-IOV VF behind its"
                + " PF's filters, the af_xdp backend's XDP program, the shm switch)");
        try {
            bringUp(b);
            return new VirtioNetVnic(b);
        } catch (IOException | RuntimeException | Error e) {
            undo(b, e);
            throw e;
        }
    }

    private static void bringUp(Builder b) throws IOException {
        VnicConfig config = b.config;
        for (String key : new TreeSet<>(config.options().keySet())) {
            if (!OPTIONS.contains(key)) {
                throw new IllegalArgumentException("virtio VNIC " + config.name() + ": unknown option '" + key
                        + "'; known: " + new TreeSet<>(OPTIONS));
            }
        }
        String device = b.device;
        PciFunction pci = b.pci;
        // 1041: a modern network device; 1000: a transitional one, which has the modern interface too.
        if (pci.vendorId() != 0x1AF4 || (pci.deviceId() != 0x1041 && pci.deviceId() != 0x1000)) {
            throw new IOException(device + " is " + String.format("%04x:%04x", pci.vendorId(), pci.deviceId())
                    + ", not a virtio network device (1af4:1041, or transitional 1af4:1000): check the pci option");
        }
        VirtioPciCapabilities capabilities = VirtioPciCapabilities.parse(pci::readConfig, device);
        VirtioPciTransport transport = new VirtioPciTransport(pci, capabilities, device);
        b.transport = transport;
        transport.reset();
        pci.enableBusMastering();
        transport.addStatus(VirtioPciTransport.ACKNOWLEDGE);
        transport.addStatus(VirtioPciTransport.DRIVER);
        long offered = transport.deviceFeatures();
        long features;
        try {
            features = VirtioFeatures.negotiate(offered, config.queues(), device);
        } catch (IllegalStateException e) {
            throw new IOException(e.getMessage() + " (it offers " + VirtioFeatures.describe(offered) + ")", e);
        }
        transport.setDriverFeatures(features);
        transport.addStatus(VirtioPciTransport.FEATURES_OK);
        if ((transport.status() & VirtioPciTransport.FEATURES_OK) == 0) {
            throw new IOException(device + " refused the features " + VirtioFeatures.describe(features)
                    + " (FEATURES_OK did not stick; it offered " + VirtioFeatures.describe(offered) + ")");
        }
        b.features = features;

        DeviceConfig deviceConfig = DeviceConfig.read(transport, features);
        b.mac = chooseMac(config, deviceConfig, device);
        b.mtu = chooseMtu(config, deviceConfig, device);
        int headerAndFrame = VirtioNetHeader.BYTES + VirtioNetQueue.maxFrame(b.mtu);
        int receiveRoom = config.bufferSize() - VirtioNetQueue.HEADROOM + VirtioNetHeader.BYTES;
        if (headerAndFrame > receiveRoom) {
            throw new IllegalArgumentException("virtio VNIC " + config.name() + ": an MTU of " + b.mtu + " means "
                    + headerAndFrame + " bytes with the virtio-net header, but a " + config.bufferSize()
                    + "-byte buffer holds " + receiveRoom + " after the headroom: use larger buffers or a smaller MTU");
        }
        int pairs = config.queues();
        if (pairs > deviceConfig.maxQueuePairs()) {
            throw new IOException(device + " has " + deviceConfig.maxQueuePairs() + " queue pairs; " + pairs
                    + " were asked for: ask for at most " + deviceConfig.maxQueuePairs() + " (QEMU offers N with"
                    + " -netdev tap,queues=N and -device virtio-net-pci,mq=on,vectors=2N+2)");
        }
        b.offloads = offloads(features);

        int vectors = 1 + pairs;
        if (pci.msixVectorCount() < vectors) {
            throw new IOException(device + " has " + pci.msixVectorCount() + " MSI-X vectors; " + pairs
                    + " queue pairs need " + vectors + " (one per receive queue and one for configuration changes)");
        }
        b.msixFds = pci.enableMsix(vectors);
        transport.setConfigVector(0);

        int[] rxSizes = new int[pairs];
        int[] txSizes = new int[pairs];
        long ringBytes = 0;
        for (int i = 0; i < pairs; i++) {
            rxSizes[i] = ringSize(transport, 2 * i, config.buffersPerQueue() / 2, device);
            txSizes[i] = ringSize(transport, 2 * i + 1, config.buffersPerQueue() / 2, device);
            ringBytes += SplitVirtqueue.bytes(rxSizes[i]) + SplitVirtqueue.bytes(txSizes[i])
                    + (long) TX_HEADER_SLOT * txSizes[i];
        }
        ControlQueue.Plan controlPlan = pairs > 1 ? ControlQueue.plan(transport, 2 * deviceConfig.maxQueuePairs(),
                device) : null;
        if (controlPlan != null) {
            ringBytes += controlPlan.bytes();
        }
        b.rings = pci.allocateDma(ringBytes);

        long perQueue = (long) config.buffersPerQueue() * config.bufferSize();
        long packetBytes = (perQueue * pairs + 4095) & -4096L;
        b.arena = Arena.ofShared();
        MemorySegment packetMemory = b.arena.allocate(packetBytes, 4096);
        b.packets = pci.mapForDma(packetMemory);

        boolean eventIndex = VirtioFeatures.has(features, VirtioFeatures.EVENT_IDX);
        b.queues = new VirtioNetQueue[pairs];
        long ringAt = 0;
        MemorySegment ringMemory = b.rings.memory();
        for (int i = 0; i < pairs; i++) {
            SplitVirtqueue rx = new SplitVirtqueue(ringMemory.asSlice(ringAt, SplitVirtqueue.bytes(rxSizes[i])),
                    b.rings.iova() + ringAt, rxSizes[i], eventIndex);
            ringAt += SplitVirtqueue.bytes(rxSizes[i]);
            SplitVirtqueue tx = new SplitVirtqueue(ringMemory.asSlice(ringAt, SplitVirtqueue.bytes(txSizes[i])),
                    b.rings.iova() + ringAt, txSizes[i], eventIndex);
            ringAt += SplitVirtqueue.bytes(txSizes[i]);
            long headersAt = ringAt;
            ringAt += (long) TX_HEADER_SLOT * txSizes[i];
            long rxDoorbell = transport.setUpQueue(2 * i, rx, 1 + i);
            long txDoorbell = transport.setUpQueue(2 * i + 1, tx, VirtioPciTransport.NO_VECTOR);

            int epollFd = Epoll.create(Epoll.EPOLL_CLOEXEC);
            b.fds.add(epollFd);
            int wakeupFd = EventFd.create(0, EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
            b.fds.add(wakeupFd);
            int rxFd = b.msixFds[1 + i];
            Epoll.add(epollFd, rxFd, Epoll.EPOLLIN, RX_TAG);
            Epoll.add(epollFd, wakeupFd, Epoll.EPOLLIN, WAKEUP_TAG);
            Epoll.add(epollFd, b.msixFds[0], Epoll.EPOLLIN, CONFIG_TAG);
            MemorySegment pool = packetMemory.asSlice(perQueue * i, perQueue);
            b.queues[i] = new VirtioNetQueue(i, "VNIC " + config.name() + " queue " + i + " (" + device + ")",
                    transport, rx, rxDoorbell, 2 * i, tx, txDoorbell, 2 * i + 1,
                    ringMemory.asSlice(headersAt, (long) TX_HEADER_SLOT * txSizes[i]), b.rings.iova() + headersAt,
                    pool, b.packets.iova() + perQueue * i, config.bufferSize(), b.mtu,
                    VirtioFeatures.has(features, VirtioFeatures.MRG_RXBUF), epollFd, wakeupFd, rxFd, b.msixFds[0], b.control, b.guard, b.arena);
        }
        ControlQueue controlQueue = null;
        if (controlPlan != null) {
            controlQueue = controlPlan.setUp(transport, ringMemory.asSlice(ringAt, controlPlan.bytes()),
                    b.rings.iova() + ringAt, eventIndex);
        }
        transport.addStatus(VirtioPciTransport.DRIVER_OK);
        checkStatus(transport, device, "after DRIVER_OK");
        if (controlQueue != null) {
            controlQueue.setQueuePairs(pairs);
        }
        for (VirtioNetQueue queue : b.queues) {
            queue.refill();
        }
    }

    /** The largest power of two the device allows for queue {@code index}, at most {@link #MAX_RING} and {@code cap}. */
    static int ringSize(VirtioPciTransport transport, int index, int cap, String device) throws IOException {
        int max = transport.maxQueueSize(index);
        if (max == 0) {
            throw new IOException(device + " has no virtqueue " + index);
        }
        int limit = Math.max(1, Math.min(Math.min(max, MAX_RING), Math.min(cap, SplitVirtqueue.MAX_SIZE)));
        return Integer.highestOneBit(limit);
    }

    static Set<Offload> offloads(long features) {
        EnumSet<Offload> offloads = EnumSet.noneOf(Offload.class);
        if (VirtioFeatures.has(features, VirtioFeatures.GUEST_CSUM)) {
            offloads.add(Offload.RX_CHECKSUM);
        }
        if (VirtioFeatures.has(features, VirtioFeatures.CSUM)) {
            offloads.add(Offload.TX_CHECKSUM);
        }
        return Collections.unmodifiableSet(offloads);
    }

    private static MacAddress chooseMac(VnicConfig config, DeviceConfig deviceConfig, String device) {
        String option = config.option(VirtioNetVnicBackend.OPTION_MAC, null);
        MacAddress asked = null;
        if (option != null) {
            try {
                asked = MacAddress.parse(option.strip());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("virtio VNIC " + config.name() + ": option mac: " + e.getMessage(), e);
            }
            if (asked.isMulticast()) {
                throw new IllegalArgumentException("virtio VNIC " + config.name() + ": option mac " + asked
                        + " is a multicast address; a VNIC needs a unicast one");
            }
        }
        if (deviceConfig.mac() != null) {
            if (asked != null && !asked.equals(deviceConfig.mac())) {
                throw new IllegalArgumentException("virtio VNIC " + config.name() + ": " + device + " has the MAC "
                        + deviceConfig.mac() + " (VIRTIO_NET_F_MAC), and the mac option asks for " + asked
                        + ": drop the option, or give the device that MAC (QEMU: -device virtio-net-pci,mac=...)");
            }
            return deviceConfig.mac();
        }
        return asked != null ? asked : MacAddress.locallyAdministered(new SecureRandom().nextLong());
    }

    private static int chooseMtu(VnicConfig config, DeviceConfig deviceConfig, String device) {
        String option = config.option(VirtioNetVnicBackend.OPTION_MTU, null);
        int mtu = DEFAULT_MTU;
        if (option != null) {
            try {
                mtu = Integer.parseInt(option.strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("virtio VNIC " + config.name() + ": option mtu is not a number: "
                        + option, e);
            }
            if (mtu < MIN_MTU) {
                throw new IllegalArgumentException("virtio VNIC " + config.name() + ": option mtu " + mtu
                        + " is below IPv4's minimum of " + MIN_MTU);
            }
        }
        if (deviceConfig.mtu() > 0 && mtu > deviceConfig.mtu()) {
            if (option != null) {
                throw new IllegalArgumentException("virtio VNIC " + config.name() + ": option mtu " + mtu
                        + " exceeds the " + deviceConfig.mtu() + " of " + device + " (VIRTIO_NET_F_MTU)");
            }
            mtu = deviceConfig.mtu();
        }
        return mtu;
    }

    /** The fields of {@code struct virtio_net_config} this driver reads, read consistently. */
    record DeviceConfig(MacAddress mac, int status, int maxQueuePairs, int mtu) {
        static DeviceConfig read(VirtioPciTransport transport, long features) throws IOException {
            for (int attempt = 0; attempt < 100; attempt++) {
                int generation = transport.configGeneration();
                MacAddress mac = null;
                if (VirtioFeatures.has(features, VirtioFeatures.MAC)) {
                    long bits = 0;
                    for (int i = 0; i < 6; i++) {
                        bits = bits << 8 | transport.readDeviceConfig(CONFIG_MAC + i, 1);
                    }
                    mac = new MacAddress(bits);
                }
                int status = VirtioFeatures.has(features, VirtioFeatures.STATUS)
                        ? transport.readDeviceConfig(CONFIG_STATUS, 2) : LINK_UP;
                int pairs = VirtioFeatures.has(features, VirtioFeatures.MQ)
                        ? transport.readDeviceConfig(CONFIG_MAX_QUEUE_PAIRS, 2) : 1;
                int mtu = VirtioFeatures.has(features, VirtioFeatures.MTU)
                        ? transport.readDeviceConfig(CONFIG_MTU, 2) : 0;
                if (transport.configGeneration() == generation) {
                    return new DeviceConfig(mac, status, Math.max(1, pairs), mtu);
                }
            }
            throw new IOException("the device configuration kept changing while it was read (100 attempts)");
        }
    }

    /**
     * Throws when the device has stopped: it set DEVICE_NEEDS_RESET (an internal error: it
     * processes no queue until reset), FAILED, or lost DRIVER_OK (someone reset it).
     */
    static void checkStatus(VirtioPciTransport transport, String device, String when) throws IOException {
        int status = transport.status();
        if ((status & VirtioPciTransport.DEVICE_NEEDS_RESET) != 0) {
            throw new IOException(device + " set DEVICE_NEEDS_RESET " + when + ": it hit an error and processes no"
                    + " queue until it is reset; close this VNIC and open it again (opening resets the device)");
        }
        if ((status & VirtioPciTransport.FAILED) != 0 || (status & VirtioPciTransport.DRIVER_OK) == 0) {
            throw new IOException(device + " stopped " + when + " (status 0x" + Integer.toHexString(status)
                    + ": " + ((status & VirtioPciTransport.FAILED) != 0 ? "FAILED" : "reset behind our back")
                    + "); close this VNIC and open it again");
        }
    }

    private static void undo(Builder b, Throwable failure) {
        if (b.transport != null) {
            try {
                b.transport.reset(); // stops DMA before the memory goes
            } catch (IOException | RuntimeException e) {
                b.transport.setStatus(VirtioPciTransport.FAILED);
                failure.addSuppressed(e);
            }
        }
        for (int fd : b.fds) {
            try {
                Unistd.close(fd);
            } catch (LinuxException e) {
                failure.addSuppressed(e);
            }
        }
        for (AutoCloseable c : new AutoCloseable[] {b.packets, b.rings}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    failure.addSuppressed(e);
                }
            }
        }
        if (b.arena != null) {
            b.arena.close();
        }
        if (b.ownsPci) {
            try {
                b.pci.close();
            } catch (IOException | RuntimeException e) {
                failure.addSuppressed(e);
            }
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return VirtioNetVnicBackend.NAME;
    }

    @Override
    public MacAddress mac() {
        return mac;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    @Override
    public Set<Offload> offloads() {
        return offloads;
    }

    /** The features negotiated with the device. */
    public long features() {
        return features;
    }

    /** The PCI function's address. */
    public String pciAddress() {
        return pci.address();
    }

    /** Whether the device reports its link up (always, when it does not offer VIRTIO_NET_F_STATUS). */
    public boolean linkUp() throws IOException {
        return (DeviceConfig.read(transport, features).status() & LINK_UP) != 0;
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public VnicQueue queue(int index) {
        if (index < 0 || index >= queues.length) {
            throw new IndexOutOfBoundsException("virtio VNIC " + name + " has queues 0.." + (queues.length - 1)
                    + ", not " + index);
        }
        return queues[index];
    }

    @Override
    public VnicControl control() {
        return this;
    }

    @Override
    public void addReceiveFilter(io.arrakis.device.FlowFilter filter, int queue) {
        control.addReceiveFilter(filter, queue);
    }

    @Override
    public boolean removeReceiveFilter(io.arrakis.device.FlowFilter filter) {
        return control.removeReceiveFilter(filter);
    }

    @Override
    public List<io.arrakis.device.FlowFilter> receiveFilters() {
        return control.receiveFilters();
    }

    @Override
    public void setTransmitFilter(TransmitFilter filter) {
        control.setTransmitFilter(filter);
    }

    @Override
    public TransmitFilter transmitFilter() {
        return control.transmitFilter();
    }

    @Override
    public void setRateLimit(RateLimit limit) {
        control.setRateLimit(limit);
    }

    @Override
    public RateLimit rateLimit() {
        return control.rateLimit();
    }

    /**
     * Serialises wakeups with {@link #close()}: a late {@link VnicQueue#wakeup()} from another
     * thread never writes to a descriptor number the process has reused. Thread-safe.
     */
    static final class WakeupGuard {
        private boolean closed;

        synchronized void signal(int fd, String queue) throws IOException {
            if (closed) {
                return;
            }
            try {
                EventFd.signal(fd, 1);
            } catch (LinuxException e) {
                throw new IOException(queue + ": wakeup: " + e.getMessage(), e);
            }
        }

        /** Returns {@code false} when already closed. */
        synchronized boolean close() {
            boolean was = closed;
            closed = true;
            return !was;
        }
    }

    /**
     * Resets the device (it stops every DMA and interrupt), then releases descriptors, DMA
     * mappings and packet memory, and the PCI function when this VNIC opened it. Idempotent.
     */
    @Override
    public synchronized void close() throws IOException {
        if (!guard.close()) {
            return;
        }
        IOException failure = null;
        try {
            transport.reset();
        } catch (IOException e) {
            failure = e;
        }
        for (int fd : ownFds) {
            try {
                Unistd.close(fd);
            } catch (LinuxException e) {
                failure = add(failure, new IOException("virtio VNIC " + name + ": closing descriptor " + fd, e));
            }
        }
        for (DmaRegion region : new DmaRegion[] {packets, rings}) {
            try {
                region.close();
            } catch (IOException e) {
                failure = add(failure, e);
            }
        }
        arena.close();
        if (ownsPci) {
            try {
                pci.close();
            } catch (IOException e) {
                failure = add(failure, e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static IOException add(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    @Override
    public String toString() {
        return "virtio VNIC " + name + " on " + device + " (mac " + mac + ", mtu " + mtu + ", " + queues.length
                + " queue pair(s), features " + VirtioFeatures.describe(features) + ")";
    }
}

package io.arrakis.nvme;

import io.arrakis.vfio.DmaRegion;
import io.arrakis.vfio.PciFunction;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * One NVMe controller driven from user space through a {@link PciFunction}: reset and enable
 * (CC/CSTS with CAP.TO as the deadline), the admin queue pair, IDENTIFY, and the creation and
 * deletion of I/O queue pairs for {@link NvmeQueue}s. MSI-X vectors 1..n are enabled once, one
 * per I/O queue id, so an idle queue can sleep on its eventfd.
 *
 * <p>Several VSAs of one process may sit on one controller (a VFIO device opens once per
 * process), so controllers are shared by PCI address and reference-counted ({@link #acquire},
 * {@link #release}). Admin commands are serialized on the controller (thread-safe); I/O queues
 * belong to their threads.
 */
public final class NvmeController {
    /** The page size the driver runs the controller with (CC.MPS 0); every controller supports 4 KiB. */
    public static final int PAGE = 4096;
    private static final int ADMIN_ENTRIES = 64;
    /** I/O queue pairs asked for; a process rarely has more threads submitting than this. */
    private static final int IO_QUEUES_WANTED = 16;
    private static final long ADMIN_PATIENCE_NANOS = 10_000_000_000L;
    private static final Map<String, NvmeController> OPEN = new HashMap<>();

    /** Opens a PCI function by address (VFIO in production; the lab's device in lab tests). */
    @FunctionalInterface
    public interface Opener {
        PciFunction open(String address) throws IOException;
    }

    private final PciFunction function;
    private final MemorySegment bar;
    private final NvmeRegisters.Capabilities capabilities;
    private final DmaRegion adminMemory;
    private final SubmissionRing adminSubmissions;
    private final CompletionRing adminCompletions;
    private final MemorySegment identifyPage;
    private final long identifyIova;
    private final int[] vectorFds;
    private final BitSet usedQueueIds = new BitSet();
    private final Map<Integer, IdentifyNamespace> namespaces = new HashMap<>();
    private IdentifyController identity;
    private int ioQueuePairs;
    private int nextCommandId;
    private int references;
    private boolean closed;

    private NvmeController(PciFunction function, MemorySegment bar, NvmeRegisters.Capabilities capabilities,
            DmaRegion adminMemory, int[] vectorFds) {
        this.function = function;
        this.bar = bar;
        this.capabilities = capabilities;
        this.adminMemory = adminMemory;
        MemorySegment memory = adminMemory.memory();
        this.adminSubmissions = new SubmissionRing(memory.asSlice(0, PAGE), ADMIN_ENTRIES);
        this.adminCompletions = new CompletionRing(memory.asSlice(PAGE, PAGE), ADMIN_ENTRIES);
        this.identifyPage = memory.asSlice(2L * PAGE, PAGE);
        this.identifyIova = adminMemory.iova(2L * PAGE);
        this.vectorFds = vectorFds;
    }

    /** The controller at {@code address}, opened (reset, enabled, identified) by the first caller. */
    public static NvmeController acquire(String address, Opener opener) throws IOException {
        synchronized (OPEN) {
            NvmeController controller = OPEN.get(address);
            if (controller == null) {
                PciFunction function = opener.open(address);
                try {
                    controller = start(function);
                } catch (IOException | RuntimeException e) {
                    try {
                        function.close();
                    } catch (IOException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                    throw e;
                }
                OPEN.put(address, controller);
            }
            controller.references++;
            return controller;
        }
    }

    /** Drops one reference; the last shuts the controller down (CC.SHN) and closes the function. */
    public void release() throws IOException {
        synchronized (OPEN) {
            if (--references > 0) {
                return;
            }
            OPEN.remove(function.address());
        }
        shutdown();
    }

    /** Resets and enables the controller behind {@code function}, then identifies it. */
    static NvmeController start(PciFunction function) throws IOException {
        String where = "NVMe controller " + function.address();
        MemorySegment bar = function.bar(0);
        if (bar.byteSize() < NvmeRegisters.DOORBELLS + 8) {
            throw new IOException(where + ": BAR0 has " + bar.byteSize() + " bytes, too few for NVMe registers;"
                    + " is this an NVMe function (class 01:08:02)?");
        }
        NvmeRegisters.Capabilities cap = NvmeRegisters.Capabilities.decode(NvmeRegisters.read64(bar, NvmeRegisters.CAP));
        if (!cap.nvmCommandSet()) {
            throw new IOException(where + " does not support the NVM command set (CAP.CSS)");
        }
        if (cap.minPageSize() > PAGE || cap.maxPageSize() < PAGE) {
            throw new IOException(where + " supports memory pages of " + cap.minPageSize() + ".." + cap.maxPageSize()
                    + " bytes, not the driver's " + PAGE);
        }
        function.enableBusMastering();
        // Disable first: a controller left enabled (by firmware, a kernel driver, a crashed
        // process) holds queues we know nothing of.
        int cc = NvmeRegisters.read32(bar, NvmeRegisters.CC);
        if ((cc & NvmeRegisters.CC_EN) != 0) {
            NvmeRegisters.write32(bar, NvmeRegisters.CC, cc & ~NvmeRegisters.CC_EN);
        }
        waitReady(bar, cap, false, where);
        DmaRegion admin = function.allocateDma(3L * PAGE);
        NvmeController controller;
        try {
            int[] vectors = new int[0];
            int vectorCount = Math.min(function.msixVectorCount(), 1 + IO_QUEUES_WANTED);
            if (vectorCount > 1) {
                try {
                    vectors = function.enableMsix(vectorCount);
                } catch (IOException e) {
                    // Queues then poll and park when idle instead of sleeping on an eventfd.
                    System.err.println("arrakis nvme: " + where + ": MSI-X not available (" + e.getMessage()
                            + "); idle queues will park briefly instead of sleeping on an interrupt");
                }
            }
            controller = new NvmeController(function, bar, cap, admin, vectors);
            NvmeRegisters.write32(bar, NvmeRegisters.AQA,
                    NvmeRegisters.adminQueueAttributes(ADMIN_ENTRIES, ADMIN_ENTRIES));
            NvmeRegisters.write64(bar, NvmeRegisters.ASQ, admin.iova(0));
            NvmeRegisters.write64(bar, NvmeRegisters.ACQ, admin.iova(PAGE));
            NvmeRegisters.write32(bar, NvmeRegisters.CC, NvmeRegisters.enableConfiguration(PAGE));
            waitReady(bar, cap, true, where);
        } catch (IOException | RuntimeException e) {
            admin.close();
            throw e;
        }
        controller.identity = controller.identifyController();
        int granted = controller.admin("SET FEATURES (number of queues: " + IO_QUEUES_WANTED + ")",
                (queue, offset, cid) -> NvmeCommands.setNumberOfQueues(queue, offset, cid, IO_QUEUES_WANTED));
        controller.ioQueuePairs = Math.min(granted & 0xffff, granted >>> 16) + 1;
        return controller;
    }

    private static void waitReady(MemorySegment bar, NvmeRegisters.Capabilities cap, boolean ready, String where)
            throws IOException {
        long patience = Math.max(cap.readyTimeoutMillis(), 500) * 1_000_000L;
        long deadline = System.nanoTime() + patience;
        while (true) {
            int csts = NvmeRegisters.read32(bar, NvmeRegisters.CSTS);
            if (csts == -1) {
                throw new IOException(where + ": registers read all ones; the device is gone or not mapped");
            }
            if (ready && (csts & NvmeRegisters.CSTS_CFS) != 0) {
                throw new IOException(where + " reports a fatal status (CSTS.CFS) while enabling; reset the function"
                        + " and check its configuration");
            }
            if (((csts & NvmeRegisters.CSTS_RDY) != 0) == ready) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(where + " did not become " + (ready ? "ready" : "disabled") + " within CAP.TO ("
                        + cap.readyTimeoutMillis() + " ms); CSTS=0x" + Integer.toHexString(csts));
            }
            LockSupport.parkNanos(1_000_000);
        }
    }

    /** Encodes one admin command at a submission queue slot. */
    @FunctionalInterface
    interface AdminEncoder {
        void encode(MemorySegment queue, long offset, int commandId);
    }

    /**
     * Runs one admin command and waits for it (bounded); returns completion dword 0. A failed
     * status becomes an {@link IOException} naming the command and the status.
     */
    synchronized int admin(String what, AdminEncoder encoder) throws IOException {
        if (closed) {
            throw new IOException("NVMe controller " + function.address() + " is closed; cannot run " + what);
        }
        int cid = nextCommandId++ & 0xffff;
        encoder.encode(adminSubmissions.entries(), adminSubmissions.tailOffset(), cid);
        NvmeRegisters.write32(bar, capabilities.submissionDoorbell(0), adminSubmissions.advance());
        long deadline = System.nanoTime() + ADMIN_PATIENCE_NANOS;
        int spins = 0;
        while (true) {
            if (adminCompletions.next()) {
                NvmeRegisters.write32(bar, capabilities.completionDoorbell(0), adminCompletions.head());
                adminSubmissions.consumedUpTo(adminCompletions.submissionHead());
                if (adminCompletions.commandId() != cid) {
                    continue; // a late completion of an earlier command that timed out
                }
                int status = adminCompletions.status();
                if (!NvmeStatus.isSuccess(status)) {
                    throw new IOException("NVMe controller " + function.address() + ": admin command " + what
                            + " failed: " + NvmeStatus.describe(status));
                }
                return adminCompletions.result();
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("NVMe controller " + function.address() + ": admin command " + what
                        + " did not complete within 10 s (CSTS=0x"
                        + Integer.toHexString(NvmeRegisters.read32(bar, NvmeRegisters.CSTS)) + ")");
            }
            if (spins++ < 1000) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(20_000);
            }
        }
    }

    private IdentifyController identifyController() throws IOException {
        synchronized (this) {
            admin("IDENTIFY CONTROLLER", (queue, offset, cid) -> NvmeCommands.identify(queue, offset, cid, 0,
                    NvmeCommands.IDENTIFY_CONTROLLER, identifyIova));
            return IdentifyController.parse(identifyPage, capabilities.minPageSize());
        }
    }

    /** IDENTIFY NAMESPACE {@code namespaceId} (asked once, then remembered). */
    public synchronized IdentifyNamespace namespace(int namespaceId) throws IOException {
        IdentifyNamespace known = namespaces.get(namespaceId);
        if (known != null) {
            return known;
        }
        if (namespaceId < 1 || namespaceId > identity.namespaceCount()) {
            throw new IOException("NVMe controller " + function.address() + " has namespaces 1.."
                    + identity.namespaceCount() + ", not " + namespaceId);
        }
        admin("IDENTIFY NAMESPACE " + namespaceId, (queue, offset, cid) -> NvmeCommands.identify(queue, offset, cid,
                namespaceId, NvmeCommands.IDENTIFY_NAMESPACE, identifyIova));
        IdentifyNamespace parsed = IdentifyNamespace.parse(namespaceId, identifyPage);
        if (parsed.sizeBlocks() == 0) {
            throw new IOException("NVMe controller " + function.address() + ": namespace " + namespaceId
                    + " is not active (size 0)");
        }
        namespaces.put(namespaceId, parsed);
        return parsed;
    }

    /**
     * Creates I/O queue pair {@code qid}-{@code qid} of {@code entries} entries with its queues at
     * the given addresses; returns the eventfd its completions signal, or -1 (no interrupt).
     */
    synchronized int createQueuePair(int qid, int entries, long submissionIova, long completionIova)
            throws IOException {
        boolean interrupts = qid < vectorFds.length;
        admin("CREATE I/O COMPLETION QUEUE " + qid + " (" + entries + " entries)", (queue, offset, cid) ->
                NvmeCommands.createCompletionQueue(queue, offset, cid, qid, entries, completionIova,
                        interrupts ? qid : 0, interrupts));
        try {
            admin("CREATE I/O SUBMISSION QUEUE " + qid + " (" + entries + " entries)", (queue, offset, cid) ->
                    NvmeCommands.createSubmissionQueue(queue, offset, cid, qid, entries, submissionIova, qid));
        } catch (IOException e) {
            try {
                admin("DELETE I/O COMPLETION QUEUE " + qid, (queue, offset, cid) ->
                        NvmeCommands.deleteQueue(queue, offset, NvmeCommands.DELETE_IO_CQ, cid, qid));
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        return interrupts ? vectorFds[qid] : -1;
    }

    /** Deletes I/O queue pair {@code qid} (submission queue first, as the specification requires). */
    synchronized void deleteQueuePair(int qid) throws IOException {
        try {
            admin("DELETE I/O SUBMISSION QUEUE " + qid, (queue, offset, cid) ->
                    NvmeCommands.deleteQueue(queue, offset, NvmeCommands.DELETE_IO_SQ, cid, qid));
            admin("DELETE I/O COMPLETION QUEUE " + qid, (queue, offset, cid) ->
                    NvmeCommands.deleteQueue(queue, offset, NvmeCommands.DELETE_IO_CQ, cid, qid));
        } finally {
            usedQueueIds.clear(qid);
        }
    }

    /** A free I/O queue id, or an IOException saying how many the controller granted. */
    synchronized int allocateQueueId() throws IOException {
        int qid = usedQueueIds.nextClearBit(1);
        if (qid > ioQueuePairs) {
            throw new IOException("NVMe controller " + function.address() + " granted " + ioQueuePairs
                    + " I/O queue pairs and all are in use; close a VSA or open it with fewer queues");
        }
        usedQueueIds.set(qid);
        return qid;
    }

    synchronized void freeQueueId(int qid) {
        usedQueueIds.clear(qid);
    }

    private void shutdown() throws IOException {
        synchronized (this) {
            closed = true;
        }
        try {
            int cc = NvmeRegisters.read32(bar, NvmeRegisters.CC);
            NvmeRegisters.write32(bar, NvmeRegisters.CC, (cc & ~(3 << 14)) | NvmeRegisters.CC_SHN_NORMAL);
            long deadline = System.nanoTime() + Math.max(capabilities.readyTimeoutMillis(), 500) * 1_000_000L;
            while ((NvmeRegisters.read32(bar, NvmeRegisters.CSTS) & NvmeRegisters.CSTS_SHST_MASK)
                    != NvmeRegisters.CSTS_SHST_COMPLETE && System.nanoTime() < deadline) {
                LockSupport.parkNanos(1_000_000);
            }
            NvmeRegisters.write32(bar, NvmeRegisters.CC, 0);
        } finally {
            try {
                adminMemory.close();
            } finally {
                function.close();
            }
        }
    }

    public PciFunction function() {
        return function;
    }

    MemorySegment bar() {
        return bar;
    }

    public NvmeRegisters.Capabilities capabilities() {
        return capabilities;
    }

    public IdentifyController identity() {
        return identity;
    }

    /** How many I/O queue pairs the controller granted (SET FEATURES Number of Queues). */
    public int ioQueuePairs() {
        return ioQueuePairs;
    }

    /** Whether I/O queues get MSI-X vectors (else idle queues park briefly). */
    public boolean interrupts() {
        return vectorFds.length > 1;
    }

    public String address() {
        return function.address();
    }

    @Override
    public String toString() {
        return "NVMe controller " + function.address() + " (" + identity.model() + ", serial "
                + identity.serialNumber() + ", firmware " + identity.firmware() + ")";
    }
}

package io.arrakis.nvme;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * The controller registers in BAR0 (NVMe base specification 2.0, section 3.1.4) and the fields
 * the driver reads and writes. Every access is a volatile 32-bit load or store: 64-bit registers
 * are accessed as two halves, low first, which every controller accepts. Stateless; thread-safety
 * is the caller's (the controller owns CC/AQA/ASQ/ACQ, each queue owns its doorbells).
 */
public final class NvmeRegisters {
    public static final int CAP = 0x00;
    public static final int VS = 0x08;
    public static final int INTMS = 0x0c;
    public static final int CC = 0x14;
    public static final int CSTS = 0x1c;
    public static final int AQA = 0x24;
    public static final int ASQ = 0x28;
    public static final int ACQ = 0x30;
    public static final int DOORBELLS = 0x1000;

    public static final int CC_EN = 1;
    public static final int CSTS_RDY = 1;
    public static final int CSTS_CFS = 1 << 1;
    /** CC.SHN = 01b (normal shutdown), bits 15:14. */
    public static final int CC_SHN_NORMAL = 1 << 14;
    /** CSTS.SHST, bits 3:2: 10b means shutdown processing complete. */
    public static final int CSTS_SHST_MASK = 3 << 2;
    public static final int CSTS_SHST_COMPLETE = 2 << 2;

    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    private NvmeRegisters() {}

    /** CAP decoded: what the controller can do and how long it may take to become ready. */
    public record Capabilities(int maxQueueEntries, boolean contiguousQueuesRequired, long readyTimeoutMillis,
            int doorbellStrideBytes, boolean nvmCommandSet, int minPageSize, int maxPageSize, boolean resetSupported) {

        /** Decodes the 64-bit CAP register. */
        public static Capabilities decode(long cap) {
            int mqes = (int) (cap & 0xffff);
            boolean cqr = ((cap >>> 16) & 1) != 0;
            long timeout = ((cap >>> 24) & 0xff) * 500L;
            int dstrd = (int) ((cap >>> 32) & 0xf);
            boolean nssrs = ((cap >>> 36) & 1) != 0;
            int css = (int) ((cap >>> 37) & 0xff);
            int mpsmin = (int) ((cap >>> 48) & 0xf);
            int mpsmax = (int) ((cap >>> 52) & 0xf);
            return new Capabilities(mqes + 1, cqr, timeout, 4 << dstrd, (css & 1) != 0, 1 << (12 + mpsmin),
                    1 << (12 + mpsmax), nssrs);
        }

        /** Byte offset in BAR0 of submission queue {@code qid}'s tail doorbell. */
        public int submissionDoorbell(int qid) {
            return DOORBELLS + (2 * qid) * doorbellStrideBytes;
        }

        /** Byte offset in BAR0 of completion queue {@code qid}'s head doorbell. */
        public int completionDoorbell(int qid) {
            return DOORBELLS + (2 * qid + 1) * doorbellStrideBytes;
        }
    }

    /**
     * CC to enable the controller: NVM command set, memory page size {@code pageSize} (4 KiB
     * gives MPS 0), round-robin arbitration, 64-byte submission and 16-byte completion entries.
     */
    public static int enableConfiguration(int pageSize) {
        int mps = Integer.numberOfTrailingZeros(pageSize) - 12;
        if (mps < 0 || Integer.bitCount(pageSize) != 1) {
            throw new IllegalArgumentException("NVMe memory page size must be a power of two >= 4096, not " + pageSize);
        }
        return CC_EN | (0 << 4) | (mps << 7) | (0 << 11) | (6 << 16) | (4 << 20);
    }

    /** AQA for admin queues of {@code submissionEntries} and {@code completionEntries} (1-based counts). */
    public static int adminQueueAttributes(int submissionEntries, int completionEntries) {
        return ((completionEntries - 1) << 16) | (submissionEntries - 1);
    }

    public static int read32(MemorySegment bar, long offset) {
        return (int) INT.getVolatile(bar, offset);
    }

    public static void write32(MemorySegment bar, long offset, int value) {
        INT.setVolatile(bar, offset, value);
    }

    public static long read64(MemorySegment bar, long offset) {
        long low = read32(bar, offset) & 0xffff_ffffL;
        long high = read32(bar, offset + 4) & 0xffff_ffffL;
        return low | (high << 32);
    }

    public static void write64(MemorySegment bar, long offset, long value) {
        write32(bar, offset, (int) value);
        write32(bar, offset + 4, (int) (value >>> 32));
    }
}

package io.arrakis.nvme;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Encodes 64-byte submission queue entries (NVMe base specification 2.0, figure 88; NVM command
 * set 1.0 for read, write and flush) into memory the controller reads. Little-endian, PRPs only
 * (PSDT 0), no fused operations, no metadata pointer. Stateless; the caller owns the memory.
 *
 * <pre>
 * bytes 0      opcode         1 flags (FUSE, PSDT: 0)   2–3 command identifier
 *       4–7    namespace id   8–15 reserved             16–23 metadata pointer (0)
 *       24–31  PRP entry 1    32–39 PRP entry 2          40–63 command dwords 10–15
 * </pre>
 */
public final class NvmeCommands {
    public static final int ENTRY_BYTES = 64;
    public static final int COMPLETION_BYTES = 16;

    // Admin opcodes.
    public static final int DELETE_IO_SQ = 0x00;
    public static final int CREATE_IO_SQ = 0x01;
    public static final int DELETE_IO_CQ = 0x04;
    public static final int CREATE_IO_CQ = 0x05;
    public static final int IDENTIFY = 0x06;
    public static final int SET_FEATURES = 0x09;
    // NVM opcodes.
    public static final int FLUSH = 0x00;
    public static final int WRITE = 0x01;
    public static final int READ = 0x02;

    public static final int IDENTIFY_NAMESPACE = 0x00;
    public static final int IDENTIFY_CONTROLLER = 0x01;
    public static final int FEATURE_NUMBER_OF_QUEUES = 0x07;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private NvmeCommands() {}

    /** Writes a whole entry at {@code offset}: every byte not named is zero. */
    public static void encode(MemorySegment queue, long offset, int opcode, int commandId, int namespaceId, long prp1,
            long prp2, int cdw10, int cdw11, int cdw12, int cdw13, int cdw14, int cdw15) {
        if (commandId < 0 || commandId > 0xffff) {
            throw new IllegalArgumentException("NVMe command identifiers are 16 bits, not " + commandId);
        }
        queue.set(INT, offset, (opcode & 0xff) | (commandId << 16));
        queue.set(INT, offset + 4, namespaceId);
        queue.set(LONG, offset + 8, 0L); // dwords 2-3, reserved
        queue.set(LONG, offset + 16, 0L); // no metadata pointer
        queue.set(LONG, offset + 24, prp1);
        queue.set(LONG, offset + 32, prp2);
        queue.set(INT, offset + 40, cdw10);
        queue.set(INT, offset + 44, cdw11);
        queue.set(INT, offset + 48, cdw12);
        queue.set(INT, offset + 52, cdw13);
        queue.set(INT, offset + 56, cdw14);
        queue.set(INT, offset + 60, cdw15);
    }

    /** READ or WRITE of {@code blocks} logical blocks from {@code lba}: CDW10–11 the starting LBA, CDW12 NLB (0-based). */
    public static void readWrite(MemorySegment queue, long offset, int opcode, int commandId, int namespaceId,
            long lba, int blocks, long prp1, long prp2) {
        if (blocks < 1 || blocks > 0x10000) {
            throw new IllegalArgumentException("one NVMe read or write moves 1..65536 logical blocks, not " + blocks);
        }
        encode(queue, offset, opcode, commandId, namespaceId, prp1, prp2, (int) lba, (int) (lba >>> 32), blocks - 1,
                0, 0, 0);
    }

    public static void flush(MemorySegment queue, long offset, int commandId, int namespaceId) {
        encode(queue, offset, FLUSH, commandId, namespaceId, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    /** IDENTIFY with CNS {@code cns} into the 4 KiB page at {@code prp1}. */
    public static void identify(MemorySegment queue, long offset, int commandId, int namespaceId, int cns, long prp1) {
        encode(queue, offset, IDENTIFY, commandId, namespaceId, prp1, 0, cns & 0xff, 0, 0, 0, 0, 0);
    }

    /**
     * CREATE I/O COMPLETION QUEUE: CDW10 size (0-based) and id, CDW11 interrupt vector, interrupts
     * enabled and physically contiguous.
     */
    public static void createCompletionQueue(MemorySegment queue, long offset, int commandId, int qid, int entries,
            long base, int vector, boolean interrupts) {
        encode(queue, offset, CREATE_IO_CQ, commandId, 0, base, 0, ((entries - 1) << 16) | qid,
                (vector << 16) | (interrupts ? 2 : 0) | 1, 0, 0, 0, 0);
    }

    /** CREATE I/O SUBMISSION QUEUE: CDW10 size (0-based) and id, CDW11 its completion queue, priority 0, contiguous. */
    public static void createSubmissionQueue(MemorySegment queue, long offset, int commandId, int qid, int entries,
            long base, int completionQueue) {
        encode(queue, offset, CREATE_IO_SQ, commandId, 0, base, 0, ((entries - 1) << 16) | qid,
                (completionQueue << 16) | 1, 0, 0, 0, 0);
    }

    public static void deleteQueue(MemorySegment queue, long offset, int opcode, int commandId, int qid) {
        encode(queue, offset, opcode, commandId, 0, 0, 0, qid, 0, 0, 0, 0, 0);
    }

    /** SET FEATURES Number of Queues: CDW11 asks for {@code count} submission and completion queues (0-based). */
    public static void setNumberOfQueues(MemorySegment queue, long offset, int commandId, int count) {
        encode(queue, offset, SET_FEATURES, commandId, 0, 0, 0, FEATURE_NUMBER_OF_QUEUES,
                ((count - 1) << 16) | (count - 1), 0, 0, 0, 0);
    }
}

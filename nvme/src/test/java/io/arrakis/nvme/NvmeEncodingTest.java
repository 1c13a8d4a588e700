package io.arrakis.nvme;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.linux.Errno;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Commands, registers, statuses and IDENTIFY data, byte by byte against the specification's layouts. */
class NvmeEncodingTest {

    private static ByteBuffer entry(MemorySegment queue, long offset) {
        return queue.asSlice(offset, 64).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void aReadIsLaidOutAsTheNvmCommandSetSays() {
        MemorySegment queue = MemorySegment.ofArray(new byte[128]);
        queue.fill((byte) 0x5a);
        NvmeCommands.readWrite(queue, 64, NvmeCommands.READ, 0x1234, 1, 0x1_2345_6789L, 8, 0xAABB_0000L,
                0xCCDD_0000L);
        ByteBuffer b = entry(queue, 64);
        assertEquals(0x02, b.get(0) & 0xff, "opcode READ 02h at byte 0");
        assertEquals(0, b.get(1), "FUSE 0, PSDT 0 (PRPs)");
        assertEquals(0x1234, b.getShort(2) & 0xffff, "command identifier at bytes 2-3");
        assertEquals(1, b.getInt(4), "namespace id at bytes 4-7");
        assertEquals(0, b.getLong(8), "reserved dwords 2-3");
        assertEquals(0, b.getLong(16), "no metadata pointer");
        assertEquals(0xAABB_0000L, b.getLong(24), "PRP1 at bytes 24-31");
        assertEquals(0xCCDD_0000L, b.getLong(32), "PRP2 at bytes 32-39");
        assertEquals(0x2345_6789, b.getInt(40), "SLBA low in CDW10");
        assertEquals(0x1, b.getInt(44), "SLBA high in CDW11");
        assertEquals(7, b.getInt(48), "NLB is 0-based in CDW12 bits 15:0");
        assertEquals(0, b.getInt(52) | b.getInt(56) | b.getInt(60));
        assertEquals(0x5a, queue.get(ValueLayout.JAVA_BYTE, 63), "the entry before is untouched");
    }

    @Test
    void writeFlushAndAdminCommandsUseTheirOpcodesAndDwords() {
        MemorySegment queue = MemorySegment.ofArray(new byte[64]);
        NvmeCommands.readWrite(queue, 0, NvmeCommands.WRITE, 7, 2, 100, 65536, 0x1000, 0);
        assertEquals(0x01, entry(queue, 0).get(0));
        assertEquals(0xffff, entry(queue, 0).getInt(48), "65536 blocks is NLB ffffh");
        assertThrows(IllegalArgumentException.class,
                () -> NvmeCommands.readWrite(queue, 0, NvmeCommands.WRITE, 7, 2, 100, 65537, 0x1000, 0));

        NvmeCommands.flush(queue, 0, 9, 1);
        ByteBuffer f = entry(queue, 0);
        assertEquals(0x00, f.get(0));
        assertEquals(9, f.getShort(2));
        assertEquals(1, f.getInt(4));
        assertEquals(0, f.getLong(24));

        NvmeCommands.identify(queue, 0, 3, 0, NvmeCommands.IDENTIFY_CONTROLLER, 0x2000);
        ByteBuffer id = entry(queue, 0);
        assertEquals(0x06, id.get(0));
        assertEquals(0x2000, id.getLong(24));
        assertEquals(1, id.getInt(40), "CNS 01h in CDW10");

        NvmeCommands.createCompletionQueue(queue, 0, 4, 3, 256, 0x8000, 3, true);
        ByteBuffer cq = entry(queue, 0);
        assertEquals(0x05, cq.get(0));
        assertEquals(0x8000, cq.getLong(24));
        assertEquals((255 << 16) | 3, cq.getInt(40), "QSIZE 0-based in 31:16, QID in 15:0");
        assertEquals((3 << 16) | 2 | 1, cq.getInt(44), "IV 31:16, IEN bit 1, PC bit 0");

        NvmeCommands.createSubmissionQueue(queue, 0, 5, 3, 256, 0x9000, 3);
        ByteBuffer sq = entry(queue, 0);
        assertEquals(0x01, sq.get(0));
        assertEquals((255 << 16) | 3, sq.getInt(40));
        assertEquals((3 << 16) | 1, sq.getInt(44), "CQID 31:16, PC bit 0");

        NvmeCommands.setNumberOfQueues(queue, 0, 6, 16);
        ByteBuffer sf = entry(queue, 0);
        assertEquals(0x09, sf.get(0));
        assertEquals(0x07, sf.getInt(40), "feature 07h");
        assertEquals((15 << 16) | 15, sf.getInt(44), "NCQR and NSQR, 0-based");
    }

    @Test
    void registersDecodeAndEncodeAsSection3Says() {
        // MQES 2047, CQR, TO 15 (7.5 s), DSTRD 1 (8-byte stride), CSS NVM, MPSMIN 0, MPSMAX 4.
        long cap = 0x7ffL | (1L << 16) | (15L << 24) | (1L << 32) | (1L << 37) | (4L << 52);
        NvmeRegisters.Capabilities c = NvmeRegisters.Capabilities.decode(cap);
        assertEquals(2048, c.maxQueueEntries());
        assertTrue(c.contiguousQueuesRequired());
        assertEquals(7500, c.readyTimeoutMillis());
        assertEquals(8, c.doorbellStrideBytes());
        assertTrue(c.nvmCommandSet());
        assertEquals(4096, c.minPageSize());
        assertEquals(65536, c.maxPageSize());
        assertEquals(0x1000, c.submissionDoorbell(0));
        assertEquals(0x1008, c.completionDoorbell(0));
        assertEquals(0x1000 + 2 * 3 * 8, c.submissionDoorbell(3));
        assertEquals(0x1000 + 7 * 8, c.completionDoorbell(3));
        // EN, CSS 0, MPS 0, AMS 0, IOSQES 6 (64 B), IOCQES 4 (16 B).
        assertEquals(0x0046_0001, NvmeRegisters.enableConfiguration(4096));
        assertEquals((31 << 16) | 63, NvmeRegisters.adminQueueAttributes(64, 32));
    }

    @Test
    void statusesDecodeToWordsAndErrnos() {
        // dword 3: CID 0x0042, phase 1, SC 80h, SCT 0, DNR.
        int dword3 = 0x42 | (1 << 16) | (0x80 << 17) | (1 << 31);
        int status = NvmeStatus.fromDword3(dword3);
        assertEquals(0x42, NvmeStatus.commandId(dword3));
        assertTrue(NvmeStatus.phase(dword3));
        assertEquals(0x80, NvmeStatus.code(status));
        assertEquals(NvmeStatus.TYPE_GENERIC, NvmeStatus.type(status));
        assertTrue(NvmeStatus.doNotRetry(status));
        assertFalse(NvmeStatus.isSuccess(status));
        assertEquals("status type 0 (generic), code 0x80 (LBA out of range), do not retry",
                NvmeStatus.describe(status));
        assertEquals(-Errno.ERANGE, NvmeStatus.toErrno(status));
        int writeFault = NvmeStatus.fromDword3((0x80 << 17) | (2 << 25));
        assertEquals("status type 2 (media and data integrity), code 0x80 (write fault)",
                NvmeStatus.describe(writeFault));
        assertEquals(-Errno.EIO, NvmeStatus.toErrno(writeFault));
        assertEquals(-Errno.ENOSPC, NvmeStatus.toErrno(0x81));
        int invalidQueue = NvmeStatus.fromDword3((0x01 << 17) | (1 << 25));
        assertEquals("status type 1 (command specific), code 0x1 (invalid queue identifier)",
                NvmeStatus.describe(invalidQueue));
        assertTrue(NvmeStatus.isSuccess(NvmeStatus.fromDword3(1 << 16 | 0x7)), "phase and CID are not status");
        assertTrue(NvmeStatus.isSuccess(NvmeStatus.fromDword3(1 << 30)), "the More bit alone is success");
    }

    @Test
    void identifyControllerFieldsComeFromTheirOffsets() {
        MemorySegment data = MemorySegment.ofArray(new byte[4096]);
        ByteBuffer b = data.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        b.putShort(0, (short) 0x1b36);
        put(b, 4, "lab01               ");
        put(b, 24, "QEMU NVMe Ctrl                          ");
        put(b, 64, "9.2.0   ");
        b.put(77, (byte) 7);
        b.putShort(78, (short) 0);
        b.putInt(80, 0x0001_0400);
        b.put(512, (byte) 0x66);
        b.put(513, (byte) 0x44);
        b.putInt(516, 256);
        b.put(525, (byte) 1);
        IdentifyController c = IdentifyController.parse(data, 4096);
        assertEquals(0x1b36, c.vendorId());
        assertEquals("lab01", c.serialNumber());
        assertEquals("QEMU NVMe Ctrl", c.model());
        assertEquals("9.2.0", c.firmware());
        assertEquals(7, c.mdts());
        assertEquals(512 * 1024, c.maxTransferBytes(), "MDTS 7 with 4 KiB minimum pages");
        assertEquals("1.4.0", c.versionText());
        assertEquals(256, c.namespaceCount());
        assertTrue(c.volatileWriteCache());
        assertEquals(0x66, c.submissionEntrySizes());
        b.put(77, (byte) 0);
        assertEquals(0, IdentifyController.parse(data, 4096).maxTransferBytes(), "MDTS 0: no limit");
    }

    @Test
    void identifyNamespaceGivesSizeAndTheFormatInUse() {
        MemorySegment data = MemorySegment.ofArray(new byte[4096]);
        ByteBuffer b = data.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, 131072);
        b.putLong(8, 131072);
        b.putLong(16, 1000);
        b.put(25, (byte) 1); // two formats
        b.put(26, (byte) 1); // the second in use
        b.putInt(128, 9 << 16); // 512 bytes, no metadata
        b.putInt(132, (12 << 16) | 8 | (2 << 24)); // 4096 bytes, 8 bytes of metadata, RP 2
        IdentifyNamespace ns = IdentifyNamespace.parse(1, data);
        assertEquals(131072, ns.sizeBlocks());
        assertEquals(1000, ns.utilizationBlocks());
        assertEquals(2, ns.formats().size());
        assertEquals(new IdentifyNamespace.LbaFormat(512, 0, 0), ns.formats().get(0));
        assertEquals(new IdentifyNamespace.LbaFormat(4096, 8, 2), ns.format());
        assertEquals(4096, ns.blockSize());
        assertEquals(131072L * 4096, ns.sizeBytes());
    }

    @Test
    void theRangeRefusesLbasOutsideItNamingTheVsaTheLbasAndTheRange() {
        LbaRange range = new LbaRange("db", 1, 1000, 80);
        range.check("write", 1000, 80);
        range.check("read", 1072, 8);
        IllegalArgumentException below = assertThrows(IllegalArgumentException.class, () -> range.check("write", 992, 8));
        assertEquals("VSA db: write of LBAs 992..999 of namespace 1 refused before it reached the device: this VSA"
                + " owns LBAs 1000..1079 only", below.getMessage());
        assertThrows(IllegalArgumentException.class, () -> range.check("write", 1073, 8), "one LBA past the end");
        assertThrows(IllegalArgumentException.class, () -> range.check("write", Long.MAX_VALUE - 2, 8), "overflow");
        assertThrows(IllegalArgumentException.class, () -> new LbaRange("db", 1, 0, 0));
    }

    private static void put(ByteBuffer b, int offset, String text) {
        b.put(offset, text.getBytes(StandardCharsets.US_ASCII));
    }
}

package io.arrakis.device.xdp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.FlowFilter;
import io.arrakis.linux.Bpf;
import io.arrakis.linux.Unistd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class XdpFilterProgramTest {
    @Test
    void jumpsToLabelsBecomeOffsetsFromTheNextInstructionAndMapLoadsTakeTwoSlots() {
        BpfAssembler a = new BpfAssembler();
        a.jump(BpfAssembler.Condition.EQ, BpfAssembler.R1, 7, "end") // 0
                .loadMap(BpfAssembler.R1, 42)                       // 1, 2
                .label("end")
                .mov(BpfAssembler.R0, Bpf.XDP_PASS)                 // 3
                .exit();                                            // 4
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment code = a.assemble(arena);
            assertEquals(5 * Bpf.INSTRUCTION_SIZE, code.byteSize());
            assertEquals(0x15, Byte.toUnsignedInt(code.get(ValueLayout.JAVA_BYTE, 0)), "JMP|JEQ|K");
            assertEquals(2, code.get(ValueLayout.JAVA_SHORT, 2), "skips the two ld_imm64 slots");
            assertEquals(7, code.get(ValueLayout.JAVA_INT, 4));
            assertEquals(0x18, Byte.toUnsignedInt(code.get(ValueLayout.JAVA_BYTE, 8)), "LD|IMM|DW");
            assertEquals(0x11, Byte.toUnsignedInt(code.get(ValueLayout.JAVA_BYTE, 9)), "dst r1, src BPF_PSEUDO_MAP_FD");
            assertEquals(42, code.get(ValueLayout.JAVA_INT, 12));
        }
    }

    @Test
    void anUndefinedLabelIsReportedWithTheInstructionThatJumps() {
        BpfAssembler a = new BpfAssembler().jump("nowhere").exit();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> a.assemble(Arena.ofAuto()));
        assertEquals("jump at instruction 0 to undefined label 'nowhere'", e.getMessage());
    }

    @Test
    void theFilterProgramPassesTheVerifier() throws Exception {
        int flows = Bpf.mapCreate(Bpf.BPF_MAP_TYPE_HASH, XdpFilterProgram.KEY_SIZE, XdpFilterProgram.VALUE_SIZE, 16, 0,
                "");
        int xsks = Bpf.mapCreate(Bpf.BPF_MAP_TYPE_XSKMAP, 4, 4, 4, 0, "");
        try {
            int program = XdpFilterProgram.load(flows, xsks);
            Unistd.close(program);
        } finally {
            Unistd.close(xsks);
            Unistd.close(flows);
        }
    }

    @Test
    void aProgramReadingPacketBytesWithoutABoundsCheckIsRefusedWithTheVerifiersReason() throws Exception {
        BpfAssembler a = new BpfAssembler()
                .load(BpfAssembler.W, BpfAssembler.R2, BpfAssembler.R1, 0)
                .load(BpfAssembler.H, BpfAssembler.R0, BpfAssembler.R2, 12)
                .exit();
        try (Arena arena = Arena.ofConfined()) {
            Bpf.VerifierException e = assertThrows(Bpf.VerifierException.class,
                    () -> Bpf.progLoad(Bpf.BPF_PROG_TYPE_XDP, a.assemble(arena), "GPL", Bpf.BPF_XDP, "unchecked"));
            assertTrue(e.getMessage().contains("invalid access to packet"), e.getMessage());
        }
    }

    @Test
    void theFlowKeyIsAddressPortProtocolInNetworkOrder() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(XdpFilterProgram.KEY_SIZE);
            XdpFilterProgram.writeKey(new FlowFilter(FlowFilter.Protocol.TCP, 0xC6120003, 6379, 0, 0), key);
            assertEquals("c612000318eb0600", java.util.HexFormat.of().formatHex(key.toArray(ValueLayout.JAVA_BYTE)));
            XdpFilterProgram.writeKey(new FlowFilter(FlowFilter.Protocol.ARP, 0xC6120003, 0, 0, 0), key);
            assertEquals("c612000300000000", java.util.HexFormat.of().formatHex(key.toArray(ValueLayout.JAVA_BYTE)));
        }
    }
}

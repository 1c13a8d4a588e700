package io.arrakis.device.xdp;

import io.arrakis.linux.Bpf;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A small assembler for eBPF: the few instructions an XDP filter needs (64-bit ALU, loads and
 * stores, conditional jumps to named labels, helper calls, map references), encoded as the
 * kernel's {@code struct bpf_insn} (linux/bpf.h, linux/bpf_common.h). Jumps name a label;
 * {@link #assemble} resolves them to the relative offsets the kernel wants.
 *
 * <p>Not thread-safe: one program is built by one thread.
 */
public final class BpfAssembler {
    // Registers: r0 return value, r1-r5 arguments (clobbered by calls), r6-r9 kept across calls,
    // r10 read-only frame pointer.
    public static final int R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R7 = 7, R8 = 8, R9 = 9,
            R10 = 10;

    // linux/bpf_common.h instruction classes
    private static final int LD = 0x00;
    private static final int LDX = 0x01;
    private static final int ST = 0x02;
    private static final int STX = 0x03;
    private static final int JMP = 0x05;
    private static final int ALU64 = 0x07;
    // sizes
    public static final int W = 0x00, H = 0x08, B = 0x10, DW = 0x18;
    // modes
    private static final int IMM = 0x00;
    private static final int MEM = 0x60;
    // sources
    private static final int K = 0x00;
    private static final int X = 0x08;
    // ALU operations
    private static final int ADD = 0x00, AND = 0x50, LSH = 0x60, RSH = 0x70, MOV = 0xb0;
    // jump operations
    private static final int JA = 0x00, CALL = 0x80, EXIT = 0x90;

    /** Conditional jumps, with their linux/bpf.h opcodes (unsigned comparisons). */
    public enum Condition {
        EQ(0x10), GT(0x20), GE(0x30), NE(0x50), LT(0xa0), LE(0xb0);

        final int op;

        Condition(int op) {
            this.op = op;
        }
    }

    /** linux/bpf.h BPF_PSEUDO_MAP_FD: the 64-bit immediate is a map descriptor the kernel resolves. */
    private static final int PSEUDO_MAP_FD = 1;

    private record Instruction(int opcode, int dst, int src, int offset, int immediate, String target) {}

    private final List<Instruction> code = new ArrayList<>();
    private final Map<String, Integer> labels = new HashMap<>();

    /** Marks the next instruction as {@code label}. */
    public BpfAssembler label(String label) {
        if (labels.putIfAbsent(label, code.size()) != null) {
            throw new IllegalArgumentException("label '" + label + "' defined twice");
        }
        return this;
    }

    public BpfAssembler mov(int dst, int immediate) {
        return emit(ALU64 | MOV | K, dst, 0, 0, immediate);
    }

    public BpfAssembler movRegister(int dst, int src) {
        return emit(ALU64 | MOV | X, dst, src, 0, 0);
    }

    public BpfAssembler add(int dst, int immediate) {
        return emit(ALU64 | ADD | K, dst, 0, 0, immediate);
    }

    public BpfAssembler addRegister(int dst, int src) {
        return emit(ALU64 | ADD | X, dst, src, 0, 0);
    }

    public BpfAssembler and(int dst, int immediate) {
        return emit(ALU64 | AND | K, dst, 0, 0, immediate);
    }

    public BpfAssembler shiftLeft(int dst, int bits) {
        return emit(ALU64 | LSH | K, dst, 0, 0, bits);
    }

    public BpfAssembler shiftRight(int dst, int bits) {
        return emit(ALU64 | RSH | K, dst, 0, 0, bits);
    }

    /** {@code dst = *(size *)(src + offset)}, zero-extended. */
    public BpfAssembler load(int size, int dst, int src, int offset) {
        return emit(LDX | MEM | size, dst, src, offset, 0);
    }

    /** {@code *(size *)(dst + offset) = src}. */
    public BpfAssembler store(int size, int dst, int offset, int src) {
        return emit(STX | MEM | size, dst, src, offset, 0);
    }

    /** {@code *(size *)(dst + offset) = immediate}. */
    public BpfAssembler storeImmediate(int size, int dst, int offset, int immediate) {
        return emit(ST | MEM | size, dst, 0, offset, immediate);
    }

    /** {@code dst = map} (the 16-byte ld_imm64 with a map descriptor the kernel swaps for the map). */
    public BpfAssembler loadMap(int dst, int mapFd) {
        emit(LD | IMM | DW, dst, PSEUDO_MAP_FD, 0, mapFd);
        return emit(0, 0, 0, 0, 0);
    }

    /** {@code if (dst <condition> immediate) goto target}. */
    public BpfAssembler jump(Condition condition, int dst, int immediate, String target) {
        code.add(new Instruction(JMP | condition.op | K, dst, 0, 0, immediate, target));
        return this;
    }

    /** {@code if (dst <condition> src) goto target}. */
    public BpfAssembler jumpRegister(Condition condition, int dst, int src, String target) {
        code.add(new Instruction(JMP | condition.op | X, dst, src, 0, 0, target));
        return this;
    }

    public BpfAssembler jump(String target) {
        code.add(new Instruction(JMP | JA, 0, 0, 0, 0, target));
        return this;
    }

    /** Calls helper {@code function} (linux/bpf.h {@code enum bpf_func_id}). */
    public BpfAssembler call(int function) {
        return emit(JMP | CALL, 0, 0, 0, function);
    }

    public BpfAssembler exit() {
        return emit(JMP | EXIT, 0, 0, 0, 0);
    }

    public int size() {
        return code.size();
    }

    /** Encodes the program, resolving labels, into native memory of {@code arena}. */
    public MemorySegment assemble(Arena arena) {
        MemorySegment program = arena.allocate((long) code.size() * Bpf.INSTRUCTION_SIZE, 8);
        for (int pc = 0; pc < code.size(); pc++) {
            Instruction insn = code.get(pc);
            int offset = insn.offset;
            if (insn.target != null) {
                Integer at = labels.get(insn.target);
                if (at == null) {
                    throw new IllegalStateException("jump at instruction " + pc + " to undefined label '"
                            + insn.target + "'");
                }
                offset = at - (pc + 1);
                if (offset != (short) offset) {
                    throw new IllegalStateException("jump at instruction " + pc + " to '" + insn.target
                            + "' is too far: " + offset);
                }
            }
            Bpf.instruction(program, pc, insn.opcode, insn.dst, insn.src, offset, insn.immediate);
        }
        return program;
    }

    private BpfAssembler emit(int opcode, int dst, int src, int offset, int immediate) {
        code.add(new Instruction(opcode, dst, src, offset, immediate, null));
        return this;
    }
}

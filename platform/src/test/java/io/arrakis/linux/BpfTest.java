package io.arrakis.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BpfTest {
    @Test
    void anArrayMapReturnsTheValueStoredUnderAKey() throws Exception {
        int map = Bpf.mapCreate(Bpf.BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0, "arrakis_test");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocateFrom(ValueLayout.JAVA_INT, 3);
            Bpf.mapUpdate(map, key, arena.allocateFrom(ValueLayout.JAVA_LONG, 0xB0B_CAFEL), Bpf.BPF_ANY);
            MemorySegment value = arena.allocate(ValueLayout.JAVA_LONG);
            assertTrue(Bpf.mapLookup(map, key, value));
            assertEquals(0xB0B_CAFEL, value.get(ValueLayout.JAVA_LONG, 0));
            assertTrue(Bpf.mapLookup(map, arena.allocateFrom(ValueLayout.JAVA_INT, 0), value));
            assertEquals(0, value.get(ValueLayout.JAVA_LONG, 0), "array maps start zeroed");
            assertFalse(Bpf.mapLookup(map, arena.allocateFrom(ValueLayout.JAVA_INT, 4), value), "past max_entries");
        } finally {
            Unistd.close(map);
        }
    }

    @Test
    void aHashMapForgetsADeletedKeyAndASecondDeleteSaysItWasAbsent() throws Exception {
        int map = Bpf.mapCreate(Bpf.BPF_MAP_TYPE_HASH, 8, 4, 16, Bpf.BPF_F_NO_PREALLOC, "");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocateFrom(ValueLayout.JAVA_LONG, 0x1234_5678_9L);
            MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
            assertFalse(Bpf.mapLookup(map, key, value));
            Bpf.mapUpdate(map, key, arena.allocateFrom(ValueLayout.JAVA_INT, 99), Bpf.BPF_NOEXIST);
            assertTrue(Bpf.mapLookup(map, key, value));
            assertEquals(99, value.get(ValueLayout.JAVA_INT, 0));

            LinuxException e = assertThrows(LinuxException.class,
                    () -> Bpf.mapUpdate(map, key, arena.allocateFrom(ValueLayout.JAVA_INT, 1), Bpf.BPF_NOEXIST));
            assertEquals("bpf(BPF_MAP_UPDATE_ELEM, map_fd=" + map + ", flags=BPF_NOEXIST): EEXIST (File exists)",
                    e.getMessage());

            assertTrue(Bpf.mapDelete(map, key));
            assertFalse(Bpf.mapLookup(map, key, value));
            assertFalse(Bpf.mapDelete(map, key));
        } finally {
            Unistd.close(map);
        }
    }

    @Test
    void anXskmapForAfXdpSocketsCanBeCreated() throws Exception {
        int map = Bpf.mapCreate(Bpf.BPF_MAP_TYPE_XSKMAP, 4, 4, 4, 0, "xsks_map");
        Unistd.close(map);
    }

    @Test
    void aMapWithAZeroKeySizeIsRefusedWithEinvalNamingTheArguments() {
        LinuxException e = assertThrows(LinuxException.class,
                () -> Bpf.mapCreate(Bpf.BPF_MAP_TYPE_HASH, 0, 8, 4, 0, ""));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals("bpf(BPF_MAP_CREATE, map_type=BPF_MAP_TYPE_HASH, key_size=0, value_size=8, max_entries=4, "
                + "map_flags=0x0): EINVAL (Invalid argument)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Bpf.mapCreate(Bpf.BPF_MAP_TYPE_HASH, 4, 4, 4, 0, "bad-name"));
    }

    @Test
    void aTrivialXdpProgramThatPassesEveryPacketLoads() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment program = arena.allocate(2 * Bpf.INSTRUCTION_SIZE);
            Bpf.instruction(program, 0, Bpf.BPF_ALU64 | Bpf.BPF_MOV | Bpf.BPF_K, 0, 0, 0, Bpf.XDP_PASS);
            Bpf.instruction(program, 1, Bpf.BPF_JMP | Bpf.BPF_EXIT, 0, 0, 0, 0);
            assertEquals(0xb7, Byte.toUnsignedInt(program.get(ValueLayout.JAVA_BYTE, 0)));
            assertEquals(2, program.get(ValueLayout.JAVA_INT, 4));
            int prog = Bpf.progLoad(Bpf.BPF_PROG_TYPE_XDP, program, "GPL", 0, "xdp_pass");
            assertTrue(prog > 0);
            Unistd.close(prog);
        }
    }

    @Test
    void aProgramThatReturnsAnUnsetRegisterIsRefusedAndTheMessageQuotesTheVerifier() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment program = arena.allocate(Bpf.INSTRUCTION_SIZE);
            Bpf.instruction(program, 0, Bpf.BPF_JMP | Bpf.BPF_EXIT, 0, 0, 0, 0);
            Bpf.VerifierException e = assertThrows(Bpf.VerifierException.class,
                    () -> Bpf.progLoad(Bpf.BPF_PROG_TYPE_XDP, program));
            assertTrue(Set.of(Errno.EINVAL, Errno.EACCES).contains(e.errno()), e.getMessage());
            assertTrue(e.getMessage().startsWith("bpf(BPF_PROG_LOAD, prog_type=BPF_PROG_TYPE_XDP, insn_cnt=1, "
                    + "license=\"GPL\"): " + e.errnoName()), e.getMessage());
            assertTrue(e.getMessage().contains("verifier log (tail):\n"), e.getMessage());
            assertTrue(e.getMessage().contains("R0 !read_ok"), e.getMessage());
            assertTrue(e.verifierLog().contains("R0 !read_ok"), e.verifierLog());
        }
    }

    @Test
    void aProgramThatRunsOffItsEndIsRefusedWithEinval() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment program = arena.allocate(Bpf.INSTRUCTION_SIZE);
            Bpf.instruction(program, 0, Bpf.BPF_ALU64 | Bpf.BPF_MOV | Bpf.BPF_K, 0, 0, 0, Bpf.XDP_PASS);
            Bpf.VerifierException e = assertThrows(Bpf.VerifierException.class,
                    () -> Bpf.progLoad(Bpf.BPF_PROG_TYPE_XDP, program));
            assertEquals(Errno.EINVAL, e.errno());
            assertTrue(e.getMessage().contains("last insn is not an exit or jmp"), e.getMessage());
        }
    }

    @Test
    void creatingALinkForAClosedProgramFailsWithEbadfNamingTheProgram() {
        LinuxException e = assertThrows(LinuxException.class,
                () -> Bpf.linkCreate(987_654, Ioctl.interfaceIndex("lo"), Bpf.BPF_XDP, 0));
        assertEquals(Errno.EBADF, e.errno());
        assertTrue(e.getMessage().startsWith("bpf(BPF_LINK_CREATE, prog_fd=987654, target="), e.getMessage());
        assertTrue(e.getMessage().contains("attach_type=BPF_XDP"), e.getMessage());
    }

    @Test
    void theLogTailKeepsTheLastLines() {
        assertEquals("c\nd", Bpf.tail("a\nb\nc\nd\n", 2));
        assertEquals("a\nb", Bpf.tail("a\nb", 5));
    }
}

package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * The {@code bpf(2)} syscall: maps, program loading and links, with {@code union bpf_attr}
 * from {@code linux/bpf.h} built field by field in a zeroed segment.
 *
 * <p>Thread-safe: the map element calls use a per-thread {@code bpf_attr} and allocate nothing;
 * map creation, program loading and link creation are control-path calls that use a confined
 * arena. Map calls trust the caller that key and value segments are at least the map's key and
 * value sizes (the kernel reads and writes that many bytes through the raw addresses).
 */
public final class Bpf {
    // linux/bpf.h enum bpf_cmd
    public static final int BPF_MAP_CREATE = 0;
    public static final int BPF_MAP_LOOKUP_ELEM = 1;
    public static final int BPF_MAP_UPDATE_ELEM = 2;
    public static final int BPF_MAP_DELETE_ELEM = 3;
    public static final int BPF_MAP_GET_NEXT_KEY = 4;
    public static final int BPF_PROG_LOAD = 5;
    public static final int BPF_OBJ_PIN = 6;
    public static final int BPF_OBJ_GET = 7;
    public static final int BPF_LINK_CREATE = 28;

    // linux/bpf.h enum bpf_map_type
    public static final int BPF_MAP_TYPE_HASH = 1;
    public static final int BPF_MAP_TYPE_ARRAY = 2;
    public static final int BPF_MAP_TYPE_PERCPU_ARRAY = 6;
    public static final int BPF_MAP_TYPE_DEVMAP = 14;
    public static final int BPF_MAP_TYPE_XSKMAP = 17;

    // linux/bpf.h enum bpf_prog_type
    public static final int BPF_PROG_TYPE_SOCKET_FILTER = 1;
    public static final int BPF_PROG_TYPE_XDP = 6;

    // linux/bpf.h enum bpf_attach_type
    public static final int BPF_XDP = 37;

    // linux/bpf.h: BPF_MAP_UPDATE_ELEM flags, BPF_MAP_CREATE flags
    public static final long BPF_ANY = 0;
    public static final long BPF_NOEXIST = 1;
    public static final long BPF_EXIST = 2;
    public static final int BPF_F_NO_PREALLOC = 1;

    // linux/if_link.h: XDP attach modes (BPF_LINK_CREATE flags for BPF_XDP)
    public static final int XDP_FLAGS_SKB_MODE = 1 << 1;
    public static final int XDP_FLAGS_DRV_MODE = 1 << 2;

    // linux/bpf_common.h, linux/bpf.h: instruction classes and opcodes, to compose as the kernel does
    public static final int BPF_JMP = 0x05;
    public static final int BPF_ALU64 = 0x07;
    public static final int BPF_K = 0x00;
    public static final int BPF_X = 0x08;
    public static final int BPF_MOV = 0xb0;
    public static final int BPF_EXIT = 0x90;

    // linux/bpf.h enum xdp_action
    public static final int XDP_ABORTED = 0;
    public static final int XDP_DROP = 1;
    public static final int XDP_PASS = 2;
    public static final int XDP_TX = 3;
    public static final int XDP_REDIRECT = 4;

    /** linux/bpf.h struct bpf_insn is 8 bytes. */
    public static final int INSTRUCTION_SIZE = 8;

    /** sizeof(union bpf_attr) in linux/bpf.h of 6.x; a kernel accepts a larger one if the tail is zero. */
    private static final int ATTR_SIZE = 144;
    /** linux/bpf.h BPF_OBJ_NAME_LEN, including the NUL. */
    private static final int OBJ_NAME_LEN = 16;
    /** Big enough for the verifier's complaint about any program we would write. */
    private static final int LOG_SIZE = 1 << 20;
    private static final int LOG_TAIL_LINES = 30;

    // union bpf_attr, the anonymous struct for BPF_MAP_CREATE
    private static final long MAP_TYPE = 0;
    private static final long KEY_SIZE = 4;
    private static final long VALUE_SIZE = 8;
    private static final long MAX_ENTRIES = 12;
    private static final long MAP_FLAGS = 16;
    private static final long MAP_NAME = 28;
    // union bpf_attr, the anonymous struct for the BPF_MAP_*_ELEM commands
    private static final long ELEM_MAP_FD = 0;
    private static final long ELEM_KEY = 8;
    private static final long ELEM_VALUE = 16;
    private static final long ELEM_FLAGS = 24;
    // union bpf_attr, the anonymous struct for BPF_PROG_LOAD
    private static final long PROG_TYPE = 0;
    private static final long INSN_CNT = 4;
    private static final long INSNS = 8;
    private static final long LICENSE = 16;
    private static final long LOG_LEVEL = 24;
    private static final long LOG_SIZE_FIELD = 28;
    private static final long LOG_BUF = 32;
    private static final long PROG_NAME = 48;
    private static final long EXPECTED_ATTACH_TYPE = 68;
    // union bpf_attr, struct link_create
    private static final long LINK_PROG_FD = 0;
    private static final long LINK_TARGET = 4;
    private static final long LINK_ATTACH_TYPE = 8;
    private static final long LINK_FLAGS = 12;

    private static final ThreadLocal<MemorySegment> ATTR =
            ThreadLocal.withInitial(() -> Arena.global().allocate(ATTR_SIZE, 8));

    private Bpf() {}

    /** The bpf syscall itself: {@code attr} is a {@code union bpf_attr}; returns the result, -1 with errno set. */
    static long bpf(int command, MemorySegment attr) {
        return Syscall.raw3(Syscall.BPF, command, attr.address(), attr.byteSize());
    }

    /**
     * Writes one {@code struct bpf_insn} at {@code program[index]}. The register nibbles are in
     * little-endian bitfield order (dst low, src high), as on x86_64 and aarch64.
     */
    public static void instruction(MemorySegment program, long index, int opcode, int dst, int src, int offset,
            int immediate) {
        if ((dst & ~0xf) != 0 || (src & ~0xf) != 0) {
            throw new IllegalArgumentException("BPF registers are 0..10: dst=" + dst + " src=" + src);
        }
        long at = index * INSTRUCTION_SIZE;
        program.set(ValueLayout.JAVA_BYTE, at, (byte) opcode);
        program.set(ValueLayout.JAVA_BYTE, at + 1, (byte) (dst | src << 4));
        program.set(ValueLayout.JAVA_SHORT_UNALIGNED, at + 2, (short) offset);
        program.set(ValueLayout.JAVA_INT_UNALIGNED, at + 4, immediate);
    }

    // ---------------------------------------------------------------------------------------
    // Maps

    /** BPF_MAP_CREATE; returns the map's descriptor. {@code name} may be empty. */
    public static int mapCreate(int mapType, int keySize, int valueSize, int maxEntries, int mapFlags, String name)
            throws LinuxException {
        MemorySegment attr = clearedAttr();
        attr.set(ValueLayout.JAVA_INT, MAP_TYPE, mapType);
        attr.set(ValueLayout.JAVA_INT, KEY_SIZE, keySize);
        attr.set(ValueLayout.JAVA_INT, VALUE_SIZE, valueSize);
        attr.set(ValueLayout.JAVA_INT, MAX_ENTRIES, maxEntries);
        attr.set(ValueLayout.JAVA_INT, MAP_FLAGS, mapFlags);
        putName(attr, MAP_NAME, name);
        long fd = bpf(BPF_MAP_CREATE, attr);
        if (fd < 0) {
            throw new LinuxException("bpf(BPF_MAP_CREATE, map_type=" + mapTypeName(mapType) + ", key_size=" + keySize
                    + ", value_size=" + valueSize + ", max_entries=" + maxEntries + ", map_flags=0x"
                    + Integer.toHexString(mapFlags) + (name.isEmpty() ? "" : ", map_name=\"" + name + "\"") + ")",
                    Native.errno());
        }
        return (int) fd;
    }

    /** BPF_MAP_UPDATE_ELEM with {@link #BPF_ANY}, {@link #BPF_NOEXIST} or {@link #BPF_EXIST}. */
    public static void mapUpdate(int mapFd, MemorySegment key, MemorySegment value, long flags)
            throws LinuxException {
        MemorySegment attr = elementAttr(mapFd, key, value);
        attr.set(ValueLayout.JAVA_LONG, ELEM_FLAGS, flags);
        if (bpf(BPF_MAP_UPDATE_ELEM, attr) < 0) {
            throw new LinuxException("bpf(BPF_MAP_UPDATE_ELEM, map_fd=" + mapFd + ", flags=" + updateFlagsName(flags)
                    + ")", Native.errno());
        }
    }

    /** BPF_MAP_LOOKUP_ELEM into {@code value}; false when the key is absent (ENOENT). */
    public static boolean mapLookup(int mapFd, MemorySegment key, MemorySegment value) throws LinuxException {
        if (bpf(BPF_MAP_LOOKUP_ELEM, elementAttr(mapFd, key, value)) == 0) {
            return true;
        }
        int errno = Native.errno();
        if (errno == Errno.ENOENT) {
            return false;
        }
        throw new LinuxException("bpf(BPF_MAP_LOOKUP_ELEM, map_fd=" + mapFd + ")", errno);
    }

    /** BPF_MAP_DELETE_ELEM; false when the key was absent (ENOENT). Array maps refuse with EINVAL. */
    public static boolean mapDelete(int mapFd, MemorySegment key) throws LinuxException {
        if (bpf(BPF_MAP_DELETE_ELEM, elementAttr(mapFd, key, null)) == 0) {
            return true;
        }
        int errno = Native.errno();
        if (errno == Errno.ENOENT) {
            return false;
        }
        throw new LinuxException("bpf(BPF_MAP_DELETE_ELEM, map_fd=" + mapFd + ")", errno);
    }

    private static MemorySegment elementAttr(int mapFd, MemorySegment key, MemorySegment value) {
        MemorySegment attr = clearedAttr();
        attr.set(ValueLayout.JAVA_INT, ELEM_MAP_FD, mapFd);
        attr.set(ValueLayout.JAVA_LONG, ELEM_KEY, nativeAddress(key, "key"));
        if (value != null) {
            attr.set(ValueLayout.JAVA_LONG, ELEM_VALUE, nativeAddress(value, "value"));
        }
        return attr;
    }

    // ---------------------------------------------------------------------------------------
    // Programs and links

    /**
     * A program the kernel refused to load. When the verifier ran, the message ends with the tail
     * of its log, which says which instruction it objected to and why.
     */
    public static final class VerifierException extends LinuxException {
        private static final long serialVersionUID = 1L;
        private final String log;

        VerifierException(String call, int errno, String log) {
            super(call, errno);
            this.log = log;
        }

        /** The verifier's whole log (possibly only its end, if it was longer than the buffer). */
        public String verifierLog() {
            return log;
        }

        @Override
        public String getMessage() {
            if (log.isBlank()) {
                return super.getMessage() + "; the verifier wrote no log";
            }
            return super.getMessage() + "; verifier log (tail):\n" + tail(log, LOG_TAIL_LINES);
        }
    }

    /** BPF_PROG_LOAD with license "GPL" (needed for GPL-only helpers) and no name. */
    public static int progLoad(int progType, MemorySegment instructions) throws LinuxException {
        return progLoad(progType, instructions, "GPL", 0, "");
    }

    /**
     * BPF_PROG_LOAD; returns the program's descriptor. {@code instructions} holds
     * {@code struct bpf_insn}s (see {@link #instruction}).
     *
     * <p>The first attempt runs without a verifier log, because logging slows verification; only
     * when it fails is the load repeated with a log, for the exception's message.
     *
     * @throws VerifierException when the program is refused; its message includes the log's tail
     */
    public static int progLoad(int progType, MemorySegment instructions, String license, int expectedAttachType,
            String name) throws LinuxException {
        if (instructions.byteSize() == 0 || instructions.byteSize() % INSTRUCTION_SIZE != 0) {
            throw new IllegalArgumentException("a BPF program is a non-empty array of " + INSTRUCTION_SIZE
                    + "-byte instructions, not " + instructions.byteSize() + " bytes");
        }
        int count = (int) (instructions.byteSize() / INSTRUCTION_SIZE);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment program = instructions.isNative() ? instructions
                    : arena.allocate(instructions.byteSize(), 8).copyFrom(instructions);
            MemorySegment licenseText = arena.allocateFrom(license);
            MemorySegment attr = arena.allocate(ATTR_SIZE, 8);
            attr.set(ValueLayout.JAVA_INT, PROG_TYPE, progType);
            attr.set(ValueLayout.JAVA_INT, INSN_CNT, count);
            attr.set(ValueLayout.JAVA_LONG, INSNS, program.address());
            attr.set(ValueLayout.JAVA_LONG, LICENSE, licenseText.address());
            attr.set(ValueLayout.JAVA_INT, EXPECTED_ATTACH_TYPE, expectedAttachType);
            putName(attr, PROG_NAME, name);
            long fd = bpf(BPF_PROG_LOAD, attr);
            if (fd >= 0) {
                return (int) fd;
            }
            int errno = Native.errno();
            String call = "bpf(BPF_PROG_LOAD, prog_type=" + progTypeName(progType) + ", insn_cnt=" + count
                    + ", license=\"" + license + "\"" + (name.isEmpty() ? "" : ", prog_name=\"" + name + "\"") + ")";
            MemorySegment log = arena.allocate(LOG_SIZE);
            attr.set(ValueLayout.JAVA_INT, LOG_LEVEL, 1);
            attr.set(ValueLayout.JAVA_INT, LOG_SIZE_FIELD, LOG_SIZE);
            attr.set(ValueLayout.JAVA_LONG, LOG_BUF, log.address());
            fd = bpf(BPF_PROG_LOAD, attr);
            if (fd >= 0) {
                // Verification is deterministic, so this should not happen; the program is valid after all.
                return (int) fd;
            }
            throw new VerifierException(call, errno, log.getString(0));
        }
    }

    /**
     * BPF_LINK_CREATE: attaches {@code progFd} to {@code target} (an interface index for
     * {@link #BPF_XDP}); returns the link's descriptor. The attachment lasts until the link is
     * closed (or, if pinned, unpinned).
     */
    public static int linkCreate(int progFd, int target, int attachType, int flags) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attr = arena.allocate(ATTR_SIZE, 8);
            attr.set(ValueLayout.JAVA_INT, LINK_PROG_FD, progFd);
            attr.set(ValueLayout.JAVA_INT, LINK_TARGET, target);
            attr.set(ValueLayout.JAVA_INT, LINK_ATTACH_TYPE, attachType);
            attr.set(ValueLayout.JAVA_INT, LINK_FLAGS, flags);
            long fd = bpf(BPF_LINK_CREATE, attr);
            if (fd < 0) {
                throw new LinuxException("bpf(BPF_LINK_CREATE, prog_fd=" + progFd + ", target=" + target
                        + ", attach_type=" + (attachType == BPF_XDP ? "BPF_XDP" : String.valueOf(attachType))
                        + ", flags=0x" + Integer.toHexString(flags) + ")", Native.errno());
            }
            return (int) fd;
        }
    }

    // ---------------------------------------------------------------------------------------

    private static MemorySegment clearedAttr() {
        MemorySegment attr = ATTR.get();
        // The kernel refuses attributes with unknown non-zero bytes, so stale fields must go.
        attr.fill((byte) 0);
        return attr;
    }

    private static long nativeAddress(MemorySegment segment, String what) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException("the map " + what + " must be in native memory: the kernel "
                    + "gets its address");
        }
        return segment.address();
    }

    private static void putName(MemorySegment attr, long offset, String name) {
        byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length >= OBJ_NAME_LEN || !name.chars().allMatch(c -> Character.isLetterOrDigit(c) && c < 128
                || c == '_' || c == '.')) {
            throw new IllegalArgumentException("BPF object name \"" + name + "\" must be at most "
                    + (OBJ_NAME_LEN - 1) + " characters of [A-Za-z0-9_.]");
        }
        MemorySegment.copy(bytes, 0, attr, ValueLayout.JAVA_BYTE, offset, bytes.length);
    }

    static String tail(String log, int lines) {
        String trimmed = log.stripTrailing();
        int at = trimmed.length();
        for (int i = 0; i < lines && at > 0; i++) {
            at = trimmed.lastIndexOf('\n', at - 1);
            if (at < 0) {
                return trimmed;
            }
        }
        return trimmed.substring(at + 1);
    }

    private static String mapTypeName(int type) {
        return switch (type) {
            case BPF_MAP_TYPE_HASH -> "BPF_MAP_TYPE_HASH";
            case BPF_MAP_TYPE_ARRAY -> "BPF_MAP_TYPE_ARRAY";
            case BPF_MAP_TYPE_PERCPU_ARRAY -> "BPF_MAP_TYPE_PERCPU_ARRAY";
            case BPF_MAP_TYPE_DEVMAP -> "BPF_MAP_TYPE_DEVMAP";
            case BPF_MAP_TYPE_XSKMAP -> "BPF_MAP_TYPE_XSKMAP";
            default -> String.valueOf(type);
        };
    }

    private static String progTypeName(int type) {
        return switch (type) {
            case BPF_PROG_TYPE_SOCKET_FILTER -> "BPF_PROG_TYPE_SOCKET_FILTER";
            case BPF_PROG_TYPE_XDP -> "BPF_PROG_TYPE_XDP";
            default -> String.valueOf(type);
        };
    }

    private static String updateFlagsName(long flags) {
        if (flags == BPF_ANY) {
            return "BPF_ANY";
        } else if (flags == BPF_NOEXIST) {
            return "BPF_NOEXIST";
        } else if (flags == BPF_EXIST) {
            return "BPF_EXIST";
        }
        return "0x" + Long.toHexString(flags);
    }
}

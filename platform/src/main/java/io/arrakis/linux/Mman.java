package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Memory mappings and anonymous shared files: {@code sys/mman.h}, {@code linux/memfd.h}.
 * Thread-safe.
 */
public final class Mman {
    // sys/mman.h (asm-generic/mman-common.h)
    public static final int PROT_NONE = 0x0;
    public static final int PROT_READ = 0x1;
    public static final int PROT_WRITE = 0x2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_POPULATE = 0x8000;
    public static final int MAP_LOCKED = 0x2000;
    public static final int MAP_HUGETLB = 0x40000;
    // linux/memfd.h
    public static final int MFD_CLOEXEC = 0x0001;
    public static final int MFD_ALLOW_SEALING = 0x0002;
    public static final int MFD_HUGETLB = 0x0004;

    private static final MemorySegment MAP_FAILED = MemorySegment.ofAddress(-1L);

    private static final MethodHandle MMAP = Native.function("mmap", FunctionDescriptor.of(Native.C_POINTER,
            Native.C_POINTER, Native.C_SIZE_T, Native.C_INT, Native.C_INT, Native.C_INT, Native.C_LONG));
    private static final MethodHandle MUNMAP = Native.function("munmap",
            FunctionDescriptor.of(Native.C_INT, Native.C_POINTER, Native.C_SIZE_T));
    private static final MethodHandle MEMFD_CREATE = Native.function("memfd_create",
            FunctionDescriptor.of(Native.C_INT, Native.C_POINTER, Native.C_INT));

    private Mman() {}

    /**
     * Maps {@code length} bytes of {@code fd} (or anonymous memory when {@code fd} is -1 and
     * {@code flags} has {@link #MAP_ANONYMOUS}). The segment is sized but not scoped: free it
     * with {@link #munmap}, or use {@code io.arrakis.memory.SharedMemory}, which does.
     */
    public static MemorySegment mmap(long length, int prot, int flags, int fd, long offset) throws LinuxException {
        MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(Native.errnoState(), MemorySegment.NULL, length, prot,
                    flags, fd, offset);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (address.equals(MAP_FAILED)) {
            throw new LinuxException("mmap(length=" + length + ", prot=0x" + Integer.toHexString(prot)
                    + ", flags=0x" + Integer.toHexString(flags) + ", fd=" + fd + ", offset=" + offset + ")",
                    Native.errno());
        }
        return address.reinterpret(length);
    }

    public static void munmap(MemorySegment mapping) throws LinuxException {
        int result;
        try {
            result = (int) MUNMAP.invokeExact(Native.errnoState(), mapping, mapping.byteSize());
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("munmap(address=0x" + Long.toHexString(mapping.address()) + ", length="
                    + mapping.byteSize() + ")", Native.errno());
        }
    }

    /** Creates an anonymous file living in memory; returns its descriptor. */
    public static int memfdCreate(String name, int flags) throws LinuxException {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            fd = (int) MEMFD_CREATE.invokeExact(Native.errnoState(), arena.allocateFrom(name), flags);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (fd < 0) {
            throw new LinuxException("memfd_create(name=\"" + name + "\", flags=0x" + Integer.toHexString(flags)
                    + ")", Native.errno());
        }
        return fd;
    }
}

package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Positional file I/O and what storage needs to know about a file or block device:
 * {@code unistd.h} (pread, pwrite, fdatasync, fsync), {@code fcntl.h} (fallocate, F_GETFL/F_SETFL),
 * {@code sys/stat.h} with {@code linux/stat.h} (statx) and {@code linux/fs.h} (block device
 * ioctls). Thread-safe.
 *
 * <p>{@link #pread} and {@link #pwrite} retry EINTR and return short counts as the kernel gives
 * them; every other failure is a {@link LinuxException} naming the call, descriptor, offset and
 * length.
 */
public final class FileIo {
    // asm-generic/fcntl.h
    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    // linux/falloc.h: mode 0 allocates and extends the size; KEEP_SIZE allocates only
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    // linux/fcntl.h
    public static final int AT_EMPTY_PATH = 0x1000;
    // linux/stat.h: statx mask bits and file types
    public static final int STATX_TYPE = 0x0001;
    public static final int STATX_MODE = 0x0002;
    public static final int STATX_SIZE = 0x0200;
    public static final int STATX_BLOCKS = 0x0400;
    public static final int STATX_DIOALIGN = 0x2000;
    public static final int S_IFMT = 0170000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFBLK = 0060000;
    // linux/fs.h: BLKSSZGET _IO(0x12,104) (int logical sector size), BLKGETSIZE64 _IOR(0x12,114,size_t)
    public static final long BLKSSZGET = Ioctl.io((char) 0x12, 104);
    public static final long BLKGETSIZE64 = Ioctl.ior((char) 0x12, 114, 8);

    // linux/stat.h struct statx (256 bytes): the fields we read
    private static final int STATX_BYTES = 256;
    private static final long STX_MASK = 0;
    private static final long STX_BLKSIZE = 4;
    private static final long STX_MODE = 28;
    private static final long STX_SIZE = 40;
    private static final long STX_BLOCKS = 48;
    private static final long STX_DIO_MEM_ALIGN = 152;
    private static final long STX_DIO_OFFSET_ALIGN = 156;

    private static final MethodHandle PREAD = Native.function("pread",
            FunctionDescriptor.of(Native.C_LONG, Native.C_INT, Native.C_POINTER, Native.C_SIZE_T, Native.C_LONG));
    private static final MethodHandle PWRITE = Native.function("pwrite",
            FunctionDescriptor.of(Native.C_LONG, Native.C_INT, Native.C_POINTER, Native.C_SIZE_T, Native.C_LONG));
    private static final MethodHandle FDATASYNC = Native.function("fdatasync",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT));
    private static final MethodHandle FSYNC = Native.function("fsync",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT));
    private static final MethodHandle FALLOCATE = Native.function("fallocate",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT, Native.C_LONG, Native.C_LONG));
    private static final MethodHandle STATX = Native.function("statx", FunctionDescriptor.of(Native.C_INT,
            Native.C_INT, Native.C_POINTER, Native.C_INT, Native.C_INT, Native.C_POINTER));
    private static final MethodHandle FCNTL = Native.function("fcntl",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT, Native.C_INT),
            Linker.Option.firstVariadicArg(2));

    private FileIo() {}

    /** Reads up to {@code buffer.byteSize()} bytes at {@code offset}; 0 at end of file. */
    public static long pread(int fd, MemorySegment buffer, long offset) throws LinuxException {
        while (true) {
            long n;
            try {
                n = (long) PREAD.invokeExact(Native.errnoState(), fd, buffer, buffer.byteSize(), offset);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno != Errno.EINTR) {
                throw new LinuxException("pread(fd=" + fd + ", count=" + buffer.byteSize() + ", offset=" + offset
                        + ")", errno);
            }
        }
    }

    /** Writes up to {@code buffer.byteSize()} bytes at {@code offset}; returns how many. */
    public static long pwrite(int fd, MemorySegment buffer, long offset) throws LinuxException {
        while (true) {
            long n;
            try {
                n = (long) PWRITE.invokeExact(Native.errnoState(), fd, buffer, buffer.byteSize(), offset);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno != Errno.EINTR) {
                throw new LinuxException("pwrite(fd=" + fd + ", count=" + buffer.byteSize() + ", offset=" + offset
                        + ")", errno);
            }
        }
    }

    /** Makes written data (and the metadata needed to read it back) durable. */
    public static void fdatasync(int fd) throws LinuxException {
        int result;
        try {
            result = (int) FDATASYNC.invokeExact(Native.errnoState(), fd);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("fdatasync(fd=" + fd + ")", Native.errno());
        }
    }

    public static void fsync(int fd) throws LinuxException {
        int result;
        try {
            result = (int) FSYNC.invokeExact(Native.errnoState(), fd);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("fsync(fd=" + fd + ")", Native.errno());
        }
    }

    /** Allocates {@code length} bytes at {@code offset} ({@code mode} 0 also extends the file). */
    public static void fallocate(int fd, int mode, long offset, long length) throws LinuxException {
        int result;
        try {
            result = (int) FALLOCATE.invokeExact(Native.errnoState(), fd, mode, offset, length);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("fallocate(fd=" + fd + ", mode=" + mode + ", offset=" + offset + ", length="
                    + length + ")", Native.errno());
        }
    }

    /** {@code fcntl} with an int argument, for {@link #F_GETFL}/{@link #F_SETFL}; returns the result. */
    public static int fcntl(int fd, int command, int argument) throws LinuxException {
        int result;
        try {
            result = (int) FCNTL.invokeExact(Native.errnoState(), fd, command, argument);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result < 0) {
            throw new LinuxException("fcntl(fd=" + fd + ", cmd=" + command + ", arg=0" + Integer.toOctalString(argument)
                    + ")", Native.errno());
        }
        return result;
    }

    /**
     * What statx says about an open descriptor.
     *
     * @param mode file type and permissions ({@link #S_IFMT} masks the type)
     * @param size bytes (0 for a block device: ask {@link #blockDeviceBytes})
     * @param allocatedBytes bytes of storage actually allocated (512-byte units times 512)
     * @param directIoMemoryAlignment O_DIRECT buffer alignment, 0 when the file system does not say
     * @param directIoOffsetAlignment O_DIRECT offset and length alignment, 0 when unsupported or unknown
     */
    public record Stat(int mode, long size, long allocatedBytes, int blockSize, int directIoMemoryAlignment,
            int directIoOffsetAlignment) {
        public boolean isRegularFile() {
            return (mode & S_IFMT) == S_IFREG;
        }

        public boolean isBlockDevice() {
            return (mode & S_IFMT) == S_IFBLK;
        }
    }

    public static Stat stat(int fd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(STATX_BYTES, 8);
            int mask = STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_BLOCKS | STATX_DIOALIGN;
            int result;
            try {
                result = (int) STATX.invokeExact(Native.errnoState(), fd, arena.allocateFrom(""), AT_EMPTY_PATH, mask,
                        buffer);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (result != 0) {
                throw new LinuxException("statx(fd=" + fd + ", AT_EMPTY_PATH)", Native.errno());
            }
            boolean dio = (buffer.get(ValueLayout.JAVA_INT, STX_MASK) & STATX_DIOALIGN) != 0;
            return new Stat(Short.toUnsignedInt(buffer.get(ValueLayout.JAVA_SHORT, STX_MODE)),
                    buffer.get(ValueLayout.JAVA_LONG, STX_SIZE), buffer.get(ValueLayout.JAVA_LONG, STX_BLOCKS) * 512,
                    buffer.get(ValueLayout.JAVA_INT, STX_BLKSIZE),
                    dio ? buffer.get(ValueLayout.JAVA_INT, STX_DIO_MEM_ALIGN) : 0,
                    dio ? buffer.get(ValueLayout.JAVA_INT, STX_DIO_OFFSET_ALIGN) : 0);
        }
    }

    /** A block device's size in bytes (BLKGETSIZE64). */
    public static long blockDeviceBytes(int fd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
            Ioctl.ioctl(fd, BLKGETSIZE64, size);
            return size.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /** A block device's logical sector size (BLKSSZGET): the smallest unit of O_DIRECT I/O. */
    public static int blockDeviceSectorSize(int fd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(ValueLayout.JAVA_INT);
            Ioctl.ioctl(fd, BLKSSZGET, size);
            return size.get(ValueLayout.JAVA_INT, 0);
        }
    }
}

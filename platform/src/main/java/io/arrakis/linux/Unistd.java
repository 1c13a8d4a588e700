package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * File descriptors: {@code unistd.h}, {@code fcntl.h}, {@code sys/stat.h}. Thread-safe.
 *
 * <p>{@link #read} and {@link #write} return {@code -1} instead of throwing for
 * {@code EAGAIN}, because on a non-blocking descriptor that is an answer, not a failure.
 */
public final class Unistd {
    // asm-generic/fcntl.h
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_TRUNC = 01000;
    public static final int O_APPEND = 02000;
    public static final int O_NONBLOCK = 04000;
    public static final int O_DIRECT = 040000;
    public static final int O_CLOEXEC = 02000000;
    // linux/fcntl.h: duplication with close-on-exec, and file sealing (memfd_create(2), fcntl(2))
    public static final int F_DUPFD_CLOEXEC = 1030;
    public static final int F_ADD_SEALS = 1033;
    public static final int F_GET_SEALS = 1034;
    public static final int F_SEAL_SEAL = 0x0001;
    public static final int F_SEAL_SHRINK = 0x0002;
    public static final int F_SEAL_GROW = 0x0004;
    public static final int F_SEAL_WRITE = 0x0008;
    public static final int F_SEAL_FUTURE_WRITE = 0x0010;

    private static final MethodHandle CLOSE = Native.function("close",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT));
    private static final MethodHandle READ = Native.function("read",
            FunctionDescriptor.of(Native.C_LONG, Native.C_INT, Native.C_POINTER, Native.C_SIZE_T));
    private static final MethodHandle WRITE = Native.function("write",
            FunctionDescriptor.of(Native.C_LONG, Native.C_INT, Native.C_POINTER, Native.C_SIZE_T));
    private static final MethodHandle FTRUNCATE = Native.function("ftruncate",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_LONG));
    private static final MethodHandle PIPE2 = Native.function("pipe2",
            FunctionDescriptor.of(Native.C_INT, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle OPEN = Native.function("open",
            FunctionDescriptor.of(Native.C_INT, Native.C_POINTER, Native.C_INT, Native.C_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MKFIFO = Native.function("mkfifo",
            FunctionDescriptor.of(Native.C_INT, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle FCNTL = Native.function("fcntl",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT, Native.C_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle GETPID = Native.function("getpid", FunctionDescriptor.of(Native.C_INT));

    private Unistd() {}

    public static void close(int fd) throws LinuxException {
        int result;
        try {
            result = (int) CLOSE.invokeExact(Native.errnoState(), fd);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("close(fd=" + fd + ")", Native.errno());
        }
    }

    /** Reads up to {@code buffer.byteSize()} bytes; 0 at end of file, -1 for EAGAIN. EINTR is retried. */
    public static long read(int fd, MemorySegment buffer) throws LinuxException {
        while (true) {
            long n;
            try {
                n = (long) READ.invokeExact(Native.errnoState(), fd, buffer, buffer.byteSize());
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno == Errno.EAGAIN) {
                return -1;
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("read(fd=" + fd + ", count=" + buffer.byteSize() + ")", errno);
            }
        }
    }

    /** Writes up to {@code buffer.byteSize()} bytes; -1 for EAGAIN. EINTR is retried. */
    public static long write(int fd, MemorySegment buffer) throws LinuxException {
        while (true) {
            long n;
            try {
                n = (long) WRITE.invokeExact(Native.errnoState(), fd, buffer, buffer.byteSize());
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno == Errno.EAGAIN) {
                return -1;
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("write(fd=" + fd + ", count=" + buffer.byteSize() + ")", errno);
            }
        }
    }

    public static void ftruncate(int fd, long length) throws LinuxException {
        int result;
        try {
            result = (int) FTRUNCATE.invokeExact(Native.errnoState(), fd, length);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("ftruncate(fd=" + fd + ", length=" + length + ")", Native.errno());
        }
    }

    /** Creates a pipe; returns {@code {readEnd, writeEnd}}. */
    public static int[] pipe2(int flags) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
            int result;
            try {
                result = (int) PIPE2.invokeExact(Native.errnoState(), fds, flags);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (result != 0) {
                throw new LinuxException("pipe2(flags=0x" + Integer.toHexString(flags) + ")", Native.errno());
            }
            return new int[] {fds.getAtIndex(ValueLayout.JAVA_INT, 0), fds.getAtIndex(ValueLayout.JAVA_INT, 1)};
        }
    }

    public static int open(String path, int flags, int mode) throws LinuxException {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            fd = (int) OPEN.invokeExact(Native.errnoState(), arena.allocateFrom(path), flags, mode);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (fd < 0) {
            throw new LinuxException("open(path=\"" + path + "\", flags=0" + Integer.toOctalString(flags) + ")",
                    Native.errno());
        }
        return fd;
    }

    /** Creates a named pipe (FIFO) at {@code path}. */
    public static void mkfifo(String path, int mode) throws LinuxException {
        int result;
        try (Arena arena = Arena.ofConfined()) {
            result = (int) MKFIFO.invokeExact(Native.errnoState(), arena.allocateFrom(path), mode);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("mkfifo(path=\"" + path + "\", mode=0" + Integer.toOctalString(mode) + ")",
                    Native.errno());
        }
    }

    /**
     * {@code fcntl} with an int argument ({@link #F_ADD_SEALS}, {@link #F_GET_SEALS}, ...); returns
     * what the command returns (for {@link #F_GET_SEALS}, the seals).
     */
    public static int fcntl(int fd, int command, int argument) throws LinuxException {
        int result;
        try {
            result = (int) FCNTL.invokeExact(Native.errnoState(), fd, command, argument);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result < 0) {
            throw new LinuxException("fcntl(fd=" + fd + ", cmd=" + command + ", arg=0x" + Integer.toHexString(argument)
                    + ")", Native.errno());
        }
        return result;
    }

    public static int getpid() {
        try {
            return (int) GETPID.invokeExact(Native.errnoState());
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
    }
}

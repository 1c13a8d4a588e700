package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Event counters that can be polled by epoll and passed between processes:
 * {@code sys/eventfd.h}. Thread-safe; {@link #signal} and {@link #drain} allocate nothing.
 */
public final class EventFd {
    public static final int EFD_SEMAPHORE = 1;
    public static final int EFD_CLOEXEC = 02000000;
    public static final int EFD_NONBLOCK = 04000;

    private static final MethodHandle EVENTFD = Native.function("eventfd",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT));
    private static final ThreadLocal<MemorySegment> COUNTER =
            ThreadLocal.withInitial(() -> Arena.global().allocate(ValueLayout.JAVA_LONG));

    private EventFd() {}

    public static int create(int initialValue, int flags) throws LinuxException {
        int fd;
        try {
            fd = (int) EVENTFD.invokeExact(Native.errnoState(), initialValue, flags);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (fd < 0) {
            throw new LinuxException("eventfd(initval=" + initialValue + ", flags=0x" + Integer.toHexString(flags)
                    + ")", Native.errno());
        }
        return fd;
    }

    /** Adds {@code value} to the counter, waking a reader. */
    public static void signal(int fd, long value) throws LinuxException {
        MemorySegment counter = COUNTER.get();
        counter.set(ValueLayout.JAVA_LONG, 0, value);
        if (Unistd.write(fd, counter) != 8) {
            throw new LinuxException("write(eventfd=" + fd + ", value=" + value + ")", Errno.EAGAIN);
        }
    }

    /**
     * Reads and resets the counter (blocking unless the descriptor is non-blocking);
     * returns 0 when a non-blocking counter was zero.
     */
    public static long drain(int fd) throws LinuxException {
        MemorySegment counter = COUNTER.get();
        long n = Unistd.read(fd, counter);
        return n == 8 ? counter.get(ValueLayout.JAVA_LONG, 0) : 0;
    }
}

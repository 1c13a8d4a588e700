package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Readiness notification: {@code sys/epoll.h}.
 *
 * <p>Thread-safe: an epoll instance may be changed and waited on from several threads (the
 * kernel serialises), {@link #ctl} uses per-thread scratch memory, and {@link #wait} fills a
 * caller-owned {@link Events} array, so neither allocates; one {@code Events} must not be shared
 * by threads waiting at the same time.
 */
public final class Epoll {
    // sys/epoll.h (linux/eventpoll.h)
    public static final int EPOLL_CLOEXEC = 02000000;
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLL_CTL_DEL = 2;
    public static final int EPOLL_CTL_MOD = 3;
    public static final int EPOLLIN = 0x001;
    public static final int EPOLLPRI = 0x002;
    public static final int EPOLLOUT = 0x004;
    public static final int EPOLLERR = 0x008;
    public static final int EPOLLHUP = 0x010;
    public static final int EPOLLRDHUP = 0x2000;
    public static final int EPOLLEXCLUSIVE = 1 << 28;
    public static final int EPOLLWAKEUP = 1 << 29;
    public static final int EPOLLONESHOT = 1 << 30;
    public static final int EPOLLET = 1 << 31;

    /**
     * linux/eventpoll.h struct epoll_event. x86_64 declares it packed (so 32- and 64-bit code
     * share one layout): 12 bytes, the u64 data unaligned at 4. Everywhere else, aarch64
     * included, it is naturally aligned: 16 bytes, data at 8.
     */
    public static final StructLayout EPOLL_EVENT;

    static {
        String arch = System.getProperty("os.arch");
        EPOLL_EVENT = arch.equals("amd64") || arch.equals("x86_64")
                ? MemoryLayout.structLayout(ValueLayout.JAVA_INT.withName("events"),
                        ValueLayout.JAVA_LONG_UNALIGNED.withName("data"))
                : MemoryLayout.structLayout(ValueLayout.JAVA_INT.withName("events"), MemoryLayout.paddingLayout(4),
                        ValueLayout.JAVA_LONG.withName("data"));
    }

    private static final long EVENTS = EPOLL_EVENT.byteOffset(MemoryLayout.PathElement.groupElement("events"));
    private static final long DATA = EPOLL_EVENT.byteOffset(MemoryLayout.PathElement.groupElement("data"));
    private static final long STRIDE = EPOLL_EVENT.byteSize();

    private static final MethodHandle EPOLL_CREATE1 = Native.function("epoll_create1",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT));
    private static final MethodHandle EPOLL_CTL = Native.function("epoll_ctl",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT, Native.C_INT, Native.C_POINTER));
    private static final MethodHandle EPOLL_WAIT = Native.function("epoll_wait",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_INT, Native.C_INT));

    private static final ThreadLocal<MemorySegment> EVENT =
            ThreadLocal.withInitial(() -> Arena.global().allocate(EPOLL_EVENT));

    private Epoll() {}

    /** A reusable array of {@code struct epoll_event} for {@link #wait} to fill. */
    public static final class Events {
        private final MemorySegment segment;
        private final int capacity;

        private Events(MemorySegment segment, int capacity) {
            this.segment = segment;
            this.capacity = capacity;
        }

        public static Events allocate(Arena arena, int capacity) {
            if (capacity <= 0) {
                throw new IllegalArgumentException("epoll_wait needs room for at least one event, not " + capacity);
            }
            return new Events(arena.allocate(EPOLL_EVENT, capacity), capacity);
        }

        public int capacity() {
            return capacity;
        }

        /** The ready events ({@link #EPOLLIN}, ...) of entry {@code index}. */
        public int events(int index) {
            return segment.get(ValueLayout.JAVA_INT, index * STRIDE + EVENTS);
        }

        /** The data registered with the descriptor of entry {@code index}. */
        public long data(int index) {
            return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, index * STRIDE + DATA);
        }

        public MemorySegment segment() {
            return segment;
        }
    }

    public static int create(int flags) throws LinuxException {
        int fd;
        try {
            fd = (int) EPOLL_CREATE1.invokeExact(Native.errnoState(), flags);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (fd < 0) {
            throw new LinuxException("epoll_create1(flags=0x" + Integer.toHexString(flags) + ")", Native.errno());
        }
        return fd;
    }

    /** epoll_ctl: {@code data} comes back with each event for {@code fd}, to say which it was. */
    public static void ctl(int epfd, int op, int fd, int events, long data) throws LinuxException {
        MemorySegment event = EVENT.get();
        event.set(ValueLayout.JAVA_INT, EVENTS, events);
        event.set(ValueLayout.JAVA_LONG_UNALIGNED, DATA, data);
        int result;
        try {
            result = (int) EPOLL_CTL.invokeExact(Native.errnoState(), epfd, op, fd, event);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            String opName = switch (op) {
                case EPOLL_CTL_ADD -> "EPOLL_CTL_ADD";
                case EPOLL_CTL_MOD -> "EPOLL_CTL_MOD";
                case EPOLL_CTL_DEL -> "EPOLL_CTL_DEL";
                default -> String.valueOf(op);
            };
            throw new LinuxException("epoll_ctl(epfd=" + epfd + ", op=" + opName + ", fd=" + fd
                    + (op == EPOLL_CTL_DEL ? "" : ", events=" + eventsName(events)) + ")", Native.errno());
        }
    }

    public static void add(int epfd, int fd, int events, long data) throws LinuxException {
        ctl(epfd, EPOLL_CTL_ADD, fd, events, data);
    }

    public static void modify(int epfd, int fd, int events, long data) throws LinuxException {
        ctl(epfd, EPOLL_CTL_MOD, fd, events, data);
    }

    public static void delete(int epfd, int fd) throws LinuxException {
        ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0);
    }

    /**
     * Waits up to {@code timeoutMillis} (-1: no limit, 0: just look) for ready descriptors;
     * returns how many entries of {@code events} were filled. A signal ends the wait early with 0,
     * as a timeout would.
     */
    public static int wait(int epfd, Events events, int timeoutMillis) throws LinuxException {
        int n;
        try {
            n = (int) EPOLL_WAIT.invokeExact(Native.errnoState(), epfd, events.segment, events.capacity,
                    timeoutMillis);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (n >= 0) {
            return n;
        }
        int errno = Native.errno();
        if (errno == Errno.EINTR) {
            return 0;
        }
        throw new LinuxException("epoll_wait(epfd=" + epfd + ", maxevents=" + events.capacity + ", timeout="
                + timeoutMillis + ")", errno);
    }

    static String eventsName(int events) {
        StringBuilder name = new StringBuilder();
        String[] names = {"EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDHUP", "EPOLLEXCLUSIVE",
            "EPOLLWAKEUP", "EPOLLONESHOT", "EPOLLET"};
        int[] bits = {EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP, EPOLLEXCLUSIVE, EPOLLWAKEUP,
            EPOLLONESHOT, EPOLLET};
        int rest = events;
        for (int i = 0; i < bits.length; i++) {
            if ((events & bits[i]) != 0) {
                name.append(name.isEmpty() ? "" : "|").append(names[i]);
                rest &= ~bits[i];
            }
        }
        if (rest != 0 || name.isEmpty()) {
            name.append(name.isEmpty() ? "" : "|").append("0x").append(Integer.toHexString(rest));
        }
        return name.toString();
    }
}

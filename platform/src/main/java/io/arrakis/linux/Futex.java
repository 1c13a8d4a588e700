package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Futexes on a 32-bit word in (possibly shared) memory: {@code linux/futex.h}.
 *
 * <p>We use the process-shared forms (no {@code FUTEX_PRIVATE_FLAG}), because the words live in
 * memory mapped by several processes. Thread-safe; a wait allocates nothing.
 */
public final class Futex {
    private static final int FUTEX_WAIT = 0;
    private static final int FUTEX_WAKE = 1;

    /** struct timespec (linux/time_types.h __kernel_timespec): tv_sec, tv_nsec. */
    private static final ThreadLocal<MemorySegment> TIMEOUT =
            ThreadLocal.withInitial(() -> Arena.global().allocate(16, 8));

    private Futex() {}

    /** What a wait ended with. */
    public enum WaitResult {
        /** Woken by {@link #wake}, or by a signal: re-check the condition. */
        WOKEN,
        /** The word no longer held the expected value when the kernel looked. */
        VALUE_CHANGED,
        TIMED_OUT
    }

    /**
     * Sleeps while the int at {@code word[offset]} equals {@code expected}, for at most
     * {@code timeoutNanos} (0 or less: no limit).
     */
    public static WaitResult await(MemorySegment word, long offset, int expected, long timeoutNanos)
            throws LinuxException {
        long address = checkedAddress(word, offset);
        long timeout = 0;
        if (timeoutNanos > 0) {
            MemorySegment timespec = TIMEOUT.get();
            timespec.set(ValueLayout.JAVA_LONG, 0, timeoutNanos / 1_000_000_000L);
            timespec.set(ValueLayout.JAVA_LONG, 8, timeoutNanos % 1_000_000_000L);
            timeout = timespec.address();
        }
        long result = Syscall.raw4(Syscall.FUTEX, address, FUTEX_WAIT, expected, timeout);
        if (result == 0) {
            return WaitResult.WOKEN;
        }
        int errno = Native.errno();
        return switch (errno) {
            case Errno.EAGAIN -> WaitResult.VALUE_CHANGED;
            case Errno.ETIMEDOUT -> WaitResult.TIMED_OUT;
            case Errno.EINTR -> WaitResult.WOKEN;
            default -> throw new LinuxException("futex(FUTEX_WAIT, address=0x" + Long.toHexString(address)
                    + ", expected=" + expected + ")", errno);
        };
    }

    /** Wakes at most {@code count} waiters on the word; returns how many were woken. */
    public static int wake(MemorySegment word, long offset, int count) throws LinuxException {
        long address = checkedAddress(word, offset);
        long result = Syscall.raw3(Syscall.FUTEX, address, FUTEX_WAKE, count);
        if (result < 0) {
            throw new LinuxException("futex(FUTEX_WAKE, address=0x" + Long.toHexString(address) + ", count="
                    + count + ")", Native.errno());
        }
        return (int) result;
    }

    private static long checkedAddress(MemorySegment word, long offset) {
        long address = word.asSlice(offset, 4).address();
        if ((address & 3) != 0) {
            throw new IllegalArgumentException("futex word at 0x" + Long.toHexString(address)
                    + " is not 4-byte aligned");
        }
        return address;
    }
}

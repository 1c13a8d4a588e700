package io.arrakis.linux;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;

/**
 * Raw {@code syscall(2)} for the calls glibc has no wrapper for (futex, bpf, io_uring).
 *
 * <p>Numbers come from {@code asm/unistd_64.h} (x86_64) and {@code asm-generic/unistd.h}
 * (aarch64). {@code syscall} is variadic: every argument is passed as a {@code long}, which is
 * how the kernel reads them anyway. Thread-safe.
 */
public final class Syscall {
    /** Syscall numbers of the running architecture. */
    public static final long FUTEX;
    public static final long BPF;
    public static final long IO_URING_SETUP;
    public static final long IO_URING_ENTER;
    public static final long IO_URING_REGISTER;

    static {
        String arch = System.getProperty("os.arch");
        switch (arch) {
            case "amd64", "x86_64" -> {
                FUTEX = 202;
                BPF = 321;
            }
            case "aarch64" -> {
                FUTEX = 98;
                BPF = 280;
            }
            default -> throw new ExceptionInInitializerError(
                    "Arrakis supports Linux on x86_64 and aarch64; this JVM runs on " + arch);
        }
        // io_uring got the same numbers on every architecture (asm-generic range 425..427).
        IO_URING_SETUP = 425;
        IO_URING_ENTER = 426;
        IO_URING_REGISTER = 427;
    }

    private static final MethodHandle[] SYSCALL = new MethodHandle[7];

    static {
        for (int args = 0; args <= 6; args++) {
            var argLayouts = new java.lang.foreign.MemoryLayout[args + 1];
            java.util.Arrays.fill(argLayouts, Native.C_LONG);
            SYSCALL[args] = Native.function("syscall",
                    FunctionDescriptor.of(Native.C_LONG, argLayouts), Linker.Option.firstVariadicArg(1));
        }
    }

    private Syscall() {}

    /** Calls syscall {@code number}; returns the raw result, {@code -1} with errno captured on failure. */
    static long raw2(long number, long a, long b) {
        try {
            return (long) SYSCALL[2].invokeExact(Native.errnoState(), number, a, b);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
    }

    static long raw3(long number, long a, long b, long c) {
        try {
            return (long) SYSCALL[3].invokeExact(Native.errnoState(), number, a, b, c);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
    }

    static long raw4(long number, long a, long b, long c, long d) {
        try {
            return (long) SYSCALL[4].invokeExact(Native.errnoState(), number, a, b, c, d);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
    }

    static long raw6(long number, long a, long b, long c, long d, long e, long f) {
        try {
            return (long) SYSCALL[6].invokeExact(Native.errnoState(), number, a, b, c, d, e, f);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
    }
}

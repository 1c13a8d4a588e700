package io.arrakis.linux;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Names and descriptions of errno values, from glibc's own tables ({@code strerrorname_np} and
 * {@code strerrordesc_np}, glibc 2.32+), so they always match the running C library.
 * Constants for the values our code tests for come from {@code asm-generic/errno-base.h} and
 * {@code asm-generic/errno.h}.
 */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int EMFILE = 24;
    public static final int ENOSPC = 28;
    public static final int EPIPE = 32;
    public static final int ERANGE = 34;
    public static final int ENOSYS = 38;
    public static final int ETIME = 62;
    public static final int ENOTSOCK = 88;
    public static final int EOPNOTSUPP = 95;
    public static final int EADDRINUSE = 98;
    public static final int EADDRNOTAVAIL = 99;
    public static final int ENETUNREACH = 101;
    public static final int ECONNRESET = 104;
    public static final int ENOBUFS = 105;
    public static final int ENOTCONN = 107;
    public static final int ETIMEDOUT = 110;
    public static final int ECONNREFUSED = 111;
    public static final int EINPROGRESS = 115;
    public static final int ECANCELED = 125;

    private static final MethodHandle STRERRORNAME_NP = Native.plainFunction("strerrorname_np",
            FunctionDescriptor.of(Native.C_POINTER, Native.C_INT));
    private static final MethodHandle STRERRORDESC_NP = Native.plainFunction("strerrordesc_np",
            FunctionDescriptor.of(Native.C_POINTER, Native.C_INT));

    private Errno() {}

    /** The symbolic name, e.g. {@code "EINVAL"}; {@code "errno 4242"} for a value libc does not know. */
    public static String name(int errno) {
        String name = lookup(STRERRORNAME_NP, errno);
        return name != null ? name : "errno " + errno;
    }

    /** The C library's description, e.g. {@code "Invalid argument"}. */
    public static String description(int errno) {
        String description = lookup(STRERRORDESC_NP, errno);
        return description != null ? description : "unknown error";
    }

    private static String lookup(MethodHandle handle, int errno) {
        if (handle == null) {
            return null;
        }
        try {
            MemorySegment text = (MemorySegment) handle.invokeExact(errno);
            return text.equals(MemorySegment.NULL) ? null : text.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
    }
}

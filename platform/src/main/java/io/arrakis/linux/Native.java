package io.arrakis.linux;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The one place where downcall handles into the C library are made.
 *
 * <p>Every binding captures {@code errno} through {@link Linker.Option#captureCallState}: the
 * first argument of each handle is a per-thread capture segment from {@link #errnoState()}, so
 * a call allocates nothing on the Java heap. Thread-safe: handles are immutable and the capture
 * segment is per thread.
 */
final class Native {
    static final Linker LINKER = Linker.nativeLinker();
    static final SymbolLookup LIBC = LINKER.defaultLookup();

    static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    static final ValueLayout.OfLong C_SIZE_T = ValueLayout.JAVA_LONG;
    static final AddressLayout C_POINTER = ValueLayout.ADDRESS;

    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    /** One capture segment per thread, allocated once: errno capture must not allocate per call. */
    private static final ThreadLocal<MemorySegment> ERRNO_STATE =
            ThreadLocal.withInitial(() -> Arena.global().allocate(CALL_STATE));

    private Native() {}

    /** A handle to a libc function whose first argument is the errno capture segment. */
    static MethodHandle function(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        Linker.Option[] all = new Linker.Option[options.length + 1];
        all[0] = CAPTURE_ERRNO;
        System.arraycopy(options, 0, all, 1, options.length);
        MemorySegment symbol = LIBC.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no symbol " + name));
        return LINKER.downcallHandle(symbol, descriptor, all);
    }

    /** A handle to a libc function that never sets errno (no capture argument). */
    static MethodHandle plainFunction(String name, FunctionDescriptor descriptor) {
        return LIBC.find(name).map(symbol -> LINKER.downcallHandle(symbol, descriptor)).orElse(null);
    }

    /** The calling thread's errno capture segment, to pass as the first argument of a handle. */
    static MemorySegment errnoState() {
        return ERRNO_STATE.get();
    }

    /** The errno the last call on this thread captured. */
    static int errno() {
        return (int) ERRNO.get(ERRNO_STATE.get(), 0L);
    }

    /** Wraps an unexpected {@link Throwable} from {@code invokeExact}: downcalls throw none. */
    static AssertionError unreachable(Throwable t) {
        return new AssertionError("native downcall failed unexpectedly", t);
    }
}

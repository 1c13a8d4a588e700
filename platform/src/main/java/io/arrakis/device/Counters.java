package io.arrakis.device;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.EnumMap;
import java.util.Map;

/**
 * A set of 64-bit event counters named by an enum, laid out as consecutive longs in a
 * {@link MemorySegment} — on the heap, or in shared memory so that a tool in another process
 * can read a queue's counters without asking it.
 *
 * <p>Single writer: only the thread that owns the queue updates the counters (plain read, opaque
 * write: no atomic read-modify-write on the fast path); any thread or process may read them with
 * {@link #get} or {@link #snapshot}, seeing each counter's value as of some recent moment.
 */
public final class Counters<E extends Enum<E>> {
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    private final Class<E> names;
    private final E[] constants;
    private final MemorySegment values;

    private Counters(Class<E> names, MemorySegment values) {
        this.names = names;
        this.constants = names.getEnumConstants();
        long needed = bytesFor(names);
        if (values.byteSize() < needed) {
            throw new IllegalArgumentException("counters " + names.getSimpleName() + " need " + needed
                    + " bytes; segment has " + values.byteSize());
        }
        this.values = values;
    }

    /** Counters in ordinary heap memory. */
    public static <E extends Enum<E>> Counters<E> onHeap(Class<E> names) {
        return new Counters<>(names, MemorySegment.ofArray(new long[names.getEnumConstants().length]));
    }

    /** Counters over {@code segment} (8-byte aligned), e.g. a slice of shared memory. */
    public static <E extends Enum<E>> Counters<E> over(Class<E> names, MemorySegment segment) {
        if ((segment.address() & 7) != 0 && segment.isNative()) {
            throw new IllegalArgumentException("counter segment at 0x" + Long.toHexString(segment.address())
                    + " is not 8-byte aligned");
        }
        return new Counters<>(names, segment);
    }

    public static long bytesFor(Class<? extends Enum<?>> names) {
        return 8L * names.getEnumConstants().length;
    }

    public void increment(E counter) {
        add(counter, 1);
    }

    public void add(E counter, long delta) {
        long offset = 8L * counter.ordinal();
        LONG.setOpaque(values, offset, (long) LONG.get(values, offset) + delta);
    }

    public long get(E counter) {
        return (long) LONG.getOpaque(values, 8L * counter.ordinal());
    }

    /** The current values, in the enum's order. Allocates: for tools, not for the fast path. */
    public Map<E, Long> snapshot() {
        Map<E, Long> snapshot = new EnumMap<>(names);
        for (E counter : constants) {
            snapshot.put(counter, get(counter));
        }
        return snapshot;
    }
}

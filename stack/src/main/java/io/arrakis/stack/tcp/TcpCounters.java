package io.arrakis.stack.tcp;

/**
 * Counters of one connection or listener, optionally rolled up into an aggregate (one per stack
 * thread): every increment goes to both. Written only by the engine's thread; a reader on another
 * thread sees plain, possibly slightly stale values (fine for statistics).
 */
public final class TcpCounters {
    private static final TcpCounter[] ALL = TcpCounter.values();

    private final long[] values = new long[ALL.length];
    /** Not final: a connection moved to another stack rolls up into that stack's set from then on. */
    private TcpCounters aggregate;

    /** An aggregate (or stand-alone) set. */
    public TcpCounters() {
        this(null);
    }

    /** A per-connection set whose increments also go to {@code aggregate} (may be null). */
    public TcpCounters(TcpCounters aggregate) {
        this.aggregate = aggregate;
    }

    /** From now on increments also go to {@code newAggregate} (may be null); what was counted stays where it went. */
    void rollUpInto(TcpCounters newAggregate) {
        this.aggregate = newAggregate;
    }

    public long get(TcpCounter counter) {
        return values[counter.ordinal()];
    }

    /** The sum of all DROP_ counters. */
    public long drops() {
        long sum = 0;
        for (TcpCounter c : ALL) {
            if (c.isDrop()) {
                sum += values[c.ordinal()];
            }
        }
        return sum;
    }

    void increment(TcpCounter counter) {
        add(counter, 1);
    }

    void add(TcpCounter counter, long delta) {
        values[counter.ordinal()] += delta;
        if (aggregate != null) {
            aggregate.values[counter.ordinal()] += delta;
        }
    }

    /** Non-zero counters, e.g. {@code "SEGMENTS_IN=12 SEGMENTS_OUT=10"}; allocates (diagnostics only). */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        for (TcpCounter c : ALL) {
            long v = values[c.ordinal()];
            if (v != 0) {
                if (!b.isEmpty()) {
                    b.append(' ');
                }
                b.append(c.name()).append('=').append(v);
            }
        }
        return b.toString();
    }
}

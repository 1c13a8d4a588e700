package io.arrakis.stack;

import io.arrakis.stack.link.LinkFaults;
import io.arrakis.stack.link.SimulatedLink;
import io.arrakis.stack.link.VirtualClock;
import java.io.IOException;
import java.util.function.BooleanSupplier;

/** Two stacks, 198.18.0.1 ("a") and 198.18.0.2 ("b") on a /24, over a simulated link on virtual time. */
final class StackPair implements AutoCloseable {
    static final String A = "198.18.0.1";
    static final String B = "198.18.0.2";

    final VirtualClock clock = new VirtualClock();
    final SimulatedLink link;
    final NetworkStack a;
    final NetworkStack b;

    StackPair(LinkFaults faults) {
        this(faults, StackConfig.of(A, 24, null), StackConfig.of(B, 24, null));
    }

    StackPair(LinkFaults faults, StackConfig aConfig, StackConfig bConfig) {
        this(faults, faults, aConfig, bConfig);
    }

    StackPair(LinkFaults aToB, LinkFaults bToA, StackConfig aConfig, StackConfig bConfig) {
        link = new SimulatedLink(clock, aToB, bToA, SimulatedLink.DEFAULT_BUFFERS, SimulatedLink.DEFAULT_BUFFER_SIZE);
        a = new NetworkStack(link.a(), 0, aConfig);
        b = new NetworkStack(link.b(), 0, bConfig);
    }

    long now() {
        return clock.now();
    }

    /** Polls both stacks and moves virtual time to the next event until {@code done} or nothing is left to do. */
    boolean runUntil(BooleanSupplier done, long maxNanos) throws IOException {
        long limit = clock.now() + maxNanos;
        for (int step = 0; step < 1_000_000; step++) {
            a.poll(clock.now());
            b.poll(clock.now());
            if (done.getAsBoolean()) {
                return true;
            }
            long next = Math.min(link.nextEventTime(), Math.min(a.nextDeadline(), b.nextDeadline()));
            if (next == Long.MAX_VALUE || next > limit) {
                return done.getAsBoolean();
            }
            clock.advanceTo(Math.max(next, clock.now()));
            link.deliverDue();
        }
        throw new AssertionError("simulation did not settle in a million steps");
    }

    @Override
    public void close() {
        a.close();
        b.close();
        link.close();
    }
}

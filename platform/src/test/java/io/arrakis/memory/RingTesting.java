package io.arrakis.memory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;

/** Helpers shared by the ring tests. */
final class RingTesting {
    private RingTesting() {}

    static MemorySegment allocateRing(Arena arena, long bytes) {
        return arena.allocate(bytes, RingLayout.ALIGNMENT);
    }

    static Arbitrary<Integer> powersOfTwo(int minExponent, int maxExponent) {
        return Arbitraries.integers().between(minExponent, maxExponent).map(e -> 1 << e);
    }

    /**
     * Runs {@code bodies} on their own threads and waits at most {@code timeout} for all of them;
     * rethrows the first failure. On timeout the threads are interrupted and asked to stop through
     * {@code stop} (they must check it), and the test fails naming the timeout.
     */
    static void runConcurrently(Duration timeout, java.util.concurrent.atomic.AtomicBoolean stop,
            ThrowingRunnable... bodies) throws Throwable {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] threads = new Thread[bodies.length];
        for (int i = 0; i < bodies.length; i++) {
            ThrowingRunnable body = bodies[i];
            threads[i] = Thread.ofPlatform().name("ring-test-" + i).start(() -> {
                try {
                    body.run();
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                    stop.set(true);
                }
            });
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Thread thread : threads) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !thread.join(Duration.ofNanos(left))) {
                stop.set(true);
                for (Thread t : threads) {
                    t.join(Duration.ofSeconds(5));
                }
                if (failure.get() != null) {
                    throw failure.get();
                }
                throw new AssertionError("threads did not finish within " + timeout + ": a hang or a lost wake-up");
            }
        }
        if (failure.get() != null) {
            throw failure.get();
        }
    }

    static long deadlineAfter(long amount, TimeUnit unit) {
        return System.nanoTime() + unit.toNanos(amount);
    }

    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Throwable;
    }
}

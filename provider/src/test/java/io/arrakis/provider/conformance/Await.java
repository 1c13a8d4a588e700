package io.arrakis.provider.conformance;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

/** Bounded waiting for a condition another thread or the network will make true. Stateless. */
final class Await {
    static final Duration LIMIT = Duration.ofSeconds(5);

    private Await() {
    }

    /** A condition that may throw, like a non-blocking read. */
    @FunctionalInterface
    interface Condition {
        boolean holds() throws Exception;
    }

    /** Polls {@code condition} every millisecond until it holds; throws after {@link #LIMIT}. */
    static void until(String what, Condition condition) throws Exception {
        long deadline = System.nanoTime() + LIMIT.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("waited " + LIMIT.toMillis() + " ms for " + what);
            }
            Thread.sleep(1);
        }
    }
}

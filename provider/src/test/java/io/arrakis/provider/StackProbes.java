package io.arrakis.provider;

import io.arrakis.stack.tcp.TcpCounter;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * What the several-queue tests read from a stack, under its lock (the engine is not thread-safe),
 * and their bounded wait. Stateless; callable from any thread.
 */
final class StackProbes {
    private StackProbes() {}

    static long count(UserStack stack, TcpCounter counter) {
        stack.lock().lock();
        try {
            return stack.tcp().counters().get(counter);
        } finally {
            stack.lock().unlock();
        }
    }

    static int connections(UserStack stack) {
        stack.lock().lock();
        try {
            return stack.tcp().connectionCount();
        } finally {
            stack.lock().unlock();
        }
    }

    /** Waits for {@code condition} at most 10 s, looking every 5 ms; fails naming {@code what}. */
    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("not within 10 s: " + what);
            }
            Thread.sleep(5);
        }
    }
}

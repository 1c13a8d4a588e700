package io.arrakis.memory;

import java.lang.management.ManagementFactory;

/** Measures heap allocation by the current thread (HotSpot's per-thread allocation counter). */
final class AllocationMeter {
    private AllocationMeter() {}

    /**
     * Runs {@code action} {@code warmup} times (so the JIT compiles it and escape analysis has
     * its say), then {@code measured} times, and returns the bytes the thread allocated during
     * the measured runs.
     */
    static long bytesAllocatedBy(Runnable action, int warmup, int measured) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        for (int i = 0; i < warmup; i++) {
            action.run();
        }
        long before = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < measured; i++) {
            action.run();
        }
        return threads.getCurrentThreadAllocatedBytes() - before;
    }
}

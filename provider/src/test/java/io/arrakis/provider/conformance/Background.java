package io.arrakis.provider.conformance;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * One operation run on a helper thread (platform or virtual) while the case's thread acts on it:
 * closes the channel under it, interrupts it, wakes it. The case waits, bounded, until the
 * operation is blocked inside the provider, then for its outcome, which it records itself so the
 * trace keeps one order. Written by the helper thread once, read by the case after {@link #await()}.
 */
final class Background<T> implements AutoCloseable {
    /** How long a case waits for a helper's operation to block, or to finish once released. */
    static final Duration AWAIT = Duration.ofSeconds(5);

    /** What the helper's operation returned or threw, and its thread's interrupt status at the end. */
    record Outcome(Object value, Exception error, boolean interruptStatus, boolean timedOut) {
    }

    private final Thread thread;
    private volatile Object value;
    private volatile Exception error;
    private volatile boolean interruptStatus;
    private volatile boolean finished;

    private Background(Thread.Builder builder, String name, Trace.IoSupplier<T> action) {
        this.thread = builder.name(name).unstarted(() -> {
            try {
                value = action.get();
            } catch (Exception e) {
                error = e;
            } finally {
                interruptStatus = Thread.currentThread().isInterrupted();
                finished = true;
            }
        });
        thread.start();
    }

    static <T> Background<T> start(String name, Trace.IoSupplier<T> action) {
        return new Background<>(Thread.ofPlatform().daemon(true), name, action);
    }

    static <T> Background<T> startVirtual(String name, Trace.IoSupplier<T> action) {
        return new Background<>(Thread.ofVirtual(), name, action);
    }

    Thread thread() {
        return thread;
    }

    boolean finished() {
        return finished;
    }

    /**
     * Waits until the operation is blocked in the provider (three samples in a row, to skip
     * momentary states) or has finished (then the outcome tells what happened instead).
     */
    Background<T> awaitBlocked(Network network) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + AWAIT.toNanos();
        int consecutive = 0;
        while (!finished) {
            consecutive = network.isBlockedIn(thread) ? consecutive + 1 : 0;
            if (consecutive == 3) {
                return this;
            }
            if (System.nanoTime() > deadline) {
                throw new TimeoutException(thread.getName() + " did not block within " + AWAIT.toMillis() + " ms; state "
                        + thread.getState() + ", top frames " + topFrames(thread));
            }
            Thread.sleep(2);
        }
        return this;
    }

    /** Waits, bounded, for the operation to finish. */
    Outcome await() throws InterruptedException {
        thread.join(AWAIT);
        if (!finished) {
            return new Outcome(null, null, false, true);
        }
        return new Outcome(value, error, interruptStatus, false);
    }

    /** Releases a helper still running when the case ends (a failed case): interrupts it and waits briefly. */
    @Override
    public void close() {
        if (!finished) {
            thread.interrupt();
            try {
                thread.join(Duration.ofSeconds(1));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static String topFrames(Thread thread) {
        StackTraceElement[] stack = thread.getStackTrace();
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < Math.min(6, stack.length); i++) {
            s.append(i == 0 ? "" : " < ").append(stack[i]);
        }
        return s.toString();
    }
}

package io.arrakis.provider.conformance;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Bounds a blocking call a case makes on its own thread: unless cancelled first, closes the given
 * resource after {@link Await#LIMIT}, which ends the call with an exception the trace shows.
 * One shared daemon timer thread; each watchdog is used by the thread that armed it.
 */
final class Watchdog implements AutoCloseable {
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(runnable ->
            Thread.ofPlatform().daemon(true).name("conformance-watchdog").unstarted(runnable));

    private final ScheduledFuture<?> closing;

    private Watchdog(AutoCloseable resource) {
        this.closing = TIMER.schedule(() -> {
            try {
                resource.close();
            } catch (Exception ignored) {
                // the blocked call reports what happened
            }
        }, Await.LIMIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    static Watchdog closeAfterLimit(AutoCloseable resource) {
        return new Watchdog(resource);
    }

    @Override
    public void close() {
        closing.cancel(false);
    }
}

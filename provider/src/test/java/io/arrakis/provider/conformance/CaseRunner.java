package io.arrakis.provider.conformance;

import java.time.Duration;
import java.util.List;

/**
 * Runs one case on one network in a fresh platform thread (so interrupts and interrupt status a case
 * leaves behind stay with that thread), bounded by {@link #LIMIT}. Stateless.
 */
final class CaseRunner {
    /** Upper bound for one case on one network; every wait inside a case is bounded well below it. */
    static final Duration LIMIT = Duration.ofSeconds(15);

    /** The trace, and how the body ended: normally, by throwing ({@code failure}), or not at all ({@code timedOut}). */
    record Run(List<String> lines, Throwable failure, boolean timedOut) {
        boolean completed() {
            return failure == null && !timedOut;
        }
    }

    private CaseRunner() {
    }

    static Run run(Case c, Network network) throws InterruptedException {
        Trace trace = new Trace(network);
        Throwable[] failure = new Throwable[1];
        Thread thread = Thread.ofPlatform().daemon(true).name("conformance " + c.name() + " [" + network.name() + "]").unstarted(() -> {
            try {
                c.body().run(network, trace);
            } catch (Throwable e) {
                failure[0] = e;
                trace.add("ABORTED: " + trace.exception(e));
            }
        });
        thread.start();
        thread.join(LIMIT);
        if (thread.isAlive()) {
            trace.add("TIMED OUT after " + LIMIT.toSeconds() + " s in " + Background.topFrames(thread));
            thread.interrupt();
            thread.join(Duration.ofSeconds(2));
            return new Run(trace.lines(), null, true);
        }
        return new Run(trace.lines(), failure[0], false);
    }
}

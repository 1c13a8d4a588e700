package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ServerSocketChannel;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;

/**
 * A blocking accept on a wildcard listener, which listens on both paths and waits for both in a
 * JDK selector, keeps the JDK's interrupt and close semantics on platform and virtual threads.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WildcardAcceptTest {
    private static final long PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(10);

    @ParameterizedTest(name = "virtual thread: {0}")
    @ValueSource(booleans = {false, true})
    void interruptingABlockedWildcardAcceptClosesTheListenerWithClosedByInterruptException(boolean virtual)
            throws Exception {
        try (TwoProviders providers = new TwoProviders();
                ServerSocketChannel listener = providers.server.openServerSocketChannel()) {
            listener.bind(new InetSocketAddress(0));
            assertTrue(((ArrakisServerSocketChannel) listener).hasUserSide(), "listens user-level too");
            AtomicReference<Throwable> outcome = new AtomicReference<>();
            AtomicBoolean interruptStatus = new AtomicBoolean();
            Thread accepting = (virtual ? Thread.ofVirtual() : Thread.ofPlatform().daemon()).name("accept").start(() -> {
                try {
                    outcome.set(new AssertionError("accept returned " + listener.accept()));
                } catch (Throwable t) {
                    outcome.set(t);
                } finally {
                    interruptStatus.set(Thread.currentThread().isInterrupted());
                }
            });
            awaitWaitingOnBothPaths(accepting);
            accepting.interrupt();
            accepting.join(TimeUnit.NANOSECONDS.toMillis(PATIENCE_NANOS));
            assertFalse(accepting.isAlive(), "the interrupted accept did not return");
            assertInstanceOf(ClosedByInterruptException.class, outcome.get(), "what the accept did");
            assertTrue(interruptStatus.get(), "the interrupt status is kept");
            assertFalse(listener.isOpen(), "the interrupt closed the listener");
        }
    }

    @ParameterizedTest(name = "virtual thread: {0}")
    @ValueSource(booleans = {false, true})
    void closingAWildcardListenerUnderABlockedAcceptThrowsAsynchronousCloseException(boolean virtual) throws Exception {
        try (TwoProviders providers = new TwoProviders();
                ServerSocketChannel listener = providers.server.openServerSocketChannel()) {
            listener.bind(new InetSocketAddress(0));
            AtomicReference<Throwable> outcome = new AtomicReference<>();
            Thread accepting = (virtual ? Thread.ofVirtual() : Thread.ofPlatform().daemon()).name("accept").start(() -> {
                try {
                    outcome.set(new AssertionError("accept returned " + listener.accept()));
                } catch (Throwable t) {
                    outcome.set(t);
                }
            });
            awaitWaitingOnBothPaths(accepting);
            listener.close();
            accepting.join(TimeUnit.NANOSECONDS.toMillis(PATIENCE_NANOS));
            assertFalse(accepting.isAlive(), "the accept did not return after the close");
            assertSame(AsynchronousCloseException.class, outcome.get().getClass(), "what the accept did");
        }
    }

    /** Until the accept waits in the JDK selector (three samples in a row, to skip passing states). */
    private static void awaitWaitingOnBothPaths(Thread thread) throws InterruptedException {
        long deadline = System.nanoTime() + PATIENCE_NANOS;
        int consecutive = 0;
        while (consecutive < 3) {
            assertTrue(thread.isAlive(), "the accept returned before it blocked");
            assertTrue(System.nanoTime() - deadline < 0, "the accept did not block in the JDK selector: "
                    + Arrays.toString(thread.getStackTrace()));
            boolean waiting = Arrays.stream(thread.getStackTrace())
                    .anyMatch(frame -> frame.getMethodName().equals("waitOnBoth"))
                    && Arrays.stream(thread.getStackTrace()).anyMatch(frame -> frame.getMethodName().contains("select")
                            || frame.getMethodName().equals("doSelect"));
            consecutive = waiting ? consecutive + 1 : 0;
            Thread.sleep(2);
        }
    }
}

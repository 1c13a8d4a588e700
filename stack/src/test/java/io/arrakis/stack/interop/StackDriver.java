package io.arrakis.stack.interop;

import io.arrakis.device.Vnic;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.StackConfig;
import io.arrakis.stack.StackCounter;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * Runs one {@link NetworkStack} on real time, on a thread of its own that owns it (the stack
 * and its sockets live in a confined arena, so they are made, used and closed on that thread):
 * poll, run what the test asked for, spin a little while idle, then block in
 * {@link VnicQueue#awaitReceive} until a frame comes, the next stack timer is due, or 10 ms
 * pass. Tests reach the stack only through {@link #call}, {@link #await} and {@link #everyPoll},
 * all of which run their code on the polling thread; every wait is bounded.
 */
final class StackDriver implements AutoCloseable {
    /** Spin on poll this long after the last work before blocking. */
    private static final long SPIN_NANOS = 50_000;
    private static final long MAX_BLOCK_NANOS = 10_000_000;
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);

    /** Work to do on the polling thread. */
    @FunctionalInterface
    interface StackTask<T> {
        T apply(NetworkStack stack) throws Exception;
    }

    /** Work to do on the polling thread after every poll (an echo server, say). */
    @FunctionalInterface
    interface PollHook {
        void afterPoll(NetworkStack stack) throws Exception;
    }

    private record Waiter(Predicate<NetworkStack> condition, CompletableFuture<Void> done) {}

    private final Vnic vnic;
    private final VnicQueue queue;
    private final StackConfig config;
    private final Thread thread;
    private final CompletableFuture<Void> started = new CompletableFuture<>();
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final List<PollHook> hooks = new CopyOnWriteArrayList<>();
    private final List<Waiter> waiters = new CopyOnWriteArrayList<>();
    private volatile boolean running = true;
    private volatile Throwable failure;
    /** Made, used and closed on the polling thread only. */
    private NetworkStack stack;
    private long polls;
    private long blocks;

    private final int queueIndex;

    private StackDriver(Vnic vnic, int queueIndex, StackConfig config, String name) {
        this.vnic = vnic;
        this.queueIndex = queueIndex;
        this.queue = vnic.queue(queueIndex);
        this.config = config;
        this.thread = Thread.ofPlatform().name("stack-" + name).daemon().unstarted(this::loop);
    }

    /**
     * Makes a stack on queue 0 of {@code vnic} on a new polling thread, announces it (gratuitous
     * ARP: the link must be up) and starts polling.
     */
    static StackDriver start(Vnic vnic, StackConfig config) throws IOException {
        return start(vnic, 0, config);
    }

    /** As {@link #start(Vnic, StackConfig)}, on queue {@code queueIndex} of {@code vnic}. */
    static StackDriver start(Vnic vnic, int queueIndex, StackConfig config) throws IOException {
        StackDriver driver = new StackDriver(vnic, queueIndex, config, vnic.name() + "-q" + queueIndex);
        driver.thread.start();
        try {
            driver.started.get(CALL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            driver.close();
            throw new IOException("the stack did not start on " + vnic.name(), e);
        }
        return driver;
    }

    private void loop() {
        try {
            stack = new NetworkStack(vnic, queueIndex, config);
            stack.start(System.nanoTime());
            started.complete(null);
            long idleSince = -1;
            while (running) {
                long now = System.nanoTime();
                boolean worked = stack.poll(now) > 0;
                polls++;
                for (Runnable task; (task = tasks.poll()) != null; ) {
                    task.run();
                    worked = true;
                }
                for (PollHook hook : hooks) {
                    hook.afterPoll(stack);
                }
                stack.flush();
                for (Waiter waiter : waiters) {
                    if (waiter.condition.test(stack)) {
                        waiters.remove(waiter);
                        waiter.done.complete(null);
                    }
                }
                if (worked) {
                    idleSince = -1;
                    continue;
                }
                if (idleSince < 0) {
                    idleSince = now;
                }
                if (now - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                    continue;
                }
                long deadline = stack.nextDeadline();
                long timeout = deadline == Long.MAX_VALUE ? MAX_BLOCK_NANOS : Math.min(deadline - now, MAX_BLOCK_NANOS);
                if (timeout > 0) {
                    // Never 0 or less: that would mean "no limit".
                    queue.awaitReceive(timeout);
                    blocks++;
                }
                idleSince = -1;
            }
        } catch (Throwable t) {
            failure = t;
        } finally {
            running = false;
            Throwable why = failure != null ? failure : new IllegalStateException("the stack driver stopped");
            started.completeExceptionally(why);
            for (Waiter waiter : waiters) {
                waiter.done.completeExceptionally(why);
            }
            for (Runnable task; (task = tasks.poll()) != null; ) {
                task.run(); // a stopped driver fails tasks instead of running them: see call()
            }
            if (stack != null) {
                stack.close();
            }
        }
    }

    /** Runs {@code task} on the polling thread between two polls and returns its result (bounded wait). */
    <T> T call(StackTask<T> task) throws Exception {
        CompletableFuture<T> result = new CompletableFuture<>();
        if (!running) {
            throw new IllegalStateException("the stack driver has stopped", failure);
        }
        tasks.add(() -> {
            if (!running) {
                result.completeExceptionally(new IllegalStateException("the stack driver has stopped", failure));
                return;
            }
            try {
                result.complete(task.apply(stack));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        checkAlive();
        queue.wakeup();
        try {
            return result.get(CALL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw e;
        }
    }

    /** Convenience: the value of one counter, read on the polling thread. */
    long counter(StackCounter counter) throws Exception {
        return call(stack -> stack.counters().get(counter));
    }

    /**
     * Waits up to {@code patience} for {@code condition}, evaluated on the polling thread after
     * every poll; returns whether it came true.
     */
    boolean await(Predicate<NetworkStack> condition, Duration patience) throws Exception {
        Waiter waiter = new Waiter(condition, new CompletableFuture<>());
        waiters.add(waiter);
        checkAlive();
        queue.wakeup();
        try {
            waiter.done.get(patience.toNanos(), TimeUnit.NANOSECONDS);
            return true;
        } catch (TimeoutException e) {
            waiters.remove(waiter);
            return false;
        } catch (ExecutionException e) {
            throw new IllegalStateException("the stack driver failed", e.getCause());
        }
    }

    /** Runs {@code hook} on the polling thread after every poll from now on. */
    void everyPoll(PollHook hook) throws IOException {
        hooks.add(hook);
        queue.wakeup();
    }

    /** The stack's non-zero counters, read on the polling thread: for failure messages. */
    String describeCounters() {
        try {
            return call(stack -> {
                StringBuilder text = new StringBuilder("stack counters:");
                stack.counters().snapshot().forEach((name, value) -> {
                    if (value != 0) {
                        text.append(' ').append(name).append('=').append(value);
                    }
                });
                return text.toString();
            });
        } catch (Exception e) {
            return "stack counters unavailable: " + e;
        }
    }

    /** Polls so far and how often the loop blocked, as read on the polling thread. */
    String loopStatistics() throws Exception {
        return call(stack -> polls + " polls, " + blocks + " blocking waits");
    }


    private void checkAlive() {
        if (failure != null) {
            throw new IllegalStateException("the stack driver failed", failure);
        }
    }

    /** Stops the loop (bounded wait), closes the stack on its thread, and rethrows what the loop failed with. */
    @Override
    public void close() throws IOException {
        running = false;
        queue.wakeup();
        try {
            thread.join(CALL_TIMEOUT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            throw new IOException("the stack's polling thread did not stop within " + CALL_TIMEOUT);
        }
        if (failure != null) {
            throw new IOException("the stack's polling loop failed", failure);
        }
    }
}

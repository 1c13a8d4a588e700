package io.arrakis.control;

import io.arrakis.device.Vnic;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.StackConfig;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.tcp.TcpConfig;
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
 * Runs a {@link NetworkStack} with TCP on a thread of its own that owns it, on real time, as
 * the stack module's interop driver does: poll, run the test's tasks and hooks, spin for 50 us
 * after the last work, then block in {@link VnicQueue#awaitReceive} until a frame comes, a task
 * arrives ({@link VnicQueue#wakeup}), the next timer is due, or 100 ms pass. Tests reach the
 * stack only through {@link #call}, {@link #await} and {@link #everyPoll}; every wait is bounded.
 */
final class StackRunner implements AutoCloseable {
    private static final long SPIN_NANOS = 50_000;
    private static final long MAX_BLOCK_NANOS = 100_000_000;
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    @FunctionalInterface
    interface Task<T> {
        T apply(NetworkStack stack, TcpLayer tcp) throws Exception;
    }

    @FunctionalInterface
    interface Hook {
        void afterPoll(NetworkStack stack, TcpLayer tcp) throws Exception;
    }

    private record Waiter(Predicate<NetworkStack> condition, CompletableFuture<Void> done) {}

    private final Vnic vnic;
    private final int queueIndex;
    private final VnicQueue queue;
    private final StackConfig config;
    private final long seed;
    private final Thread thread;
    private final CompletableFuture<Void> started = new CompletableFuture<>();
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final List<Hook> hooks = new CopyOnWriteArrayList<>();
    private final List<Waiter> waiters = new CopyOnWriteArrayList<>();
    private volatile boolean running = true;
    private volatile Throwable failure;
    private NetworkStack stack;
    private TcpLayer tcp;

    private StackRunner(Vnic vnic, int queueIndex, StackConfig config, long seed) {
        this.vnic = vnic;
        this.queueIndex = queueIndex;
        this.queue = vnic.queue(queueIndex);
        this.config = config;
        this.seed = seed;
        this.thread = Thread.ofPlatform().name("stack-" + vnic.name() + "-" + queueIndex).daemon().unstarted(this::loop);
    }

    static StackRunner start(Vnic vnic, StackConfig config, long seed) throws IOException {
        return start(vnic, 0, config, seed);
    }

    /** A stack on queue {@code queueIndex} of {@code vnic}, on a thread of its own. */
    static StackRunner start(Vnic vnic, int queueIndex, StackConfig config, long seed) throws IOException {
        StackRunner runner = new StackRunner(vnic, queueIndex, config, seed);
        runner.thread.start();
        try {
            runner.started.get(CALL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            runner.close();
            throw new IOException("the stack did not start on " + vnic.name(), e);
        }
        return runner;
    }

    private void loop() {
        try {
            stack = new NetworkStack(vnic, queueIndex, config);
            tcp = new TcpLayer(stack, TcpConfig.DEFAULT, seed);
            stack.start(System.nanoTime());
            started.complete(null);
            long lastWork = System.nanoTime();
            while (running) {
                long now = System.nanoTime();
                boolean worked = stack.poll(now) > 0;
                for (Runnable task; (task = tasks.poll()) != null; ) {
                    task.run();
                    worked = true;
                }
                for (Hook hook : hooks) {
                    hook.afterPoll(stack, tcp);
                }
                stack.flush();
                for (Waiter waiter : waiters) {
                    if (waiter.condition.test(stack)) {
                        waiters.remove(waiter);
                        waiter.done.complete(null);
                    }
                }
                if (worked) {
                    lastWork = now;
                    continue;
                }
                // Spin only right after work; once that budget is spent, every idle pass blocks.
                if (now - lastWork < SPIN_NANOS) {
                    Thread.onSpinWait();
                    continue;
                }
                long deadline = stack.nextDeadline();
                long timeout = deadline == Long.MAX_VALUE ? MAX_BLOCK_NANOS : Math.min(deadline - now, MAX_BLOCK_NANOS);
                if (timeout > 0) {
                    queue.awaitReceive(timeout);
                }
            }
        } catch (Throwable t) {
            failure = t;
        } finally {
            running = false;
            Throwable why = failure != null ? failure : new IllegalStateException("the stack runner stopped");
            started.completeExceptionally(why);
            for (Waiter waiter : waiters) {
                waiter.done.completeExceptionally(why);
            }
            for (Runnable task; (task = tasks.poll()) != null; ) {
                task.run();
            }
            if (stack != null) {
                stack.close();
            }
        }
    }

    /** Runs {@code task} on the polling thread and returns its result (bounded wait). */
    <T> T call(Task<T> task) throws Exception {
        CompletableFuture<T> result = new CompletableFuture<>();
        if (!running) {
            throw new IllegalStateException("the stack runner has stopped", failure);
        }
        tasks.add(() -> {
            if (!running) {
                result.completeExceptionally(new IllegalStateException("the stack runner has stopped", failure));
                return;
            }
            try {
                result.complete(task.apply(stack, tcp));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
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

    /** {@link #call} for descriptions in failure messages: never throws. */
    String call0(java.util.function.Supplier<String> description) {
        try {
            return call((stack, tcp) -> description.get());
        } catch (Exception e) {
            return "(unavailable: " + e + ")";
        }
    }

    /** Waits up to {@code patience} for {@code condition}, checked on the polling thread after every poll. */
    boolean await(Predicate<NetworkStack> condition, Duration patience) throws Exception {
        Waiter waiter = new Waiter(condition, new CompletableFuture<>());
        waiters.add(waiter);
        if (failure != null) {
            throw new IllegalStateException("the stack runner failed", failure);
        }
        queue.wakeup();
        try {
            waiter.done.get(patience.toNanos(), TimeUnit.NANOSECONDS);
            return true;
        } catch (TimeoutException e) {
            waiters.remove(waiter);
            return false;
        } catch (ExecutionException e) {
            throw new IllegalStateException("the stack runner failed", e.getCause());
        }
    }

    void everyPoll(Hook hook) {
        hooks.add(hook);
        try {
            queue.wakeup();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Adds a server's hook and returns once it has run (its sockets are open), so clients are not refused. */
    void serve(Hook hook) throws Exception {
        everyPoll(hook);
        if (!await(stack -> true, CALL_TIMEOUT)) {
            throw new IllegalStateException("the stack runner did not run a poll within " + CALL_TIMEOUT);
        }
    }

    void removeHook(Hook hook) {
        hooks.remove(hook);
    }

    Throwable failure() {
        return failure;
    }

    String describe() {
        try {
            return call((stack, tcp) -> {
                StringBuilder text = new StringBuilder("stack counters:");
                stack.counters().snapshot().forEach((name, value) -> {
                    if (value != 0) {
                        text.append(' ').append(name).append('=').append(value);
                    }
                });
                text.append("; queue:");
                queue.counters().snapshot().forEach((name, value) -> {
                    if (value != 0) {
                        text.append(' ').append(name).append('=').append(value);
                    }
                });
                return text.toString();
            });
        } catch (Exception e) {
            return "counters unavailable: " + e;
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

package io.arrakis.provider;

import java.io.IOException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.IllegalSelectorException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.spi.AbstractSelectableChannel;
import java.nio.channels.spi.AbstractSelector;
import java.util.AbstractSet;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * A {@link Selector} for our channels, user-level and kernel-backed at once.
 *
 * <p>User-level keys are judged from their channels' state under the stack lock, but only when
 * something may have changed: a channel's {@link Readiness} puts its keys on this selector's dirty
 * list; keys found ready stay on a "was ready" list and are looked at again by the next select
 * (the JDK's selectors are level-triggered). Kernel-backed keys live in an inner JDK selector,
 * created when the first one registers. Waiting follows the stack's rule: spin (polling the stack)
 * for the spin budget, then sleep — parked when only user-level keys exist, in the inner selector
 * otherwise, woken by a user-level event through {@link Selector#wakeup()} on it.
 *
 * <p>Thread-safe as the JDK's: selection operations synchronize on the selector and on the
 * selected-key set; registration, {@code interestOps} and {@link #wakeup()} may come from any thread.
 */
final class ArrakisSelector extends AbstractSelector {
    private final ArrakisSelectorProvider arrakis;
    private final Set<SelectionKey> keys = ConcurrentHashMap.newKeySet();
    private final Set<SelectionKey> publicKeys = Collections.unmodifiableSet(keys);
    private final Set<SelectionKey> selectedKeys = new HashSet<>();
    private final Set<SelectionKey> publicSelectedKeys = new UngrowableSet(selectedKeys);

    private final Object dirtyLock = new Object();
    private ArrayList<ArrakisSelectionKey> dirty = new ArrayList<>();
    private ArrayList<ArrakisSelectionKey> judging = new ArrayList<>();
    /** Keys ready at the last select, guarded by this selector (the selecting thread). */
    private final ArrayList<ArrakisSelectionKey> wasReady = new ArrayList<>();

    /** Moves when a key may have become ready or {@link #wakeup()} is called: what a waiting select waits on. */
    private final Readiness changes = new Readiness();
    private volatile Selector inner;
    /** The inner selector's epoll descriptor ({@link JdkEpoll}), or -1 when it cannot be had. */
    private volatile int innerEpoll = -1;
    private volatile Thread selecting;
    private volatile boolean blockedInInner;
    private volatile boolean wakeupPending;
    private boolean inSelect;
    /**
     * The stack this selector spins and sleeps on when the process runs several (one per queue):
     * given when the first TCP connection registers ({@link #home}); null until then, and with
     * one stack (the selector then uses the process's stack).
     */
    private volatile UserStack home;
    /** Keys whose channel lives on another stack than the one judged under: judged after it, under their own. */
    private final ArrayList<ArrakisSelectionKey> foreign = new ArrayList<>();

    ArrakisSelector(ArrakisSelectorProvider provider) {
        super(provider);
        this.arrakis = provider;
    }

    // ------------------------------------------------------------------ registration

    @Override
    protected SelectionKey register(AbstractSelectableChannel channel, int ops, Object attachment) {
        if (!(channel instanceof RoutedChannel routed)) {
            throw new IllegalSelectorException();
        }
        ensureOpen();
        ArrakisSelectionKey key = new ArrakisSelectionKey(this, channel, ops);
        key.attach(attachment);
        keys.add(key);
        routed.readiness().addKey(key);
        try {
            attachKernel(key);
        } catch (IOException e) {
            keys.remove(key);
            routed.readiness().removeKey(key);
            throw new IllegalStateException("cannot register the kernel side of " + channel, e);
        }
        keyChanged(key, false); // judged at the next select; a blocked one is not woken (as the JDK's)
        arrakis.place(this, routed); // several stacks: its connection moves to ours
        return key;
    }

    /** This selector's stack among {@code stacks}, given now (round robin) if it has none. */
    UserStack home(QueueStacks stacks) {
        UserStack h = home;
        if (h == null) {
            synchronized (dirtyLock) {
                h = home;
                if (h == null) {
                    h = stacks.nextHome();
                    home = h;
                }
            }
        }
        return h;
    }

    /** The stack to spin and sleep on: this selector's own, else the process's (queue 0's). */
    private UserStack selectStack() {
        UserStack h = home;
        return h != null ? h : arrakis.userStackIfOpen();
    }

    /** Registers the key's kernel side (if its channel has one now) with the inner JDK selector. */
    void attachKernel(ArrakisSelectionKey key) throws IOException {
        SelectableChannel kernel = key.routed().kernelChannel();
        if (kernel == null || key.kernelKey != null) {
            return;
        }
        Selector in = inner();
        SelectionKey innerKey = kernel.register(in, key.interest() & kernel.validOps(), key);
        key.kernelKey = innerKey;
    }

    private Selector inner() throws IOException {
        Selector in = inner;
        if (in == null) {
            synchronized (this.dirtyLock) {
                in = inner;
                if (in == null) {
                    in = JdkProvider.get().openSelector();
                    innerEpoll = JdkEpoll.of(in);
                    inner = in;
                }
            }
        }
        return in;
    }

    /** A key's channel changed (or its interest did): judge it at the next select, waking a sleeping one. */
    void keyChanged(ArrakisSelectionKey key, boolean wake) {
        synchronized (dirtyLock) {
            if (!key.queued) {
                key.queued = true;
                dirty.add(key);
            }
        }
        if (wake) {
            changes.signal();
            if (blockedInInner) {
                Selector in = inner;
                if (in != null) {
                    in.wakeup();
                }
            }
        }
    }

    private boolean hasDirty() {
        synchronized (dirtyLock) {
            return !dirty.isEmpty();
        }
    }

    // ------------------------------------------------------------------ sets

    private void ensureOpen() {
        if (!isOpen()) {
            throw new ClosedSelectorException();
        }
    }

    @Override
    public Set<SelectionKey> keys() {
        ensureOpen();
        return publicKeys;
    }

    @Override
    public Set<SelectionKey> selectedKeys() {
        ensureOpen();
        return publicSelectedKeys;
    }

    // ------------------------------------------------------------------ selection

    @Override
    public int selectNow() throws IOException {
        return lockAndSelect(null, 0);
    }

    @Override
    public int select(long timeout) throws IOException {
        if (timeout < 0) {
            throw new IllegalArgumentException("Negative timeout");
        }
        return lockAndSelect(null, timeout == 0 ? -1 : timeout);
    }

    @Override
    public int select() throws IOException {
        return lockAndSelect(null, -1);
    }

    @Override
    public int select(Consumer<SelectionKey> action, long timeout) throws IOException {
        if (timeout < 0) {
            throw new IllegalArgumentException("Negative timeout");
        }
        return lockAndSelect(java.util.Objects.requireNonNull(action), timeout == 0 ? -1 : timeout);
    }

    @Override
    public int select(Consumer<SelectionKey> action) throws IOException {
        return select(action, 0);
    }

    @Override
    public int selectNow(Consumer<SelectionKey> action) throws IOException {
        return lockAndSelect(java.util.Objects.requireNonNull(action), 0);
    }

    /** {@code timeoutMillis}: -1 forever, 0 no wait. */
    private int lockAndSelect(Consumer<SelectionKey> action, long timeoutMillis) throws IOException {
        synchronized (this) {
            ensureOpen();
            if (inSelect) {
                throw new IllegalStateException("select in progress");
            }
            inSelect = true;
            try {
                synchronized (publicSelectedKeys) {
                    return doSelect(action, timeoutMillis);
                }
            } finally {
                inSelect = false;
            }
        }
    }

    private int doSelect(Consumer<SelectionKey> action, long timeoutMillis) throws IOException {
        processCancelled();
        long deadline = timeoutMillis > 0 ? System.nanoTime() + timeoutMillis * 1_000_000L : Long.MAX_VALUE;
        UserStack stack = selectStack();
        int n = collect(action, stack, true);
        boolean woken = consumeWakeup(); // selectNow consumes an earlier wakeup too
        if (n > 0 || timeoutMillis == 0 || woken) {
            processCancelled();
            return n;
        }
        selecting = Thread.currentThread();
        try {
            while (true) {
                // As the JDK's: a wakeup ends the select with what it had, before it looks again
                // (so registrations and interest changes made meanwhile wait for the next select).
                if (consumeWakeup() || Thread.currentThread().isInterrupted() || !isOpen()) {
                    break;
                }
                int seen = changes.sequence(); // before looking, so no change slips between
                n = collect(action, stack, false);
                if (n > 0) {
                    break;
                }
                long now = System.nanoTime();
                if (deadline != Long.MAX_VALUE && now - deadline >= 0) {
                    break;
                }
                Selector in = inner;
                if (in != null && hasKernelKeys()) {
                    waitWithKernelKeys(in, stack, seen, deadline);
                } else if (stack != null) {
                    // Only user-level keys: the stack's own wait (spin, lead or park).
                    stack.await(changes, seen, deadline);
                } else {
                    changes.park(Thread.currentThread());
                    try {
                        if (!changes.movedSince(seen)) {
                            if (deadline == Long.MAX_VALUE) {
                                LockSupport.park(this);
                            } else {
                                LockSupport.parkNanos(this, deadline - now);
                            }
                        }
                    } finally {
                        changes.unpark(Thread.currentThread());
                    }
                }
            }
        } finally {
            selecting = null;
        }
        processCancelled();
        return n;
    }

    /**
     * Kernel-backed keys too: spin on the stack (peeking at the inner selector now and then),
     * then sleep on both kinds at once: as the stack's leader, with the inner selector's epoll
     * descriptor in the leader's epoll set, so a frame wakes this thread directly and a kernel
     * key's event (or a wakeup of the inner selector) ends the same sleep. When that cannot be
     * (another thread leads, a virtual thread, the inner selector's descriptor out of reach),
     * hand the queue to the poller and sleep in the inner JDK selector, which a user-level
     * change wakes: two wake-ups per frame, the poller's and then ours.
     */
    private void waitWithKernelKeys(Selector in, UserStack stack, int seen, long deadline) throws IOException {
        long budget = stack == null ? 0 : stack.spinBudget();
        if (budget > 0) {
            long spinEnd = System.nanoTime() + budget;
            int round = 0;
            stack.spinStarted();
            try {
                while (!changes.movedSince(seen) && !Thread.currentThread().isInterrupted()) {
                    if (stack.lock().tryLock()) {
                        try {
                            stack.pollLocked();
                        } finally {
                            stack.lock().unlock();
                        }
                    }
                    if ((++round & 63) == 0 && in.selectNow() > 0) {
                        stack.spinPaid();
                        return;
                    }
                    long now = System.nanoTime();
                    if (now - spinEnd >= 0 || now - deadline >= 0) {
                        break;
                    }
                    Thread.onSpinWait();
                }
            } finally {
                stack.spinEnded();
            }
            // The same adaptive budget as the stack's own waits: a spin that keeps finding
            // nothing (a loaded machine, where it takes the CPU the peer needs) shrinks.
            if (changes.movedSince(seen)) {
                // Back to the caller's loop, without handing the queue to the poller: this thread
                // polls again at its next select. (Handing over here unparked the poller once per
                // request, and its wake-ups took the CPU from the spinners.)
                stack.spinPaid();
                return;
            }
            if (!Thread.currentThread().isInterrupted()) {
                stack.spinWasted();
            }
        }
        if (budget == 0 && stack != null) {
            stack.spinSkipped();
        }
        if (changes.movedSince(seen)) {
            // It came just as the spin ended: back to the caller's loop, as a paid spin does,
            // rather than handing the queue to the poller for a sleep that will not happen.
            return;
        }
        int epoll = innerEpoll;
        if (stack != null && epoll >= 0) {
            int led = stack.leadWatching(this, epoll, io.arrakis.linux.Epoll.EPOLLIN, changes, seen, deadline, false);
            if (led >= 0) {
                return; // the caller's loop collects what is ready on either side
            }
        }
        if (stack != null) {
            stack.parked();
            stack.handToPoller(); // it covers the queue while we sleep in the JDK's selector
        }
        blockedInInner = true;
        try {
            if (!changes.movedSince(seen)) {
                long left = deadline == Long.MAX_VALUE ? 0 : Math.max(1, (deadline - System.nanoTime()) / 1_000_000L);
                if (deadline == Long.MAX_VALUE) {
                    in.select();
                } else {
                    in.select(left);
                }
            }
        } finally {
            blockedInInner = false;
        }
    }

    private boolean hasKernelKeys() {
        Selector in = inner;
        return in != null && !in.keys().isEmpty();
    }

    private boolean consumeWakeup() {
        if (wakeupPending) {
            wakeupPending = false;
            return true;
        }
        return false;
    }

    /** Judges the dirty and still-ready user keys and the inner selector's kernel keys. */
    private int collect(Consumer<SelectionKey> action, UserStack stack, boolean first) throws IOException {
        int n = 0;
        ArrayList<ArrakisSelectionKey> batch;
        synchronized (dirtyLock) {
            batch = dirty;
            dirty = judging;
            judging = batch;
            for (ArrakisSelectionKey key : batch) {
                key.queued = false;
            }
        }
        for (ArrakisSelectionKey key : wasReady) {
            if (!key.queued) {
                key.queued = true;
                batch.add(key);
            }
        }
        wasReady.clear();
        if (!batch.isEmpty()) {
            if (stack != null) {
                stack.lock().lock();
            }
            try {
                if (stack != null && first) {
                    stack.pollLocked(); // fresh frames first, as a kernel select sees what arrived
                }
                for (ArrakisSelectionKey key : batch) {
                    key.queued = false;
                    if (!key.isValid() || !key.routed().hasUserSide()) {
                        continue;
                    }
                    UserStack on = key.routed().userStack();
                    if (on != stack && on != null && stack != null) {
                        foreign.add(key); // several stacks: judged under its own stack's lock, below
                        continue;
                    }
                    int ready = key.routed().readyOps(key.interest()) & key.interest();
                    if (ready != 0) {
                        key.judged = ready;
                        wasReady.add(key);
                    }
                }
            } finally {
                if (stack != null) {
                    stack.unlock();
                }
            }
            batch.clear();
            if (!foreign.isEmpty()) {
                judgeForeign();
            }
            // Reported outside the stack lock: an action may take its time.
            for (int i = 0; i < wasReady.size(); i++) {
                ArrakisSelectionKey key = wasReady.get(i);
                n += report(key, key.judged, action);
            }
        } else if (stack != null && first) {
            if (stack.lock().tryLock()) {
                try {
                    stack.pollLocked();
                } finally {
                    stack.unlock();
                }
                if (hasDirty()) {
                    return collect(action, stack, false);
                }
            }
        }
        Selector in = inner;
        if (in != null && !in.keys().isEmpty()) {
            in.selectNow();
            Iterator<SelectionKey> it = in.selectedKeys().iterator();
            while (it.hasNext()) {
                SelectionKey innerKey = it.next();
                it.remove();
                ArrakisSelectionKey key = (ArrakisSelectionKey) innerKey.attachment();
                if (innerKey.isValid() && key.isValid()) {
                    int ready = innerKey.readyOps() & key.interest();
                    if (ready != 0) {
                        n += report(key, ready, action);
                    }
                }
            }
        }
        return n;
    }

    /**
     * Judges the keys {@link #collect} set aside because their channels live on another stack
     * than this selector's (a listener on queue 0's stack, a connection whose move was refused),
     * each under its own stack's lock, taken after the selector's was released (two stack locks
     * are only ever held together in queue order, by a move).
     */
    private void judgeForeign() {
        for (int i = 0; i < foreign.size(); i++) {
            ArrakisSelectionKey key = foreign.get(i);
            while (true) {
                UserStack on = key.routed().userStack();
                on.lock().lock();
                try {
                    if (key.routed().userStack() != on) {
                        continue; // it moved meanwhile: judge it where it is now
                    }
                    int ready = key.routed().readyOps(key.interest()) & key.interest();
                    if (ready != 0) {
                        key.judged = ready;
                        wasReady.add(key);
                    }
                } finally {
                    on.unlock();
                }
                break;
            }
        }
        foreign.clear();
    }

    /** The JDK's rules for a ready key: set or add its ready ops, add it to the selected set or run the action. */
    private int report(ArrakisSelectionKey key, int ready, Consumer<SelectionKey> action) {
        if (action != null) {
            key.setReadyOps(ready);
            action.accept(key);
            ensureOpen();
            return 1;
        }
        if (selectedKeys.contains(key)) {
            int old = key.ready();
            int now = old | ready;
            key.setReadyOps(now);
            return now != old ? 1 : 0;
        }
        key.setReadyOps(ready);
        selectedKeys.add(key);
        return 1;
    }

    private void processCancelled() throws IOException {
        Set<SelectionKey> cancelled = cancelledKeys();
        List<SelectionKey> drained;
        synchronized (cancelled) {
            if (cancelled.isEmpty()) {
                return;
            }
            drained = new ArrayList<>(cancelled);
            cancelled.clear();
        }
        for (SelectionKey k : drained) {
            forget((ArrakisSelectionKey) k);
        }
        Selector in = inner;
        if (in != null) {
            in.selectNow(); // flushes the inner selector's own cancelled keys
            in.selectedKeys().clear();
        }
    }

    private void forget(ArrakisSelectionKey key) {
        keys.remove(key);
        selectedKeys.remove(key);
        wasReady.remove(key);
        key.routed().readiness().removeKey(key);
        SelectionKey innerKey = key.kernelKey;
        if (innerKey != null) {
            innerKey.cancel();
        }
        deregister(key);
    }

    @Override
    public Selector wakeup() {
        wakeupPending = true;
        changes.signal();
        Selector in = inner;
        if (in != null) {
            in.wakeup();
        }
        return this;
    }

    @Override
    protected void implCloseSelector() throws IOException {
        wakeup();
        synchronized (this) {
            synchronized (publicSelectedKeys) {
                for (SelectionKey k : new ArrayList<>(keys)) {
                    k.cancel();
                }
                processCancelled();
                selectedKeys.clear();
            }
        }
        Selector in = inner;
        if (in != null) {
            UserStack stack = arrakis.userStackIfOpen();
            if (stack != null) {
                for (UserStack s : stack.stacksOfQueues()) {
                    s.dropKeptDescriptor(this); // left in the leader's epoll set by our last sleep
                }
            }
            in.close();
        }
    }

    /**
     * The epoll descriptor of a JDK selector ({@code sun.nio.ch.EPollSelectorImpl.epfd}): readable
     * while one of its keys is ready or it has been woken, so another epoll set can include it.
     * The field is private: reachable when {@code sun.nio.ch} is open to us (the agent opens it;
     * without the agent, {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED}); else -1.
     */
    private static final class JdkEpoll {
        private static final Class<?> SELECTOR = find("EPollSelectorImpl");
        private static final java.lang.invoke.VarHandle EPFD = epfd();

        private static Class<?> find(String name) {
            try {
                return Class.forName(JdkProvider.PACKAGE + "." + name);
            } catch (ClassNotFoundException | RuntimeException e) {
                return null;
            }
        }

        private static java.lang.invoke.VarHandle epfd() {
            if (SELECTOR == null) {
                return null;
            }
            try {
                return java.lang.invoke.MethodHandles.privateLookupIn(SELECTOR, java.lang.invoke.MethodHandles.lookup())
                        .findVarHandle(SELECTOR, "epfd", int.class);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null; // not open to us: selectors with kernel keys sleep in the inner selector
            }
        }

        static int of(Selector selector) {
            if (EPFD == null || !SELECTOR.isInstance(selector)) {
                return -1;
            }
            return (int) EPFD.get(selector);
        }
    }

    /** The JDK's selected-key set: removal allowed, addition refused. */
    private static final class UngrowableSet extends AbstractSet<SelectionKey> {
        private final Set<SelectionKey> set;

        UngrowableSet(Set<SelectionKey> set) {
            this.set = set;
        }

        @Override
        public int size() {
            return set.size();
        }

        @Override
        public boolean isEmpty() {
            return set.isEmpty();
        }

        @Override
        public boolean contains(Object o) {
            return set.contains(o);
        }

        @Override
        public Iterator<SelectionKey> iterator() {
            return set.iterator();
        }

        @Override
        public boolean remove(Object o) {
            return set.remove(o);
        }

        @Override
        public boolean add(SelectionKey key) {
            throw new UnsupportedOperationException();
        }
    }
}

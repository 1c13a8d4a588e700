package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.bytes;
import static java.nio.channels.SelectionKey.OP_ACCEPT;
import static java.nio.channels.SelectionKey.OP_CONNECT;
import static java.nio.channels.SelectionKey.OP_READ;
import static java.nio.channels.SelectionKey.OP_WRITE;

import java.io.IOException;
import java.net.ProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.AbstractSelectableChannel;
import java.nio.channels.spi.AbstractSelector;
import java.nio.channels.spi.SelectorProvider;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Selector and SelectionKey: registration, readiness, wakeup, cancel, key sets, select(Consumer), concurrency, close. */
final class SelectorCases {
    private SelectorCases() {
    }

    /** A provider that is neither the JDK's nor ours: its channels must be refused by the network's selectors. */
    static final class ForeignProvider extends SelectorProvider {
        @Override
        public DatagramChannel openDatagramChannel() {
            throw new UnsupportedOperationException("foreign provider");
        }

        @Override
        public DatagramChannel openDatagramChannel(ProtocolFamily family) {
            throw new UnsupportedOperationException("foreign provider");
        }

        @Override
        public Pipe openPipe() {
            throw new UnsupportedOperationException("foreign provider");
        }

        @Override
        public AbstractSelector openSelector() {
            throw new UnsupportedOperationException("foreign provider");
        }

        @Override
        public ServerSocketChannel openServerSocketChannel() {
            throw new UnsupportedOperationException("foreign provider");
        }

        @Override
        public SocketChannel openSocketChannel() {
            throw new UnsupportedOperationException("foreign provider");
        }
    }

    /** A selectable channel of the {@link ForeignProvider}, non-blocking, doing nothing. */
    static final class ForeignChannel extends AbstractSelectableChannel {
        ForeignChannel() throws IOException {
            super(new ForeignProvider());
            configureBlocking(false);
        }

        @Override
        protected void implCloseSelectableChannel() {
            // nothing to release
        }

        @Override
        protected void implConfigureBlocking(boolean block) {
            // nothing to configure
        }

        @Override
        public int validOps() {
            return OP_READ;
        }
    }

    /** A connected pair whose client end is non-blocking and registered with {@code selector} for {@code ops}. */
    static SelectionKey registerClient(TcpPair pair, Selector selector, int ops) throws IOException {
        pair.client().configureBlocking(false);
        return pair.client().register(selector, ops);
    }

    /** Selects with a bounded timeout until the key is selected with {@code ops} ready, for events that arrive asynchronously. */
    static int selectUntilReady(Selector selector, SelectionKey key, int ops) throws Exception {
        long deadline = System.nanoTime() + Await.LIMIT.toNanos();
        int total = 0;
        while (!(selector.selectedKeys().contains(key) && (key.readyOps() & ops) == ops)) {
            if (System.nanoTime() > deadline) {
                throw new java.util.concurrent.TimeoutException("key not ready for " + Trace.ops(ops) + " within " + Await.LIMIT);
            }
            total += selector.select(100);
        }
        return total;
    }

    static long millisSince(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    static List<Case> cases() {
        Catalog c = new Catalog("Selector");

        c.add("newSelectorIsOpenWithEmptyKeySets", (net, t) -> {
            try (Selector selector = net.provider().openSelector()) {
                t.note("isOpen", selector.isOpen());
                t.note("keys", selector.keys());
                t.note("selectedKeys", selector.selectedKeys());
                t.note("provider is the network's", selector.provider() == net.provider());
                t.note("wakeup returns the selector", selector.wakeup() == selector);
            }
        }, "isOpen = true", "keys = []", "selectedKeys = []", "provider is the network's = true", "wakeup returns the selector = true");

        c.add("selectNowWithNoKeysReturnsZero", (net, t) -> {
            try (Selector selector = net.provider().openSelector()) {
                t.call("selectNow", selector::selectNow);
            }
        }, "selectNow -> 0");

        c.add("selectWithTimeoutAndNothingReadyReturnsZero", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                registerClient(pair, selector, OP_READ);
                long start = System.nanoTime();
                t.call("select(100)", () -> selector.select(100));
                t.note("waited at least 50 ms", millisSince(start) >= 50);
                t.note("selectedKeys", selector.selectedKeys());
            }
        }, "select(100) -> 0", "waited at least 50 ms = true", "selectedKeys = []");

        c.add("negativeTimeoutsThrowIllegalArgument", (net, t) -> {
            try (Selector selector = net.provider().openSelector()) {
                t.call("select(-1)", () -> selector.select(-1));
                t.call("select(action, -1)", () -> selector.select(k -> { }, -1));
            }
        }, "select(-1) -> threw IllegalArgumentException: Negative timeout",
                "select(action, -1) -> threw IllegalArgumentException: Negative timeout");

        c.add("wakeupBeforeSelectMakesItReturnAtOnce", (net, t) -> {
            try (Selector selector = net.provider().openSelector(); Watchdog _ = Watchdog.closeAfterLimit(selector)) {
                selector.wakeup();
                t.call("select() after wakeup", selector::select);
                t.note("returned before the watchdog closed the selector", selector.isOpen());
            }
        }, "select() after wakeup -> 0", "returned before the watchdog closed the selector = true");

        c.add("wakeupBeforeSelectWithActionMakesItReturnAtOnce", (net, t) -> {
            try (Selector selector = net.provider().openSelector(); Watchdog _ = Watchdog.closeAfterLimit(selector)) {
                selector.wakeup();
                t.call("select(action) after wakeup", () -> selector.select(k -> { }));
                t.note("returned before the watchdog closed the selector", selector.isOpen());
            }
        }, "select(action) after wakeup -> 0", "returned before the watchdog closed the selector = true");

        c.add("selectNowConsumesAnEarlierWakeup", (net, t) -> {
            try (Selector selector = net.provider().openSelector()) {
                selector.wakeup();
                t.call("selectNow", selector::selectNow);
                long start = System.nanoTime();
                t.call("select(100)", () -> selector.select(100));
                t.note("select waited at least 50 ms", millisSince(start) >= 50);
            }
        }, "selectNow -> 0", "select(100) -> 0", "select waited at least 50 ms = true");

        c.add("severalWakeupsAreConsumedByOneSelect", (net, t) -> {
            try (Selector selector = net.provider().openSelector(); Watchdog _ = Watchdog.closeAfterLimit(selector)) {
                selector.wakeup();
                selector.wakeup();
                selector.wakeup();
                t.call("select()", selector::select);
                long start = System.nanoTime();
                t.call("select(100)", () -> selector.select(100));
                t.note("the second select waited at least 50 ms", millisSince(start) >= 50);
            }
        }, "select() -> 0", "select(100) -> 0", "the second select waited at least 50 ms = true");

        c.add("wakeupFromAnotherThreadReleasesABlockedSelect", (net, t) -> {
            try (Selector selector = net.provider().openSelector();
                    Background<Integer> select = Background.start("select", selector::select)) {
                select.awaitBlocked(net);
                selector.wakeup();
                t.outcome("blocked select", select.await());
                t.note("selector open", selector.isOpen());
            }
        }, "blocked select -> 0", "selector open = true");

        c.add("registerReturnsAKeyWithItsInterestAndAttachment", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                pair.client().configureBlocking(false);
                Object attachment = new Object();
                SelectionKey key = pair.client().register(selector, OP_READ | OP_WRITE, attachment);
                t.key("key", key);
                t.note("attachment", key.attachment() == attachment);
                t.note("channel", key.channel() == pair.client());
                t.note("selector", key.selector() == selector);
                t.note("keyFor", pair.client().keyFor(selector) == key);
                t.note("keys", selector.keys().equals(Set.of(key)));
                t.note("selectedKeys", selector.selectedKeys());
                t.state("channel", pair.client());
            }
        }, "key: valid interest=READ|WRITE ready=0", "attachment = true", "channel = true", "selector = true", "keyFor = true",
                "keys = true", "selectedKeys = []", "channel: open=true blocking=false registered=true connected=true pending=false");

        c.add("registerBlockingChannelThrowsIllegalBlockingMode", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                t.call("register", () -> pair.client().register(selector, OP_READ));
                t.note("keys", selector.keys());
            }
        }, "register -> threw IllegalBlockingModeException", "keys = []");

        c.add("registerWithOpsOutsideValidOpsThrowsIllegalArgument", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                pair.client().configureBlocking(false);
                t.call("register SocketChannel for ACCEPT", () -> pair.client().register(selector, OP_ACCEPT));
                pair.listener().configureBlocking(false);
                t.call("register ServerSocketChannel for READ", () -> pair.listener().register(selector, OP_READ));
                SelectionKey key = pair.client().register(selector, OP_READ);
                t.call("interestOps(ACCEPT)", () -> key.interestOps(OP_ACCEPT));
                t.call("interestOpsOr(ACCEPT)", () -> key.interestOpsOr(OP_ACCEPT));
                t.key("key", key);
            }
        }, "register SocketChannel for ACCEPT -> threw IllegalArgumentException",
                "register ServerSocketChannel for READ -> threw IllegalArgumentException",
                "interestOps(ACCEPT) -> threw IllegalArgumentException", "interestOpsOr(ACCEPT) -> threw IllegalArgumentException",
                "key: valid interest=READ ready=0");

        c.add("registerClosedChannelThrowsClosedChannel", (net, t) -> {
            try (Selector selector = net.provider().openSelector()) {
                SocketChannel ch = net.provider().openSocketChannel();
                ch.configureBlocking(false);
                ch.close();
                t.call("register", () -> ch.register(selector, OP_READ));
            }
        }, "register -> threw ClosedChannelException");

        c.add("registerWithClosedSelectorThrowsClosedSelector", (net, t) -> {
            try (SocketChannel ch = net.provider().openSocketChannel()) {
                ch.configureBlocking(false);
                Selector selector = net.provider().openSelector();
                selector.close();
                t.call("register", () -> ch.register(selector, OP_READ));
                t.state("channel", ch);
            }
        }, "register -> threw ClosedSelectorException", "channel: open=true blocking=false registered=false connected=false pending=false");

        c.add("registerForeignChannelThrowsIllegalSelector", (net, t) -> {
            try (Selector selector = net.provider().openSelector(); ForeignChannel foreign = new ForeignChannel()) {
                t.call("register a channel of another provider", () -> foreign.register(selector, OP_READ));
                t.note("keys", selector.keys());
            }
        }, "register a channel of another provider -> threw IllegalSelectorException", "keys = []");

        c.add("registeringAgainUpdatesTheSameKey", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey first = registerClient(pair, selector, OP_READ);
                Object attachment = "second";
                SelectionKey second = pair.client().register(selector, OP_WRITE, attachment);
                t.note("same key", first == second);
                t.key("key", second);
                t.note("attachment replaced", second.attachment() == attachment);
                t.note("one key", selector.keys().size());
            }
        }, "same key = true", "key: valid interest=WRITE ready=0", "attachment replaced = true", "one key = 1");

        c.add("reRegisterBeforeTheNextSelectAfterCancelThrowsCancelledKey", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                key.cancel();
                t.call("register again", () -> pair.client().register(selector, OP_READ));
                t.note("keyFor still returns the cancelled key", pair.client().keyFor(selector) == key);
                t.note("still registered", pair.client().isRegistered());
            }
        }, "register again -> threw CancelledKeyException", "keyFor still returns the cancelled key = true", "still registered = true");

        c.add("reRegisterAfterCancelAndSelectGivesANewKey", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                key.cancel();
                t.call("selectNow deregisters", selector::selectNow);
                t.note("registered after select", pair.client().isRegistered());
                t.note("keyFor after select", pair.client().keyFor(selector));
                SelectionKey again = t.call("register again", () -> pair.client().register(selector, OP_WRITE));
                t.note("a new key", again != key);
                t.key("new key", again);
                t.call("selectNow", selector::selectNow);
                t.key("new key after select", again);
            }
        }, "selectNow deregisters -> 0", "registered after select = false", "keyFor after select = null",
                "register again -> a SelectionKey", "a new key = true", "new key: valid interest=WRITE ready=0",
                "selectNow -> 1", "new key after select: valid interest=WRITE ready=WRITE");

        c.add("cancelledKeyOperationsThrowCancelledKey", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                key.attach("kept");
                key.cancel();
                t.note("isValid", key.isValid());
                t.call("interestOps()", key::interestOps);
                t.call("interestOps(WRITE)", () -> key.interestOps(OP_WRITE));
                t.call("interestOpsOr", () -> key.interestOpsOr(OP_WRITE));
                t.call("interestOpsAnd", () -> key.interestOpsAnd(0));
                t.call("readyOps()", key::readyOps);
                t.call("isReadable", key::isReadable);
                t.note("channel still known", key.channel() == pair.client());
                t.note("selector still known", key.selector() == selector);
                t.note("attachment", key.attachment());
            }
        }, "isValid = false", "interestOps() -> threw CancelledKeyException", "interestOps(WRITE) -> threw CancelledKeyException",
                "interestOpsOr -> threw CancelledKeyException", "interestOpsAnd -> threw CancelledKeyException",
                "readyOps() -> threw CancelledKeyException", "isReadable -> threw CancelledKeyException",
                "channel still known = true", "selector still known = true", "attachment = kept");

        c.add("cancelIsIdempotentAndKeepsTheKeyUntilTheNextSelect", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                t.run("cancel", key::cancel);
                t.run("cancel again", key::cancel);
                t.note("keys still holds it", selector.keys().contains(key));
                selector.selectNow();
                t.note("keys after select holds it", selector.keys().contains(key));
            }
        }, "cancel -> ok", "cancel again -> ok", "keys still holds it = true", "keys after select holds it = false");

        c.add("closingTheChannelCancelsItsKeys", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                pair.client().close();
                t.note("key valid", key.isValid());
                t.note("channel registered", pair.client().isRegistered());
                t.note("keys holds it", selector.keys().contains(key));
                t.call("selectNow", selector::selectNow);
                t.note("channel registered after select", pair.client().isRegistered());
                t.note("keys after select", selector.keys());
            }
        }, "key valid = false", "channel registered = true", "keys holds it = true", "selectNow -> 0",
                "channel registered after select = false", "keys after select = []");

        c.add("closingARegisteredChannelStillClosesTheConnection", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                registerClient(pair, selector, OP_READ);
                pair.client().close();
                // the JDK shuts the connection down at close even while the key awaits deregistration
                t.call("peer reads end of stream", () -> TcpPair.readFully(pair.server(), 1).length);
                selector.selectNow();
            }
        }, "peer reads end of stream -> 0");

        c.add("keysSetIsImmutable", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                Set<SelectionKey> keys = selector.keys();
                t.call("remove", () -> keys.remove(key));
                t.call("add", () -> keys.add(key));
                t.call("clear", () -> {
                    keys.clear();
                    return null;
                });
                t.call("iterator remove", () -> {
                    var it = keys.iterator();
                    it.next();
                    it.remove();
                    return null;
                });
                t.note("still holds the key", keys.contains(key));
                t.note("keys() is a live view", selector.keys().size());
            }
        }, "remove -> threw UnsupportedOperationException", "add -> threw UnsupportedOperationException",
                "clear -> threw UnsupportedOperationException", "iterator remove -> threw UnsupportedOperationException",
                "still holds the key = true");

        c.add("selectedKeysAllowRemovalButNotAddition", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_WRITE);
                selector.selectNow();
                Set<SelectionKey> selected = selector.selectedKeys();
                t.note("selected", selected.contains(key));
                t.call("add", () -> selected.add(key));
                t.call("addAll", () -> selected.addAll(Set.of(key)));
                t.call("remove", () -> selected.remove(key));
                t.note("selectedKeys() is the same set", selector.selectedKeys() == selected);
                selector.selectNow();
                t.call("iterator remove", () -> {
                    var it = selected.iterator();
                    it.next();
                    it.remove();
                    return selected.size();
                });
                selector.selectNow();
                t.call("clear", () -> {
                    selected.clear();
                    return selected.size();
                });
            }
        }, "selected = true", "add -> threw UnsupportedOperationException", "addAll -> threw UnsupportedOperationException",
                "remove -> true", "selectedKeys() is the same set = true", "iterator remove -> 0", "clear -> 0");

        c.add("selectedKeysStayUntilRemovedAndSelectCountsOnlyNewReadiness", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ | OP_WRITE);
                t.call("selectNow (writable)", selector::selectNow);
                t.key("key", key);
                t.call("selectNow again (nothing new)", selector::selectNow);
                t.note("still selected", selector.selectedKeys().contains(key));
                pair.server().write(ByteBuffer.wrap(bytes(1)));
                t.call("select once readable too", () -> selectUntilReady(selector, key, OP_READ | OP_WRITE));
                t.key("key", key);
                selector.selectedKeys().clear();
                t.call("selectNow after removal counts it again", selector::selectNow);
            }
        }, "selectNow (writable) -> 1", "key: valid interest=READ|WRITE ready=WRITE", "selectNow again (nothing new) -> 0",
                "still selected = true", "select once readable too -> 1", "key: valid interest=READ|WRITE ready=READ|WRITE",
                "selectNow after removal counts it again -> 1");

        c.add("readyOpsOfAnUnselectedKeyAreNotCleared", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                pair.server().write(ByteBuffer.wrap(bytes(2)));
                selectUntilReady(selector, key, OP_READ);
                selector.selectedKeys().clear();
                TcpPair.readFully(pair.client(), 2);
                t.call("selectNow with nothing to read", selector::selectNow);
                t.key("key keeps its last ready set", key);
            }
        }, "selectNow with nothing to read -> 0", "key keeps its last ready set: valid interest=READ ready=READ");

        c.add("readReadinessWhenDataArrives", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                t.call("selectNow before data", selector::selectNow);
                pair.server().write(ByteBuffer.wrap(bytes(4)));
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("key", key);
                t.note("isReadable", key.isReadable());
                t.note("isWritable", key.isWritable());
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(8)));
            }
        }, "selectNow before data -> 0", "select -> 1", "key: valid interest=READ ready=READ", "isReadable = true",
                "isWritable = false", "read -> 4");

        c.add("connectReadinessThenFinishConnect", (net, t) -> {
            try (Resources r = new Resources(); ServerSocketChannel listener = TcpPair.listen(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SocketChannel ch = r.add(net.provider().openSocketChannel());
                ch.configureBlocking(false);
                t.call("connect", () -> ch.connect(listener.getLocalAddress()));
                SelectionKey key = ch.register(selector, OP_CONNECT);
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("key", key);
                t.note("isConnectable", key.isConnectable());
                t.call("finishConnect", ch::finishConnect);
                key.interestOps(OP_READ);
                selector.selectedKeys().clear();
                t.call("selectNow afterwards", selector::selectNow);
            }
        }, "connect -> false", "select -> 1", "key: valid interest=CONNECT ready=CONNECT", "isConnectable = true",
                "finishConnect -> true", "selectNow afterwards -> 0");

        c.add("connectReadinessWhenRefused", (net, t) -> {
            try (Resources r = new Resources()) {
                Selector selector = r.add(net.provider().openSelector());
                SocketChannel ch = r.add(net.provider().openSocketChannel());
                ch.configureBlocking(false);
                ch.connect(net.unusedPort());
                SelectionKey key = ch.register(selector, OP_CONNECT);
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("key", key);
                t.call("finishConnect", ch::finishConnect);
                t.note("key valid after the failed connect", key.isValid());
            }
        }, "select -> 1", "key: valid interest=CONNECT ready=CONNECT", "finishConnect -> threw ConnectException: Connection refused",
                "key valid after the failed connect = false");

        c.add("acceptReadiness", (net, t) -> {
            try (Resources r = new Resources(); ServerSocketChannel listener = TcpPair.listen(net)) {
                Selector selector = r.add(net.provider().openSelector());
                listener.configureBlocking(false);
                SelectionKey key = listener.register(selector, OP_ACCEPT);
                t.call("selectNow before a connection", selector::selectNow);
                SocketChannel client = r.add(net.provider().openSocketChannel());
                client.connect(listener.getLocalAddress());
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("key", key);
                t.note("isAcceptable", key.isAcceptable());
                t.call("accept", () -> r.add(listener.accept()));
            }
        }, "selectNow before a connection -> 0", "select -> 1", "key: valid interest=ACCEPT ready=ACCEPT", "isAcceptable = true",
                "accept -> a SocketChannel");

        c.add("writeReadinessIsImmediateOnAConnectedChannel", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_WRITE);
                t.call("selectNow", selector::selectNow);
                t.key("key", key);
            }
        }, "selectNow -> 1", "key: valid interest=WRITE ready=WRITE");

        c.add("writeReadinessReturnsWhenThePeerDrains", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_WRITE);
                long written = AsyncCloseCases.fillWindow(pair.client());
                selector.selectedKeys().clear();
                t.call("select(50) while full", () -> selector.select(50));
                final long total = written;
                try (Background<byte[]> drain = Background.start("drain", () -> TcpPair.readFully(pair.server(), (int) total))) {
                    t.call("select once the peer drains", () -> selectUntilReady(selector, key, OP_WRITE));
                    t.key("key", key);
                    t.note("peer drained", drain.await().value() instanceof byte[] b && b.length == total);
                }
            }
        }, "select(50) while full -> 0", "select once the peer drains -> 1", "key: valid interest=WRITE ready=WRITE", "peer drained = true");

        c.add("readReadinessAtEndOfStream", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                pair.server().close();
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("key", key);
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(4)));
            }
        }, "select -> 1", "key: valid interest=READ ready=READ", "read -> -1");

        c.add("readReadinessAfterPeerShutdownOutput", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                pair.server().shutdownOutput();
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("key", key);
                t.call("read", () -> pair.client().read(ByteBuffer.allocate(4)));
            }
        }, "select -> 1", "key: valid interest=READ ready=READ", "read -> -1");

        c.add("zeroInterestIsNeverSelected", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, 0);
                pair.server().write(ByteBuffer.wrap(bytes(1)));
                t.call("select(100) with data but no interest", () -> selector.select(100));
                t.key("key", key);
                t.call("interestOpsOr(READ) returns the old set", () -> key.interestOpsOr(OP_READ));
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.call("interestOpsAnd(0) returns the old set", () -> key.interestOpsAnd(0));
                t.key("key", key);
            }
        }, "select(100) with data but no interest -> 0", "key: valid interest=0 ready=0", "interestOpsOr(READ) returns the old set -> 0",
                "select -> 1", "interestOpsAnd(0) returns the old set -> 1", "key: valid interest=0 ready=READ");

        c.add("interestOpsChangedDuringABlockedSelectApplyAtTheNextSelect", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, 0);
                pair.server().write(ByteBuffer.wrap(bytes(1)));
                try (Background<Integer> select = Background.start("select", selector::select)) {
                    select.awaitBlocked(net);
                    t.call("interestOps(READ) during the select", () -> key.interestOps(OP_READ) == key);
                    selector.wakeup();
                    t.outcome("the blocked select", select.await());
                }
                t.call("next selectNow", selector::selectNow);
                t.key("key", key);
            }
        }, "interestOps(READ) during the select -> true", "the blocked select -> 0", "next selectNow -> 1",
                "key: valid interest=READ ready=READ");

        c.add("registrationDuringABlockedSelectDoesNotBlock", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                pair.client().configureBlocking(false);
                try (Background<Integer> select = Background.start("select", selector::select)) {
                    select.awaitBlocked(net);
                    SelectionKey key = t.call("register during the select", () -> pair.client().register(selector, OP_WRITE));
                    t.note("keys holds the new key", selector.keys().contains(key));
                    selector.wakeup();
                    t.outcome("the blocked select", select.await());
                    t.call("next selectNow", selector::selectNow);
                    t.key("key", key);
                }
            }
        }, "register during the select -> a SelectionKey", "keys holds the new key = true", "the blocked select -> 0",
                "next selectNow -> 1", "key: valid interest=WRITE ready=WRITE");

        c.add("cancelDuringABlockedSelectDoesNotBlock", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                try (Background<Integer> select = Background.start("select", selector::select)) {
                    select.awaitBlocked(net);
                    t.run("cancel during the select", key::cancel);
                    selector.wakeup();
                    t.outcome("the blocked select", select.await());
                }
                t.note("channel registered", pair.client().isRegistered());
                t.note("keys", selector.keys());
            }
        }, "cancel during the select -> ok", "the blocked select -> 0", "channel registered = false", "keys = []");

        c.add("selectWithActionInvokesItForEachReadyKey", (net, t) -> {
            try (Resources r = new Resources(); TcpPair one = TcpPair.open(net); TcpPair two = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey a = registerClient(one, selector, OP_WRITE);
                SelectionKey b = registerClient(two, selector, OP_WRITE);
                List<SelectionKey> seen = new ArrayList<>();
                t.call("select(action)", () -> selector.select(seen::add));
                t.note("action saw both keys once", seen.size() == 2 && new HashSet<>(seen).equals(Set.of(a, b)));
                t.note("selectedKeys untouched", selector.selectedKeys());
                t.key("a", a);
            }
        }, "select(action) -> 2", "action saw both keys once = true", "selectedKeys untouched = []", "a: valid interest=WRITE ready=WRITE");

        c.add("selectNowWithActionAndTimeoutVariants", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                List<SelectionKey> seen = new ArrayList<>();
                t.call("selectNow(action) with nothing ready", () -> selector.selectNow(seen::add));
                t.call("select(action, 50) with nothing ready", () -> selector.select(seen::add, 50));
                t.note("action not called", seen.size());
                key.interestOps(OP_WRITE);
                t.call("selectNow(action) writable", () -> selector.selectNow(seen::add));
                t.call("select(action, 1000) writable", () -> selector.select(seen::add, 1000));
                t.note("action called each time", seen.size());
                t.note("selectedKeys", selector.selectedKeys());
            }
        }, "selectNow(action) with nothing ready -> 0", "select(action, 50) with nothing ready -> 0", "action not called = 0",
                "selectNow(action) writable -> 1", "select(action, 1000) writable -> 1", "action called each time = 2", "selectedKeys = []");

        c.add("selectWithNullActionThrowsNullPointer", (net, t) -> {
            try (Selector selector = net.provider().openSelector()) {
                t.call("select(null)", () -> selector.select((java.util.function.Consumer<SelectionKey>) null));
                t.call("selectNow(null)", () -> selector.selectNow(null));
                t.call("select(null, 10)", () -> selector.select(null, 10));
            }
        }, "select(null) -> threw NullPointerException", "selectNow(null) -> threw NullPointerException",
                "select(null, 10) -> threw NullPointerException");

        c.add("exceptionFromTheActionPropagates", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                registerClient(pair, selector, OP_WRITE);
                t.call("selectNow(action that throws)", () -> selector.selectNow(k -> {
                    throw new IllegalStateException("from the action");
                }));
                t.call("the selector still works", selector::selectNow);
            }
        }, "selectNow(action that throws) -> threw IllegalStateException: from the action", "the selector still works -> 1");

        c.add("selectInsideTheActionThrowsIllegalState", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                registerClient(pair, selector, OP_WRITE);
                List<String> inner = new ArrayList<>();
                t.call("selectNow(action)", () -> selector.selectNow(k -> {
                    try {
                        selector.selectNow();
                        inner.add("returned");
                    } catch (Exception e) {
                        inner.add(e.getClass().getSimpleName() + ": " + e.getMessage());
                    }
                }));
                t.note("the nested selectNow", inner);
            }
        }, "selectNow(action) -> 1", "the nested selectNow = [IllegalStateException: select in progress]");

        c.add("oneChannelRegisteredWithTwoSelectors", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector first = r.add(net.provider().openSelector());
                Selector second = r.add(net.provider().openSelector());
                SelectionKey a = registerClient(pair, first, OP_READ);
                SelectionKey b = pair.client().register(second, OP_READ);
                t.note("two keys", a != b);
                t.note("keyFor each", pair.client().keyFor(first) == a && pair.client().keyFor(second) == b);
                pair.server().write(ByteBuffer.wrap(bytes(1)));
                t.call("first selects", () -> first.select(Await.LIMIT.toMillis()));
                t.call("second selects", () -> second.select(Await.LIMIT.toMillis()));
                a.cancel();
                first.selectNow();
                t.note("still registered with the second", pair.client().isRegistered() && b.isValid());
                second.selectedKeys().clear();
                t.call("second still selects", second::selectNow);
            }
        }, "two keys = true", "keyFor each = true", "first selects -> 1", "second selects -> 1",
                "still registered with the second = true", "second still selects -> 1");

        c.add("closingTheSelectorDeregistersItsKeys", (net, t) -> {
            try (TcpPair pair = TcpPair.open(net)) {
                Selector selector = net.provider().openSelector();
                SelectionKey key = registerClient(pair, selector, OP_READ);
                selector.close();
                t.note("key valid", key.isValid());
                t.note("channel registered", pair.client().isRegistered());
                t.note("keyFor", pair.client().keyFor(selector));
                t.state("channel", pair.client());
                t.call("configureBlocking(true) now allowed", () -> pair.client().configureBlocking(true) == pair.client());
            }
        }, "key valid = false", "channel registered = false", "keyFor = null",
                "channel: open=true blocking=false registered=false connected=true pending=false",
                "configureBlocking(true) now allowed -> true");

        c.add("closedSelectorOperationsThrowClosedSelector", (net, t) -> {
            Selector selector = net.provider().openSelector();
            selector.close();
            t.note("isOpen", selector.isOpen());
            t.call("select()", selector::select);
            t.call("select(10)", () -> selector.select(10));
            t.call("selectNow()", selector::selectNow);
            t.call("select(action)", () -> selector.select(k -> { }));
            t.call("keys()", selector::keys);
            t.call("selectedKeys()", selector::selectedKeys);
            t.call("wakeup()", () -> selector.wakeup() == selector);
            t.run("close again", selector::close);
        }, "isOpen = false", "select() -> threw ClosedSelectorException", "select(10) -> threw ClosedSelectorException",
                "selectNow() -> threw ClosedSelectorException", "select(action) -> threw ClosedSelectorException",
                "keys() -> threw ClosedSelectorException", "selectedKeys() -> threw ClosedSelectorException",
                "wakeup() -> true", "close again -> ok");

        c.add("closingTheSelectorReleasesABlockedSelect", (net, t) -> {
            Selector selector = net.provider().openSelector();
            try (Background<Integer> select = Background.start("select", selector::select)) {
                select.awaitBlocked(net);
                t.run("close during the select", selector::close);
                t.outcome("the blocked select", select.await());
                t.note("isOpen", selector.isOpen());
            }
        }, "close during the select -> ok", "the blocked select -> 0", "isOpen = false");

        c.add("interruptingABlockedSelectReturnsAndKeepsTheStatus", (net, t) -> {
            try (Selector selector = net.provider().openSelector();
                    Background<Integer> select = Background.start("select", selector::select)) {
                select.awaitBlocked(net);
                select.thread().interrupt();
                Background.Outcome outcome = select.await();
                t.outcome("the blocked select", outcome);
                t.note("interrupt status kept", outcome.interruptStatus());
                t.note("selector still open", selector.isOpen());
            }
        }, "the blocked select -> 0", "interrupt status kept = true", "selector still open = true");

        c.add("interruptStatusBeforeSelectMakesItReturnAtOnce", (net, t) -> {
            try (Selector selector = net.provider().openSelector(); Watchdog _ = Watchdog.closeAfterLimit(selector)) {
                Thread.currentThread().interrupt();
                t.call("select()", selector::select);
                t.note("interrupt status kept", Thread.interrupted());
                t.note("returned before the watchdog closed the selector", selector.isOpen());
            }
        }, "select() -> 0", "interrupt status kept = true", "returned before the watchdog closed the selector = true");

        c.add("attachReturnsThePreviousAttachment", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                t.note("initial attachment", key.attachment());
                t.note("attach(a) returns", key.attach("a"));
                t.note("attach(b) returns", key.attach("b"));
                t.note("attachment", key.attachment());
                t.note("attach(null) returns", key.attach(null));
                SelectionKey again = pair.client().register(selector, OP_READ);
                t.note("register without attachment clears it", again.attachment());
            }
        }, "initial attachment = null", "attach(a) returns = null", "attach(b) returns = a", "attachment = b",
                "attach(null) returns = b", "register without attachment clears it = null");

        c.add("configureBlockingWhileRegisteredThrowsIllegalBlockingMode", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_READ);
                t.call("configureBlocking(true)", () -> pair.client().configureBlocking(true));
                t.call("configureBlocking(false) is fine", () -> pair.client().configureBlocking(false) == pair.client());
                key.cancel();
                t.call("configureBlocking(true) once the key is cancelled", () -> pair.client().configureBlocking(true) == pair.client());
                t.note("registered until the next select", pair.client().isRegistered());
            }
        }, "configureBlocking(true) -> threw IllegalBlockingModeException", "configureBlocking(false) is fine -> true",
                "configureBlocking(true) once the key is cancelled -> true", "registered until the next select = true");

        c.add("cancelledSelectedKeyLeavesSelectedKeysAtTheNextSelect", (net, t) -> {
            try (Resources r = new Resources(); TcpPair pair = TcpPair.open(net)) {
                Selector selector = r.add(net.provider().openSelector());
                SelectionKey key = registerClient(pair, selector, OP_WRITE);
                selector.selectNow();
                key.cancel();
                t.note("still in selectedKeys", selector.selectedKeys().contains(key));
                t.call("selectNow", selector::selectNow);
                t.note("selectedKeys", selector.selectedKeys());
            }
        }, "still in selectedKeys = true", "selectNow -> 0", "selectedKeys = []");

        c.add("datagramReadReadiness", (net, t) -> {
            try (Resources r = new Resources()) {
                Selector selector = r.add(net.provider().openSelector());
                DatagramChannel a = DatagramChannelCases.bound(r, net);
                DatagramChannel b = DatagramChannelCases.bound(r, net);
                a.configureBlocking(false);
                SelectionKey key = a.register(selector, OP_READ | OP_WRITE);
                t.call("selectNow (writable)", selector::selectNow);
                t.key("key", key);
                selector.selectedKeys().clear();
                key.interestOps(OP_READ);
                b.send(ByteBuffer.wrap(bytes(3)), a.getLocalAddress());
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("key", key);
                t.call("receive", () -> a.receive(ByteBuffer.allocate(8)) != null);
            }
        }, "selectNow (writable) -> 1", "key: valid interest=READ|WRITE ready=WRITE", "select -> 1",
                "key: valid interest=READ ready=READ", "receive -> true");

        c.add("selectorReportsExactlyTheReadyChannels", (net, t) -> {
            try (Resources r = new Resources()) {
                Selector selector = r.add(net.provider().openSelector());
                List<TcpPair> pairs = new ArrayList<>();
                List<SelectionKey> keys = new ArrayList<>();
                for (int i = 0; i < 20; i++) {
                    TcpPair pair = r.add(TcpPair.open(net));
                    pairs.add(pair);
                    keys.add(registerClient(pair, selector, OP_READ));
                }
                Set<SelectionKey> expected = new HashSet<>();
                for (int i = 0; i < 20; i += 3) {
                    pairs.get(i).server().write(ByteBuffer.wrap(bytes(1)));
                    expected.add(keys.get(i));
                }
                Await.until("all written channels selected", () -> {
                    selector.select(100);
                    return selector.selectedKeys().size() >= expected.size();
                });
                t.note("selected exactly the channels with data", selector.selectedKeys().equals(expected));
                t.note("selected count", selector.selectedKeys().size());
            }
        }, "selected exactly the channels with data = true", "selected count = 7");

        return c.cases();
    }
}

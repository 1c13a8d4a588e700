package io.arrakis.samples.loadgen;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One event-loop thread driving its share of the connections: it keeps each connection's
 * pipeline full (closed loop) or sends each request at its scheduled time (open loop), reads and
 * checks the replies, and records latencies. The open loop measures from the time a request was
 * due, not from when it could be sent, so a stalled server is not hidden by the requests it
 * delayed (coordinated omission). It waits in the selector, and spins only through gaps shorter
 * than the selector's 1 ms timeout resolution. Confined to its own thread once started.
 */
final class LoadWorker implements Runnable {
    private final LoadConfig config;
    private final WireProtocol protocol;
    private final KeySpace keySpace;
    private final Selector selector;
    private final List<LoadConnection> connections = new ArrayList<>();
    private final SplittableRandom random;
    private final int maxRequestSize;
    private final long intervalNanos;
    final OperationStats gets = new OperationStats();
    final OperationStats sets = new OperationStats();
    int connectionFailures;
    String firstFailure;
    long startNanos;
    /** The measured window; moved later by {@link #measure} while the JIT compiler settles. */
    volatile long measureStartNanos;
    volatile long measureEndNanos;

    LoadWorker(LoadConfig config, WireProtocol protocol, int firstConnection, int connectionCount, long seed)
            throws IOException {
        this.config = config;
        this.protocol = protocol;
        this.keySpace = protocol.keySpace;
        this.random = new SplittableRandom(seed);
        this.maxRequestSize = protocol.maxRequestSize();
        this.intervalNanos = config.rate == 0 ? 0 : Math.max(1, (long) (config.connections * 1e9 / config.rate));
        this.selector = Selector.open();
        try {
            for (int i = 0; i < connectionCount; i++) {
                SocketChannel channel = SocketChannel.open();
                try {
                    channel.connect(new InetSocketAddress(config.host, config.port));
                    channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    channel.configureBlocking(false);
                } catch (IOException e) {
                    channel.close();
                    throw new IOException("cannot connect to " + config.host + ":" + config.port + ": " + e.getMessage()
                            + " (is the server running?)", e);
                }
                LoadConnection connection = new LoadConnection(channel, firstConnection + i, config.pipeline,
                        maxRequestSize);
                connection.key = channel.register(selector, SelectionKey.OP_READ, connection);
                connections.add(connection);
            }
        } catch (IOException e) {
            close();
            throw e;
        }
    }

    /** From another thread: measure from {@code start} to {@code end} ({@link System#nanoTime}), not before. */
    void measure(long start, long end) {
        measureStartNanos = start;
        measureEndNanos = end;
        selector.wakeup(); // a select sleeping towards the old end looks again
    }

    @Override
    public void run() {
        try {
            if (config.rate > 0) {
                // Spread the connections' schedules evenly over one interval.
                for (LoadConnection c : connections) {
                    c.nextIntendedNanos = startNanos + (long) (c.index * 1e9 / config.rate);
                }
            }
            while (true) {
                long now = System.nanoTime();
                if (now - measureEndNanos >= 0) {
                    break;
                }
                long nextDue = Long.MAX_VALUE;
                for (int i = 0; i < connections.size(); i++) {
                    LoadConnection c = connections.get(i);
                    if (c.failed) {
                        continue;
                    }
                    issue(c, now);
                    if (c.hasOutput()) {
                        write(c);
                    }
                    if (config.rate > 0 && c.inFlight < config.pipeline && c.nextIntendedNanos < nextDue) {
                        nextDue = c.nextIntendedNanos;
                    }
                }
                long wakeAt = Math.min(nextDue, measureEndNanos);
                long wait = wakeAt - System.nanoTime();
                if (wait >= 1_000_000) {
                    selector.select(this::onReady, wait / 1_000_000);
                } else if (wait > 0) {
                    selector.selectNow(this::onReady);
                    Thread.onSpinWait();
                } else {
                    selector.selectNow(this::onReady);
                }
            }
        } catch (IOException | RuntimeException e) {
            if (firstFailure == null) {
                firstFailure = "worker stopped: " + e;
            }
            connectionFailures++;
        } finally {
            close();
        }
    }

    private void issue(LoadConnection c, long now) {
        int weights = config.getWeight + config.setWeight;
        while (c.inFlight < config.pipeline) {
            long intended;
            if (config.rate == 0) {
                intended = now;
            } else {
                if (c.nextIntendedNanos - now > 0) {
                    return;
                }
                intended = c.nextIntendedNanos;
                c.nextIntendedNanos += intervalNanos;
            }
            boolean set = random.nextInt(weights) >= config.getWeight;
            int key = random.nextInt(keySpace.keys);
            c.reserve(maxRequestSize);
            c.outEnd = set ? protocol.encodeSet(c.out, c.outEnd, key) : protocol.encodeGet(c.out, c.outEnd, key);
            c.push(key, set, intended);
        }
    }

    private void onReady(SelectionKey key) {
        LoadConnection c = (LoadConnection) key.attachment();
        if (c.failed || !key.isValid()) {
            return;
        }
        if (key.isWritable()) {
            write(c);
        }
        if (!c.failed && key.isValid() && key.isReadable()) {
            read(c);
        }
    }

    private void write(LoadConnection c) {
        try {
            c.outView.limit(c.outEnd).position(c.outStart);
            int written = c.channel.write(c.outView);
            c.outStart += written;
            if (c.outStart == c.outEnd) {
                c.outStart = 0;
                c.outEnd = 0;
                if (c.key.interestOps() != SelectionKey.OP_READ) {
                    c.key.interestOps(SelectionKey.OP_READ);
                }
            } else if (c.key.interestOps() != (SelectionKey.OP_READ | SelectionKey.OP_WRITE)) {
                c.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            }
        } catch (IOException e) {
            fail(c, "sending failed: " + e.getMessage());
        }
    }

    private void read(LoadConnection c) {
        int read;
        try {
            read = c.channel.read(c.readTarget());
        } catch (IOException e) {
            fail(c, "receiving failed: " + e.getMessage());
            return;
        }
        if (read < 0) {
            fail(c, "the server closed the connection");
            return;
        }
        c.inEnd += read;
        long now = System.nanoTime();
        boolean measuring = now - measureStartNanos >= 0 && now - measureEndNanos < 0;
        while (true) {
            int end;
            try {
                end = protocol.replyEnd(c.in, c.inStart, c.inEnd);
            } catch (WireProtocol.Violation e) {
                fail(c, "unparseable reply: " + e.getMessage());
                return;
            }
            if (end < 0) {
                break;
            }
            if (c.inFlight == 0) {
                fail(c, "a reply arrived with no request in flight");
                return;
            }
            boolean set = c.sets[c.head];
            OperationStats stats = set ? sets : gets;
            WireProtocol.Outcome outcome = protocol.judge(c.in, c.inStart, end, set, c.keys[c.head]);
            if (outcome == WireProtocol.Outcome.ERROR) {
                stats.errors++; // counted in the warm-up too: a wrong reply is never excused
            }
            if (measuring) {
                stats.record(now - c.intendedNanos[c.head]);
                if (outcome == WireProtocol.Outcome.HIT) {
                    stats.hits++;
                } else if (outcome == WireProtocol.Outcome.MISS) {
                    stats.misses++;
                }
            }
            c.pop();
            c.inStart = end;
        }
    }

    private void fail(LoadConnection c, String why) {
        c.failed = true;
        connectionFailures++;
        if (firstFailure == null) {
            firstFailure = "connection " + c.index + ": " + why;
        }
        // The requests it had in flight are lost: each counts as an error.
        for (int i = 0; i < c.inFlight; i++) {
            int slot = (c.head + i) % c.keys.length;
            (c.sets[slot] ? sets : gets).errors++;
        }
        c.inFlight = 0;
        c.key.cancel();
        try {
            c.channel.close();
        } catch (IOException ignored) {
            // already failed
        }
    }

    private void close() {
        for (LoadConnection c : connections) {
            try {
                c.channel.close();
            } catch (IOException ignored) {
                // closing at the end of the run
            }
        }
        try {
            selector.close();
        } catch (IOException ignored) {
            // closing at the end of the run
        }
    }
}

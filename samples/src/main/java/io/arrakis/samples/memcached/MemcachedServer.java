package io.arrakis.samples.memcached;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CountDownLatch;

/**
 * A memcached-like server, threaded as memcached is: one acceptor thread hands each new
 * connection, round robin, to one of N worker threads, each with its own {@link
 * java.nio.channels.Selector}; all share one LRU cache bounded by a memory limit. It uses only
 * the JDK and obtains its channels the standard way, so a {@code SelectorProvider} installed by a
 * Java agent takes over without it knowing.
 *
 * <p>Concurrency: the acceptor and the workers are the only threads touching sockets; the cache
 * and the statistics are thread-safe; {@link #close} may be called from any thread.
 */
public final class MemcachedServer implements AutoCloseable {
    final MemcachedConfig config;
    final Cache cache;
    final Stats stats = new Stats();
    volatile int verbosity;
    private final ServerSocketChannel listener;
    private final int port;
    private final Worker[] workers;
    private final Thread acceptor;
    private final long startedAtMillis = System.currentTimeMillis();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean running = true;

    private MemcachedServer(MemcachedConfig config) throws IOException {
        this.config = config;
        this.cache = new Cache(config.memoryLimitBytes, config.itemSizeMax);
        ServerSocketChannel opened = ServerSocketChannel.open();
        try {
            opened.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            opened.bind(new InetSocketAddress(config.listen, config.port), 1024);
        } catch (IOException | RuntimeException e) {
            opened.close();
            throw new IOException("cannot listen on " + config.listen + ":" + config.port + ": " + e.getMessage(), e);
        }
        this.listener = opened;
        this.port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
        this.workers = new Worker[config.threads];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(this, i);
        }
        this.acceptor = Thread.ofPlatform().name("memcached-acceptor").unstarted(this::acceptLoop);
    }

    /** Binds, starts the workers and the acceptor. */
    public static MemcachedServer start(MemcachedConfig config) throws IOException {
        MemcachedServer server = new MemcachedServer(config);
        for (Worker worker : server.workers) {
            worker.start();
        }
        server.acceptor.start();
        return server;
    }

    public int port() {
        return port;
    }

    private void acceptLoop() {
        int next = 0;
        try {
            while (running) {
                SocketChannel channel = listener.accept(); // blocking: this thread does nothing else
                stats.totalConnections.increment();
                workers[next].adopt(channel);
                next = (next + 1) % workers.length;
            }
        } catch (ClosedChannelException e) {
            // close() closed the listener
        } catch (IOException e) {
            if (running) {
                System.err.println("memcached: accepting connections failed: " + e + "; no new connections");
            }
        }
    }

    void generalStats(OutputBuffer out) {
        long now = System.currentTimeMillis();
        Cache.Snapshot items = cache.snapshot();
        stat(out, "pid", ProcessHandle.current().pid());
        stat(out, "uptime", (now - startedAtMillis) / 1000);
        stat(out, "time", now / 1000);
        out.line("STAT version " + Connection.VERSION);
        stat(out, "pointer_size", 64);
        stat(out, "curr_connections", stats.currConnections.sum());
        stat(out, "total_connections", stats.totalConnections.sum());
        stat(out, "cmd_get", stats.cmdGet.sum());
        stat(out, "cmd_set", stats.cmdSet.sum());
        stat(out, "cmd_flush", stats.cmdFlush.sum());
        stat(out, "cmd_touch", stats.cmdTouch.sum());
        stat(out, "get_hits", stats.getHits.sum());
        stat(out, "get_misses", stats.getMisses.sum());
        stat(out, "delete_misses", stats.deleteMisses.sum());
        stat(out, "delete_hits", stats.deleteHits.sum());
        stat(out, "incr_misses", stats.incrMisses.sum());
        stat(out, "incr_hits", stats.incrHits.sum());
        stat(out, "decr_misses", stats.decrMisses.sum());
        stat(out, "decr_hits", stats.decrHits.sum());
        stat(out, "cas_misses", stats.casMisses.sum());
        stat(out, "cas_hits", stats.casHits.sum());
        stat(out, "cas_badval", stats.casBadval.sum());
        stat(out, "touch_hits", stats.touchHits.sum());
        stat(out, "touch_misses", stats.touchMisses.sum());
        stat(out, "store_too_large", stats.storeTooLarge.sum());
        stat(out, "store_no_memory", stats.storeNoMemory.sum());
        stat(out, "bytes_read", stats.bytesRead.sum());
        stat(out, "bytes_written", stats.bytesWritten.sum());
        stat(out, "limit_maxbytes", cache.memoryLimit());
        stat(out, "threads", workers.length);
        stat(out, "bytes", items.bytes());
        stat(out, "curr_items", items.currItems());
        stat(out, "total_items", items.totalItems());
        stat(out, "expired_unfetched", items.expiredUnfetched());
        stat(out, "evicted_unfetched", items.evictedUnfetched());
        stat(out, "evictions", items.evictions());
        stat(out, "reclaimed", items.reclaimed());
        out.line("END");
    }

    void settingsStats(OutputBuffer out) {
        stat(out, "maxbytes", cache.memoryLimit());
        stat(out, "tcpport", port);
        out.line("STAT inter " + config.listen);
        stat(out, "verbosity", verbosity);
        out.line("STAT evictions on");
        stat(out, "num_threads", workers.length);
        stat(out, "item_size_max", cache.itemSizeMax());
        out.line("END");
    }

    private static void stat(OutputBuffer out, String name, long value) {
        out.line("STAT " + name + " " + value);
    }

    void resetStats() {
        stats.reset();
        cache.resetStats();
    }

    /** Stops accepting, stops the workers (closing their connections) and waits for them. */
    @Override
    public void close() {
        if (!running) {
            return;
        }
        running = false;
        try {
            listener.close();
            acceptor.join();
            for (Worker worker : workers) {
                worker.stop();
            }
        } catch (IOException e) {
            System.err.println("memcached: closing the listener: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            stopped.countDown();
        }
    }

    /** Runs the server until the process is stopped. */
    public static void main(String[] args) throws Exception {
        MemcachedConfig config;
        try {
            config = MemcachedConfig.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(64);
            return;
        }
        MemcachedServer server = start(config);
        System.err.printf("memcached: ready on %s:%d (%d worker threads, %d MB, items up to %d bytes, selector %s)%n",
                config.listen, server.port(), config.threads, config.memoryLimitBytes >> 20, config.itemSizeMax,
                java.nio.channels.spi.SelectorProvider.provider().getClass().getName());
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        server.stopped.await();
    }
}

package io.arrakis.samples.memcached;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One worker thread with its own {@link Selector}, as in memcached: it owns the connections the
 * acceptor hands it and does all their reading, parsing, cache calls and writing. Only
 * {@link #adopt} and {@link #stop} are called from other threads.
 */
final class Worker {
    /** Stop reading a connection whose unsent replies pass this, until they drain (as memcached does). */
    private static final int OUTPUT_HIGH_WATER = 1 << 20;

    private final MemcachedServer server;
    private final Selector selector;
    private final ConcurrentLinkedQueue<SocketChannel> handedOver = new ConcurrentLinkedQueue<>();
    private final ArrayList<Connection> connections = new ArrayList<>();
    private final Thread thread;
    private volatile boolean running = true;

    Worker(MemcachedServer server, int index) throws IOException {
        this.server = server;
        this.selector = Selector.open();
        this.thread = Thread.ofPlatform().name("memcached-worker-" + index).unstarted(this::run);
    }

    void start() {
        thread.start();
    }

    /** Called by the acceptor: the connection becomes this worker's. */
    void adopt(SocketChannel channel) {
        handedOver.add(channel);
        selector.wakeup();
    }

    void stop() throws InterruptedException {
        running = false;
        selector.wakeup();
        thread.join();
    }

    private void run() {
        try {
            while (running) {
                selector.select(this::onReady);
                SocketChannel channel;
                while ((channel = handedOver.poll()) != null) {
                    register(channel);
                }
            }
        } catch (IOException | RuntimeException e) {
            if (running) {
                System.err.println("memcached: worker " + thread.getName() + " stopped: " + e);
                e.printStackTrace();
            }
        } finally {
            for (Connection connection : new ArrayList<>(connections)) {
                close(connection);
            }
            SocketChannel channel;
            while ((channel = handedOver.poll()) != null) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // closing on shutdown
                }
            }
            try {
                selector.close();
            } catch (IOException ignored) {
                // closing on shutdown
            }
        }
    }

    private void register(SocketChannel channel) {
        try {
            channel.configureBlocking(false);
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            Connection connection = new Connection(channel, server);
            connection.key = channel.register(selector, SelectionKey.OP_READ, connection);
            connections.add(connection);
            server.stats.currConnections.increment();
        } catch (IOException e) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // it failed to register; nothing more to do
            }
        }
    }

    private void onReady(SelectionKey key) {
        Connection connection = (Connection) key.attachment();
        if (key.isValid() && key.isReadable()) {
            int read;
            try {
                read = connection.channel.read(connection.readTarget());
            } catch (IOException e) {
                close(connection);
                return;
            }
            if (read < 0) {
                close(connection);
                return;
            }
            connection.received(read);
            connection.process(System.currentTimeMillis());
        }
        if (key.isValid()) {
            flush(connection);
        }
    }

    private void flush(Connection connection) {
        try {
            while (!connection.out.isEmpty()) {
                ByteBuffer unsent = connection.out.unsent();
                int written = connection.channel.write(unsent);
                if (written == 0) {
                    break;
                }
                connection.out.consumed(written);
                server.stats.bytesWritten.add(written);
            }
        } catch (IOException e) {
            close(connection);
            return;
        }
        if (connection.out.isEmpty()) {
            if (connection.closing) {
                close(connection);
                return;
            }
            setInterest(connection, SelectionKey.OP_READ);
            // replies drained: input that waited while we stopped reading can go on now
            connection.process(System.currentTimeMillis());
            if (!connection.out.isEmpty()) {
                flush(connection);
            }
        } else if (connection.out.pending() > OUTPUT_HIGH_WATER || connection.closing) {
            setInterest(connection, SelectionKey.OP_WRITE);
        } else {
            setInterest(connection, SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        }
    }

    private static void setInterest(Connection connection, int ops) {
        if (connection.key.interestOps() != ops) {
            connection.key.interestOps(ops);
        }
    }

    private void close(Connection connection) {
        if (connections.remove(connection)) {
            server.stats.currConnections.decrement();
        }
        connection.key.cancel();
        try {
            connection.channel.close();
        } catch (IOException ignored) {
            // the connection is gone either way
        }
    }
}

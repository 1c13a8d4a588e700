package io.arrakis.samples.redis;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.concurrent.CountDownLatch;

/**
 * A Redis-like server on one event-loop thread, as Redis is: a {@link Selector} over a
 * {@link ServerSocketChannel} and its clients, RESP2 with pipelining and inline commands, lazy
 * and periodic expiry, and an optional append-only file. It uses only the JDK and obtains its
 * channels the standard way ({@code Selector.open()}, {@code ServerSocketChannel.open()}), so a
 * {@code SelectorProvider} installed by a Java agent takes over without it knowing.
 *
 * <p>Concurrency: everything runs on the event-loop thread; {@link #close} and {@link #port} are
 * safe from any thread.
 */
public final class RedisServer implements AutoCloseable {
    /** Like Redis's hz 10: the periodic work (expiry) runs every 100 ms. */
    private static final long CRON_PERIOD_MILLIS = 100;
    /** Redis gives the periodic expiry 25% of each period. */
    private static final long EXPIRE_BUDGET_NANOS = CRON_PERIOD_MILLIS * 1_000_000 / 4;

    final RedisConfig config;
    final Keyspace keyspace;
    final Commands commands;
    private final Call call;
    private final Selector selector;
    private final ServerSocketChannel listener;
    private final int port;
    private final Thread thread;
    private final HashMap<Long, Client> clients = new HashMap<>();
    private final ArrayList<Client> pendingWrites = new ArrayList<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean running = true;
    private long nextClientId = 1;
    AppendOnlyFile aof;
    FsyncPolicy appendFsync;
    final long startMillis = System.currentTimeMillis();
    long totalConnections;
    long totalCommands;

    private RedisServer(RedisConfig config) throws IOException {
        this.config = config;
        this.keyspace = new Keyspace(this, config.databases);
        this.commands = new Commands();
        this.call = new Call(this);
        this.appendFsync = config.appendFsync;
        if (config.appendOnly) {
            loadAppendOnlyFile();
            aof = AppendOnlyFile.open(config.dir, appendFsync);
        }
        Selector openedSelector = Selector.open();
        ServerSocketChannel openedListener = null;
        try {
            openedListener = ServerSocketChannel.open();
            openedListener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            openedListener.bind(new InetSocketAddress(config.bind, config.port), 511);
            openedListener.configureBlocking(false);
            openedListener.register(openedSelector, SelectionKey.OP_ACCEPT);
        } catch (IOException | RuntimeException e) {
            openedSelector.close();
            if (openedListener != null) {
                openedListener.close();
            }
            if (aof != null) {
                aof.close();
            }
            throw new IOException("cannot listen on " + config.bind + ":" + config.port + ": " + e.getMessage(), e);
        }
        this.selector = openedSelector;
        this.listener = openedListener;
        this.port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
        this.thread = Thread.ofPlatform().name("redis-event-loop").unstarted(this::run);
    }

    /** Replays the append-only file (if any), binds, and starts the event loop. */
    public static RedisServer start(RedisConfig config) throws IOException {
        RedisServer server = new RedisServer(config);
        server.thread.start();
        return server;
    }

    /** The port listened on (the chosen one when the configuration said 0). */
    public int port() {
        return port;
    }

    private void loadAppendOnlyFile() throws IOException {
        Client loader = new Client(-1, null);
        keyspace.loading = true;
        try {
            AppendOnlyFile.ReplayResult result = AppendOnlyFile.replay(config.dir, argv -> {
                Command command = commands.lookup(argv[0]);
                if (command == null) {
                    throw new UncheckedIOException(new AppendOnlyFile.CorruptFileException(
                            "unknown command '" + ascii(argv[0]) + "' reading the append-only file in "
                                    + config.dir + "; it was not written by this server: move it aside"));
                }
                execute(loader, argv);
                loader.out.consumed(loader.out.pending());
            });
            if (result.commands() > 0) {
                System.err.printf("redis: loaded %d commands from %s%n", result.commands(),
                        config.dir.resolve(AppendOnlyFile.FILE_NAME));
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        } finally {
            keyspace.loading = false;
        }
    }

    private void run() {
        long nextCron = System.currentTimeMillis() + CRON_PERIOD_MILLIS;
        try {
            while (running) {
                long wait = Math.max(1, nextCron - System.currentTimeMillis());
                selector.select(this::onReady, wait);
                long now = System.currentTimeMillis();
                if (now >= nextCron) {
                    keyspace.activeExpireCycle(now, EXPIRE_BUDGET_NANOS);
                    nextCron = now + CRON_PERIOD_MILLIS;
                }
                beforeSleep();
            }
        } catch (IOException | RuntimeException e) {
            if (running) {
                System.err.println("redis: event loop stopped: " + e);
                e.printStackTrace();
            }
        } finally {
            shutdown();
        }
    }

    private void onReady(SelectionKey key) {
        try {
            if (key.channel() == listener) {
                acceptAll();
                return;
            }
            Client client = (Client) key.attachment();
            if (key.isValid() && key.isReadable()) {
                readFrom(client);
            }
            if (key.isValid() && key.isWritable()) {
                queueWrite(client);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void acceptAll() throws IOException {
        SocketChannel channel;
        while ((channel = listener.accept()) != null) {
            channel.configureBlocking(false);
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            Client client = new Client(nextClientId++, channel);
            client.key = channel.register(selector, SelectionKey.OP_READ, client);
            clients.put(client.id, client);
            totalConnections++;
        }
    }

    private void readFrom(Client client) {
        int read;
        try {
            read = client.channel.read(client.parser.readTarget());
        } catch (IOException e) {
            closeClient(client);
            return;
        }
        if (read < 0) {
            closeClient(client);
            return;
        }
        client.parser.received(read);
        processInput(client);
    }

    private void processInput(Client client) {
        while (!client.closeAfterReply && !client.closed) {
            byte[][] argv;
            try {
                argv = client.parser.next();
            } catch (RequestParser.ProtocolError e) {
                client.out.error("ERR " + e.getMessage());
                client.closeAfterReply = true;
                break;
            }
            if (argv == null) {
                break;
            }
            if (argv.length > 0) {
                execute(client, argv);
            }
        }
        if (!client.out.isEmpty() || client.closeAfterReply) {
            queueWrite(client);
        }
    }

    void execute(Client client, byte[][] argv) {
        totalCommands++;
        Command command = commands.lookup(argv[0]);
        if (command == null) {
            client.out.error(unknownCommand(argv));
            return;
        }
        int argc = argv.length;
        if ((command.arity() > 0 && argc != command.arity()) || argc < -command.arity()) {
            client.out.error(CommandError.arity(command.name()).getMessage());
            return;
        }
        Call c = call;
        c.client = client;
        c.argv = argv;
        c.reply = client.out;
        c.db = keyspace.databases[client.db];
        c.now = System.currentTimeMillis();
        c.dirty = 0;
        c.propagated = false;
        try {
            command.handler().execute(c);
        } catch (CommandError e) {
            client.out.error(e.getMessage());
        }
        if (c.dirty > 0 && !c.propagated && command.write()) {
            propagate(client.db, argv);
        }
    }

    private static String unknownCommand(byte[][] argv) {
        StringBuilder args = new StringBuilder();
        for (int i = 1; i < argv.length && args.length() < 128; i++) {
            String arg = printed(argv[i]);
            int room = 128 - args.length();
            args.append('\'').append(arg, 0, Math.min(arg.length(), room)).append("' ");
        }
        String name = printed(argv[0]);
        return "ERR unknown command '" + name.substring(0, Math.min(128, name.length()))
                + "', with args beginning with: " + args;
    }

    static String ascii(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    /** An argument as Redis's {@code %s} prints it: up to the first NUL byte. */
    private static String printed(byte[] bytes) {
        String text = ascii(bytes);
        int nul = text.indexOf('\0');
        return nul < 0 ? text : text.substring(0, nul);
    }

    void propagate(int db, byte[][] argv) {
        if (aof != null && !keyspace.loading) {
            aof.append(db, argv);
        }
    }

    void queueWrite(Client client) {
        if (!client.queuedForWrite && !client.closed) {
            client.queuedForWrite = true;
            pendingWrites.add(client);
        }
    }

    /**
     * Runs before the loop waits again: first the append-only file is written (and forced, with
     * {@code always}), and only then are replies sent, so no client sees an acknowledgement of a
     * write that is not yet in the file.
     */
    private void beforeSleep() {
        if (aof != null && aof.hasPending()) {
            try {
                aof.flush();
            } catch (IOException e) {
                System.err.println("redis: cannot write the append-only file " + aof.path() + ": " + e
                        + "; stopping without replying, since the writes are not durable (check the disk"
                        + " and the directory's permissions, then restart)");
                running = false;
                pendingWrites.clear();
                return;
            }
        }
        for (int i = 0; i < pendingWrites.size(); i++) {
            Client client = pendingWrites.get(i);
            client.queuedForWrite = false;
            if (!client.closed) {
                writeTo(client);
            }
        }
        pendingWrites.clear();
    }

    private void writeTo(Client client) {
        try {
            while (!client.out.isEmpty()) {
                ByteBuffer unsent = client.out.unsent();
                int written = client.channel.write(unsent);
                if (written == 0) {
                    break;
                }
                client.out.consumed(written);
            }
        } catch (IOException e) {
            closeClient(client);
            return;
        }
        if (client.out.isEmpty()) {
            if (client.closeAfterReply) {
                closeClient(client);
            } else if (client.key.interestOps() != SelectionKey.OP_READ) {
                client.key.interestOps(SelectionKey.OP_READ);
            }
        } else if ((client.key.interestOps() & SelectionKey.OP_WRITE) == 0) {
            client.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        }
    }

    void closeClient(Client client) {
        if (client.closed) {
            return;
        }
        client.closed = true;
        clients.remove(client.id);
        if (client.key != null) {
            client.key.cancel();
        }
        try {
            client.channel.close();
        } catch (IOException ignored) {
            // the connection is gone either way
        }
    }

    int connectedClients() {
        return clients.size();
    }

    /** Switches the append-only file on (writing the dataset into it first) or off. */
    void setAppendOnly(boolean enabled) throws IOException {
        if (enabled && aof == null) {
            aof = AppendOnlyFile.writeSnapshot(config.dir, keyspace.databases, appendFsync);
        } else if (!enabled && aof != null) {
            AppendOnlyFile old = aof;
            aof = null;
            old.close();
        }
    }

    void setAppendFsync(FsyncPolicy policy) {
        appendFsync = policy;
        if (aof != null) {
            aof.policy(policy);
        }
    }

    private void shutdown() {
        for (Client client : new ArrayList<>(clients.values())) {
            closeClient(client);
        }
        try {
            listener.close();
            selector.close();
        } catch (IOException e) {
            System.err.println("redis: closing the listener: " + e);
        }
        if (aof != null) {
            try {
                aof.close();
            } catch (IOException e) {
                System.err.println("redis: closing the append-only file " + aof.path() + ": " + e);
            }
        }
        stopped.countDown();
    }

    /** Stops the event loop, closes every connection and the append-only file, and waits. */
    @Override
    public void close() {
        running = false;
        selector.wakeup();
        if (Thread.currentThread() != thread) {
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Runs the server until the process is stopped. */
    public static void main(String[] args) throws Exception {
        RedisConfig config;
        try {
            config = RedisConfig.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        RedisServer server = start(config);
        System.err.printf("redis: ready on %s:%d (appendonly %s, appendfsync %s, selector %s)%n", config.bind,
                server.port(), config.appendOnly ? "yes" : "no", config.appendFsync.configName(),
                server.selector.provider().getClass().getName());
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        server.stopped.await();
    }
}

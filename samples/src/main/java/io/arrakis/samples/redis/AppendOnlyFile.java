package io.arrakis.samples.redis;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The append-only file: every write command, as RESP, appended through a {@link FileChannel} and
 * forced to the disk by the {@link FsyncPolicy}; replayed at start-up, with a truncated last
 * command (a crash mid-write) cut off rather than refused. The event-loop thread appends and
 * flushes; with {@code everysec} one background thread only calls {@code force}.
 */
final class AppendOnlyFile implements AutoCloseable {
    static final String FILE_NAME = "appendonly.aof";

    private final Path path;
    private final FileChannel channel;
    private volatile FsyncPolicy policy;
    private final ReplyBuffer pending = new ReplyBuffer(64 * 1024);
    private int selectedDb = -1;
    private long size;
    private volatile long writtenBytes;
    private volatile long syncedBytes;
    private volatile boolean closed;
    private final Thread syncer;

    private AppendOnlyFile(Path path, FileChannel channel, FsyncPolicy policy) throws IOException {
        this.path = path;
        this.channel = channel;
        this.policy = policy;
        this.size = channel.size();
        this.writtenBytes = size;
        this.syncedBytes = size;
        this.syncer = Thread.ofPlatform().daemon().name("redis-aof-fsync").unstarted(this::syncEverySecond);
        syncer.start();
    }

    /** Opens (creating if absent) the file for appending; replay it first with {@link #replay}. */
    static AppendOnlyFile open(Path dir, FsyncPolicy policy) throws IOException {
        Files.createDirectories(dir);
        Path path = dir.resolve(FILE_NAME);
        FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.READ);
        channel.position(channel.size());
        return new AppendOnlyFile(path, channel, policy);
    }

    /** Thrown when the file is damaged somewhere other than a truncated last command. */
    static final class CorruptFileException extends IOException {
        CorruptFileException(String message) {
            super(message);
        }
    }

    /** What replay found: commands run and bytes cut off a truncated tail (0 if none). */
    record ReplayResult(long commands, long validBytes, long truncatedBytes) {}

    /**
     * Feeds every complete command of the file at {@code dir} to {@code executor}, in order. A
     * last command cut short is removed from the file (Redis's aof-load-truncated); anything
     * else that does not parse stops the start with the offset and what to do.
     */
    static ReplayResult replay(Path dir, Consumer<byte[][]> executor) throws IOException {
        Path path = dir.resolve(FILE_NAME);
        if (!Files.exists(path)) {
            return new ReplayResult(0, 0, 0);
        }
        try (FileChannel file = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long fileSize = file.size();
            RequestParser parser = new RequestParser(64 * 1024);
            long fed = 0;
            long validEnd = 0;
            long commands = 0;
            while (true) {
                ByteBuffer target = parser.readTarget();
                int read = file.read(target, fed);
                if (read < 0) {
                    break;
                }
                parser.received(read);
                fed += read;
                while (true) {
                    if (!parser.inRequest()) {
                        break;
                    }
                    int first = parser.peek();
                    long offset = fed - parser.buffered();
                    if (first != '*' && offset == validEnd) {
                        throw new CorruptFileException("append-only file " + path + ": bad format at byte " + offset
                                + " of " + fileSize + " (expected '*' starting a command, found byte " + first
                                + "); the file is damaged, not just cut short: move it aside or repair it"
                                + " (redis-check-aof --fix) and start again");
                    }
                    byte[][] command;
                    try {
                        command = parser.next();
                    } catch (RequestParser.ProtocolError e) {
                        throw new CorruptFileException("append-only file " + path + ": bad format after byte "
                                + validEnd + " of " + fileSize + " (" + e.getMessage() + "); the file is damaged,"
                                + " not just cut short: move it aside or repair it (redis-check-aof --fix)"
                                + " and start again");
                    }
                    if (command == null) {
                        break;
                    }
                    validEnd = fed - parser.buffered();
                    if (command.length > 0) {
                        executor.accept(command);
                        commands++;
                    }
                }
            }
            long truncated = fileSize - validEnd;
            if (truncated > 0) {
                System.err.printf("redis: append-only file %s ends with %d bytes of a command cut short"
                        + " (a crash mid-write); loaded %d commands and truncated the file to %d bytes%n",
                        path, truncated, commands, validEnd);
                file.truncate(validEnd);
                file.force(true);
            }
            return new ReplayResult(commands, validEnd, truncated);
        }
    }

    Path path() {
        return path;
    }

    FsyncPolicy policy() {
        return policy;
    }

    void policy(FsyncPolicy newPolicy) {
        policy = newPolicy;
    }

    long size() {
        return size + pending.pending();
    }

    /** Queues a command executed in database {@code db}; it reaches the file at {@link #flush}. */
    void append(int db, byte[]... argv) {
        if (db != selectedDb) {
            encode(pending, new byte[][] {bytes("SELECT"), bytes(Integer.toString(db))});
            selectedDb = db;
        }
        encode(pending, argv);
    }

    /** Whether commands are queued that {@link #flush} has not written. */
    boolean hasPending() {
        return !pending.isEmpty();
    }

    /**
     * Writes what was queued and, with {@code always}, forces it to the disk. Called by the event
     * loop before it sends the replies of the commands queued.
     */
    void flush() throws IOException {
        if (pending.isEmpty()) {
            return;
        }
        ByteBuffer bytes = pending.unsent();
        int count = bytes.remaining();
        while (bytes.hasRemaining()) {
            channel.write(bytes);
        }
        pending.consumed(count);
        size += count;
        writtenBytes = size;
        if (policy == FsyncPolicy.ALWAYS) {
            channel.force(false);
            syncedBytes = size;
        }
    }

    private void syncEverySecond() {
        while (!closed) {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
            long written = writtenBytes;
            if (policy == FsyncPolicy.EVERYSEC && written != syncedBytes && !closed) {
                try {
                    channel.force(false);
                    syncedBytes = written;
                } catch (IOException e) {
                    if (!closed) {
                        System.err.println("redis: fsync of " + path + " failed: " + e + "; will retry in a second");
                    }
                }
            }
        }
    }

    /**
     * Writes the whole dataset as commands to a new file, forces it and renames it over this
     * one's path (done when AOF is switched on at run time, so the file starts complete).
     * Returns the new file, open for appending; this one is closed.
     */
    AppendOnlyFile rewrite(Database[] databases) throws IOException {
        flush();
        AppendOnlyFile next = writeSnapshot(path.getParent(), databases, policy);
        close();
        return next;
    }

    static AppendOnlyFile writeSnapshot(Path dir, Database[] databases, FsyncPolicy policy) throws IOException {
        Files.createDirectories(dir);
        Path temporary = dir.resolve(FILE_NAME + ".rewrite-tmp");
        try (FileChannel out = FileChannel.open(temporary, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ReplyBuffer buffer = new ReplyBuffer(64 * 1024);
            for (Database db : databases) {
                if (db.size() == 0) {
                    continue;
                }
                encode(buffer, new byte[][] {bytes("SELECT"), bytes(Integer.toString(db.index))});
                for (Entry entry : db.entries.values()) {
                    snapshotEntry(buffer, entry);
                    if (buffer.pending() > 1 << 20) {
                        drain(out, buffer);
                    }
                }
            }
            drain(out, buffer);
            out.force(true);
        }
        Files.move(temporary, dir.resolve(FILE_NAME), StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
        return open(dir, policy);
    }

    private static void drain(FileChannel out, ReplyBuffer buffer) throws IOException {
        ByteBuffer bytes = buffer.unsent();
        int count = bytes.remaining();
        while (bytes.hasRemaining()) {
            out.write(bytes);
        }
        buffer.consumed(count);
    }

    @SuppressWarnings("unchecked")
    private static void snapshotEntry(ReplyBuffer out, Entry entry) {
        byte[] key = entry.key.data;
        switch (entry.value) {
            case byte[] string -> encode(out, new byte[][] {bytes("SET"), key, string});
            case ArrayDeque<?> list -> {
                for (Iterator<byte[]> it = ((ArrayDeque<byte[]>) list).iterator(); it.hasNext(); ) {
                    encode(out, new byte[][] {bytes("RPUSH"), key, it.next()});
                }
            }
            case HashSet<?> set -> {
                for (Bytes member : (HashSet<Bytes>) set) {
                    encode(out, new byte[][] {bytes("SADD"), key, member.data});
                }
            }
            case HashMap<?, ?> hash -> {
                for (Map.Entry<Bytes, byte[]> field : ((HashMap<Bytes, byte[]>) hash).entrySet()) {
                    encode(out, new byte[][] {bytes("HSET"), key, field.getKey().data, field.getValue()});
                }
            }
            case SortedSet zset -> {
                for (Iterator<SortedSet.Element> it = zset.ascending(); it.hasNext(); ) {
                    SortedSet.Element element = it.next();
                    encode(out, new byte[][] {bytes("ZADD"), key, bytes(RedisNumbers.formatDouble(element.score())),
                            element.member().data});
                }
            }
            default -> throw new IllegalStateException("unknown value type " + entry.value.getClass());
        }
        if (entry.expireAtMillis != Entry.NO_EXPIRY) {
            encode(out, new byte[][] {bytes("PEXPIREAT"), key, bytes(Long.toString(entry.expireAtMillis))});
        }
    }

    static void encode(ReplyBuffer out, byte[][] argv) {
        out.arrayHeader(argv.length);
        for (byte[] arg : argv) {
            out.bulk(arg);
        }
    }

    private static byte[] bytes(String ascii) {
        return ascii.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        try {
            flush();
            if (policy != FsyncPolicy.NO) {
                channel.force(false);
            }
        } finally {
            closed = true;
            syncer.interrupt();
            channel.close();
        }
    }
}

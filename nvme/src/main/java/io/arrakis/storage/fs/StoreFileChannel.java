package io.arrakis.storage.fs;

import io.arrakis.storage.log.LogFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.NonReadableChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * A {@link FileChannel} on a file of a {@link io.arrakis.storage.log.LogStore}, indistinguishable
 * from the JDK's to an application: the same results, positions, sizes and exceptions in the same
 * order of checks as {@code sun.nio.ch.FileChannelImpl}, and the same close semantics (an interrupt
 * during an operation closes the channel and throws {@code ClosedByInterruptException}; a close by
 * another thread makes the operation throw {@code AsynchronousCloseException}).
 *
 * <p>What differs, on purpose (docs/storage-layout.md, "The FileChannel"): {@code force(false)}
 * and {@code force(true)} both make every earlier change to every file of the store durable (one
 * device write and one flush, shared with concurrent callers); locks are held in this JVM's lock
 * table only, because a store is opened by one process at a time ({@link StorageMount} holds the
 * VSA's lock); {@code map} gives a private copy of the bytes (READ_ONLY and PRIVATE), and
 * READ_WRITE throws {@link UnsupportedOperationException}, as the {@code FileChannel} contract allows
 * for a mode the channel does not support.
 *
 * <p>Thread-safe: relative operations (those that use or move the position) are serialised on the
 * position lock, as in the JDK; positional ones go straight to the store, which is thread-safe.
 */
public final class StoreFileChannel extends FileChannel {
    private final LogFile file;
    private final Path path;
    private final boolean readable;
    private final boolean writable;
    private final boolean append;
    private final boolean sync;
    private final String deleteOnClose;
    private final Object positionLock = new Object();
    private long position; // guarded by positionLock

    StoreFileChannel(LogFile file, Path path, boolean readable, boolean writable, boolean append, boolean sync,
            String deleteOnClose) {
        this.file = file;
        this.path = path;
        this.readable = readable;
        this.writable = writable;
        this.append = append;
        this.sync = sync;
        this.deleteOnClose = deleteOnClose;
    }

    /** A channel on {@code file}, as {@code FileChannel.open} with READ, WRITE and APPEND as given would give. */
    public static StoreFileChannel open(LogFile file, Path path, boolean readable, boolean writable, boolean append) {
        return new StoreFileChannel(file, path, readable, writable, append, false, null);
    }

    /** SYNC/DSYNC: each write is durable when it returns. */
    private void synced() throws IOException {
        if (sync) {
            file.force(true);
        }
    }

    /** The file this channel reads and writes. */
    public LogFile file() {
        return file;
    }

    private void ensureOpen() throws ClosedChannelException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
    }

    // -------------------------------------------------------------------------------------------
    // Relative reads and writes

    @Override
    public int read(ByteBuffer dst) throws IOException {
        Objects.requireNonNull(dst);
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("Read-only buffer");
        }
        ensureOpen();
        if (!readable) {
            throw new NonReadableChannelException();
        }
        synchronized (positionLock) {
            int n = 0;
            try {
                begin();
                if (!isOpen()) {
                    return 0;
                }
                n = file.read(dst, position);
                if (n > 0) {
                    position += n;
                }
                return n;
            } finally {
                end(n > 0 || (n == -1));
            }
        }
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, dsts.length);
        for (int i = offset; i < offset + length; i++) {
            if (dsts[i].isReadOnly()) {
                throw new IllegalArgumentException("Read-only buffer");
            }
        }
        ensureOpen();
        if (!readable) {
            throw new NonReadableChannelException();
        }
        synchronized (positionLock) {
            long total = 0;
            boolean completed = false;
            try {
                begin();
                if (!isOpen()) {
                    return 0;
                }
                for (int i = offset; i < offset + length; i++) {
                    ByteBuffer dst = dsts[i];
                    if (!dst.hasRemaining()) {
                        continue;
                    }
                    int n = file.read(dst, position);
                    if (n < 0) {
                        completed = true;
                        return total == 0 ? -1 : total;
                    }
                    position += n;
                    total += n;
                    if (dst.hasRemaining()) {
                        break;
                    }
                }
                completed = true;
                return total;
            } finally {
                end(completed);
            }
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        Objects.requireNonNull(src);
        ensureOpen();
        if (!writable) {
            throw new NonWritableChannelException();
        }
        synchronized (positionLock) {
            boolean completed = false;
            try {
                begin();
                if (!isOpen()) {
                    return 0;
                }
                int n;
                if (append) {
                    int before = src.remaining();
                    long start = file.append(src);
                    n = before - src.remaining();
                    position = start + n;
                } else {
                    n = file.write(src, position);
                    position += n;
                }
                synced();
                completed = true;
                return n;
            } finally {
                end(completed);
            }
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, srcs.length);
        ensureOpen();
        if (!writable) {
            throw new NonWritableChannelException();
        }
        synchronized (positionLock) {
            boolean completed = false;
            try {
                begin();
                if (!isOpen()) {
                    return 0;
                }
                // One gathered buffer, so that an append lands in one piece as the kernel's writev does.
                long total = 0;
                for (int i = offset; i < offset + length; i++) {
                    total += srcs[i].remaining();
                }
                if (total == 0) {
                    completed = true;
                    return 0;
                }
                ByteBuffer gathered = ByteBuffer.allocate(Math.toIntExact(total));
                for (int i = offset; i < offset + length; i++) {
                    gathered.put(srcs[i].duplicate());
                }
                gathered.flip();
                int n;
                if (append) {
                    long start = file.append(gathered);
                    n = gathered.position();
                    position = start + n;
                } else {
                    n = file.write(gathered, position);
                    position += n;
                }
                consume(srcs, offset, length, n);
                synced();
                completed = true;
                return n;
            } finally {
                end(completed);
            }
        }
    }

    private static void consume(ByteBuffer[] buffers, int offset, int length, long bytes) {
        for (int i = offset; i < offset + length && bytes > 0; i++) {
            int step = (int) Math.min(buffers[i].remaining(), bytes);
            buffers[i].position(buffers[i].position() + step);
            bytes -= step;
        }
    }

    // -------------------------------------------------------------------------------------------
    // Position, size, truncate, force

    @Override
    public long position() throws IOException {
        ensureOpen();
        synchronized (positionLock) {
            // In append mode the position is the end of the file (the JDK asks the kernel for the size).
            return append ? file.size() : position;
        }
    }

    @Override
    public FileChannel position(long newPosition) throws IOException {
        ensureOpen();
        if (newPosition < 0) {
            throw new IllegalArgumentException();
        }
        synchronized (positionLock) {
            position = newPosition;
            return this;
        }
    }

    @Override
    public long size() throws IOException {
        ensureOpen();
        return file.size();
    }

    @Override
    public FileChannel truncate(long size) throws IOException {
        ensureOpen();
        if (size < 0) {
            throw new IllegalArgumentException("Negative size");
        }
        if (!writable) {
            throw new NonWritableChannelException();
        }
        synchronized (positionLock) {
            boolean completed = false;
            try {
                begin();
                if (!isOpen()) {
                    return null;
                }
                file.truncate(size);
                if (position > size) {
                    position = size;
                }
                completed = true;
                return this;
            } finally {
                end(completed);
            }
        }
    }

    /**
     * Makes every write, truncate, create, rename and delete done before the call, to any file of
     * the store, durable, whatever {@code metaData} says: sizes and names travel in the same log
     * as the data, so there is nothing cheaper to leave out. Concurrent callers share one flush.
     */
    @Override
    public void force(boolean metaData) throws IOException {
        ensureOpen();
        boolean completed = false;
        try {
            begin();
            if (!isOpen()) {
                return;
            }
            io.arrakis.observe.ForceEvent event = new io.arrakis.observe.ForceEvent();
            event.begin();
            file.force(metaData);
            completed = true;
            if (event.shouldCommit()) {
                event.target = path.toString();
                event.commit();
            }
        } finally {
            end(completed);
        }
    }

    // -------------------------------------------------------------------------------------------
    // Transfers

    @Override
    public long transferTo(long position, long count, WritableByteChannel target) throws IOException {
        ensureOpen();
        if (!target.isOpen()) {
            throw new ClosedChannelException();
        }
        if (!readable) {
            throw new NonReadableChannelException();
        }
        if (target instanceof StoreFileChannel channel && !channel.writable) {
            throw new NonWritableChannelException();
        }
        if (position < 0 || count < 0) {
            throw new IllegalArgumentException();
        }
        long size = size();
        if (position > size) {
            return 0;
        }
        long remaining = Math.min(count, size - position);
        ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(remaining, 64 << 10));
        long transferred = 0;
        boolean completed = false;
        try {
            begin();
            while (transferred < remaining) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), remaining - transferred));
                int n = file.read(buffer, position + transferred);
                if (n <= 0) {
                    break;
                }
                buffer.flip();
                int written = target.write(buffer);
                transferred += written;
                if (buffer.hasRemaining()) {
                    break; // the target takes no more now (a non-blocking channel)
                }
            }
            completed = true;
            return transferred;
        } finally {
            end(completed);
        }
    }

    @Override
    public long transferFrom(ReadableByteChannel src, long position, long count) throws IOException {
        ensureOpen();
        if (!src.isOpen()) {
            throw new ClosedChannelException();
        }
        if (src instanceof StoreFileChannel channel && !channel.readable) {
            throw new NonReadableChannelException();
        }
        if (!writable) {
            throw new NonWritableChannelException();
        }
        if (position < 0 || count < 0) {
            throw new IllegalArgumentException();
        }
        // The specification says a position beyond the end transfers nothing; JDK 25 writes there
        // anyway (leaving a hole), and an application sees the implementation: so do we.
        ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(Math.max(count, 1), 64 << 10));
        long transferred = 0;
        boolean completed = false;
        try {
            begin();
            while (transferred < count) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), count - transferred));
                int n = src.read(buffer);
                if (n <= 0) {
                    break;
                }
                buffer.flip();
                while (buffer.hasRemaining()) {
                    transferred += file.write(buffer, position + transferred);
                }
            }
            completed = true;
            return transferred;
        } finally {
            end(completed);
        }
    }

    // -------------------------------------------------------------------------------------------
    // Positional reads and writes

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        if (dst == null) {
            throw new NullPointerException();
        }
        if (position < 0) {
            throw new IllegalArgumentException("Negative position");
        }
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("Read-only buffer");
        }
        ensureOpen();
        if (!readable) {
            throw new NonReadableChannelException();
        }
        boolean completed = false;
        try {
            begin();
            if (!isOpen()) {
                return 0;
            }
            int n = file.read(dst, position);
            completed = true;
            return n;
        } finally {
            end(completed);
        }
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
        if (src == null) {
            throw new NullPointerException();
        }
        if (position < 0) {
            throw new IllegalArgumentException("Negative position");
        }
        ensureOpen();
        if (!writable) {
            throw new NonWritableChannelException();
        }
        boolean completed = false;
        try {
            begin();
            if (!isOpen()) {
                return 0;
            }
            int n = file.write(src, position);
            synced();
            completed = true;
            return n;
        } finally {
            end(completed);
        }
    }

    // -------------------------------------------------------------------------------------------
    // Mapping: a private copy of the bytes

    /**
     * READ_ONLY and PRIVATE: a genuine {@link MappedByteBuffer} over a private copy of the range,
     * taken now (later writes through channels do not show in it, and its changes never reach the
     * file — PRIVATE's contract; for READ_ONLY the JDK would show later writes, ours does not).
     * READ_WRITE: {@link UnsupportedOperationException}, because stores to mapped memory cannot
     * reach a log-structured store without a page-fault handler; use write and force.
     */
    @Override
    public MappedByteBuffer map(MapMode mode, long position, long size) throws IOException {
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Size exceeds Integer.MAX_VALUE");
        }
        Objects.requireNonNull(mode, "Mode is null");
        checkMap(mode, position, size);
        byte[] bytes = snapshot(position, size);
        Path copy = Files.createTempFile(mapDirectory(), "arrakis-map-", ".bin");
        try {
            Files.write(copy, bytes);
            try (FileChannel channel = FileChannel.open(copy, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                return channel.map(mode, 0, size);
            }
        } finally {
            Files.deleteIfExists(copy);
        }
    }

    /** As {@link #map(MapMode, long, long)}: a segment of {@code arena} holding a copy (read-only for READ_ONLY). */
    @Override
    public MemorySegment map(MapMode mode, long offset, long size, Arena arena) throws IOException {
        Objects.requireNonNull(mode, "Mode is null");
        Objects.requireNonNull(arena, "Arena is null");
        if (offset < 0) {
            throw new IllegalArgumentException("Requested bytes offset must be >= 0.");
        }
        if (size < 0) {
            throw new IllegalArgumentException("Requested bytes size must be >= 0.");
        }
        checkMap(mode, offset, size);
        MemorySegment segment = arena.allocate(Math.max(size, 1), 4096).asSlice(0, size);
        long done = 0;
        while (done < size) {
            int chunk = (int) Math.min(size - done, 1 << 20);
            int n = file.read(segment.asSlice(done, chunk).asByteBuffer(), offset + done);
            if (n <= 0) {
                break; // beyond the end: zeros, as the JDK's extended file reads
            }
            done += n;
        }
        return mode == MapMode.READ_ONLY ? segment.asReadOnly() : segment;
    }

    private void checkMap(MapMode mode, long position, long size) throws IOException {
        ensureOpen();
        if (position < 0) {
            throw new IllegalArgumentException("Negative position");
        }
        if (size < 0) {
            throw new IllegalArgumentException("Negative size");
        }
        if (position + size < 0) {
            throw new IllegalArgumentException("Position + size overflow");
        }
        if (mode != MapMode.READ_ONLY && mode != MapMode.PRIVATE) {
            throw new UnsupportedOperationException("map mode " + mode + " on " + path + ": files on an Arrakis"
                    + " storage mount can be mapped READ_ONLY or PRIVATE only (mapped stores cannot reach the log);"
                    + " use write and force");
        }
        if (mode != MapMode.READ_ONLY && !writable) {
            throw new NonWritableChannelException();
        }
        if (!readable) {
            throw new NonReadableChannelException();
        }
        if (file.size() < position + size) { // the JDK extends the file to the mapped range
            if (!writable) {
                throw new IOException("Channel not open for writing - cannot extend file to required size");
            }
            file.write(ByteBuffer.allocate(1), position + size - 1);
        }
    }

    private byte[] snapshot(long position, long size) throws IOException {
        byte[] bytes = new byte[(int) size];
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        while (buffer.hasRemaining()) {
            if (file.read(buffer, position + buffer.position()) <= 0) {
                break;
            }
        }
        return bytes;
    }

    private static Path mapDirectory() {
        Path shm = Path.of("/dev/shm");
        return Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
    }

    // -------------------------------------------------------------------------------------------
    // Locks: this JVM's table (one process has a store open at a time)

    @Override
    public FileLock lock(long position, long size, boolean shared) throws IOException {
        return acquire(position, size, shared);
    }

    @Override
    public FileLock tryLock(long position, long size, boolean shared) throws IOException {
        return acquire(position, size, shared);
    }

    private FileLock acquire(long position, long size, boolean shared) throws IOException {
        ensureOpen();
        if (shared && !readable) {
            throw new NonReadableChannelException();
        }
        if (!shared && !writable) {
            throw new NonWritableChannelException();
        }
        if (size == 0) {
            size = Long.MAX_VALUE - Math.max(0, position);
        }
        StoreFileLocks.Lock lock = new StoreFileLocks.Lock(this, position, size, shared);
        StoreFileLocks.add(file, lock);
        if (!isOpen()) {
            StoreFileLocks.remove(file, lock);
            throw new ClosedChannelException();
        }
        return lock;
    }

    @Override
    protected void implCloseChannel() throws IOException {
        StoreFileLocks.releaseAll(file, this);
        if (deleteOnClose != null && file.store().exists(deleteOnClose)) {
            file.store().delete(deleteOnClose);
        }
    }

    @Override
    public String toString() {
        return "StoreFileChannel[" + path + " in " + file.store().vsaName() + "]";
    }
}

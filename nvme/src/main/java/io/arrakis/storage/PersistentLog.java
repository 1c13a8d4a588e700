package io.arrakis.storage;

import io.arrakis.storage.log.LogFile;
import io.arrakis.storage.log.LogStore;
import io.arrakis.storage.log.StoreFullException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Arrakis/N for storage: an append-only log of records on a VSA for applications that opt in
 * (the Arrakis paper's replacement for Redis's append-only file). {@link #append} returns the
 * record's <em>position</em> (a byte offset in the log's own address space, increasing, never
 * reused, stable across reopens); {@link #force} makes every record appended before it durable,
 * and concurrent forces share one device write and flush (the store's group commit);
 * {@link #iterate} reads the durable records back, in order, after recovery as well;
 * {@link #trim} discards records below a position so their space is reclaimed.
 *
 * <p><b>Layout</b>, over a {@link LogStore} (docs/native-api.md, "Storage"): the records live
 * in <em>segment</em> files {@code <name>.seg.<base>} of the store, each a sequence of
 * {@code [int length][int MAGIC][bytes]} whose first byte has log position {@code base}; a record
 * is one store DATA record, so a crash keeps it whole or drops it, and the store keeps a prefix
 * of what was appended. {@code <name>.trim} holds the trim position. Trimming deletes whole
 * segments below it; the store's checkpoint then copies only live segments, which is where the
 * space comes back.
 *
 * <p>Thread-safe: appends, trims and iteration steps serialise on one lock; {@link #force} runs
 * outside it, so concurrent forces can share a flush.
 */
public final class PersistentLog implements AutoCloseable {
    /** Bytes before each record's data: int length, int {@link #MAGIC}. */
    public static final int RECORD_HEADER = 8;
    /** {@code PLOG}, little-endian: tells a record header from data when iterating. */
    static final int MAGIC = 0x474f4c50;
    /** Segment size when none is given: 8 MiB, the unit in which trimmed space is released. */
    public static final long DEFAULT_SEGMENT_BYTES = 8L << 20;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final LogStore store;
    private final String name;
    private final long segmentBytes;
    private final int maxRecordBytes;
    private final ReentrantLock lock = new ReentrantLock();
    /** The segments, oldest first; guarded by lock. */
    private final List<Segment> segments = new ArrayList<>();
    private final LogFile trimFile;
    private long trimPosition; // guarded by lock
    private long end; // guarded by lock
    private final AtomicLong durableEnd = new AtomicLong();
    private boolean closed; // guarded by lock

    /** One user record, as {@link #iterate} returns it: its position and a read-only copy of its bytes. */
    public record Entry(long position, ByteBuffer data) {
        /** The position of the record after this one. */
        public long next() {
            return position + RECORD_HEADER + data.capacity();
        }
    }

    private record Segment(long base, LogFile file) {}

    private PersistentLog(LogStore store, String name, long segmentBytes) throws IOException {
        this.store = store;
        this.name = name;
        this.segmentBytes = segmentBytes;
        this.maxRecordBytes = (int) Math.min(Integer.MAX_VALUE, store.maxRecordData() - RECORD_HEADER);
        String prefix = name + ".seg.";
        for (String file : store.list()) {
            if (file.startsWith(prefix)) {
                long base;
                try {
                    base = Long.parseLong(file.substring(prefix.length()));
                } catch (NumberFormatException e) {
                    throw new IOException("persistent log '" + name + "' on VSA " + store.vsaName() + ": file " + file
                            + " looks like a segment but has no position after '" + prefix + "'");
                }
                segments.add(new Segment(base, store.open(file, false)));
            }
        }
        segments.sort((a, b) -> Long.compare(a.base, b.base));
        for (int i = 1; i < segments.size(); i++) {
            Segment before = segments.get(i - 1);
            if (before.base + before.file.size() != segments.get(i).base) {
                throw new IOException("persistent log '" + name + "' on VSA " + store.vsaName() + ": segment "
                        + before.file.name() + " ends at " + (before.base + before.file.size()) + " but the next one"
                        + " starts at " + segments.get(i).base + " (damaged)");
            }
        }
        trimFile = store.open(name + ".trim", true);
        trimPosition = trimFileHolds();
        if (!segments.isEmpty()) {
            // Segments deleted by a trim whose position record a crash lost are trimmed all the same.
            trimPosition = Math.max(trimPosition, segments.getFirst().base);
        }
        end = trimPosition;
        if (!segments.isEmpty()) {
            Segment last = segments.getLast();
            end = Math.max(end, last.base + last.file.size());
        }
        durableEnd.set(end);
    }

    /** Opens (creating when absent) the log called {@code name} in {@code store}, with 8 MiB segments. */
    public static PersistentLog open(LogStore store, String name) throws IOException {
        return open(store, name, DEFAULT_SEGMENT_BYTES);
    }

    /**
     * Opens (creating when absent) the log called {@code name} in {@code store}; a new segment
     * starts once one holds {@code segmentBytes}. The store stays the caller's to force and close;
     * several logs (and other files) may share it.
     */
    public static PersistentLog open(LogStore store, String name, long segmentBytes) throws IOException {
        if (name.isEmpty() || name.contains("/")) {
            throw new IllegalArgumentException("a persistent log's name is non-empty and has no '/': '" + name + "'");
        }
        if (segmentBytes < 4096) {
            throw new IllegalArgumentException("segments of " + segmentBytes + " bytes; at least 4096");
        }
        return new PersistentLog(store, name, segmentBytes);
    }

    /** The largest record {@link #append} takes: what fits one store record with its header. */
    public int maxRecordBytes() {
        return maxRecordBytes;
    }

    /** Appends a copy of {@code data}'s bytes (one copy: into the store's append buffer); returns its position. */
    public long append(MemorySegment data) throws IOException {
        long length = data.byteSize();
        checkLength(length);
        return append((int) length, target -> MemorySegment.copy(data, 0, target, 0, length));
    }

    /** Appends the remaining bytes of {@code data} (its position moves to its limit); returns the position. */
    public long append(ByteBuffer data) throws IOException {
        int length = data.remaining();
        checkLength(length);
        long position = append(length, target -> MemorySegment.copy(MemorySegment.ofBuffer(data), 0, target, 0, length));
        data.position(data.limit());
        return position;
    }

    /**
     * Zero-copy append: {@code writer} writes the record's {@code length} bytes straight into the
     * store's append buffer, the memory the device writes from. It runs under the log's and the
     * store's locks: fill the segment (do not keep it), quickly, without calling the log or the
     * store. If it throws, nothing is appended. Returns the record's position; durable after
     * {@link #force}.
     */
    public long append(int length, Consumer<MemorySegment> writer) throws IOException {
        checkLength(length);
        lock.lock();
        try {
            checkOpen();
            Segment segment = segmentForAppend(length);
            long offset;
            try {
                offset = segment.file.appendFilled(RECORD_HEADER + length, target -> {
                    target.set(INT, 0, length);
                    target.set(INT, 4, MAGIC);
                    writer.accept(target.asSlice(RECORD_HEADER, length));
                });
            } catch (StoreFullException e) {
                StoreFullException full = new StoreFullException("persistent log '" + name + "': no room for a record"
                        + " of " + length + " bytes (" + (end - trimPosition) + " bytes untrimmed from position "
                        + trimPosition + "): trim(position) what you no longer need, or use a larger VSA. "
                        + e.getMessage());
                full.initCause(e);
                throw full;
            }
            long position = segment.base + offset;
            end = position + RECORD_HEADER + length;
            return position;
        } finally {
            lock.unlock();
        }
    }

    private void checkLength(long length) {
        if (length < 0 || length > maxRecordBytes) {
            throw new IllegalArgumentException("persistent log '" + name + "': a record of " + length + " bytes; "
                    + "records hold 0.." + maxRecordBytes + " bytes");
        }
    }

    /** The segment the next record of {@code length} bytes goes to, starting a new one when the last is full. */
    private Segment segmentForAppend(int length) throws IOException {
        if (!segments.isEmpty()) {
            Segment last = segments.getLast();
            long size = last.file.size();
            if (size == 0 || size + RECORD_HEADER + length <= segmentBytes) {
                return last;
            }
        }
        Segment segment = new Segment(end, store.open(segmentName(end), true));
        segments.add(segment);
        deleteSegmentsBelow(trimPosition); // the previous newest may now go, if a trim passed it
        return segment;
    }

    private String segmentName(long base) {
        return String.format("%s.seg.%019d", name, base);
    }

    /**
     * Makes every record appended (and every trim done) before the call durable: one device write
     * and one flush, shared with concurrent callers of this log and of every other user of the store.
     */
    public void force() throws IOException {
        long target;
        lock.lock();
        try {
            checkOpen();
            target = end;
        } finally {
            lock.unlock();
        }
        io.arrakis.observe.ForceEvent event = new io.arrakis.observe.ForceEvent();
        event.begin();
        long durableBefore = durableEnd.get();
        store.force();
        durableEnd.accumulateAndGet(target, Math::max);
        if (event.shouldCommit()) {
            event.target = "persistent log " + name;
            event.bytes = Math.max(0, target - durableBefore);
            event.commit();
        }
    }

    /** Where the next record will go. */
    public long endPosition() {
        lock.lock();
        try {
            return end;
        } finally {
            lock.unlock();
        }
    }

    /** Every record below this position is durable (after a reopen: every record). */
    public long durablePosition() {
        return durableEnd.get();
    }

    /** The first position not trimmed away: {@link #iterate} starts no lower. */
    public long trimPosition() {
        lock.lock();
        try {
            return trimPosition;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Discards every record whose position is below {@code upTo} (at most {@link #endPosition}):
     * {@link #iterate} no longer returns them, and segments wholly below it are deleted (all but
     * the newest, which fixes where the next record goes), so the store's next checkpoint leaves
     * their space free. Works on a full store (deletes may use space appends leave free). Durable
     * at the next {@link #force}; a crash before it may bring records back, never lose later ones.
     */
    public void trim(long upTo) throws IOException {
        lock.lock();
        try {
            checkOpen();
            if (upTo > end) {
                throw new IllegalArgumentException("persistent log '" + name + "': cannot trim up to " + upTo
                        + ", beyond its end " + end);
            }
            upTo = Math.max(upTo, trimPosition);
            // Deletes first: they free space even when the store is full. A crash that keeps them but
            // not the trim position below is read back as a trim to the first remaining segment.
            deleteSegmentsBelow(upTo);
            if (!segments.isEmpty()) {
                trimPosition = Math.max(trimPosition, segments.getFirst().base);
            }
            if (upTo > trimPosition || trimFileHolds() != upTo) {
                ByteBuffer bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, upTo);
                trimFile.write(bytes, 0);
                trimPosition = upTo;
            }
        } finally {
            lock.unlock();
        }
    }

    private long trimFileHolds() throws IOException {
        if (trimFile.size() < 8) {
            return 0;
        }
        ByteBuffer bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        trimFile.read(bytes, 0);
        return bytes.getLong(0);
    }

    /** Deletes the segments that end at or below {@code position}, except the newest. */
    private void deleteSegmentsBelow(long position) throws IOException {
        while (segments.size() > 1) {
            Segment first = segments.getFirst();
            if (first.base + first.file.size() > position) {
                return;
            }
            store.delete(first.file.name());
            segments.removeFirst();
        }
    }

    /**
     * The durable records at or after {@code from} (and the trim position), oldest first, up to the
     * durable position when the call is made. Each step reads under the log's lock, so appends and
     * trims may go on meanwhile; a record trimmed after the iterator passed it is still returned if
     * the iterator already read it, and iteration ends at a segment a trim deleted meanwhile.
     */
    public Iterator<Entry> iterate(long from) throws IOException {
        long limit = durableEnd.get();
        lock.lock();
        try {
            checkOpen();
            long start = Math.max(from, trimPosition);
            return new Cursor(start, limit);
        } finally {
            lock.unlock();
        }
    }

    /** Walks the segments from the one holding the start position; records before it are skipped by their headers. */
    private final class Cursor implements Iterator<Entry> {
        private final long start;
        private final long limit;
        private long at;
        private Entry next;
        private boolean positioned;

        Cursor(long start, long limit) {
            this.start = start;
            this.limit = limit;
        }

        @Override
        public boolean hasNext() {
            if (next == null) {
                try {
                    next = advance();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException("persistent log '" + name + "' at position " + at, e);
                }
            }
            return next != null;
        }

        @Override
        public Entry next() {
            if (!hasNext()) {
                throw new NoSuchElementException("persistent log '" + name + "': no durable record at or after " + at);
            }
            Entry entry = next;
            next = null;
            return entry;
        }

        private Entry advance() throws IOException {
            lock.lock();
            try {
                if (!positioned) {
                    at = -1;
                    for (Segment segment : segments) {
                        if (segment.base + segment.file.size() > start) {
                            at = segment.base;
                            break;
                        }
                    }
                    positioned = true;
                    if (at < 0) {
                        return null;
                    }
                }
                while (at >= 0 && at < limit) {
                    Segment segment = segmentAt(at);
                    if (segment == null) {
                        return null;
                    }
                    ByteBuffer header = ByteBuffer.allocate(RECORD_HEADER).order(ByteOrder.LITTLE_ENDIAN);
                    readFully(segment, header, at - segment.base);
                    int length = header.getInt(0);
                    if (header.getInt(4) != MAGIC || length < 0 || length > maxRecordBytes) {
                        throw new IOException("persistent log '" + name + "': no record header at position " + at
                                + " of segment " + segment.file.name() + " (damaged)");
                    }
                    long position = at;
                    at += RECORD_HEADER + length;
                    if (position < start) {
                        continue;
                    }
                    if (at > limit) {
                        return null;
                    }
                    ByteBuffer data = ByteBuffer.allocate(length);
                    readFully(segment, data, position - segment.base + RECORD_HEADER);
                    return new Entry(position, data.flip().asReadOnlyBuffer());
                }
                return null;
            } finally {
                lock.unlock();
            }
        }

        private Segment segmentAt(long position) throws IOException {
            for (Segment segment : segments) {
                long size = segment.file.size();
                if (position >= segment.base && position < segment.base + size) {
                    return segment;
                }
            }
            return null;
        }

        private void readFully(Segment segment, ByteBuffer dst, long offset) throws IOException {
            while (dst.hasRemaining()) {
                if (segment.file.read(dst, offset + dst.position()) < 0) {
                    throw new IOException("persistent log '" + name + "': segment " + segment.file.name()
                            + " ends inside a record at offset " + (offset + dst.position()) + " (damaged)");
                }
            }
        }
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException("persistent log '" + name + "' on VSA " + store.vsaName() + " is closed");
        }
    }

    /** Stops using the log (later calls fail); the store stays open and nothing is forced. Idempotent. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "PersistentLog[" + name + " on " + store.vsaName() + ", positions " + trimPosition() + ".." + endPosition()
                + "]";
    }
}

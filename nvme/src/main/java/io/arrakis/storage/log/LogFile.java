package io.arrakis.storage.log;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A file of a {@link LogStore}, shaped for a {@code FileChannel}: positional reads and writes,
 * append, size, truncate and force. Thread-safe (every call goes through the store's lock); a
 * handle to a deleted file fails with a message naming it.
 */
public final class LogFile {
    private final LogStore store;
    final LogStore.FileState state;

    LogFile(LogStore store, LogStore.FileState state) {
        this.store = store;
        this.state = state;
    }

    /** The store this file lives in. */
    public LogStore store() {
        return store;
    }

    /** The file's identity in its store: stable across renames, never reused while the store is open. */
    public int id() {
        return state.id;
    }

    /** The file's current name (renames show here). */
    public String name() {
        return store.nameOf(state);
    }

    public long size() throws IOException {
        return store.size(state);
    }

    /**
     * Reads into {@code dst} from {@code position}; returns the bytes read, or -1 at or beyond the
     * end of the file. Holes (never written ranges below the size) read as zeros.
     */
    public int read(ByteBuffer dst, long position) throws IOException {
        return store.read(state, dst, position);
    }

    /**
     * Writes {@code src} at {@code position} (beyond the end: the gap reads as zeros); returns the
     * bytes written, which is all of them unless the VSA filled part-way (then an exception if none
     * were). Durable after {@link #force}.
     */
    public int write(ByteBuffer src, long position) throws IOException {
        return store.write(state, src, position, false);
    }

    /** Writes {@code src} at the end of the file, atomically with finding the end; returns where it began. */
    public long append(ByteBuffer src) throws IOException {
        return store.append(state, src);
    }

    /**
     * Appends one record of {@code length} bytes that {@code filler} writes straight into the
     * store's append buffer (the memory the device writes from: no copy of ours), atomically with
     * finding the end; returns where it began. The record is applied whole or not at all, at a
     * crash as well. {@code filler} runs under the store's lock: it must only fill the segment it
     * is given (and not keep it), quickly, without calling the store; if it throws, nothing is
     * appended and the exception propagates. At most {@link LogStore#maxRecordData()} bytes.
     */
    public long appendFilled(int length, java.util.function.Consumer<java.lang.foreign.MemorySegment> filler)
            throws IOException {
        return store.appendFilled(state, length, filler);
    }

    /** Shrinks the file to {@code size} bytes; a larger size changes nothing (as {@code FileChannel.truncate}). */
    public void truncate(long size) throws IOException {
        store.truncate(state, size);
    }

    /**
     * Makes every write, truncate, create, rename and delete done so far (to any file of the store)
     * durable: one device write of what is pending plus one flush, shared with concurrent callers.
     * {@code metaData} changes nothing: sizes and names travel in the same log as the data.
     */
    public void force(boolean metaData) throws IOException {
        store.force();
    }

    @Override
    public String toString() {
        return "LogFile[" + name() + "]";
    }
}

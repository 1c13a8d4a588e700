package io.arrakis.storage.log;

import static io.arrakis.storage.log.LogFormat.CREATE;
import static io.arrakis.storage.log.LogFormat.DATA;
import static io.arrakis.storage.log.LogFormat.DATA_PREFIX;
import static io.arrakis.storage.log.LogFormat.DELETE;
import static io.arrakis.storage.log.LogFormat.HEADER;
import static io.arrakis.storage.log.LogFormat.INT;
import static io.arrakis.storage.log.LogFormat.LONG;
import static io.arrakis.storage.log.LogFormat.RENAME;
import static io.arrakis.storage.log.LogFormat.SET_SIZE;
import static io.arrakis.storage.log.LogFormat.SHORT;

import io.arrakis.device.Vsic;
import io.arrakis.device.VsicConfig;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;

/**
 * Files on a VSA as one log (docs/storage-layout.md): names, sizes and data are records in the
 * same sequence, so an append followed by a force costs one device write and one flush, and
 * concurrent forces share them (group commit). Recovery at {@link #open} replays the log and
 * stops at the first record that fails its checks. When the active region fills, live data is
 * copied to the other region and the superblock flips to it ({@link #checkpoint}).
 *
 * <p>Thread-safe. One lock guards the file table and the append buffers and is never held during
 * device I/O except by a checkpoint and, after {@link #writeThrough}, by each change; each commit
 * lane's queue (0, and 2 when the VSIC has it) belongs to the thread running a commit on it (or
 * to the lock's holder when none runs, in write-through), queue 1 to readers (one at a time).
 */
public final class LogStore implements AutoCloseable {
    /** Queue memory per queue in {@link #vsicConfig}: two 1 MiB append buffers on each commit lane's queue. */
    public static final long DEFAULT_QUEUE_MEMORY = 2L << 20;
    private static final int MAX_NAME_BYTES = 4096;
    private static final long DROPPED_SCAN_LIMIT = 256L << 20;
    /** Blocks at the end of the region only deletes and truncates may fill (see {@link #reserve(long, boolean)}). */
    static final int SHRINK_RESERVE_BLOCKS = 2;

    private final Vsic vsic;
    private final String vsaName;
    private final int blockSize;
    /** Queue 0: the first commit lane, and the superblock, erasure and checkpoint writes. */
    private final DeviceIo writeIo;
    private final DeviceIo readIo;
    private final MemorySegment writeMemory;
    /**
     * Commit lanes: one queue each (queue 0, and queue 2 when the VSIC has a third queue with room
     * for two buffers). A commit runs on the lane of its buffer, so commits on different lanes are
     * in flight together (docs/storage-layout.md, "Overlapping commits").
     */
    private final DeviceIo[] laneIo;
    /** The append buffers, two per lane, used in turn: buffer b lies in the memory of lane b % lanes. */
    private final MemorySegment[] buffers;
    private final long[] bufferOffsets;
    private final MemorySegment readMemory;
    private final long bufferBytes;
    /** The largest payload a record may have: one always fits an empty append buffer. */
    private final long maxPayload;
    private final long maxData;

    private final ReentrantReadWriteLock regionLock = new ReentrantReadWriteLock();
    private final ReentrantLock readQueueLock = new ReentrantLock();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /**
     * Per append buffer: the forces waiting for its commit, a stack linked through
     * {@link Waiter#next}, guarded by lock. A force waits on the buffer that holds its records, so
     * the acknowledgement of a commit wakes only the forces it served (not those whose records sit
     * in the next buffer and would go straight back to sleep), and at most one of those to lead
     * the next commit.
     */
    private final Waiter[] waiting;
    /** Forces waiting on each buffer's commit, guarded by lock. */
    private final int[] forcesWaiting;
    private final ThreadLocal<Waiter> waiterOfThread = ThreadLocal.withInitial(Waiter::new);

    /**
     * A force parked outside the lock until its buffer's commit is acknowledged ({@link #SERVED}:
     * it returns without taking the lock again) or until it must look again under the lock
     * ({@link #RECHECK}: to lead the next commit, or because the store failed, closed or moved to
     * another region). Before, forces waited on a Condition of the lock, so the 10-20 forces a
     * commit served took the lock again one after the other, each woken by the one before: with
     * 50 writers on 2 cores the last of them ran 120-140 µs after the commit ended, too late for
     * the next group. One per thread, reused; {@code state} is written by the waker, {@code next}
     * under the lock.
     */
    private static final class Waiter {
        static final int WAITING = 0;
        static final int SERVED = 1;
        static final int RECHECK = 2;
        final Thread thread = Thread.currentThread();
        volatile int state;
        Waiter next;

        /** Parks until woken (uninterruptibly, keeping an interrupt for the caller); the state it was woken with. */
        int await(Object blocker) {
            boolean interrupted = false;
            int outcome;
            while ((outcome = state) == WAITING) {
                java.util.concurrent.locks.LockSupport.park(blocker);
                interrupted |= Thread.interrupted();
            }
            if (interrupted) {
                thread.interrupt();
            }
            return outcome;
        }
    }

    // The log, guarded by lock
    private long generation;
    private long regionStart;
    private long regionEnd;
    private long otherStart;
    private long otherEnd;
    private long createdMillis;
    private long nextSequence;
    private int chain;
    private int current;
    private MemorySegment appendMemory;
    private long currentBase;
    private long currentFill;
    /** Per lane: a commit is running on it (its queue and buffer belong to that commit's thread). */
    private final boolean[] laneBusy;
    private int runningCommits;
    /** Per buffer, from its commit's start until acknowledged: where it lies in the log, and whether its write and flush completed. */
    private final long[] commitBase;
    private final long[] commitLength;
    private final boolean[] running;
    private final boolean[] written;
    /** Commits started and not yet acknowledged, in order: buffers oldestUnacked, oldestUnacked + 1, … (mod buffers). */
    private int oldestUnacked;
    private int unacked;
    private long durableEnd;
    private boolean compacting;
    private IOException failure;
    private boolean closed;
    private boolean readOnly;
    /**
     * Set by {@link #writeThrough()}: every change is written to the device before it returns
     * ({@link #writeOutLocked}), so {@link #durableEnd} then counts records written but maybe not
     * flushed, and {@link #flushOwed} says a force must still flush them.
     */
    private boolean writeThrough;
    private boolean flushOwed;

    // The files, guarded by lock
    private final Map<String, FileState> byName = new HashMap<>();
    private final Map<Integer, FileState> byId = new HashMap<>();
    private int nextFileId = 1;

    // Statistics, guarded by lock
    private long forces;
    private long deviceFlushes;
    private long records;
    private long compactions;
    private long longestCompactionNanos;
    private RecoveryReport recovery;
    private String superblockProblem;

    /** One file's state; guarded by the store's lock. */
    static final class FileState {
        final int id;
        String name;
        long size;
        Extents extents = new Extents();
        boolean deleted;

        FileState(int id, String name) {
            this.id = id;
            this.name = name;
        }
    }

    /**
     * Counts since open. {@code forces} asked for durability; {@code deviceFlushes} is what the
     * device did; {@code longestCompactionNanos} is the longest stall a checkpoint caused.
     */
    public record Stats(long forces, long deviceFlushes, long records, long compactions, long longestCompactionNanos,
            long liveBytes, long logBytes, long regionBytes) {}

    private LogStore(Vsic vsic) {
        this.vsic = vsic;
        this.vsaName = vsic.name();
        this.blockSize = vsic.blockSize();
        if (vsic.queueCount() < 2) {
            throw new IllegalArgumentException("VSA " + vsaName + ": a log store needs 2 queues (writes, reads), the"
                    + " VSIC has " + vsic.queueCount() + "; open it with LogStore.vsicConfig");
        }
        this.writeIo = new DeviceIo(vsaName, vsic.queue(0));
        this.readIo = new DeviceIo(vsaName, vsic.queue(1));
        this.writeMemory = vsic.queue(0).memory();
        this.readMemory = vsic.queue(1).memory();
        this.bufferBytes = writeMemory.byteSize() / 2 / blockSize * blockSize;
        if (bufferBytes < 2L * blockSize || readMemory.byteSize() < bufferBytes + blockSize) {
            throw new IllegalArgumentException("VSA " + vsaName + ": queue memory too small for a log store ("
                    + writeMemory.byteSize() + " and " + readMemory.byteSize() + " bytes; needs two buffers of at"
                    + " least 2 blocks on queue 0 and one more block on queue 1)");
        }
        this.maxPayload = bufferBytes - HEADER - 8;
        this.maxData = maxPayload - DATA_PREFIX;
        boolean secondLane = vsic.queueCount() >= 3 && vsic.queue(2).memory().byteSize() >= 2 * bufferBytes;
        this.laneIo = secondLane ? new DeviceIo[] {writeIo, new DeviceIo(vsaName, vsic.queue(2))} : new DeviceIo[] {writeIo};
        int lanes = laneIo.length;
        this.buffers = new MemorySegment[2 * lanes];
        this.bufferOffsets = new long[2 * lanes];
        this.waiting = new Waiter[2 * lanes];
        for (int b = 0; b < buffers.length; b++) {
            bufferOffsets[b] = (long) (b / lanes) * bufferBytes;
            buffers[b] = vsic.queue(b % lanes == 0 ? 0 : 2).memory().asSlice(bufferOffsets[b], bufferBytes);
        }
        this.forcesWaiting = new int[buffers.length];
        this.laneBusy = new boolean[lanes];
        this.commitBase = new long[buffers.length];
        this.commitLength = new long[buffers.length];
        this.running = new boolean[buffers.length];
        this.written = new boolean[buffers.length];
        this.appendMemory = buffers[0];
    }

    /** How many commits may be in flight at once: 2 on a VSIC with a third queue ({@link #OPTION_COMMIT_LANES}), else 1. */
    public int commitLanes() {
        return laneIo.length;
    }

    /**
     * The VSIC option ({@link #vsicConfig}) naming how many commits may be in flight at once: 1
     * (the default) or 2. Two lanes overlap commit k+1 with commit k (docs/storage-layout.md,
     * "Overlapping commits"); on the ext4/virtio disk measured there, two fdatasyncs in flight took
     * 2.5 times as long each and split the groups in two, so one lane is the faster default.
     */
    public static final String OPTION_COMMIT_LANES = "commitLanes";

    /**
     * A VSIC configuration fit for a store: queues of depth 4 with {@link #DEFAULT_QUEUE_MEMORY}
     * each; queue 0 commits, queue 1 reads, and with {@link #OPTION_COMMIT_LANES}{@code =2} in
     * {@code options} queue 2 commits too, so two commits can be in flight.
     */
    public static VsicConfig vsicConfig(String name, long capacityBlocks, Map<String, String> options) {
        String lanes = options.getOrDefault(OPTION_COMMIT_LANES, "1");
        int queues = switch (lanes) {
            case "1" -> 2;
            case "2" -> 3;
            default -> throw new IllegalArgumentException("VSA " + name + ": option " + OPTION_COMMIT_LANES + "='"
                    + lanes + "' is not a lane count this store has; use 1 (one commit in flight) or 2");
        };
        return new VsicConfig(name, capacityBlocks, queues, 4, DEFAULT_QUEUE_MEMORY, options);
    }

    // -------------------------------------------------------------------------------------------
    // Format and open

    /**
     * Writes an empty log onto {@code vsic}, erasing what it held: a superblock of a fresh random
     * generation (so records of an earlier format can never pass as ours) and two equal regions.
     */
    public static void format(Vsic vsic) throws IOException {
        LogStore store = new LogStore(vsic);
        long blocks = vsic.capacityBlocks();
        long regionBlocks = (blocks - 2) / 2;
        if (regionBlocks < 4) {
            throw new IllegalArgumentException("VSA " + vsic.name() + ": " + blocks + " blocks are too few for a log"
                    + " store (needs at least 10)");
        }
        long bs = vsic.blockSize();
        long generation = (new SecureRandom().nextLong() >>> 4) | 1;
        store.writeSuperblock(generation, 2 * bs, (2 + regionBlocks) * bs, (2 + regionBlocks) * bs,
                (2 + 2 * regionBlocks) * bs, System.currentTimeMillis(), true);
    }

    /** Opens the log on {@code vsic} (which the store then owns and closes), replaying it. */
    public static LogStore open(Vsic vsic) throws IOException {
        LogStore store = new LogStore(vsic);
        store.lock.lock();
        try {
            store.readSuperblock();
            store.recovery = store.recover();
        } finally {
            store.lock.unlock();
        }
        return store;
    }

    /**
     * Opens the log on {@code vsic} for inspection ({@code arrakis vsa ls/fsck/export}): replays it
     * as {@link #open} does but writes nothing to the VSA, not even the erasure of unreachable
     * records after the end (so the {@link #recovery()} report is the same a later {@link #open}
     * would give). Reads work; every change, force and checkpoint fails with an IOException.
     */
    public static LogStore openReadOnly(Vsic vsic) throws IOException {
        LogStore store = new LogStore(vsic);
        store.readOnly = true;
        store.lock.lock();
        try {
            store.readSuperblock();
            store.recovery = store.recover();
        } finally {
            store.lock.unlock();
        }
        return store;
    }

    /** Whether this store was opened with {@link #openReadOnly}. */
    public boolean readOnly() {
        return readOnly;
    }

    /** What recovery found at open. */
    public RecoveryReport recovery() {
        return recovery;
    }

    private void writeSuperblock(long gen, long start, long end, long otherS, long otherE, long created,
            boolean eraseOther) throws IOException {
        MemorySegment block = writeMemory.asSlice(0, blockSize).fill((byte) 0);
        block.set(LONG, LogFormat.SB_MAGIC, LogFormat.SUPER_MAGIC);
        block.set(INT, LogFormat.SB_VERSION, LogFormat.SUPER_VERSION);
        block.set(INT, LogFormat.SB_BLOCK_SIZE, blockSize);
        block.set(LONG, LogFormat.SB_GENERATION, gen);
        block.set(LONG, LogFormat.SB_REGION_START, start);
        block.set(LONG, LogFormat.SB_REGION_END, end);
        block.set(LONG, LogFormat.SB_OTHER_START, otherS);
        block.set(LONG, LogFormat.SB_OTHER_END, otherE);
        block.set(LONG, LogFormat.SB_CREATED, created);
        block.set(INT, LogFormat.SB_CRC, LogFormat.crc(block, 0, LogFormat.SB_CHECKED_BYTES));
        if (eraseOther) {
            writeMemory.asSlice(blockSize, blockSize).fill((byte) 0);
            long slot = gen % 2;
            writeIo.write(1 - slot, 1, blockSize);
        }
        writeIo.writeThenFlush(gen % 2, 1, 0);
    }

    private void readSuperblock() throws IOException {
        readIo.read(0, 2, 0);
        long bestGeneration = -1;
        long bestOffset = -1;
        for (int slot = 0; slot < 2; slot++) {
            long at = (long) slot * blockSize;
            MemorySegment block = readMemory.asSlice(at, blockSize);
            if (block.get(LONG, LogFormat.SB_MAGIC) != LogFormat.SUPER_MAGIC) {
                continue; // never written (a fresh format writes one slot)
            }
            if (block.get(INT, LogFormat.SB_CRC) != LogFormat.crc(block, 0, LogFormat.SB_CHECKED_BYTES)
                    || block.get(LONG, LogFormat.SB_GENERATION) % 2 != slot) {
                superblockProblem = "superblock slot " + slot + " has the magic but fails its checksum (a checkpoint"
                        + " torn by a crash, or damage)";
                continue;
            }
            long gen = block.get(LONG, LogFormat.SB_GENERATION);
            if (gen > bestGeneration) {
                bestGeneration = gen;
                bestOffset = at;
            }
        }
        if (bestOffset < 0) {
            throw new IOException("VSA " + vsaName + " holds no Arrakis log: neither superblock (blocks 0 and 1) has"
                    + " the magic and a valid checksum; LogStore.format creates one (erasing the VSA)");
        }
        MemorySegment block = readMemory.asSlice(bestOffset, blockSize);
        int version = block.get(INT, LogFormat.SB_VERSION);
        int storedBlockSize = block.get(INT, LogFormat.SB_BLOCK_SIZE);
        if (version != LogFormat.SUPER_VERSION || storedBlockSize != blockSize) {
            throw new IOException("VSA " + vsaName + ": log version " + version + " with blocks of " + storedBlockSize
                    + " bytes; this code reads version " + LogFormat.SUPER_VERSION + " on blocks of " + blockSize);
        }
        if (superblockProblem != null) {
            superblockProblem += "; replaying generation " + bestGeneration + " from slot " + bestOffset / blockSize
                    + ", which may predate the last checkpoint";
        }
        generation = bestGeneration;
        regionStart = block.get(LONG, LogFormat.SB_REGION_START);
        regionEnd = block.get(LONG, LogFormat.SB_REGION_END);
        otherStart = block.get(LONG, LogFormat.SB_OTHER_START);
        otherEnd = block.get(LONG, LogFormat.SB_OTHER_END);
        createdMillis = block.get(LONG, LogFormat.SB_CREATED);
        long capacity = vsic.capacityBlocks() * blockSize;
        if (regionStart < 2L * blockSize || regionEnd > capacity || regionStart >= regionEnd
                || otherEnd > capacity || regionStart % blockSize != 0 || regionEnd % blockSize != 0) {
            throw new IOException("VSA " + vsaName + ": superblock generation " + generation + " names region ["
                    + regionStart + ", " + regionEnd + ") outside the VSA's " + capacity + " bytes");
        }
    }

    // -------------------------------------------------------------------------------------------
    // Recovery

    /** The part of the device {@link #readMemory} holds while recovering or compacting: [windowStart, windowStart + windowLength). */
    private long windowStart;
    private long windowLength;

    /** Memory offset of device bytes [position, position + length), loading them if needed; -1 past the region. */
    private long window(long position, long length) throws IOException {
        if (position >= windowStart && position + length <= windowStart + windowLength) {
            return position - windowStart;
        }
        if (position + length > regionEnd) {
            return -1;
        }
        long start = position / blockSize * blockSize;
        long bytes = Math.min(readMemory.byteSize() / blockSize * blockSize, regionEnd - start);
        if (position + length > start + bytes) {
            return -1;
        }
        windowStart = start;
        windowLength = 0;
        readIo.read(start / blockSize, (int) (bytes / blockSize), 0);
        windowLength = bytes;
        return position - windowStart;
    }

    /**
     * Checks the record at {@code position}: null if it is the one expected next; "" if nothing
     * of this generation starts there (the log ends); otherwise what is wrong with it.
     */
    private String check(long position, long sequence, int previous) throws IOException {
        long at = window(position, HEADER);
        if (at < 0) {
            return "";
        }
        if (readMemory.get(SHORT, at + LogFormat.R_MAGIC) != LogFormat.RECORD_MAGIC
                || readMemory.get(LONG, at + LogFormat.R_GENERATION) != generation) {
            return "";
        }
        int payload = readMemory.get(INT, at + LogFormat.R_PAYLOAD_LENGTH);
        if (payload < 0 || payload > maxPayload || position + LogFormat.recordBytes(payload) > regionEnd) {
            return "record at offset " + position + " claims " + payload + " bytes of payload, beyond any record";
        }
        at = window(position, HEADER + payload);
        if (at < 0) {
            return "record at offset " + position + " runs past the end of the region";
        }
        int stored = readMemory.get(INT, at + LogFormat.R_CRC);
        if (stored != LogFormat.crc(readMemory, at + 4, HEADER - 4 + payload)) {
            return "record at offset " + position + " fails its checksum (torn or damaged)";
        }
        long seq = readMemory.get(LONG, at + LogFormat.R_SEQUENCE);
        if (seq != sequence) {
            return "record at offset " + position + " has sequence " + seq + " where " + sequence + " was expected";
        }
        if (readMemory.get(INT, at + LogFormat.R_PREVIOUS_CRC) != previous) {
            return "record at offset " + position + " does not follow the record before it (stale)";
        }
        return null;
    }

    private RecoveryReport recover() throws IOException {
        long position = regionStart;
        long sequence = 1;
        int previous = LogFormat.chainSeed(generation);
        long replayed = 0;
        String stopReason;
        windowStart = 0;
        windowLength = 0;
        while (true) {
            String problem = check(position, sequence, previous);
            long at = position;
            if (problem != null && position % blockSize != 0) {
                // The end of a commit group: the rest of its last block is padding. Or a record torn
                // by a crash that an earlier recovery cut off: the commit group written after that
                // recovery starts on the next block with exactly the sequence and chain expected here.
                long next = LogFormat.roundUp(position, blockSize);
                String there = check(next, sequence, previous);
                if (problem.isEmpty() || there == null) {
                    at = next;
                    problem = there;
                }
            }
            if (problem == null) {
                long memory = window(at, HEADER);
                int payload = readMemory.get(INT, memory + LogFormat.R_PAYLOAD_LENGTH);
                memory = window(at, HEADER + payload);
                problem = apply(at, memory, payload);
            }
            if (problem != null) {
                stopReason = problem.isEmpty() ? null : problem;
                break;
            }
            long memory = window(at, HEADER);
            previous = readMemory.get(INT, memory + LogFormat.R_CRC);
            int payload = readMemory.get(INT, memory + LogFormat.R_PAYLOAD_LENGTH);
            position = at + LogFormat.recordBytes(payload);
            sequence++;
            replayed++;
        }
        long end = position;
        long resume = LogFormat.roundUp(end, blockSize);

        // Checksummed records of this generation the chain no longer reaches: count, then erase them,
        // so that no later recovery can take them for records written after the new ones.
        long dropped = 0;
        long droppedEnd = end;
        long scanEnd = Math.min(regionEnd, resume + DROPPED_SCAN_LIMIT);
        for (long at = resume; at + HEADER <= scanEnd; ) {
            long memory = window(at, HEADER);
            if (memory < 0) {
                break;
            }
            int payload = readMemory.get(INT, memory + LogFormat.R_PAYLOAD_LENGTH);
            if (readMemory.get(SHORT, memory + LogFormat.R_MAGIC) == LogFormat.RECORD_MAGIC
                    && readMemory.get(LONG, memory + LogFormat.R_GENERATION) == generation && payload >= 0
                    && payload <= maxPayload && at + LogFormat.recordBytes(payload) <= regionEnd) {
                memory = window(at, HEADER + payload);
                if (memory >= 0 && readMemory.get(INT, memory + LogFormat.R_CRC)
                        == LogFormat.crc(readMemory, memory + 4, HEADER - 4 + payload)) {
                    dropped++;
                    at += LogFormat.recordBytes(payload);
                    droppedEnd = at;
                    continue;
                }
            }
            at += 8;
        }
        if (dropped > 0 && !readOnly) {
            erase(resume, LogFormat.roundUp(droppedEnd, blockSize));
        }
        nextSequence = sequence;
        chain = previous;
        currentBase = resume;
        currentFill = 0;
        durableEnd = resume;
        return new RecoveryReport(generation, superblockProblem, replayed, end, resume, stopReason, dropped,
                droppedEnd - end);
    }

    /** Zeroes device bytes [from, to), both block-aligned, and flushes. */
    private void erase(long from, long to) throws IOException {
        writeMemory.asSlice(0, bufferBytes).fill((byte) 0);
        for (long at = from; at < to; ) {
            long bytes = Math.min(bufferBytes, to - at);
            writeIo.write(at / blockSize, (int) (bytes / blockSize), 0);
            at += bytes;
        }
        writeIo.flush();
        windowLength = 0;
    }

    /** Applies a verified record read at {@code memory} in the read window; null, or why it makes no sense. */
    private String apply(long position, long memory, int payload) {
        int type = readMemory.get(ValueLayout.JAVA_BYTE, memory + LogFormat.R_TYPE);
        long body = memory + HEADER;
        int fileId = payload >= 4 ? readMemory.get(INT, body) : -1;
        FileState file = byId.get(fileId);
        String where = "record at offset " + position + " (" + LogFormat.typeName(type) + ")";
        switch (type) {
            case CREATE -> {
                String name = readName(readMemory, body, payload);
                if (name == null || file != null || byName.containsKey(name)) {
                    return where + " creates file id " + fileId + " again or with a bad name";
                }
                FileState created = new FileState(fileId, name);
                byId.put(fileId, created);
                byName.put(name, created);
                nextFileId = Math.max(nextFileId, fileId + 1);
            }
            case DATA -> {
                if (file == null || payload < DATA_PREFIX) {
                    return where + " names file id " + fileId + ", which does not exist";
                }
                long offset = readMemory.get(LONG, body + 8);
                long length = payload - DATA_PREFIX;
                file.extents.put(offset, length, position + HEADER + DATA_PREFIX);
                file.size = Math.max(file.size, offset + length);
            }
            case SET_SIZE -> {
                if (file == null || payload < 16) {
                    return where + " names file id " + fileId + ", which does not exist";
                }
                setSize(file, readMemory.get(LONG, body + 8));
            }
            case DELETE -> {
                if (file == null) {
                    return where + " names file id " + fileId + ", which does not exist";
                }
                byId.remove(fileId);
                byName.remove(file.name);
            }
            case RENAME -> {
                String name = readName(readMemory, body, payload);
                if (file == null || name == null || byName.containsKey(name)) {
                    return where + " renames file id " + fileId + " impossibly";
                }
                byName.remove(file.name);
                file.name = name;
                byName.put(name, file);
            }
            default -> {
                return where + " has an unknown type";
            }
        }
        return null;
    }

    private static String readName(MemorySegment memory, long body, int payload) {
        if (payload < 8) {
            return null;
        }
        int length = memory.get(INT, body + 4);
        if (length <= 0 || length > payload - 8) {
            return null;
        }
        return new String(memory.asSlice(body + 8, length).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    private static void setSize(FileState file, long size) {
        if (size < file.size) {
            file.extents.truncate(size);
        }
        file.size = size;
    }

    // -------------------------------------------------------------------------------------------
    // Appending records

    /** Makes room for a record of {@code bytes} in the current buffer; may release the lock meanwhile. */
    private void reserve(long bytes) throws IOException {
        reserve(bytes, false);
    }

    /**
     * As {@link #reserve(long)}; a record that frees space ({@code shrinking}: DELETE, SET_SIZE)
     * may also use the last {@link #SHRINK_RESERVE_BLOCKS} blocks of the region, which every other
     * record leaves free. Without them a full region could not even record the delete that would
     * let the next checkpoint reclaim space.
     */
    private void reserve(long bytes, boolean shrinking) throws IOException {
        boolean compacted = false;
        while (true) {
            checkUsable();
            if (compacting) {
                changed.awaitUninterruptibly();
                continue;
            }
            long end = LogFormat.roundUp(currentBase + currentFill + bytes, blockSize);
            long limit = regionEnd - (shrinking ? 0 : (long) SHRINK_RESERVE_BLOCKS * blockSize);
            if (end > limit) {
                if (runningCommits > 0) {
                    changed.awaitUninterruptibly();
                    continue;
                }
                if (compacted) {
                    throw full(bytes, limit);
                }
                compacted = compactFromAppender(generation);
                continue;
            }
            if (currentFill + bytes <= bufferBytes) {
                return;
            }
            if (laneBusy[current % laneIo.length]) {
                changed.awaitUninterruptibly();
            } else {
                commit();
            }
        }
    }

    private StoreFullException full(long bytes, long limit) {
        long live = 0;
        for (FileState file : byId.values()) {
            live += file.extents.liveBytes();
        }
        long left = Math.max(0, limit - LogFormat.roundUp(currentBase + currentFill, blockSize));
        return new StoreFullException("VSA " + vsaName + " is full: a record of " + bytes + " bytes does not fit in the "
                + left + " bytes left of its " + (regionEnd - regionStart) + "-byte log region, which holds " + live
                + " bytes of live file data after compaction (the last " + SHRINK_RESERVE_BLOCKS + " blocks are kept for"
                + " deletes and truncates); delete or truncate files, or use a larger VSA");
    }

    /** Starts a record in the current buffer; returns its offset in {@link #appendMemory}. */
    private long beginRecord(byte type, long payload) {
        long at = currentFill;
        appendMemory.set(LogFormat.SHORT, at + LogFormat.R_MAGIC, LogFormat.RECORD_MAGIC);
        appendMemory.set(ValueLayout.JAVA_BYTE, at + LogFormat.R_TYPE, type);
        appendMemory.set(ValueLayout.JAVA_BYTE, at + LogFormat.R_TYPE + 1, (byte) 0);
        appendMemory.set(INT, at + LogFormat.R_PAYLOAD_LENGTH, (int) payload);
        appendMemory.set(INT, at + LogFormat.R_PREVIOUS_CRC, chain);
        appendMemory.set(LONG, at + LogFormat.R_SEQUENCE, nextSequence);
        appendMemory.set(LONG, at + LogFormat.R_GENERATION, generation);
        return at;
    }

    /** Seals the record begun at {@code at}: padding, checksum, chain. */
    private void endRecord(long at, long payload) {
        long total = LogFormat.recordBytes(payload);
        appendMemory.asSlice(at + HEADER + payload, total - HEADER - payload).fill((byte) 0);
        int crc = LogFormat.crc(appendMemory, at + 4, HEADER - 4 + payload);
        appendMemory.set(INT, at + LogFormat.R_CRC, crc);
        chain = crc;
        nextSequence++;
        currentFill += total;
        records++;
    }

    /** The log position of a byte at {@code memoryOffset} of the current buffer. */
    private long logPosition(long memoryOffset) {
        return currentBase + memoryOffset;
    }

    /**
     * Writes the current buffer (padded to a block) and flushes, on the buffer's lane, with the
     * lock released during the I/O; appenders continue into the next buffer meanwhile, and a commit
     * of that buffer may run on the other lane at the same time. The caller holds the lock, the
     * buffer is not empty and its lane is free. Returns once this commit's I/O ended; its records
     * are durable (acknowledged) only once every earlier commit's are too: a flush covers only
     * writes that completed before it, so a later commit's flush says nothing of an earlier one
     * still in flight (rule 1 of "Overlapping commits" in docs/storage-layout.md).
     */
    private void commit() throws IOException {
        int buffer = current;
        int lane = buffer % laneIo.length;
        if (currentFill == 0 || laneBusy[lane]) {
            throw new IllegalStateException("VSA " + vsaName + ": commit of an empty buffer or on a busy lane (a bug"
                    + " in the caller)");
        }
        long padded = LogFormat.roundUp(currentFill, blockSize);
        appendMemory.asSlice(currentFill, padded - currentFill).fill((byte) 0);
        long base = currentBase;
        commitBase[buffer] = base;
        commitLength[buffer] = padded;
        running[buffer] = true;
        written[buffer] = false;
        laneBusy[lane] = true;
        runningCommits++;
        unacked++;
        // Never share a block: the next commit starts on the block after this one's padding.
        current = (current + 1) % buffers.length;
        appendMemory = buffers[current];
        currentBase += padded;
        currentFill = 0;
        IOException error = null;
        lock.unlock();
        try {
            laneIo[lane].writeThenFlush(base / blockSize, (int) (padded / blockSize), bufferOffsets[buffer]);
        } catch (IOException | RuntimeException e) {
            // Whatever went wrong, waiters must not wait for a commit that will never end.
            error = e instanceof IOException io ? io : new IOException(e.toString(), e);
        } finally {
            lock.lock();
        }
        running[buffer] = false;
        laneBusy[lane] = false;
        runningCommits--;
        if (error != null) {
            // The durable end stays before this commit for good: later commits' completions
            // cannot acknowledge past it (their records follow a gap replay would stop at).
            if (failure == null) {
                failure = new IOException("VSA " + vsaName + ": the log write at offset " + base + " failed, so the"
                        + " store accepts no more writes; reopen it to recover what was durable", error);
            }
            wakeAll();
            throw failure;
        }
        written[buffer] = true;
        deviceFlushes++;
        flushOwed = false; // write-outs happen only with no commit running: this flush came after them
        acknowledge();
        int nextLane = current % laneIo.length;
        if (forcesWaiting[current] > 0 && !laneBusy[nextLane]) {
            // Forces whose records are in the current buffer sleep until its lane is free: wake
            // one of them to lead its commit. (Leading it here instead would spare that wake-up
            // but make this caller wait for a second commit.)
            leadOne(current);
        }
        changed.signalAll(); // appenders waiting for a buffer, a checkpoint waiting for the commits
    }

    /**
     * Advances the durable end over the oldest commits whose write and flush completed, in order,
     * stopping at the first still running (or failed), and wakes the forces each one served.
     */
    private void acknowledge() {
        while (unacked > 0 && written[oldestUnacked]) {
            int buffer = oldestUnacked;
            written[buffer] = false;
            durableEnd = commitBase[buffer] + commitLength[buffer];
            wake(buffer, Waiter.SERVED);
            oldestUnacked = (buffer + 1) % buffers.length;
            unacked--;
        }
    }

    /** The buffer holding log bytes just before {@code end}, which are not yet durable: the current one or one being committed. */
    private int bufferHolding(long end) {
        if (end > currentBase) {
            return current;
        }
        for (int i = 0, buffer = oldestUnacked; i < unacked; i++, buffer = (buffer + 1) % buffers.length) {
            if (end > commitBase[buffer] && end <= commitBase[buffer] + commitLength[buffer]) {
                return buffer;
            }
        }
        throw new IllegalStateException("VSA " + vsaName + ": log position " + end + " is neither durable (up to "
                + durableEnd + ") nor in a buffer (a bug)");
    }

    /** Wakes every waiter of every kind: the store failed, closed, or moved to another region. */
    private void wakeAll() {
        changed.signalAll();
        for (int buffer = 0; buffer < waiting.length; buffer++) {
            wake(buffer, Waiter.RECHECK);
        }
    }

    /** Wakes every force waiting on {@code buffer} with {@code outcome}; under the lock. */
    private void wake(int buffer, int outcome) {
        Waiter waiter = waiting[buffer];
        waiting[buffer] = null;
        forcesWaiting[buffer] = 0;
        while (waiter != null) {
            Waiter next = waiter.next;
            waiter.next = null;
            Thread thread = waiter.thread;
            waiter.state = outcome; // from here the waiter may return and wait again, reusing itself
            java.util.concurrent.locks.LockSupport.unpark(thread);
            waiter = next;
        }
    }

    /** Wakes one force waiting on {@code buffer} to look again under the lock (and lead its commit); under the lock. */
    private void leadOne(int buffer) {
        Waiter waiter = waiting[buffer];
        if (waiter == null) {
            return;
        }
        waiting[buffer] = waiter.next;
        forcesWaiting[buffer]--;
        waiter.next = null;
        waiter.state = Waiter.RECHECK;
        java.util.concurrent.locks.LockSupport.unpark(waiter.thread);
    }

    /** For changes: the store works and is not read-only. */
    private void checkUsable() throws IOException {
        checkReadable();
        if (readOnly) {
            throw new IOException("the log store on VSA " + vsaName + " is open read-only (for inspection): nothing"
                    + " may be written, forced or checkpointed");
        }
    }

    /** For reads: the store works and is open. */
    private void checkReadable() throws IOException {
        if (failure != null) {
            throw failure;
        }
        if (closed) {
            throw new IOException("log store on VSA " + vsaName + " is closed");
        }
    }

    // -------------------------------------------------------------------------------------------
    // Files

    /** The file called {@code name}; created (durable at the next force) when absent and {@code create}. */
    public LogFile open(String name, boolean create) throws IOException {
        byte[] bytes = checkName(name);
        lock.lock();
        try {
            checkReadable();
            FileState file = byName.get(name);
            if (file == null) {
                if (!create) {
                    throw new NoSuchFileException(name, null, "no such file in the log store on VSA " + vsaName);
                }
                reserve(LogFormat.recordBytes(8 + bytes.length));
                file = byName.get(name); // another thread may have created it while we waited
                if (file == null) {
                    file = new FileState(nextFileId++, name);
                    long at = beginRecord(CREATE, 8 + bytes.length);
                    appendMemory.set(INT, at + HEADER, file.id);
                    appendMemory.set(INT, at + HEADER + 4, bytes.length);
                    MemorySegment.copy(MemorySegment.ofArray(bytes), 0, appendMemory, at + HEADER + 8, bytes.length);
                    endRecord(at, 8 + bytes.length);
                    byName.put(name, file);
                    byId.put(file.id, file);
                }
            }
            return new LogFile(this, file);
        } finally {
            unlockAfterChange();
        }
    }

    public boolean exists(String name) {
        lock.lock();
        try {
            return byName.containsKey(name);
        } finally {
            lock.unlock();
        }
    }

    /** The names of the files, sorted. */
    public List<String> list() {
        lock.lock();
        try {
            return byName.keySet().stream().sorted().toList();
        } finally {
            lock.unlock();
        }
    }

    public void delete(String name) throws IOException {
        lock.lock();
        try {
            checkUsable();
            FileState file = existing(name);
            reserve(LogFormat.recordBytes(4), true);
            if (file.deleted) {
                throw new NoSuchFileException(name, null, "deleted meanwhile");
            }
            long at = beginRecord(DELETE, 4);
            appendMemory.set(INT, at + HEADER, file.id);
            endRecord(at, 4);
            byName.remove(name);
            byId.remove(file.id);
            file.deleted = true;
        } finally {
            unlockAfterChange();
        }
    }

    public void rename(String from, String to) throws IOException {
        byte[] bytes = checkName(to);
        lock.lock();
        try {
            checkUsable();
            existing(from);
            reserve(LogFormat.recordBytes(8 + bytes.length));
            FileState file = existing(from);
            if (byName.containsKey(to)) {
                throw new FileAlreadyExistsException(to, null, "the log store on VSA " + vsaName + " has one already");
            }
            long at = beginRecord(RENAME, 8 + bytes.length);
            appendMemory.set(INT, at + HEADER, file.id);
            appendMemory.set(INT, at + HEADER + 4, bytes.length);
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, appendMemory, at + HEADER + 8, bytes.length);
            endRecord(at, 8 + bytes.length);
            byName.remove(from);
            file.name = to;
            byName.put(to, file);
        } finally {
            unlockAfterChange();
        }
    }

    private FileState existing(String name) throws NoSuchFileException {
        FileState file = byName.get(name);
        if (file == null) {
            throw new NoSuchFileException(name, null, "no such file in the log store on VSA " + vsaName);
        }
        return file;
    }

    private static byte[] checkName(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("file names have 1.." + MAX_NAME_BYTES + " bytes of UTF-8; '" + name
                    + "' has " + bytes.length);
        }
        return bytes;
    }

    private void checkLive(FileState file) throws IOException {
        if (file.deleted) {
            throw new NoSuchFileException(file.name, null, "the file was deleted from the log store on VSA " + vsaName);
        }
    }

    String nameOf(FileState file) {
        lock.lock();
        try {
            return file.name;
        } finally {
            lock.unlock();
        }
    }

    long size(FileState file) throws IOException {
        lock.lock();
        try {
            checkLive(file);
            return file.size;
        } finally {
            lock.unlock();
        }
    }

    int write(FileState file, ByteBuffer src, long position, boolean append) throws IOException {
        if (position < 0) {
            throw new IllegalArgumentException("negative position " + position);
        }
        lock.lock();
        try {
            return writeLocked(file, src, position, append);
        } finally {
            unlockAfterChange();
        }
    }

    long append(FileState file, ByteBuffer src) throws IOException {
        lock.lock();
        try {
            long[] first = {-1};
            writeLocked(file, src, 0, true, first);
            return first[0] >= 0 ? first[0] : file.size;
        } finally {
            unlockAfterChange();
        }
    }

    private int writeLocked(FileState file, ByteBuffer src, long position, boolean append) throws IOException {
        return writeLocked(file, src, position, append, null);
    }

    private int writeLocked(FileState file, ByteBuffer src, long position, boolean append, long[] firstOffset)
            throws IOException {
        checkUsable();
        checkLive(file);
        int written = 0;
        while (src.hasRemaining()) {
            int chunk = (int) Math.min(src.remaining(), maxData);
            long payload = DATA_PREFIX + chunk;
            try {
                reserve(LogFormat.recordBytes(payload));
            } catch (StoreFullException e) {
                if (written > 0) {
                    break;
                }
                throw e;
            }
            checkLive(file);
            long offset = append ? file.size : position + written;
            if (firstOffset != null && firstOffset[0] < 0) {
                firstOffset[0] = offset;
            }
            long at = beginRecord(DATA, payload);
            appendMemory.set(INT, at + HEADER, file.id);
            appendMemory.set(INT, at + HEADER + 4, 0);
            appendMemory.set(LONG, at + HEADER + 8, offset);
            long data = at + HEADER + DATA_PREFIX;
            MemorySegment.copy(MemorySegment.ofBuffer(src), 0, appendMemory, data, chunk);
            src.position(src.position() + chunk);
            endRecord(at, payload);
            file.extents.put(offset, chunk, logPosition(data));
            file.size = Math.max(file.size, offset + chunk);
            written += chunk;
        }
        return written;
    }

    /** The most bytes one {@link LogFile#appendFilled} record can hold (a DATA record filling an empty append buffer). */
    public long maxRecordData() {
        return maxData;
    }

    long appendFilled(FileState file, int length, Consumer<MemorySegment> filler) throws IOException {
        if (length < 0 || length > maxData) {
            throw new IllegalArgumentException("a record of " + length + " bytes; the log store on VSA " + vsaName
                    + " takes 0.." + maxData + " bytes in one record");
        }
        lock.lock();
        try {
            checkUsable();
            checkLive(file);
            long payload = DATA_PREFIX + length;
            reserve(LogFormat.recordBytes(payload));
            checkLive(file);
            long offset = file.size;
            long at = beginRecord(DATA, payload);
            appendMemory.set(INT, at + HEADER, file.id);
            appendMemory.set(INT, at + HEADER + 4, 0);
            appendMemory.set(LONG, at + HEADER + 8, offset);
            long data = at + HEADER + DATA_PREFIX;
            // beginRecord changed no state: if the filler throws, the half-built record is simply
            // overwritten by the next one, and nothing of it is applied.
            filler.accept(appendMemory.asSlice(data, length));
            endRecord(at, payload);
            file.extents.put(offset, length, logPosition(data));
            file.size = offset + length;
            return offset;
        } finally {
            unlockAfterChange();
        }
    }

    void truncate(FileState file, long size) throws IOException {
        if (size < 0) {
            throw new IllegalArgumentException("negative size " + size);
        }
        lock.lock();
        try {
            checkUsable();
            checkLive(file);
            if (size >= file.size) {
                return;
            }
            reserve(LogFormat.recordBytes(16), true);
            checkLive(file);
            if (size >= file.size) {
                return;
            }
            long at = beginRecord(SET_SIZE, 16);
            appendMemory.set(INT, at + HEADER, file.id);
            appendMemory.set(INT, at + HEADER + 4, 0);
            appendMemory.set(LONG, at + HEADER + 8, size);
            endRecord(at, 16);
            setSize(file, size);
        } finally {
            unlockAfterChange();
        }
    }

    int read(FileState file, ByteBuffer dst, long position) throws IOException {
        if (position < 0) {
            throw new IllegalArgumentException("negative position " + position);
        }
        regionLock.readLock().lock();
        try {
            List<Extents.Extent> onDevice = new ArrayList<>();
            MemorySegment out = MemorySegment.ofBuffer(dst);
            int count;
            lock.lock();
            try {
                checkReadable();
                checkLive(file);
                if (position >= file.size) {
                    return dst.hasRemaining() ? -1 : 0;
                }
                count = (int) Math.min(dst.remaining(), file.size - position);
                out.asSlice(0, count).fill((byte) 0);
                for (Extents.Extent extent : file.extents.overlapping(position, position + count)) {
                    long to = extent.fileOffset() - position;
                    long log = extent.logPosition();
                    int buffer = bufferStillWriting(log);
                    if (buffer >= 0) {
                        MemorySegment.copy(buffers[buffer], log - (buffer == current ? currentBase : commitBase[buffer]),
                                out, to, extent.length());
                    } else {
                        onDevice.add(new Extents.Extent(to, extent.length(), log));
                    }
                }
            } finally {
                lock.unlock();
            }
            if (!onDevice.isEmpty()) {
                readQueueLock.lock();
                try {
                    for (Extents.Extent piece : onDevice) {
                        readFromDevice(piece.logPosition(), piece.length(), out, piece.fileOffset());
                    }
                } finally {
                    readQueueLock.unlock();
                }
            }
            dst.position(dst.position() + count);
            return count;
        } finally {
            regionLock.readLock().unlock();
        }
    }

    /**
     * The buffer holding log position {@code log} whose bytes may not be on the device yet (the
     * current one, or one whose commit is running, on any lane); -1 if the device has them (a
     * commit whose write completed, even if not yet acknowledged, reads back from the device).
     */
    private int bufferStillWriting(long log) {
        if (log >= currentBase) {
            return current;
        }
        for (int buffer = 0; buffer < buffers.length; buffer++) {
            if (running[buffer] && log >= commitBase[buffer] && log < commitBase[buffer] + commitLength[buffer]) {
                return buffer;
            }
        }
        return -1;
    }

    /** Copies device bytes [log, log + length) to {@code out} at {@code to}; the caller owns the read queue. */
    private void readFromDevice(long log, long length, MemorySegment out, long to) throws IOException {
        long chunkLimit = readMemory.byteSize() - blockSize;
        while (length > 0) {
            long chunk = Math.min(length, chunkLimit);
            long first = log / blockSize;
            long last = (log + chunk - 1) / blockSize;
            readIo.read(first, (int) (last - first + 1), 0);
            MemorySegment.copy(readMemory, log - first * blockSize, out, to, chunk);
            log += chunk;
            to += chunk;
            length -= chunk;
        }
    }

    /**
     * Makes everything written so far durable. Group commit: a caller whose records are in a
     * commit already running waits for it (and for every earlier one); a caller whose records are
     * in the current buffer commits it if its lane is free, otherwise waits until one of them is
     * woken to commit everything appended meanwhile, for all.
     */
    public void force() throws IOException {
        if (lock.isHeldByCurrentThread()) {
            throw new IllegalStateException("VSA " + vsaName + ": force() under the store's lock (a bug in the caller)");
        }
        lock.lock();
        boolean locked = true;
        try {
            checkUsable();
            forces++;
            long target = currentBase + currentFill;
            long generationAtCall = generation;
            // A checkpoint makes everything before it durable, and moves positions to the other region.
            while (generation == generationAtCall && durableEnd < target) {
                checkUsable();
                if (compacting) {
                    changed.awaitUninterruptibly();
                    continue;
                }
                int buffer = bufferHolding(target);
                if (buffer == current && !laneBusy[buffer % laneIo.length]) {
                    commit();
                } else {
                    // Records in a commit already started wait for its acknowledgement; records in
                    // the current buffer wait for its lane, which one of them is woken to lead.
                    Waiter me = waiterOfThread.get();
                    me.state = Waiter.WAITING;
                    me.next = waiting[buffer];
                    waiting[buffer] = me;
                    forcesWaiting[buffer]++;
                    lock.unlock();
                    locked = false;
                    if (me.await(this) == Waiter.SERVED) {
                        return; // acknowledged: every record up to the target is durable
                    }
                    lock.lock();
                    locked = true;
                }
            }
            flushOwedLocked();
        } finally {
            if (locked) {
                lock.unlock();
            }
        }
    }

    /**
     * Switches the store to write-through, for a process about to exit: what is buffered now, and
     * from then on every change before it returns, is written to the device (no flush unless
     * {@link #force} asks), as the kernel's page cache keeps a process's unforced writes when it
     * exits. The store stays open, so writes that come later (other shutdown hooks, daemon
     * threads) still work; every later change costs one device write, under the store's lock.
     * Returns once every change made before the call is written (commits in flight included).
     * Idempotent.
     */
    public void writeThrough() throws IOException {
        lock.lock();
        try {
            checkUsable();
            writeThrough = true;
            writeOutLocked();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Writes the current buffer to the device without a flush, under the lock, once no commit
     * runs and no checkpoint copies (so its lane's queue is free and the log is in order); the
     * records then count as durable and {@link #flushOwed} as unflushed.
     */
    private void writeOutLocked() throws IOException {
        while (currentFill > 0) {
            checkUsable();
            if (compacting || runningCommits > 0) {
                changed.awaitUninterruptibly();
                continue;
            }
            long padded = LogFormat.roundUp(currentFill, blockSize);
            appendMemory.asSlice(currentFill, padded - currentFill).fill((byte) 0);
            long base = currentBase;
            try {
                laneIo[current % laneIo.length].write(base / blockSize, (int) (padded / blockSize),
                        bufferOffsets[current]);
            } catch (IOException | RuntimeException e) {
                failure = new IOException("VSA " + vsaName + ": the log write at offset " + base + " failed, so the"
                        + " store accepts no more writes; reopen it to recover what was written", e);
                wakeAll();
                throw failure;
            }
            // No commit is running (nor unacknowledged): the next records start on the next block.
            currentBase = base + padded;
            currentFill = 0;
            durableEnd = currentBase;
            flushOwed = true;
            wakeAll(); // forces parked on this buffer: their records are written, they flush themselves
        }
    }

    /** In write-through mode: the flush the records written out since the last one still need; under the lock. */
    private void flushOwedLocked() throws IOException {
        while (flushOwed) {
            checkUsable();
            if (compacting || runningCommits > 0) {
                changed.awaitUninterruptibly(); // a commit ending flushes for us
                continue;
            }
            try {
                writeIo.flush();
            } catch (IOException | RuntimeException e) {
                failure = new IOException("VSA " + vsaName + ": flushing the log failed, so the store accepts no"
                        + " more writes; reopen it to recover what was durable", e);
                wakeAll();
                throw failure;
            }
            flushOwed = false;
            deviceFlushes++;
        }
    }

    /**
     * Releases the lock after a change; in write-through mode first writes out what it appended
     * (also when it failed part-way: records already appended are part of the log).
     */
    private void unlockAfterChange() throws IOException {
        try {
            if (writeThrough && currentFill > 0) {
                writeOutLocked();
            }
        } finally {
            lock.unlock();
        }
    }

    // -------------------------------------------------------------------------------------------
    // Checkpoint (compaction)

    /**
     * Copies every live byte and name into the other region under a new generation, then flips the
     * superblock to it: the log shrinks to the live data. Stops the world while it runs. A crash
     * before the flip leaves the old region in force; after it, the new one.
     */
    public void checkpoint() throws IOException {
        regionLock.writeLock().lock();
        try {
            lock.lock();
            try {
                checkUsable();
                compactLocked();
            } finally {
                lock.unlock();
            }
        } finally {
            regionLock.writeLock().unlock();
        }
    }

    /**
     * From {@link #reserve}, which found generation {@code fullGeneration}'s region full: give up
     * the lock, take the region lock (readers first), and compact unless another appender that
     * found the same region full compacted it meanwhile (true if this call compacted). Without
     * that check every appender that saw the region full while the first one waited for the
     * region lock compacted again in turn, each copying the live data of a region that was by
     * then almost empty: 104-184 checkpoints instead of about 26 in the 50-writer benchmark.
     */
    private boolean compactFromAppender(long fullGeneration) throws IOException {
        lock.unlock();
        try {
            regionLock.writeLock().lock();
            try {
                lock.lock();
                try {
                    checkUsable();
                    if (generation != fullGeneration) {
                        return false;
                    }
                    compactLocked();
                    return true;
                } finally {
                    lock.unlock();
                }
            } finally {
                regionLock.writeLock().unlock();
            }
        } finally {
            lock.lock();
        }
    }

    private void compactLocked() throws IOException {
        while (runningCommits > 0 || compacting) {
            checkUsable();
            changed.awaitUninterruptibly();
        }
        compacting = true;
        long started = System.nanoTime();
        try {
            // Everything so far goes to the old region first: it stays the truth until the flip.
            // Nothing moves under a commit in flight: wait for every one, on every lane.
            while (currentFill > 0 || runningCommits > 0) {
                checkUsable();
                if (currentFill > 0 && !laneBusy[current % laneIo.length]) {
                    commit(); // appenders wait meanwhile: they see compacting
                } else {
                    changed.awaitUninterruptibly();
                }
            }
            checkUsable();
            if (unacked != 0) {
                throw new IllegalStateException("VSA " + vsaName + ": " + unacked + " commits unacknowledged with none"
                        + " running (a bug)");
            }
            Compactor compactor = new Compactor(generation + 1, otherStart, otherEnd);
            List<FileState> files = new ArrayList<>(byId.values());
            files.sort(Comparator.comparingInt(f -> f.id));
            Map<FileState, Extents> relocated = compactor.copy(files);
            compactor.finish();
            writeSuperblock(compactor.generation, otherStart, otherEnd, regionStart, regionEnd, createdMillis, false);
            // The flip is durable: switch.
            long oldStart = regionStart;
            long oldEnd = regionEnd;
            generation = compactor.generation;
            regionStart = otherStart;
            regionEnd = otherEnd;
            otherStart = oldStart;
            otherEnd = oldEnd;
            nextSequence = compactor.sequence;
            chain = compactor.chain;
            currentBase = compactor.end();
            currentFill = 0;
            current = 0;
            appendMemory = buffers[0];
            oldestUnacked = 0;
            durableEnd = currentBase;
            for (FileState file : files) {
                file.extents = relocated.get(file);
            }
            compactions++;
            deviceFlushes += 2;
            flushOwed = false; // the superblock's flush came after every write-out
            longestCompactionNanos = Math.max(longestCompactionNanos, System.nanoTime() - started);
        } finally {
            compacting = false;
            wakeAll();
        }
    }

    /** Writes the new region's records through buffer 0 (queue 0); runs under the lock with nothing else in flight. */
    private final class Compactor {
        final long generation;
        final long start;
        final long limit;
        long base;
        long fill;
        long sequence = 1;
        int chain;

        Compactor(long generation, long start, long limit) {
            this.generation = generation;
            this.start = start;
            this.limit = limit;
            this.base = start;
            this.chain = LogFormat.chainSeed(generation);
        }

        long end() {
            return base + LogFormat.roundUp(fill, blockSize);
        }

        /**
         * The files' names first, then every live extent in the order it lies in the old region
         * (so the old region is read front to back, a window at a time, whatever the files'
         * interleaving), then the sizes that data alone would not give. Replay needs no other
         * order: a file exists before its data, and live extents never overlap.
         */
        Map<FileState, Extents> copy(List<FileState> files) throws IOException {
            Map<FileState, Extents> moved = new HashMap<>();
            record Live(FileState file, Extents.Extent extent) {}
            List<Live> live = new ArrayList<>();
            for (FileState file : files) {
                byte[] name = file.name.getBytes(StandardCharsets.UTF_8);
                long at = begin(CREATE, 8 + name.length);
                writeMemory.set(INT, at + HEADER, file.id);
                writeMemory.set(INT, at + HEADER + 4, name.length);
                MemorySegment.copy(MemorySegment.ofArray(name), 0, writeMemory, at + HEADER + 8, name.length);
                end(at, 8 + name.length);
                moved.put(file, new Extents());
                for (Extents.Extent extent : file.extents.all()) {
                    live.add(new Live(file, extent));
                }
            }
            live.sort(Comparator.comparingLong(l -> l.extent().logPosition()));
            windowLength = 0; // reads used the window memory since it was last filled
            for (Live item : live) {
                Extents.Extent extent = item.extent();
                long done = 0;
                while (done < extent.length()) {
                    long chunk = Math.min(extent.length() - done, maxData);
                    long at = begin(DATA, DATA_PREFIX + chunk);
                    writeMemory.set(INT, at + HEADER, item.file().id);
                    writeMemory.set(INT, at + HEADER + 4, 0);
                    writeMemory.set(LONG, at + HEADER + 8, extent.fileOffset() + done);
                    long data = at + HEADER + DATA_PREFIX;
                    long source = window(extent.logPosition() + done, chunk);
                    if (source < 0) {
                        throw new IOException("VSA " + vsaName + ": live extent at log offset "
                                + (extent.logPosition() + done) + " lies outside the region: a bug");
                    }
                    MemorySegment.copy(readMemory, source, writeMemory, data, chunk);
                    long logPosition = base + data;
                    end(at, DATA_PREFIX + chunk);
                    moved.get(item.file()).put(extent.fileOffset() + done, chunk, logPosition);
                    done += chunk;
                }
            }
            windowLength = 0;
            for (FileState file : files) {
                long dataEnd = 0;
                for (Extents.Extent extent : file.extents.all()) {
                    dataEnd = Math.max(dataEnd, extent.end());
                }
                if (file.size != dataEnd) {
                    long at = begin(SET_SIZE, 16);
                    writeMemory.set(INT, at + HEADER, file.id);
                    writeMemory.set(INT, at + HEADER + 4, 0);
                    writeMemory.set(LONG, at + HEADER + 8, file.size);
                    end(at, 16);
                }
            }
            return moved;
        }

        private long begin(byte type, long payload) throws IOException {
            long bytes = LogFormat.recordBytes(payload);
            if (fill + bytes > bufferBytes) {
                writeOut();
            }
            if (LogFormat.roundUp(base + fill + bytes, blockSize) > limit) {
                throw new StoreFullException("VSA " + vsaName + " is full: its live data does not fit in the other"
                        + " log region of " + (limit - start) + " bytes; nothing was changed; delete or truncate files,"
                        + " or use a larger VSA");
            }
            long at = fill;
            writeMemory.set(LogFormat.SHORT, at + LogFormat.R_MAGIC, LogFormat.RECORD_MAGIC);
            writeMemory.set(ValueLayout.JAVA_BYTE, at + LogFormat.R_TYPE, type);
            writeMemory.set(ValueLayout.JAVA_BYTE, at + LogFormat.R_TYPE + 1, (byte) 0);
            writeMemory.set(INT, at + LogFormat.R_PAYLOAD_LENGTH, (int) payload);
            writeMemory.set(INT, at + LogFormat.R_PREVIOUS_CRC, chain);
            writeMemory.set(LONG, at + LogFormat.R_SEQUENCE, sequence);
            writeMemory.set(LONG, at + LogFormat.R_GENERATION, generation);
            return at;
        }

        private void end(long at, long payload) {
            long total = LogFormat.recordBytes(payload);
            writeMemory.asSlice(at + HEADER + payload, total - HEADER - payload).fill((byte) 0);
            int crc = LogFormat.crc(writeMemory, at + 4, HEADER - 4 + payload);
            writeMemory.set(INT, at + LogFormat.R_CRC, crc);
            chain = crc;
            sequence++;
            fill += total;
        }

        private void writeOut() throws IOException {
            if (fill == 0) {
                return;
            }
            long padded = LogFormat.roundUp(fill, blockSize);
            writeMemory.asSlice(fill, padded - fill).fill((byte) 0);
            writeIo.write(base / blockSize, (int) (padded / blockSize), 0);
            base += padded;
            fill = 0;
        }

        void finish() throws IOException {
            writeOut();
            // Whatever the new region held past our end came from an older generation: no erase needed.
            writeIo.flush();
        }
    }

    // -------------------------------------------------------------------------------------------

    /**
     * What the store's device did since open, summed over its queues (the VSIC's own
     * {@link io.arrakis.device.VsicCounter}s): commands, flushes (alone or after a write), bytes
     * moved (whole blocks), and errors (commands that failed, and submissions refused by a full queue).
     */
    public record IoCounters(long reads, long writes, long flushes, long bytesRead, long bytesWritten, long errors) {}

    /** The device counters; lock-free, any thread (each value whole, the set not one instant's). */
    public IoCounters ioCounters() {
        return new IoCounters(io(io.arrakis.device.VsicCounter.READS), io(io.arrakis.device.VsicCounter.WRITES),
                io(io.arrakis.device.VsicCounter.FLUSHES), io(io.arrakis.device.VsicCounter.READ_BYTES),
                io(io.arrakis.device.VsicCounter.WRITE_BYTES), io(io.arrakis.device.VsicCounter.ERRORS)
                        + io(io.arrakis.device.VsicCounter.QUEUE_FULL));
    }

    private long io(io.arrakis.device.VsicCounter counter) {
        long sum = readIo.queue().counters().get(counter);
        for (DeviceIo lane : laneIo) {
            sum += lane.queue().counters().get(counter);
        }
        return sum;
    }

    public Stats stats() {
        lock.lock();
        try {
            long live = 0;
            for (FileState file : byId.values()) {
                live += file.extents.liveBytes();
            }
            return new Stats(forces, deviceFlushes, records, compactions, longestCompactionNanos, live,
                    currentBase + currentFill - regionStart, regionEnd - regionStart);
        } finally {
            lock.unlock();
        }
    }

    public String vsaName() {
        return vsaName;
    }

    /** Forces what is pending, then closes the VSIC. Idempotent. */
    @Override
    public void close() throws IOException {
        IOException forceFailure = null;
        boolean pending;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            pending = failure == null && !readOnly;
        } finally {
            lock.unlock();
        }
        if (pending) {
            try {
                force(); // outside the lock: a force waits for its commit with the lock released
            } catch (IOException e) {
                forceFailure = e;
            }
        }
        lock.lock();
        try {
            if (closed) {
                return; // closed meanwhile by another thread
            }
            closed = true;
            wakeAll();
        } finally {
            lock.unlock();
        }
        try {
            vsic.close();
        } catch (IOException e) {
            if (forceFailure == null) {
                throw e;
            }
            forceFailure.addSuppressed(e);
        }
        if (forceFailure != null) {
            throw forceFailure;
        }
    }

    @Override
    public String toString() {
        return "LogStore on " + vsic;
    }

}

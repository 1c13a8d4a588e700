package io.arrakis.control.stats;

import static io.arrakis.control.stats.StatsFile.*;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/**
 * The writing side of a {@linkplain StatsFile stats file}: a stack publishes its counters and
 * connection table into it ({@link #begin}, {@link #counter}, {@link #row}, {@link #end}: a
 * seqlock write, no allocation, no lock a reader could hold) and mirrors frames into its capture
 * ring while a tool asks for them ({@link #captureWanted}, {@link #capture}).
 *
 * <p>Single writer: one thread at a time (the stack's, under its lock) calls everything but
 * {@link #close}, which that same lock must also cover. Readers are other processes.
 */
public final class StatsPublisher implements AutoCloseable {
    /** How often a stack publishes (at most): fresh enough for a person, free for the data path. */
    public static final long DEFAULT_INTERVAL_NANOS = 100_000_000L;
    /** Default capture ring: a few hundred full-sized frames, ≈ 1 ms of a 10 Gbit/s link. */
    public static final int DEFAULT_CAPTURE_BYTES = 1 << 20;
    private static final long CHECK_CAPTURER_NANOS = 1_000_000_000L;

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final int counterCount;
    private final int connectionCapacity;
    private final long connectionsAt;
    private final long captureAt;
    private final long captureMask;
    private final Row row;
    private final long intervalNanos;
    private long nextPublish;
    private long nextCapturerCheck;
    private long sequence;
    private long publishes;
    private boolean closed;

    private StatsPublisher(Path path, Arena arena, MemorySegment file, int counterCount, int connectionCapacity,
            long captureCapacity, long intervalNanos) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.counterCount = counterCount;
        this.connectionCapacity = connectionCapacity;
        this.connectionsAt = StatsFile.connectionsAt(counterCount);
        this.captureAt = StatsFile.captureAt(counterCount, connectionCapacity);
        this.captureMask = captureCapacity - 1;
        this.row = new Row();
        this.intervalNanos = intervalNanos;
    }

    /**
     * Creates (or atomically replaces) the stats file at {@code path} (mode 0600, its directory
     * created 0700 if missing) for a process with VNIC {@code vnic}: counters named {@code counterNames}
     * ({@code group.NAME}), up to {@code connectionCapacity} connection rows, a capture ring of
     * {@code captureBytes} (a power of two).
     */
    public static StatsPublisher create(Path path, String vnic, List<String> counterNames, int connectionCapacity,
            int captureBytes, long intervalNanos) throws IOException {
        if (Integer.bitCount(captureBytes) != 1 || captureBytes < 4096) {
            throw new IllegalArgumentException("capture ring of " + captureBytes + " bytes: a power of two >= 4096");
        }
        StringBuilder names = new StringBuilder();
        for (String name : counterNames) {
            names.append(name).append('\n');
        }
        byte[] nameBytes = names.toString().getBytes(StandardCharsets.UTF_8);
        if (nameBytes.length > NAMES_BYTES) {
            throw new IllegalArgumentException(counterNames.size() + " counter names need " + nameBytes.length
                    + " bytes; a stats file holds " + NAMES_BYTES);
        }
        Path directory = path.toAbsolutePath().getParent();
        if (!Files.isDirectory(directory)) {
            Files.createDirectories(directory, PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
        }
        long size = StatsFile.captureAt(counterNames.size(), connectionCapacity) + captureBytes;
        // Built under a private name and renamed into place: a file that replaces another is a new
        // inode, so a tool still mapping the old one never sees it shrink (SIGBUS).
        Path fresh = path.resolveSibling(path.getFileName() + ".new-" + ProcessHandle.current().pid());
        Arena arena = Arena.ofShared();
        MemorySegment file;
        try (FileChannel channel = FileChannel.open(fresh, java.util.Set.of(StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.READ, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
            // (A leftover of a killed process that had our pid is private: truncating it is safe.)
            Files.setPosixFilePermissions(fresh, PosixFilePermissions.fromString("rw-------"));
            channel.position(size - 1).write(java.nio.ByteBuffer.wrap(new byte[1]));
            file = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
        } catch (IOException | RuntimeException e) {
            arena.close();
            Files.deleteIfExists(fresh);
            throw e;
        }
        file.set(ValueLayout.JAVA_LONG, PID_AT, ProcessHandle.current().pid());
        file.set(ValueLayout.JAVA_LONG, STARTED_MILLIS_AT, System.currentTimeMillis());
        file.set(ValueLayout.JAVA_INT, COUNTER_COUNT_AT, counterNames.size());
        file.set(ValueLayout.JAVA_INT, CONNECTION_CAPACITY_AT, connectionCapacity);
        file.set(ValueLayout.JAVA_INT, NAMES_LENGTH_AT, nameBytes.length);
        file.set(ValueLayout.JAVA_LONG, CAPTURE_OFFSET_AT, StatsFile.captureAt(counterNames.size(), connectionCapacity));
        file.set(ValueLayout.JAVA_LONG, CAPTURE_CAPACITY_AT, captureBytes);
        StatsFile.writeString(file, VNIC_NAME_AT, VNIC_NAME_BYTES, vnic);
        StatsFile.writeString(file, MAIN_CLASS_AT, MAIN_CLASS_BYTES, mainClass());
        MemorySegment.copy(MemorySegment.ofArray(nameBytes), 0, file, NAMES_AT, nameBytes.length);
        file.set(ValueLayout.JAVA_INT, VERSION_AT, VERSION);
        INT.setRelease(file, MAGIC_AT, MAGIC); // last: a reader that sees the magic sees the rest
        try {
            Files.move(fresh, path, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            arena.close();
            Files.deleteIfExists(fresh);
            throw e;
        }
        return new StatsPublisher(path, arena, file, counterNames.size(), connectionCapacity, captureBytes,
                intervalNanos);
    }

    /** What this JVM runs: its main class or jar, as {@code jps} shows it. */
    private static String mainClass() {
        String command = System.getProperty("sun.java.command", "");
        int space = command.indexOf(' ');
        return space < 0 ? command : command.substring(0, space);
    }

    public Path path() {
        return path;
    }

    public int connectionCapacity() {
        return connectionCapacity;
    }

    /** Whether a publication is due at {@code nowNanos} ({@link System#nanoTime}): one comparison. */
    public boolean due(long nowNanos) {
        return nowNanos - nextPublish >= 0 && !closed;
    }

    /** Starts a publication: readers retry until {@link #end}. */
    public void begin(long nowNanos) {
        nextPublish = nowNanos + intervalNanos;
        sequence++;
        LONG.setOpaque(file, SEQUENCE_AT, sequence);
        VarHandle.storeStoreFence();
        if (nowNanos - nextCapturerCheck >= 0) {
            nextCapturerCheck = nowNanos + CHECK_CAPTURER_NANOS;
            forgetDeadCapturer();
        }
    }

    public void counter(int index, long value) {
        if (index < 0 || index >= counterCount) {
            throw new IndexOutOfBoundsException("counter " + index + " of " + counterCount);
        }
        file.set(ValueLayout.JAVA_LONG, VALUES_AT + 8L * index, value);
    }

    /** The row {@code slot} of the connection table, to fill in (the same flyweight each call). */
    public Row row(int slot) {
        if (slot < 0 || slot >= connectionCapacity) {
            throw new IndexOutOfBoundsException("connection row " + slot + " of " + connectionCapacity);
        }
        row.at = connectionsAt + (long) CONNECTION_BYTES * slot;
        return row;
    }

    /** Ends a publication of {@code rows} rows ({@code totalConnections}: how many there were, beyond the table's room too). */
    public void end(int rows, long totalConnections) {
        file.set(ValueLayout.JAVA_INT, CONNECTION_COUNT_AT, rows);
        file.set(ValueLayout.JAVA_LONG, CONNECTIONS_TOTAL_AT, totalConnections);
        file.set(ValueLayout.JAVA_LONG, PUBLISHED_MILLIS_AT, System.currentTimeMillis());
        file.set(ValueLayout.JAVA_LONG, PUBLISHES_AT, ++publishes);
        sequence++;
        LONG.setRelease(file, SEQUENCE_AT, sequence);
    }

    /** A tool that asked for capture and died without saying so stops costing us copies. */
    private void forgetDeadCapturer() {
        int capturer = (int) INT.getOpaque(file, CAPTURE_WANTED_AT);
        if (capturer != 0 && ProcessHandle.of(capturer).isEmpty()) {
            INT.compareAndSet(file, CAPTURE_WANTED_AT, capturer, 0);
        }
    }

    /** Whether a tool drains the capture ring: one read, for every batch. */
    public boolean captureWanted() {
        return (int) INT.getOpaque(file, CAPTURE_WANTED_AT) != 0;
    }

    /**
     * Copies a frame into the capture ring, or counts it dropped when the tool has not drained
     * enough room. Allocation-free.
     */
    public void capture(long epochNanos, MemorySegment memory, long offset, int length) {
        int captured = Math.min(length, (int) (captureMask + 1) / 4);
        long need = align(CAPTURE_RECORD_HEADER + captured, 8);
        long capacity = captureMask + 1;
        long head = (long) LONG.getOpaque(file, CAPTURE_HEAD_AT);
        long tail = (long) LONG.getAcquire(file, CAPTURE_TAIL_AT);
        long index = head & captureMask;
        long toEnd = capacity - index;
        long skip = toEnd < need ? toEnd : 0;
        if (head - tail + skip + need > capacity || tail > head) {
            file.set(ValueLayout.JAVA_LONG, CAPTURE_DROPPED_AT, file.get(ValueLayout.JAVA_LONG, CAPTURE_DROPPED_AT) + 1);
            return;
        }
        if (skip > 0) {
            file.set(ValueLayout.JAVA_INT, captureAt + index, WRAP);
            head += skip;
            index = 0;
        }
        long at = captureAt + index;
        file.set(ValueLayout.JAVA_INT, at, captured);
        file.set(ValueLayout.JAVA_INT, at + 4, length);
        file.set(ValueLayout.JAVA_LONG, at + 8, epochNanos);
        MemorySegment.copy(memory, offset, file, at + CAPTURE_RECORD_HEADER, captured);
        file.set(ValueLayout.JAVA_LONG, CAPTURE_FRAMES_AT, file.get(ValueLayout.JAVA_LONG, CAPTURE_FRAMES_AT) + 1);
        LONG.setRelease(file, CAPTURE_HEAD_AT, head + need);
    }

    /** Unmaps and deletes the file (a tool then sees the process gone). Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        arena.close();
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            System.getLogger(StatsPublisher.class.getName()).log(System.Logger.Level.DEBUG,
                    "arrakis: stats file " + path + " not deleted: " + e);
        }
    }

    /** A flyweight over one row of the connection table; fluent setters, no allocation. */
    public final class Row {
        private long at;

        private Row() {}

        public Row connection(int localAddress, int localPort, int remoteAddress, int remotePort) {
            file.set(ValueLayout.JAVA_INT, at + C_KIND, KIND_CONNECTION);
            file.set(ValueLayout.JAVA_INT, at + C_LOCAL_ADDRESS, localAddress);
            file.set(ValueLayout.JAVA_INT, at + C_LOCAL_PORT, localPort);
            file.set(ValueLayout.JAVA_INT, at + C_REMOTE_ADDRESS, remoteAddress);
            file.set(ValueLayout.JAVA_INT, at + C_REMOTE_PORT, remotePort);
            return this;
        }

        /** A listener on {@code localAddress:localPort} with {@code acceptQueue} connections waiting. */
        public Row listener(int localAddress, int localPort, int acceptQueue) {
            file.asSlice(at, CONNECTION_BYTES).fill((byte) 0);
            file.set(ValueLayout.JAVA_INT, at + C_KIND, KIND_LISTENER);
            file.set(ValueLayout.JAVA_INT, at + C_LOCAL_ADDRESS, localAddress);
            file.set(ValueLayout.JAVA_INT, at + C_LOCAL_PORT, localPort);
            file.set(ValueLayout.JAVA_INT, at + C_ACCEPT_QUEUE, acceptQueue);
            return state("LISTEN");
        }

        /** The state's name (ASCII, at most 15 characters; an enum's {@code name()} allocates nothing). */
        public Row state(String name) {
            int n = Math.min(name.length(), STATE_BYTES - 1);
            for (int i = 0; i < STATE_BYTES; i++) {
                file.set(ValueLayout.JAVA_BYTE, at + C_STATE + i, i < n ? (byte) name.charAt(i) : 0);
            }
            return this;
        }

        public Row queues(int sendQueueBytes, int receiveQueueBytes, int bytesInFlight) {
            file.set(ValueLayout.JAVA_INT, at + C_SEND_QUEUE, sendQueueBytes);
            file.set(ValueLayout.JAVA_INT, at + C_RECEIVE_QUEUE, receiveQueueBytes);
            file.set(ValueLayout.JAVA_INT, at + C_IN_FLIGHT, bytesInFlight);
            return this;
        }

        public Row timing(long srttNanos, long rttVarNanos, long rtoNanos) {
            file.set(ValueLayout.JAVA_LONG, at + C_SRTT, srttNanos);
            file.set(ValueLayout.JAVA_LONG, at + C_RTTVAR, rttVarNanos);
            file.set(ValueLayout.JAVA_LONG, at + C_RTO, rtoNanos);
            return this;
        }

        public Row congestion(long cwnd, long ssthresh, int mss, int sendWindow, int receiveWindow) {
            file.set(ValueLayout.JAVA_LONG, at + C_CWND, cwnd);
            file.set(ValueLayout.JAVA_LONG, at + C_SSTHRESH, ssthresh);
            file.set(ValueLayout.JAVA_INT, at + C_MSS, mss);
            file.set(ValueLayout.JAVA_INT, at + C_SEND_WINDOW, sendWindow);
            file.set(ValueLayout.JAVA_INT, at + C_RECEIVE_WINDOW, receiveWindow);
            return this;
        }

        public Row traffic(long bytesIn, long bytesOut, long retransmittedSegments) {
            file.set(ValueLayout.JAVA_LONG, at + C_BYTES_IN, bytesIn);
            file.set(ValueLayout.JAVA_LONG, at + C_BYTES_OUT, bytesOut);
            file.set(ValueLayout.JAVA_LONG, at + C_RETRANSMITS, retransmittedSegments);
            return this;
        }
    }
}

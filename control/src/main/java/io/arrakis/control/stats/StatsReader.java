package io.arrakis.control.stats;

import static io.arrakis.control.stats.StatsFile.*;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reading side of a {@linkplain StatsFile stats file}, for tools: consistent snapshots
 * ({@link #read}, a seqlock read that retries while the stack publishes) and, opened
 * {@linkplain #openForCapture for capture}, the frames of the capture ring ({@link Capture}).
 * Never blocks the publishing process. One thread at a time.
 */
public final class StatsReader implements AutoCloseable {
    private static final int READ_ATTEMPTS = 1_000;

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final List<String> names;

    private StatsReader(Path path, Arena arena, MemorySegment file) throws IOException {
        this.path = path;
        this.arena = arena;
        this.file = file;
        if (file.byteSize() < VALUES_AT || (int) INT.getAcquire(file, MAGIC_AT) != MAGIC) {
            throw new IOException("stats file " + path + " is not one (no magic): its process may still be creating it");
        }
        int version = file.get(ValueLayout.JAVA_INT, VERSION_AT);
        if (version != VERSION) {
            throw new IOException("stats file " + path + " has version " + version + "; this tool reads " + VERSION);
        }
        int namesLength = file.get(ValueLayout.JAVA_INT, NAMES_LENGTH_AT);
        int count = file.get(ValueLayout.JAVA_INT, COUNTER_COUNT_AT);
        int capacity = file.get(ValueLayout.JAVA_INT, CONNECTION_CAPACITY_AT);
        if (namesLength < 0 || namesLength > NAMES_BYTES || count < 0 || capacity < 0
                || StatsFile.captureAt(count, capacity) > file.byteSize()) {
            throw new IOException("stats file " + path + " is damaged (impossible sizes)");
        }
        String text = new String(file.asSlice(NAMES_AT, namesLength).toArray(ValueLayout.JAVA_BYTE),
                StandardCharsets.UTF_8);
        List<String> parsed = text.isEmpty() ? List.of() : List.of(text.split("\n"));
        if (parsed.size() != count) {
            throw new IOException("stats file " + path + " names " + parsed.size() + " counters but holds " + count);
        }
        this.names = parsed;
    }

    /** Opens {@code path} read-only. */
    public static StatsReader open(Path path) throws IOException {
        return open(path, false);
    }

    /** Opens {@code path} read-write: a capture tells the process through the file. */
    public static StatsReader openForCapture(Path path) throws IOException {
        return open(path, true);
    }

    private static StatsReader open(Path path, boolean write) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel channel = write
                ? FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)
                : FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment file = channel.map(write ? FileChannel.MapMode.READ_WRITE : FileChannel.MapMode.READ_ONLY,
                    0, channel.size(), arena);
            return new StatsReader(path, arena, file);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new NoSuchFileException(path.toString(), null, "no stats file: the process publishes none");
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** A consistent snapshot; fails if the publisher was mid-write on every one of many attempts. */
    public StackStats read() throws IOException {
        for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
            long before = (long) LONG.getAcquire(file, SEQUENCE_AT);
            if ((before & 1) != 0) {
                Thread.onSpinWait();
                continue;
            }
            StackStats stats = readUnchecked();
            VarHandle.loadLoadFence();
            if ((long) LONG.getOpaque(file, SEQUENCE_AT) == before) {
                return stats;
            }
        }
        throw new IOException("stats file " + path + " changed under every one of " + READ_ATTEMPTS + " reads");
    }

    private StackStats readUnchecked() {
        Map<String, Long> counters = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            counters.put(names.get(i), file.get(ValueLayout.JAVA_LONG, VALUES_AT + 8L * i));
        }
        int capacity = file.get(ValueLayout.JAVA_INT, CONNECTION_CAPACITY_AT);
        int rows = Math.max(0, Math.min(capacity, file.get(ValueLayout.JAVA_INT, CONNECTION_COUNT_AT)));
        long base = StatsFile.connectionsAt(names.size());
        List<StackStats.Connection> connections = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            long at = base + (long) CONNECTION_BYTES * i;
            byte[] stateBytes = file.asSlice(at + C_STATE, STATE_BYTES).toArray(ValueLayout.JAVA_BYTE);
            int n = 0;
            while (n < stateBytes.length && stateBytes[n] != 0) {
                n++;
            }
            connections.add(new StackStats.Connection(
                    file.get(ValueLayout.JAVA_INT, at + C_KIND) == KIND_LISTENER,
                    file.get(ValueLayout.JAVA_INT, at + C_LOCAL_ADDRESS), file.get(ValueLayout.JAVA_INT, at + C_LOCAL_PORT),
                    file.get(ValueLayout.JAVA_INT, at + C_REMOTE_ADDRESS), file.get(ValueLayout.JAVA_INT, at + C_REMOTE_PORT),
                    new String(stateBytes, 0, n, StandardCharsets.US_ASCII),
                    file.get(ValueLayout.JAVA_INT, at + C_SEND_QUEUE), file.get(ValueLayout.JAVA_INT, at + C_RECEIVE_QUEUE),
                    file.get(ValueLayout.JAVA_INT, at + C_IN_FLIGHT),
                    file.get(ValueLayout.JAVA_LONG, at + C_SRTT), file.get(ValueLayout.JAVA_LONG, at + C_RTTVAR),
                    file.get(ValueLayout.JAVA_LONG, at + C_RTO), file.get(ValueLayout.JAVA_LONG, at + C_CWND),
                    file.get(ValueLayout.JAVA_LONG, at + C_SSTHRESH), file.get(ValueLayout.JAVA_INT, at + C_MSS),
                    file.get(ValueLayout.JAVA_INT, at + C_SEND_WINDOW), file.get(ValueLayout.JAVA_INT, at + C_RECEIVE_WINDOW),
                    file.get(ValueLayout.JAVA_LONG, at + C_BYTES_IN), file.get(ValueLayout.JAVA_LONG, at + C_BYTES_OUT),
                    file.get(ValueLayout.JAVA_LONG, at + C_RETRANSMITS), file.get(ValueLayout.JAVA_INT, at + C_ACCEPT_QUEUE)));
        }
        return new StackStats(file.get(ValueLayout.JAVA_LONG, PID_AT),
                StatsFile.readString(file, VNIC_NAME_AT, VNIC_NAME_BYTES),
                StatsFile.readString(file, MAIN_CLASS_AT, MAIN_CLASS_BYTES),
                file.get(ValueLayout.JAVA_LONG, STARTED_MILLIS_AT), file.get(ValueLayout.JAVA_LONG, PUBLISHED_MILLIS_AT),
                file.get(ValueLayout.JAVA_LONG, PUBLISHES_AT), counters, connections,
                file.get(ValueLayout.JAVA_LONG, CONNECTIONS_TOTAL_AT),
                (long) LONG.getOpaque(file, CAPTURE_FRAMES_AT), (long) LONG.getOpaque(file, CAPTURE_DROPPED_AT));
    }

    /** Receives captured frames. */
    @FunctionalInterface
    public interface FrameSink {
        /** {@code frame} holds {@code captured} bytes of a frame of {@code length}; valid during the call only. */
        void frame(long epochNanos, MemorySegment frame, int length) throws IOException;
    }

    /**
     * Starts capturing: the process mirrors every frame its stack sends or receives into the
     * ring from now on, until {@link Capture#close}. Refused while another live tool captures.
     */
    public Capture startCapture() throws IOException {
        long mine = ProcessHandle.current().pid();
        int holder = (int) INT.getOpaque(file, CAPTURE_WANTED_AT);
        if (holder != 0 && holder != mine && ProcessHandle.of(holder).isPresent()) {
            throw new IOException("VNIC " + StatsFile.readString(file, VNIC_NAME_AT, VNIC_NAME_BYTES)
                    + " is already being captured by pid " + holder + "; one capture at a time");
        }
        // Skip what an earlier capture left, then ask: the publisher writes only while asked.
        LONG.setRelease(file, CAPTURE_TAIL_AT, (long) LONG.getAcquire(file, CAPTURE_HEAD_AT));
        if (!INT.compareAndSet(file, CAPTURE_WANTED_AT, holder, (int) mine)) {
            throw new IOException("another tool started capturing VNIC "
                    + StatsFile.readString(file, VNIC_NAME_AT, VNIC_NAME_BYTES) + " at the same moment");
        }
        return new Capture((int) mine);
    }

    /** A running capture: drain it with {@link #drain}, end it with {@link #close}. One thread. */
    public final class Capture implements AutoCloseable {
        private final int owner;
        private final long ringAt = file.get(ValueLayout.JAVA_LONG, CAPTURE_OFFSET_AT);
        private final long capacity = file.get(ValueLayout.JAVA_LONG, CAPTURE_CAPACITY_AT);
        private final long droppedAtStart = (long) LONG.getOpaque(file, CAPTURE_DROPPED_AT);
        private boolean closed;

        private Capture(int owner) {
            this.owner = owner;
        }

        /** Hands every frame waiting to {@code sink}; returns how many. */
        public int drain(FrameSink sink) throws IOException {
            long head = (long) LONG.getAcquire(file, CAPTURE_HEAD_AT);
            long tail = (long) LONG.getOpaque(file, CAPTURE_TAIL_AT);
            int frames = 0;
            while (tail < head) {
                long index = tail & (capacity - 1);
                long at = ringAt + index;
                int captured = file.get(ValueLayout.JAVA_INT, at);
                if (captured == WRAP) {
                    tail += capacity - index;
                    continue;
                }
                int length = file.get(ValueLayout.JAVA_INT, at + 4);
                if (captured < 0 || captured > capacity / 4 || index + CAPTURE_RECORD_HEADER + captured > capacity) {
                    throw new IOException("capture ring of " + path + " is damaged at position " + tail);
                }
                sink.frame(file.get(ValueLayout.JAVA_LONG, at + 8), file.asSlice(at + CAPTURE_RECORD_HEADER, captured),
                        length);
                tail += align(CAPTURE_RECORD_HEADER + captured, 8);
                frames++;
            }
            LONG.setRelease(file, CAPTURE_TAIL_AT, tail);
            return frames;
        }

        /** Frames the process dropped since this capture began because the ring was full. */
        public long dropped() {
            return (long) LONG.getOpaque(file, CAPTURE_DROPPED_AT) - droppedAtStart;
        }

        /** Stops the mirroring (the process copies nothing once it sees this). Idempotent. */
        @Override
        public void close() {
            if (!closed) {
                closed = true;
                INT.compareAndSet(file, CAPTURE_WANTED_AT, owner, 0);
            }
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}

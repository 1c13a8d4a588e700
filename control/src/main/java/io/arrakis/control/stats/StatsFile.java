package io.arrakis.control.stats;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * The layout of a process's <em>stats file</em>: the read-only window through which the
 * {@code arrakis} tool sees a user-level stack that the kernel does not (what
 * {@code onload_stackdump} reads from Onload's shared stack state). Each attached process maps
 * one, {@code <control socket>.stats/<vnic>}, and its stack publishes into it at most every
 * {@link StatsPublisher#DEFAULT_INTERVAL_NANOS}: counters (self-describing: their names are in the
 * file) and a table of its TCP connections and listeners, both under a seqlock; plus a capture
 * ring that a tool asks for by writing one word. Stateless constants and accessors.
 *
 * <pre>
 * page 0     header (offsets below)
 * 4096       counter names: UTF-8 "group.NAME\n" per counter, NAMES_BYTES at most
 * VALUES     counterCount longs, in the names' order          (seqlock)
 * then       connectionCapacity records of CONNECTION_BYTES   (seqlock)
 * then       the capture ring, captureCapacity bytes (a power of two), page-aligned
 * </pre>
 *
 * Native byte order throughout (a file for processes of one host).
 */
public final class StatsFile {
    static final int MAGIC = 0x41535441; // "ASTA"
    static final int VERSION = 1;
    static final long PAGE = 4096;

    // Header fields.
    static final long MAGIC_AT = 0;
    static final long VERSION_AT = 4;
    static final long PID_AT = 8;
    /** Seqlock sequence: odd while the publisher writes the values and connections. */
    static final long SEQUENCE_AT = 16;
    static final long PUBLISHED_MILLIS_AT = 24;
    static final long PUBLISHES_AT = 32;
    static final long COUNTER_COUNT_AT = 40;
    static final long CONNECTION_CAPACITY_AT = 44;
    static final long CONNECTION_COUNT_AT = 48;
    static final long NAMES_LENGTH_AT = 52;
    static final long CAPTURE_OFFSET_AT = 56;
    static final long CAPTURE_CAPACITY_AT = 64;
    /** Written by a capturing tool: its pid while it drains the ring, 0 otherwise. */
    static final long CAPTURE_WANTED_AT = 72;
    /** Producer position in the capture ring (the publisher's, release store). */
    static final long CAPTURE_HEAD_AT = 80;
    /** Consumer position in the capture ring (the tool's, release store). */
    static final long CAPTURE_TAIL_AT = 88;
    static final long CAPTURE_DROPPED_AT = 96;
    static final long CAPTURE_FRAMES_AT = 104;
    static final long STARTED_MILLIS_AT = 112;
    static final long CONNECTIONS_TOTAL_AT = 120;
    static final long VNIC_NAME_AT = 128; // short length + UTF-8, 64 bytes in all
    static final long MAIN_CLASS_AT = 192; // short length + UTF-8, 256 bytes in all
    static final int VNIC_NAME_BYTES = 64;
    static final int MAIN_CLASS_BYTES = 256;

    static final long NAMES_AT = PAGE;
    static final int NAMES_BYTES = 16 * 1024;
    static final long VALUES_AT = NAMES_AT + NAMES_BYTES;

    // A connection record.
    static final int CONNECTION_BYTES = 128;
    static final long C_LOCAL_ADDRESS = 0;
    static final long C_LOCAL_PORT = 4;
    static final long C_REMOTE_ADDRESS = 8;
    static final long C_REMOTE_PORT = 12;
    static final long C_SEND_QUEUE = 16;
    static final long C_RECEIVE_QUEUE = 20;
    static final long C_SRTT = 24;
    static final long C_RTTVAR = 32;
    static final long C_RTO = 40;
    static final long C_CWND = 48;
    static final long C_SSTHRESH = 56;
    static final long C_MSS = 64;
    static final long C_KIND = 68; // 1 connection, 2 listener
    static final long C_RETRANSMITS = 72;
    static final long C_BYTES_IN = 80;
    static final long C_BYTES_OUT = 88;
    static final long C_STATE = 96; // ASCII, NUL-padded
    static final int STATE_BYTES = 16;
    static final long C_SEND_WINDOW = 112;
    static final long C_RECEIVE_WINDOW = 116;
    static final long C_IN_FLIGHT = 120;
    static final long C_ACCEPT_QUEUE = 124;

    static final int KIND_CONNECTION = 1;
    static final int KIND_LISTENER = 2;

    // A capture record: int captured length (-1: wrap to the ring's start), int original length, long epoch nanos, data padded to 8.
    static final int CAPTURE_RECORD_HEADER = 16;
    static final int WRAP = -1;

    static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();
    static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    private StatsFile() {}

    /** Where the process owning VNIC {@code vnic} publishes, for the control plane listening on {@code socket}. */
    public static Path path(Path socket, String vnic) {
        return directory(socket).resolve(vnic);
    }

    /** The directory of the stats files of the control plane on {@code socket}. */
    public static Path directory(Path socket) {
        Path absolute = socket.toAbsolutePath().normalize();
        return absolute.resolveSibling(absolute.getFileName() + ".stats");
    }

    static long align(long value, long to) {
        return (value + to - 1) & -to;
    }

    static long connectionsAt(int counterCount) {
        return align(VALUES_AT + 8L * counterCount, PAGE);
    }

    static long captureAt(int counterCount, int connectionCapacity) {
        return align(connectionsAt(counterCount) + (long) CONNECTION_BYTES * connectionCapacity, PAGE);
    }

    static String readString(MemorySegment file, long at, int room) {
        int length = Short.toUnsignedInt(file.get(ValueLayout.JAVA_SHORT, at));
        length = Math.min(length, room - 2);
        byte[] bytes = file.asSlice(at + 2, length).toArray(ValueLayout.JAVA_BYTE);
        return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
    }

    static void writeString(MemorySegment file, long at, int room, String text) {
        byte[] bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int length = Math.min(bytes.length, room - 2);
        file.set(ValueLayout.JAVA_SHORT, at, (short) length);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, file, at + 2, length);
    }
}

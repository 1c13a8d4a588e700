package io.arrakis.storage.fs;

import static java.nio.file.StandardOpenOption.APPEND;
import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.DELETE_ON_CLOSE;
import static java.nio.file.StandardOpenOption.DSYNC;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.TRUNCATE_EXISTING;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileChannel.MapMode;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every case runs twice, on the JDK's {@code FileChannel} over a file in a temporary directory and
 * on ours over a store file, and the two traces must be equal: each step's result (or exception
 * class), the position and the size after it, and the file's bytes at the end. The file starts
 * with {@link #INITIAL} unless the case says it is absent.
 */
class FileChannelDifferentialTest {
    private static final byte[] INITIAL = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?".getBytes(
            StandardCharsets.US_ASCII);

    @TempDir
    static Path directory;

    private static StorageMount mount;
    private static int caseNumber;

    @BeforeAll
    static void mount() throws IOException {
        Files.createDirectories(directory.resolve("mnt"));
        Files.createDirectories(directory.resolve("jdk"));
        mount = StorageMount.open(directory.resolve("mnt"), directory.resolve("vsa.img"), "file", 16L << 20,
                Path.of("/").getFileSystem().provider());
    }

    @AfterAll
    static void unmount() throws IOException {
        mount.close();
    }

    /** Opens channels on the case's files: the JDK's in a directory, or ours on the mount. */
    interface Env {
        FileChannel open(String name, OpenOption... options) throws IOException;

        boolean exists(String name) throws IOException;
    }

    interface Steps {
        void run(Env env, FileChannel channel, Trace trace) throws Exception;
    }

    record Case(String name, boolean present, Set<OpenOption> options, Steps steps) {}

    /** The record of one run. */
    static final class Trace {
        final List<String> lines = new ArrayList<>();
        FileChannel channel;

        void step(String label, Callable<Object> action) {
            String outcome;
            try {
                outcome = show(action.call());
            } catch (Throwable e) {
                outcome = "threw " + e.getClass().getName();
            }
            lines.add(label + " -> " + outcome + state());
        }

        void interruptedAndClear() {
            step("interrupted", Thread::interrupted);
            step("open", () -> channel.isOpen());
        }

        private String state() {
            if (channel == null || !channel.isOpen()) {
                return " [closed]";
            }
            try {
                return " [pos " + channel.position() + ", size " + channel.size() + "]";
            } catch (Throwable e) {
                return " [" + e.getClass().getSimpleName() + "]";
            }
        }

        static String show(Object value) {
            if (value instanceof ByteBuffer buffer) {
                ByteBuffer copy = buffer.duplicate().flip();
                byte[] bytes = new byte[copy.remaining()];
                copy.get(bytes);
                return "buffer " + buffer.position() + "/" + buffer.limit() + " " + HexFormat.of().formatHex(bytes);
            }
            if (value instanceof FileChannel) {
                return "the channel";
            }
            if (value instanceof FileLock lock) {
                return "lock " + lock.position() + "+" + lock.size() + (lock.isShared() ? " shared" : " exclusive")
                        + (lock.isValid() ? " valid" : " invalid");
            }
            return String.valueOf(value);
        }
    }

    private static ByteBuffer bytes(String text) {
        return ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII));
    }

    private static String text(ByteBuffer buffer) {
        ByteBuffer copy = buffer.duplicate().flip();
        byte[] bytes = new byte[copy.remaining()];
        copy.get(bytes);
        return new String(bytes, StandardCharsets.US_ASCII);
    }

    private static Set<OpenOption> options(OpenOption... options) {
        return new LinkedHashSet<>(Arrays.asList(options));
    }

    private static final Set<OpenOption> RW = options(READ, WRITE);
    private static final Set<OpenOption> R = options(READ);
    private static final Set<OpenOption> W = options(WRITE);
    private static final Set<OpenOption> AP = options(WRITE, APPEND);

    private static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        // Relative reads
        cases.add(new Case("read a few bytes", true, R, (e, c, t) -> {
            ByteBuffer b = ByteBuffer.allocate(10);
            t.step("read", () -> c.read(b));
            t.step("bytes", () -> text(b));
        }));
        cases.add(new Case("read to the end and beyond", true, R, (e, c, t) -> {
            ByteBuffer b = ByteBuffer.allocate(100);
            t.step("read", () -> c.read(b));
            t.step("read again", () -> c.read(ByteBuffer.allocate(5)));
        }));
        cases.add(new Case("read into an empty buffer at the end", true, R, (e, c, t) -> {
            c.position(INITIAL.length);
            t.step("read 0", () -> c.read(ByteBuffer.allocate(0)));
        }));
        cases.add(new Case("read into a read-only buffer", true, R,
                (e, c, t) -> t.step("read", () -> c.read(ByteBuffer.allocate(4).asReadOnlyBuffer()))));
        cases.add(new Case("read into a direct buffer", true, R, (e, c, t) -> {
            ByteBuffer b = ByteBuffer.allocateDirect(7);
            c.position(3);
            t.step("read", () -> c.read(b));
            t.step("bytes", () -> text(b));
        }));
        cases.add(new Case("read a null buffer", true, R, (e, c, t) -> t.step("read", () -> c.read((ByteBuffer) null))));
        cases.add(new Case("read from a write-only channel", true, W,
                (e, c, t) -> t.step("read", () -> c.read(ByteBuffer.allocate(4)))));
        cases.add(new Case("read after position beyond the end", true, R, (e, c, t) -> {
            t.step("position", () -> c.position(1000));
            t.step("read", () -> c.read(ByteBuffer.allocate(4)));
        }));
        // Scatter
        cases.add(new Case("scattering read", true, R, (e, c, t) -> {
            ByteBuffer[] bs = {ByteBuffer.allocate(3), ByteBuffer.allocate(0), ByteBuffer.allocate(5)};
            t.step("read", () -> c.read(bs));
            t.step("bytes", () -> text(bs[0]) + "|" + text(bs[2]));
        }));
        cases.add(new Case("scattering read past the end", true, R, (e, c, t) -> {
            c.position(60);
            ByteBuffer[] bs = {ByteBuffer.allocate(3), ByteBuffer.allocate(5)};
            t.step("read", () -> c.read(bs));
            t.step("read again", () -> c.read(bs));
        }));
        cases.add(new Case("scattering read with a bad offset", true, R,
                (e, c, t) -> t.step("read", () -> c.read(new ByteBuffer[2], 1, 2))));
        cases.add(new Case("scattering read of a sub-range", true, R, (e, c, t) -> {
            ByteBuffer[] bs = {ByteBuffer.allocate(3), ByteBuffer.allocate(4), ByteBuffer.allocate(5)};
            t.step("read", () -> c.read(bs, 1, 2));
            t.step("bytes", () -> text(bs[0]) + "|" + text(bs[1]) + "|" + text(bs[2]));
        }));
        // Relative writes
        cases.add(new Case("write over the start", true, RW, (e, c, t) -> t.step("write", () -> c.write(bytes("HELLO")))));
        cases.add(new Case("write beyond the end leaves a hole of zeros", true, RW, (e, c, t) -> {
            t.step("position", () -> c.position(100));
            t.step("write", () -> c.write(bytes("tail")));
            ByteBuffer b = ByteBuffer.allocate(8);
            t.step("read hole", () -> c.read(b, 70));
            t.step("bytes", () -> b);
        }));
        cases.add(new Case("write to a read-only channel", true, R, (e, c, t) -> t.step("write", () -> c.write(bytes("x")))));
        cases.add(new Case("write a null buffer", true, RW, (e, c, t) -> t.step("write", () -> c.write((ByteBuffer) null))));
        cases.add(new Case("write an empty buffer", true, RW, (e, c, t) -> t.step("write", () -> c.write(bytes("")))));
        cases.add(new Case("write from a direct buffer", true, RW, (e, c, t) -> {
            ByteBuffer b = ByteBuffer.allocateDirect(6).put(bytes("direct")).flip();
            c.position(10);
            t.step("write", () -> c.write(b));
            t.step("remaining", b::remaining);
        }));
        cases.add(new Case("write then read back", true, RW, (e, c, t) -> {
            t.step("write", () -> c.write(bytes("abc")));
            t.step("position 0", () -> c.position(0));
            ByteBuffer b = ByteBuffer.allocate(6);
            t.step("read", () -> c.read(b));
            t.step("bytes", () -> text(b));
        }));
        // Gather
        cases.add(new Case("gathering write", true, RW, (e, c, t) -> {
            ByteBuffer[] bs = {bytes("one"), bytes(""), bytes("three")};
            t.step("write", () -> c.write(bs));
            t.step("remaining", () -> bs[0].remaining() + bs[2].remaining());
        }));
        cases.add(new Case("gathering write of a sub-range", true, RW, (e, c, t) -> {
            ByteBuffer[] bs = {bytes("one"), bytes("two"), bytes("three")};
            t.step("write", () -> c.write(bs, 1, 1));
            t.step("remaining", () -> bs[0].remaining() + "," + bs[1].remaining() + "," + bs[2].remaining());
        }));
        cases.add(new Case("gathering write with a bad length", true, RW,
                (e, c, t) -> t.step("write", () -> c.write(new ByteBuffer[] {bytes("x")}, 0, 2))));
        cases.add(new Case("gathering write to a read-only channel", true, R,
                (e, c, t) -> t.step("write", () -> c.write(new ByteBuffer[] {bytes("x")}))));
        // Positional
        cases.add(new Case("positional read leaves the position", true, R, (e, c, t) -> {
            ByteBuffer b = ByteBuffer.allocate(5);
            t.step("read at 20", () -> c.read(b, 20));
            t.step("bytes", () -> text(b));
        }));
        cases.add(new Case("positional read at the end", true, R,
                (e, c, t) -> t.step("read at size", () -> c.read(ByteBuffer.allocate(5), INITIAL.length))));
        cases.add(new Case("positional read at a negative position", true, R,
                (e, c, t) -> t.step("read at -1", () -> c.read(ByteBuffer.allocate(5), -1))));
        cases.add(new Case("positional read into a read-only buffer", true, R,
                (e, c, t) -> t.step("read", () -> c.read(ByteBuffer.allocate(5).asReadOnlyBuffer(), 0))));
        cases.add(new Case("positional read on a write-only channel", true, W,
                (e, c, t) -> t.step("read", () -> c.read(ByteBuffer.allocate(5), 0))));
        cases.add(new Case("positional write leaves the position", true, RW, (e, c, t) -> {
            t.step("write at 30", () -> c.write(bytes("XYZ"), 30));
        }));
        cases.add(new Case("positional write far beyond the end", true, RW, (e, c, t) -> {
            t.step("write at 5000", () -> c.write(bytes("far"), 5000));
            ByteBuffer b = ByteBuffer.allocate(4);
            t.step("read hole", () -> c.read(b, 4000));
            t.step("bytes", () -> b);
        }));
        cases.add(new Case("positional write at a negative position", true, RW,
                (e, c, t) -> t.step("write at -3", () -> c.write(bytes("x"), -3))));
        cases.add(new Case("positional write on a read-only channel", true, R,
                (e, c, t) -> t.step("write", () -> c.write(bytes("x"), 0))));
        // Position
        cases.add(new Case("negative position", true, R, (e, c, t) -> t.step("position -1", () -> c.position(-1))));
        cases.add(new Case("position then relative read", true, R, (e, c, t) -> {
            t.step("position 62", () -> c.position(62));
            ByteBuffer b = ByteBuffer.allocate(8);
            t.step("read", () -> c.read(b));
            t.step("bytes", () -> text(b));
        }));
        // Size and truncate
        cases.add(new Case("truncate shrinks", true, RW, (e, c, t) -> t.step("truncate 10", () -> c.truncate(10))));
        cases.add(new Case("truncate below the position moves it", true, RW, (e, c, t) -> {
            t.step("position 50", () -> c.position(50));
            t.step("truncate 20", () -> c.truncate(20));
        }));
        cases.add(new Case("truncate to a larger size changes nothing", true, RW, (e, c, t) -> {
            t.step("position 80", () -> c.position(80));
            t.step("truncate 100", () -> c.truncate(100));
        }));
        cases.add(new Case("truncate with a negative size", true, RW, (e, c, t) -> t.step("truncate -1", () -> c.truncate(-1))));
        cases.add(new Case("truncate on a read-only channel", true, R, (e, c, t) -> t.step("truncate 1", () -> c.truncate(1))));
        cases.add(new Case("truncate to zero then write", true, RW, (e, c, t) -> {
            t.step("truncate 0", () -> c.truncate(0));
            t.step("write", () -> c.write(bytes("fresh")));
        }));
        cases.add(new Case("truncate then read the cut", true, RW, (e, c, t) -> {
            t.step("truncate 5", () -> c.truncate(5));
            t.step("write at 8", () -> c.write(bytes("z"), 8));
            ByteBuffer b = ByteBuffer.allocate(9);
            t.step("read", () -> c.read(b, 0));
            t.step("bytes", () -> b);
        }));
        // Force
        cases.add(new Case("force metadata and not", true, RW, (e, c, t) -> {
            t.step("write", () -> c.write(bytes("durable")));
            t.step("force false", () -> { c.force(false); return "done"; });
            t.step("force true", () -> { c.force(true); return "done"; });
        }));
        cases.add(new Case("force on a read-only channel", true, R, (e, c, t) -> t.step("force", () -> { c.force(true); return "done"; })));
        // Append mode
        cases.add(new Case("append writes at the end", true, AP, (e, c, t) -> {
            t.step("position", c::position);
            t.step("write", () -> c.write(bytes("+end")));
            t.step("write", () -> c.write(bytes("+more")));
        }));
        cases.add(new Case("append ignores position", true, AP, (e, c, t) -> {
            t.step("position 3", () -> c.position(3));
            t.step("write", () -> c.write(bytes("+")));
        }));
        cases.add(new Case("append gathers", true, AP, (e, c, t) -> t.step("write", () -> c.write(new ByteBuffer[] {bytes("a"), bytes("bc")}))));
        cases.add(new Case("append after another channel grew the file", true, AP, (e, c, t) -> {
            try (FileChannel other = e.open("file", WRITE)) {
                t.step("other writes at 70", () -> other.write(bytes("grown"), 70));
            }
            t.step("position", c::position);
            t.step("write", () -> c.write(bytes("!")));
        }));
        cases.add(new Case("append and read", false, options(READ, APPEND, CREATE), (e, c, t) -> t.step("opened", () -> "yes")));
        cases.add(new Case("append and truncate-existing", true, options(WRITE, APPEND, TRUNCATE_EXISTING),
                (e, c, t) -> t.step("opened", () -> "yes")));
        cases.add(new Case("append to a new file", false, options(CREATE, APPEND),
                (e, c, t) -> t.step("write", () -> c.write(bytes("first")))));
        // Open options
        cases.add(new Case("open an absent file for reading", false, R, (e, c, t) -> t.step("opened", () -> "yes")));
        cases.add(new Case("create an absent file", false, options(CREATE, WRITE), (e, c, t) -> t.step("write", () -> c.write(bytes("new")))));
        cases.add(new Case("create-new over an existing file", true, options(CREATE_NEW, WRITE), (e, c, t) -> t.step("opened", () -> "yes")));
        cases.add(new Case("create-new an absent file", false, options(CREATE_NEW, WRITE), (e, c, t) -> t.step("size", c::size)));
        cases.add(new Case("create without write does not create", false, options(CREATE, READ), (e, c, t) -> t.step("opened", () -> "yes")));
        cases.add(new Case("truncate-existing on open", true, options(WRITE, TRUNCATE_EXISTING), (e, c, t) -> t.step("size", c::size)));
        cases.add(new Case("truncate-existing read-only does nothing", true, options(READ, TRUNCATE_EXISTING), (e, c, t) -> t.step("size", c::size)));
        cases.add(new Case("dsync writes", true, options(WRITE, DSYNC), (e, c, t) -> t.step("write", () -> c.write(bytes("sync")))));
        cases.add(new Case("delete on close", true, options(WRITE, DELETE_ON_CLOSE), (e, c, t) -> {
            t.step("write", () -> c.write(bytes("gone")));
            t.step("close", () -> { c.close(); return "closed"; });
            t.step("exists", () -> e.exists("file"));
        }));
        // Closed channel
        cases.add(new Case("everything on a closed channel", true, RW, (e, c, t) -> {
            t.step("close", () -> { c.close(); return "closed"; });
            t.step("read", () -> c.read(ByteBuffer.allocate(1)));
            t.step("read at", () -> c.read(ByteBuffer.allocate(1), 0));
            t.step("write", () -> c.write(bytes("x")));
            t.step("position", c::position);
            t.step("position set", () -> c.position(1));
            t.step("size", c::size);
            t.step("truncate", () -> c.truncate(1));
            t.step("force", () -> { c.force(false); return "done"; });
            t.step("lock", () -> c.lock());
            t.step("map", () -> c.map(MapMode.READ_ONLY, 0, 1));
            t.step("close again", () -> { c.close(); return "closed"; });
            t.step("open", c::isOpen);
        }));
        // Interrupt
        cases.add(new Case("interrupted read closes the channel", true, RW, (e, c, t) -> {
            Thread.currentThread().interrupt();
            t.step("read", () -> c.read(ByteBuffer.allocate(4)));
            t.step("interrupted", Thread::interrupted);
            t.step("open", c::isOpen);
        }));
        cases.add(new Case("interrupted force closes the channel", true, RW, (e, c, t) -> {
            c.write(bytes("pending"));
            Thread.currentThread().interrupt();
            t.step("force", () -> { c.force(true); return "done"; });
            t.interruptedAndClear();
        }));
        cases.add(new Case("interrupted positional write closes the channel", true, RW, (e, c, t) -> {
            Thread.currentThread().interrupt();
            t.step("write at 2", () -> c.write(bytes("no"), 2));
            t.interruptedAndClear();
            t.step("write", () -> c.write(bytes("x")));
        }));
        // Transfers
        cases.add(new Case("transferTo a stream", true, R, (e, c, t) -> {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            t.step("transfer", () -> c.transferTo(5, 10, Channels.newChannel(out)));
            t.step("got", () -> out.toString(StandardCharsets.US_ASCII));
        }));
        cases.add(new Case("transferTo beyond the end", true, R,
                (e, c, t) -> t.step("transfer", () -> c.transferTo(100, 10, Channels.newChannel(new ByteArrayOutputStream())))));
        cases.add(new Case("transferTo clipped at the end", true, R, (e, c, t) -> {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            t.step("transfer", () -> c.transferTo(60, 100, Channels.newChannel(out)));
            t.step("got", () -> out.toString(StandardCharsets.US_ASCII));
        }));
        cases.add(new Case("transferTo from a write-only channel", true, W,
                (e, c, t) -> t.step("transfer", () -> c.transferTo(0, 10, Channels.newChannel(new ByteArrayOutputStream())))));
        cases.add(new Case("transferTo with a negative count", true, R,
                (e, c, t) -> t.step("transfer", () -> c.transferTo(0, -1, Channels.newChannel(new ByteArrayOutputStream())))));
        cases.add(new Case("transferTo another file of the same kind", true, R, (e, c, t) -> {
            try (FileChannel target = e.open("target", CREATE, WRITE, READ)) {
                t.step("transfer", () -> c.transferTo(0, 20, target));
                t.step("target size", target::size);
                t.step("target position", target::position);
            }
        }));
        cases.add(new Case("transferTo a read-only file of the same kind", true, R, (e, c, t) -> {
            try (FileChannel w = e.open("target2", CREATE, WRITE)) {
                w.write(bytes("x"));
            }
            try (FileChannel target = e.open("target2", READ)) {
                t.step("transfer", () -> c.transferTo(0, 20, target));
            }
        }));
        cases.add(new Case("transferFrom a stream", true, RW, (e, c, t) -> {
            t.step("transfer", () -> c.transferFrom(Channels.newChannel(new ByteArrayInputStream("streamed".getBytes(
                    StandardCharsets.US_ASCII))), 10, 100));
        }));
        cases.add(new Case("transferFrom beyond the end", true, RW,
                (e, c, t) -> t.step("transfer", () -> c.transferFrom(Channels.newChannel(new ByteArrayInputStream(
                        new byte[] {1, 2})), 100, 2))));
        cases.add(new Case("transferFrom at the end grows the file", true, RW,
                (e, c, t) -> t.step("transfer", () -> c.transferFrom(Channels.newChannel(new ByteArrayInputStream(
                        new byte[] {1, 2, 3})), INITIAL.length, 2))));
        cases.add(new Case("transferFrom into a read-only channel", true, R,
                (e, c, t) -> t.step("transfer", () -> c.transferFrom(Channels.newChannel(new ByteArrayInputStream(
                        new byte[] {1})), 0, 1))));
        cases.add(new Case("transferFrom another file of the same kind", true, RW, (e, c, t) -> {
            try (FileChannel source = e.open("source", CREATE, WRITE, READ)) {
                source.write(bytes("from the source file"));
                t.step("transfer", () -> c.transferFrom(source, 4, 8));
                t.step("source position", source::position);
            }
        }));
        cases.add(new Case("transferFrom a closed source", true, RW, (e, c, t) -> {
            FileChannel source = e.open("source2", CREATE, WRITE, READ);
            source.close();
            t.step("transfer", () -> c.transferFrom(source, 0, 8));
        }));
        // Locks
        cases.add(new Case("exclusive lock and release", true, RW, (e, c, t) -> {
            FileLock lock = c.lock();
            t.step("lock", () -> lock);
            t.step("release", () -> { lock.release(); return lock.isValid(); });
            t.step("lock again", () -> c.tryLock(0, 10, false));
        }));
        cases.add(new Case("overlapping locks in one JVM", true, RW, (e, c, t) -> {
            t.step("lock 0+10", () -> c.lock(0, 10, false));
            t.step("tryLock 5+10", () -> c.tryLock(5, 10, false));
            t.step("lock 10+10", () -> c.lock(10, 10, false));
        }));
        cases.add(new Case("overlapping locks through two channels", true, RW, (e, c, t) -> {
            t.step("lock", () -> c.lock(0, 100, true));
            try (FileChannel other = e.open("file", READ, WRITE)) {
                t.step("other tryLock", () -> other.tryLock(50, 10, true));
                t.step("other tryLock beyond", () -> other.tryLock(100, 10, false));
            }
        }));
        cases.add(new Case("shared lock on a write-only channel", true, W, (e, c, t) -> t.step("lock", () -> c.lock(0, 1, true))));
        cases.add(new Case("exclusive lock on a read-only channel", true, R, (e, c, t) -> t.step("lock", () -> c.lock(0, 1, false))));
        cases.add(new Case("lock with a negative size", true, RW, (e, c, t) -> t.step("lock", () -> c.tryLock(0, -1, false))));
        cases.add(new Case("closing the channel releases its locks", true, RW, (e, c, t) -> {
            FileLock lock = c.lock(0, 5, false);
            t.step("close", () -> { c.close(); return lock.isValid(); });
            try (FileChannel other = e.open("file", READ, WRITE)) {
                t.step("other lock", () -> other.tryLock(0, 5, false));
            }
        }));
        cases.add(new Case("release after close", true, RW, (e, c, t) -> {
            FileLock lock = c.lock(0, 5, false);
            c.close();
            t.step("release", () -> { lock.release(); return "released"; });
        }));
        // Mapping
        cases.add(new Case("map read-only", true, R, (e, c, t) -> {
            MappedByteBuffer m = c.map(MapMode.READ_ONLY, 10, 20);
            t.step("read-only", m::isReadOnly);
            t.step("capacity", m::capacity);
            t.step("byte 0", () -> (char) m.get(0));
            t.step("put", () -> m.put(0, (byte) 1));
        }));
        cases.add(new Case("map private is copy-on-write", true, RW, (e, c, t) -> {
            MappedByteBuffer m = c.map(MapMode.PRIVATE, 0, 8);
            t.step("put", () -> { m.put(0, (byte) '#'); return (char) m.get(0); });
            ByteBuffer b = ByteBuffer.allocate(1);
            t.step("file unchanged", () -> c.read(b, 0));
            t.step("bytes", () -> text(b));
        }));
        cases.add(new Case("map private on a read-only channel", true, R,
                (e, c, t) -> t.step("map", () -> c.map(MapMode.PRIVATE, 0, 8).capacity())));
        cases.add(new Case("map read-only beyond the end of a read-only channel", true, R,
                (e, c, t) -> t.step("map", () -> c.map(MapMode.READ_ONLY, 0, 100).capacity())));
        cases.add(new Case("map read-only beyond the end extends a writable file", true, RW, (e, c, t) -> {
            MappedByteBuffer m = c.map(MapMode.READ_ONLY, 60, 40);
            t.step("byte 39", () -> m.get(39));
        }));
        cases.add(new Case("map on a write-only channel", true, W, (e, c, t) -> t.step("map", () -> c.map(MapMode.READ_ONLY, 0, 1))));
        cases.add(new Case("map with a negative position", true, R, (e, c, t) -> t.step("map", () -> c.map(MapMode.READ_ONLY, -1, 1))));
        cases.add(new Case("map too large", true, R,
                (e, c, t) -> t.step("map", () -> c.map(MapMode.READ_ONLY, 0, Integer.MAX_VALUE + 1L))));
        cases.add(new Case("map into an arena", true, R, (e, c, t) -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = c.map(MapMode.READ_ONLY, 36, 8, arena);
                t.step("size", s::byteSize);
                t.step("read-only", s::isReadOnly);
                t.step("byte 0", () -> (char) s.get(ValueLayout.JAVA_BYTE, 0));
            }
        }));
        cases.add(new Case("map into an arena privately", true, RW, (e, c, t) -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = c.map(MapMode.PRIVATE, 0, 4, arena);
                s.set(ValueLayout.JAVA_BYTE, 0, (byte) '$');
                t.step("byte 0", () -> (char) s.get(ValueLayout.JAVA_BYTE, 0));
            }
        }));
        cases.add(new Case("map into an arena with a negative size", true, R, (e, c, t) -> {
            try (Arena arena = Arena.ofConfined()) {
                t.step("map", () -> c.map(MapMode.READ_ONLY, 0, -4, arena));
            }
        }));
        return cases;
    }

    @TestFactory
    Stream<DynamicTest> ourFileChannelBehavesAsTheJdks() {
        List<Case> cases = cases();
        assertTrue(cases.size() >= 60, "at least 60 cases: " + cases.size());
        return cases.stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            int number = ++caseNumber;
            Path jdkDirectory = Files.createDirectories(directory.resolve("jdk").resolve("case" + number));
            List<String> jdk = run(c, new Env() {
                @Override
                public FileChannel open(String name, OpenOption... options) throws IOException {
                    return FileChannel.open(jdkDirectory.resolve(name), options);
                }

                @Override
                public boolean exists(String name) {
                    return Files.exists(jdkDirectory.resolve(name));
                }
            });
            String prefix = "case" + number + "-";
            List<String> ours = run(c, new Env() {
                @Override
                public FileChannel open(String name, OpenOption... options) throws IOException {
                    return mount.newFileChannel(mount.directory().resolve(prefix + name), options(options));
                }

                @Override
                public boolean exists(String name) {
                    return mount.store().exists(prefix + name);
                }
            });
            assertEquals(String.join("\n", jdk), String.join("\n", ours));
        }));
    }

    private static List<String> run(Case c, Env env) throws Exception {
        Trace trace = new Trace();
        if (c.present()) {
            try (FileChannel setup = env.open("file", CREATE, WRITE)) {
                setup.write(ByteBuffer.wrap(INITIAL));
            }
        }
        FileChannel channel;
        try {
            channel = env.open("file", c.options().toArray(new OpenOption[0]));
        } catch (Exception e) {
            trace.lines.add("open -> threw " + e.getClass().getName() + "; exists " + env.exists("file"));
            return trace.lines;
        }
        trace.channel = channel;
        try {
            c.steps().run(env, channel, trace);
        } finally {
            Thread.interrupted();
            channel.close();
        }
        if (env.exists("file")) {
            try (FileChannel check = env.open("file", READ)) {
                ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(check.size()));
                while (all.hasRemaining() && check.read(all, all.position()) > 0) {
                    // read it whole
                }
                trace.lines.add("final " + HexFormat.of().formatHex(all.array()));
            }
        } else {
            trace.lines.add("final: absent");
        }
        return trace.lines;
    }
}

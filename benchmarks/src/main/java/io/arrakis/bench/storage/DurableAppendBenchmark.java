package io.arrakis.bench.storage;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.storage.PersistentLog;
import io.arrakis.storage.VsaFile;
import io.arrakis.storage.fs.StorageMount;
import io.arrakis.storage.log.LogFile;
import io.arrakis.storage.log.LogStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Durable 4 KiB appends (append, then force) in one run, on the ext4 file system of {@code /tmp}:
 * <ul>
 *   <li>{@code store-file}, {@code store-io_uring}: our log store over the "file" backend
 *       (pwrite + fdatasync through the page cache) or the "io_uring" backend (O_DIRECT, linked
 *       write + fdatasync), on a 512 MiB VSA file written with zeros at setup, as a block device
 *       would be (a fallocated file's unwritten extents would cost a journal commit per first
 *       write). Each append is one 4,144-byte record: a two-block device write, then a flush,
 *       shared by the threads that force together (group commit);
 *   <li>{@code plog-file}, {@code plog-io_uring}: the same store through the native persistent
 *       log ({@code PersistentLog}, one per thread): append, force, and a trim of everything once
 *       1 MiB is untrimmed (its segments are deleted, as the files below are truncated);
 *   <li>{@code channel-file}, {@code channel-io_uring}: the same store through our
 *       {@code FileChannel} ({@code StoreFileChannel}, what an application gets in a mounted
 *       directory), driven exactly as {@code jdk-append} drives the JDK's: position, write,
 *       force(false);
 *   <li>{@code jdk-append}: {@code FileChannel.write} at the end of an ordinary file, then
 *       {@code force(false)}: the kernel path an append-only file takes (block allocation and its
 *       journal commit in every fdatasync);
 *   <li>{@code jdk-overwrite}: the same over a file written with zeros at setup, so fdatasync
 *       has only data to write: the kernel path's best case.
 * </ul>
 * Each thread appends to its own file; a file is truncated to nothing once it reaches 1 MiB
 * (so the store's log wraps and compacts, and the JDK's file is allocated again).
 *
 * <p>{@code java -jar benchmarks/target/benchmarks.jar DurableAppend -bm sample -tu us} for the
 * latency distribution (p50, p99) with one thread; {@code -t 8 -bm thrpt -tu s} and {@code -t 50}
 * for appends per second with concurrent writers.
 */
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class DurableAppendBenchmark {
    static final int APPEND = 4096;
    /** Small enough that 50 writers' files (50 MiB at most) fit a region several times over. */
    static final long FILE_LIMIT = 1L << 20;
    static final long VSA_BLOCKS = 131_072; // 512 MiB: regions of 256 MiB

    @State(Scope.Benchmark)
    public static class Target {
        @Param({"store-file", "store-io_uring", "plog-file", "plog-io_uring", "channel-file", "channel-io_uring", "jdk-append", "jdk-overwrite"})
        public String path;

        Path directory;
        LogStore store;
        StorageMount mount;
        final AtomicInteger threads = new AtomicInteger();

        @Setup(Level.Trial)
        public void open() throws IOException {
            directory = Files.createTempDirectory(Path.of("/tmp"), "durable-append");
            if (path.startsWith("store-") || path.startsWith("plog-")) {
                Path image = directory.resolve("vsa.img");
                writeZeros(image, VSA_BLOCKS * 4096);
                String backend = path.substring(path.indexOf('-') + 1);
                Vsic vsic = DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig("bench", VSA_BLOCKS,
                        Map.of(VsaFile.OPTION_PATH, image.toString())));
                LogStore.format(vsic);
                store = LogStore.open(vsic);
            } else if (path.startsWith("channel-")) {
                Path image = directory.resolve("vsa.img");
                writeZeros(image, VSA_BLOCKS * 4096);
                String backend = path.substring("channel-".length());
                try (Vsic vsic = DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig(image.toString(),
                        VSA_BLOCKS, Map.of(VsaFile.OPTION_PATH, image.toString())))) {
                    LogStore.format(vsic);
                }
                Path mounted = Files.createDirectories(directory.resolve("mnt"));
                mount = StorageMount.open(mounted, image, backend, VSA_BLOCKS * 4096,
                        mounted.getFileSystem().provider());
            }
        }

        @TearDown(Level.Trial)
        public void close() throws IOException {
            if (store != null) {
                System.out.println("\n" + path + ": " + store.stats());
                store.close();
            }
            if (mount != null) {
                System.out.println("\n" + path + ": " + mount.store().stats());
                mount.close();
            }
            try (Stream<Path> files = Files.walk(directory)) {
                for (Path file : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(file);
                }
            }
        }
    }

    @State(Scope.Thread)
    public static class Writer {
        final ByteBuffer data = ByteBuffer.allocateDirect(APPEND);
        LogFile file;
        PersistentLog log;
        FileChannel channel;
        boolean overwrite;

        @Setup(Level.Trial)
        public void open(Target target) throws IOException {
            for (int i = 0; i < APPEND; i++) {
                data.put(i, (byte) (i * 31));
            }
            String name = "writer-" + target.threads.getAndIncrement();
            if (target.store != null && target.path.startsWith("plog-")) {
                log = PersistentLog.open(target.store, name, FILE_LIMIT / 4);
            } else if (target.store != null) {
                file = target.store.open(name, true);
            } else if (target.mount != null) {
                channel = target.mount.newFileChannel(target.mount.directory().resolve(name),
                        Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE));
            } else {
                Path path = target.directory.resolve(name);
                overwrite = target.path.equals("jdk-overwrite");
                if (overwrite) {
                    writeZeros(path, FILE_LIMIT);
                }
                channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            }
        }

        @TearDown(Level.Trial)
        public void close() throws IOException {
            if (channel != null) {
                channel.close();
            }
        }

        void appendAndForce() throws IOException {
            data.clear();
            if (log != null) {
                if (log.endPosition() - log.trimPosition() >= FILE_LIMIT) {
                    log.trim(log.endPosition());
                }
                log.append(data);
                log.force();
                return;
            }
            if (file != null) {
                if (file.size() >= FILE_LIMIT) {
                    file.truncate(0);
                }
                file.append(data);
                file.force(false);
                return;
            }
            long position = channel.position();
            if (position >= FILE_LIMIT) {
                if (!overwrite) {
                    channel.truncate(0);
                }
                channel.position(0);
            }
            while (data.hasRemaining()) {
                channel.write(data);
            }
            channel.force(false);
        }
    }

    @Benchmark
    public void appendAndForce(Writer writer) {
        try {
            writer.appendAndForce();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void writeZeros(Path file, long bytes) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            for (long at = 0; at < bytes; at += zeros.capacity()) {
                zeros.clear();
                zeros.limit((int) Math.min(zeros.capacity(), bytes - at));
                while (zeros.hasRemaining()) {
                    channel.write(zeros, at + zeros.position());
                }
            }
            channel.force(true);
        }
    }
}

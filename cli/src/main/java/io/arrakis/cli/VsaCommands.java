package io.arrakis.cli;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.storage.VsaFile;
import io.arrakis.storage.log.LogFile;
import io.arrakis.storage.log.LogStore;
import io.arrakis.storage.log.RecoveryReport;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code arrakis vsa create|ls|fsck|export|import}: virtual storage area images holding a log
 * store (docs/storage-layout.md), as {@code storage.mount} uses them. Inspection opens the store
 * read-only ({@link LogStore#openReadOnly}: nothing is written, not even the recovery's erasure);
 * writing commands take the image's {@code <image>.lock} (the lock a mounted process holds) and
 * refuse an image in use, naming the holder. Stateless.
 */
final class VsaCommands {
    static final String JSON = "--json";
    /** fsck's exit status when the image is damaged (records dropped or a superblock bad). */
    static final int DAMAGED = 3;
    private static final byte[] SUPER_MAGIC = "ARRAKLOG".getBytes(StandardCharsets.US_ASCII);

    private VsaCommands() {}

    static CommandGroup group() {
        return new CommandGroup("vsa", "create, inspect, check, export and import virtual storage area images",
                List.of(new Create(), new Ls(), new Fsck(), new Export(), new Import()));
    }

    // -------------------------------------------------------------------------------------------
    // Opening images

    /** An image's geometry, read from its superblocks. */
    record Geometry(int blockSize, long blocks) {}

    /** Reads the block size from a superblock; fails with what to do when {@code image} holds no log. */
    static Geometry geometry(Path image) throws IOException {
        if (!Files.exists(image)) {
            throw new NoSuchFileException(image.toString(), null, "no VSA image there; create one with: arrakis vsa create "
                    + image + " --size 256m");
        }
        if (!Files.isRegularFile(image)) {
            throw new IOException(image + " is not a regular file; VSA images are files (block devices: not yet by the CLI)");
        }
        long size = Files.size(image);
        try (FileChannel channel = FileChannel.open(image, StandardOpenOption.READ)) {
            for (int blockSize = 512; blockSize <= 65536; blockSize *= 2) {
                for (int slot = 0; slot < 2; slot++) {
                    ByteBuffer header = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
                    long at = (long) slot * blockSize;
                    while (header.hasRemaining() && channel.read(header, at + header.position()) > 0) {
                        // read the 16 bytes
                    }
                    if (header.hasRemaining()) {
                        continue;
                    }
                    byte[] magic = new byte[8];
                    header.get(0, magic);
                    if (java.util.Arrays.equals(magic, SUPER_MAGIC) && header.getInt(12) == blockSize) {
                        return new Geometry(blockSize, size / blockSize);
                    }
                }
            }
        }
        throw new IOException(image + " holds no Arrakis log (no superblock in its first blocks); it is not a VSA image, or"
                + " its superblocks are destroyed");
    }

    static Vsic vsic(Path image, Geometry geometry) throws IOException {
        return DeviceBackends.vsicBackend("file").open(LogStore.vsicConfig(image.toString(), geometry.blocks(),
                Map.of(VsaFile.OPTION_PATH, image.toString(), VsaFile.OPTION_CREATE, "false",
                        VsaFile.OPTION_BLOCK_SIZE, String.valueOf(geometry.blockSize()))));
    }

    static LogStore openReadOnly(Path image) throws IOException {
        Vsic vsic = vsic(image, geometry(image));
        try {
            return LogStore.openReadOnly(vsic);
        } catch (IOException | RuntimeException e) {
            vsic.close();
            throw e;
        }
    }

    /**
     * For the read-only commands: a one-line warning when a process has the image mounted, whose
     * unforced writes the device may not hold yet. Takes and drops the lock at once, so a mount
     * starting meanwhile is refused only for that instant.
     */
    static void warnIfInUse(Path image, Command.Console console) {
        Path lockFile = lockFile(image);
        if (!Files.exists(lockFile)) {
            return;
        }
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.WRITE)) {
            FileLock lock = channel.tryLock();
            if (lock == null) {
                console.err().println("arrakis: warning: " + image + " is in use (" + lockHolder(lockFile) + " holds "
                        + lockFile + "): showing what the device holds now, which may lag behind that process");
            }
        } catch (OverlappingFileLockException e) {
            console.err().println("arrakis: warning: " + image + " is mounted by this process: showing what the device"
                    + " holds now");
        } catch (IOException e) {
            // cannot tell: no warning
        }
    }

    /** The lock a mounted process holds ({@code StorageMount}): held while a writing command runs. */
    static Path lockFile(Path image) {
        return image.resolveSibling(image.getFileName() + ".lock");
    }

    /**
     * Takes {@code <image>.lock} for a writing command, or fails naming who holds it. The caller
     * closes the returned channel (which releases the lock).
     */
    static FileChannel lockForWriting(Path image) throws IOException {
        Path lockFile = lockFile(image);
        FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            channel.close();
            throw new IOException("VSA image " + image + " is in use by this process (it holds " + lockFile
                    + "); close its mount first");
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            channel.close();
            throw new IOException("VSA image " + image + " is in use: " + lockHolder(lockFile) + " holds " + lockFile
                    + "; stop it (or its storage.mount) before writing to the image");
        }
        return channel;
    }

    /** "process 1234 (java -jar app.jar)" from /proc/locks, or "another process" when it cannot tell. */
    static String lockHolder(Path lockFile) {
        try {
            Object inode = Files.getAttribute(lockFile, "unix:ino");
            for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
                // "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (the device as major:minor:inode)
                String[] fields = line.trim().split("\\s+");
                if (fields.length < 6 || !fields[5].endsWith(":" + inode)) {
                    continue;
                }
                long pid = Long.parseLong(fields[4]);
                if (pid <= 0) {
                    return "another process (an open file description lock, whose owner the kernel does not name)";
                }
                String command = ProcessHandle.of(pid).flatMap(p -> p.info().commandLine()).orElse("");
                if (command.length() > 120) {
                    command = command.substring(0, 117) + "...";
                }
                return "process " + pid + (command.isEmpty() ? "" : " (" + command + ")");
            }
        } catch (IOException | RuntimeException e) {
            // fall through: the lock is real, only its owner's name is unknown
        }
        return "another process";
    }

    private static String files(int count) {
        return count + (count == 1 ? " file" : " files");
    }

    static long parseSize(String text) throws Command.UsageException {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.endsWith("ib")) {
            t = t.substring(0, t.length() - 2);
        } else if (t.endsWith("b")) {
            t = t.substring(0, t.length() - 1);
        }
        long unit = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'k' -> unit = 1L << 10;
                case 'm' -> unit = 1L << 20;
                case 'g' -> unit = 1L << 30;
                case 't' -> unit = 1L << 40;
                default -> unit = 1;
            }
        }
        if (unit != 1) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            long value = Long.parseLong(t);
            if (value <= 0 || value > Long.MAX_VALUE / unit) {
                throw new NumberFormatException();
            }
            return value * unit;
        } catch (NumberFormatException e) {
            throw new Command.UsageException("size '" + text + "' is not a positive number of bytes with an optional k, m,"
                    + " g or t (binary units), e.g. 256m or 1G");
        }
    }

    // -------------------------------------------------------------------------------------------
    // The commands

    static final class Create implements Command {
        @Override
        public String name() {
            return "create";
        }

        @Override
        public String summary() {
            return "create and format a new VSA image file (refuses an existing one)";
        }

        @Override
        public String usage() {
            return "<image> --size <bytes, e.g. 1G> [--block-size 4096]";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Arguments arguments = Arguments.parse(words, Set.of("--size", "--block-size"), Set.of())
                    .expectPositional(1, 1);
            Path image = Path.of(arguments.positional().getFirst());
            String sizeText = arguments.value("--size", null);
            if (sizeText == null) {
                throw new UsageException("--size is required");
            }
            long size = parseSize(sizeText);
            long blockSize = parseSize(arguments.value("--block-size", "4096"));
            if (blockSize < 512 || blockSize > 65536 || Long.bitCount(blockSize) != 1) {
                throw new UsageException("--block-size " + blockSize + ": a power of two from 512 to 65536");
            }
            long blocks = size / blockSize;
            if (blocks < 2 + 2 * 8) {
                throw new UsageException("--size " + sizeText + " is too small: at least " + (18 * blockSize)
                        + " bytes for two superblocks and two log regions");
            }
            if (Files.exists(image)) {
                throw new FileAlreadyExistsException(image.toString(), null, "exists already; arrakis vsa create never"
                        + " overwrites an image (remove it first to start afresh)");
            }
            try (FileChannel lock = lockForWriting(image)) {
                boolean created = false;
                try (Vsic vsic = DeviceBackends.vsicBackend("file").open(LogStore.vsicConfig(image.toString(), blocks,
                        Map.of(VsaFile.OPTION_PATH, image.toString(), VsaFile.OPTION_BLOCK_SIZE,
                                String.valueOf(blockSize))))) {
                    created = true;
                    LogStore.format(vsic);
                } catch (IOException | RuntimeException e) {
                    if (created) {
                        Files.deleteIfExists(image); // formatting failed: leave no half-made image
                    }
                    throw e;
                }
            }
            console.out().println("created " + image + ": " + blocks * blockSize + " bytes in " + blocks + " blocks of "
                    + blockSize + "; two log regions of " + (blocks - 2) / 2 * blockSize + " bytes");
            return 0;
        }
    }

    static final class Ls implements Command {
        @Override
        public String name() {
            return "ls";
        }

        @Override
        public String summary() {
            return "list the files of a VSA image and their sizes (read-only)";
        }

        @Override
        public String usage() {
            return "<image> [--json]";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Arguments arguments = Arguments.parse(words, Set.of(), Set.of(JSON)).expectPositional(1, 1);
            Path image = Path.of(arguments.positional().getFirst());
            warnIfInUse(image, console);
            try (LogStore store = openReadOnly(image)) {
                LogStore.Stats stats = store.stats();
                List<String> names = store.list();
                List<Long> sizes = new ArrayList<>();
                for (String name : names) {
                    sizes.add(store.open(name, false).size());
                }
                if (arguments.flag(JSON)) {
                    StringBuilder json = new StringBuilder();
                    json.append("{\"image\":").append(Json.string(image.toString()))
                            .append(",\"blockSize\":").append(geometry(image).blockSize())
                            .append(",\"regionBytes\":").append(stats.regionBytes())
                            .append(",\"logBytes\":").append(stats.logBytes())
                            .append(",\"liveBytes\":").append(stats.liveBytes())
                            .append(",\"clean\":").append(store.recovery().clean())
                            .append(",\"files\":[");
                    for (int i = 0; i < names.size(); i++) {
                        json.append(i == 0 ? "" : ",").append("{\"name\":").append(Json.string(names.get(i)))
                                .append(",\"size\":").append(sizes.get(i)).append('}');
                    }
                    console.out().println(json.append("]}"));
                } else {
                    for (int i = 0; i < names.size(); i++) {
                        console.out().printf("%14d  %s%n", sizes.get(i), names.get(i));
                    }
                    console.out().printf("%s, %d bytes of live data; log %d of %d bytes in use%s%n", files(names.size()),
                            stats.liveBytes(), stats.logBytes(), stats.regionBytes(),
                            store.recovery().clean() ? "" : "; not clean, see arrakis vsa fsck " + image);
                }
            }
            return 0;
        }
    }

    static final class Fsck implements Command {
        @Override
        public String name() {
            return "fsck";
        }

        @Override
        public String summary() {
            return "check a VSA image read-only: records kept, dropped and why (exit 3 when damaged)";
        }

        @Override
        public String usage() {
            return "<image> [--json]";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Arguments arguments = Arguments.parse(words, Set.of(), Set.of(JSON)).expectPositional(1, 1);
            Path image = Path.of(arguments.positional().getFirst());
            RecoveryReport report;
            int files;
            warnIfInUse(image, console);
            try (LogStore store = openReadOnly(image)) {
                report = store.recovery();
                files = store.list().size();
            }
            if (arguments.flag(JSON)) {
                console.out().println("{\"image\":" + Json.string(image.toString())
                        + ",\"clean\":" + report.clean()
                        + ",\"generation\":" + report.generation()
                        + ",\"superblockProblem\":" + Json.string(report.superblockProblem())
                        + ",\"recordsKept\":" + report.recordsReplayed()
                        + ",\"endOffset\":" + report.endOffset()
                        + ",\"stopReason\":" + Json.string(report.stopReason())
                        + ",\"recordsDropped\":" + report.droppedRecords()
                        + ",\"bytesDropped\":" + report.droppedBytes()
                        + ",\"files\":" + files + "}");
            } else {
                console.out().println(image + ": " + (report.clean() ? "clean" : "DAMAGED") + "; " + files(files) + "; "
                        + report);
                if (!report.clean()) {
                    console.out().println("The next mount keeps the " + report.recordsReplayed() + " records before offset "
                            + report.endOffset() + " and erases the " + report.droppedRecords() + " after it;"
                            + " export the files first (arrakis vsa export) to keep a copy of what survives.");
                }
            }
            return report.clean() ? 0 : DAMAGED;
        }
    }

    static final class Export implements Command {
        @Override
        public String name() {
            return "export";
        }

        @Override
        public String summary() {
            return "copy every file of a VSA image into a directory (read-only; never overwrites)";
        }

        @Override
        public String usage() {
            return "<image> <directory>";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Arguments arguments = Arguments.parse(words, Set.of(), Set.of()).expectPositional(2, 2);
            Path image = Path.of(arguments.positional().get(0));
            Path directory = Path.of(arguments.positional().get(1));
            warnIfInUse(image, console);
            try (LogStore store = openReadOnly(image)) {
                List<String> names = store.list();
                for (String name : names) {
                    Path target = directory.resolve(name).normalize();
                    if (!target.getParent().equals(directory.normalize()) || name.contains("/")) {
                        throw new IOException("file '" + name + "' of " + image + " is not a plain file name; nothing"
                                + " exported");
                    }
                    if (Files.exists(target)) {
                        throw new FileAlreadyExistsException(target.toString(), null, "exists; export into an empty"
                                + " directory (nothing was exported)");
                    }
                }
                Files.createDirectories(directory);
                long total = 0;
                ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
                for (String name : names) {
                    LogFile file = store.open(name, false);
                    try (FileChannel out = FileChannel.open(directory.resolve(name), StandardOpenOption.CREATE_NEW,
                            StandardOpenOption.WRITE)) {
                        long size = file.size();
                        for (long at = 0; at < size; ) {
                            buffer.clear().limit((int) Math.min(buffer.capacity(), size - at));
                            int read = file.read(buffer, at);
                            if (read < 0) {
                                break;
                            }
                            buffer.flip();
                            while (buffer.hasRemaining()) {
                                out.write(buffer, at + buffer.position());
                            }
                            at += read;
                        }
                        total += size;
                    }
                }
                console.out().println("exported " + files(names.size()) + " (" + total + " bytes) from " + image + " to "
                        + directory);
            }
            return 0;
        }
    }

    static final class Import implements Command {
        @Override
        public String name() {
            return "import";
        }

        @Override
        public String summary() {
            return "copy files into a VSA image under their names (replacing files of the same name), durably";
        }

        @Override
        public String usage() {
            return "<image> <file>...";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Arguments arguments = Arguments.parse(words, Set.of(), Set.of()).expectPositional(2, Integer.MAX_VALUE);
            Path image = Path.of(arguments.positional().getFirst());
            List<Path> sources = arguments.positional().subList(1, arguments.positional().size()).stream()
                    .map(Path::of).toList();
            for (Path source : sources) {
                if (!Files.isRegularFile(source)) {
                    throw new NoSuchFileException(source.toString(), null, "not a regular file; nothing imported");
                }
            }
            Geometry geometry = geometry(image);
            try (FileChannel lock = lockForWriting(image)) {
                Vsic vsic = vsic(image, geometry);
                LogStore store;
                try {
                    store = LogStore.open(vsic);
                } catch (IOException | RuntimeException e) {
                    vsic.close();
                    throw e;
                }
                long total = 0;
                if (!store.recovery().clean()) {
                    console.err().println("arrakis: warning: " + image + " was not clean, recovery kept what it could: "
                            + store.recovery());
                }
                try (store) {
                    ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
                    for (Path source : sources) {
                        LogFile file = store.open(source.getFileName().toString(), true);
                        file.truncate(0);
                        try (FileChannel in = FileChannel.open(source, StandardOpenOption.READ)) {
                            long at = 0;
                            for (int read; (read = in.read(buffer.clear(), at)) > 0; ) {
                                buffer.flip();
                                while (buffer.hasRemaining()) {
                                    file.write(buffer, at + buffer.position());
                                }
                                at += read;
                            }
                            total += at;
                        }
                    }
                    store.force();
                }
                console.out().println("imported " + files(sources.size()) + " (" + total + " bytes) into " + image);
            }
            return 0;
        }
    }

    /** JSON string literals (the only escaping the VSA commands need). */
    static final class Json {
        private Json() {}

        static String string(String value) {
            if (value == null) {
                return "null";
            }
            StringBuilder out = new StringBuilder(value.length() + 2).append('"');
            for (int i = 0; i < value.length(); i++) {
                char c = value.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    default -> {
                        if (c < 0x20) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            return out.append('"').toString();
        }
    }
}

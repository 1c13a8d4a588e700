package io.arrakis.control;

import io.arrakis.linux.Errno;
import io.arrakis.linux.FileIo;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The control plane's virtual storage areas: a process asks for a VSA by name and size and gets
 * its own area, never another user's, never one a live process holds.
 * <ul>
 * <li><b>file</b> VSAs (for the {@code file} and {@code io_uring} backends) are preallocated files
 *     in a directory the control plane owns ({@code <directory>/<uid>/<name>.vsa}, directories
 *     0700, files 0600): the process cannot open them itself and gets a descriptor of its own,
 *     over the control socket ({@code SCM_RIGHTS}).
 * <li><b>nvme</b> VSAs are LBA ranges of the one NVMe namespace the control plane was given
 *     ({@link Settings#nvme}), assigned first-fit on 1 MiB boundaries and remembered in
 *     {@code <directory>/nvme.ranges} so a name keeps its range across restarts. The process's
 *     driver refuses I/O outside its range before it reaches the device.
 * </ul>
 * A VSA belongs to the connection that attached it until that connection closes (the process
 * exits or dies); then a new process may attach it, and finds what was stored on it.
 *
 * <p>Owned by the control plane's loop thread; not thread-safe.
 */
public final class VsaRegistry {
    public static final String KIND_FILE = "file";
    public static final String KIND_NVME = "nvme";
    private static final int MAX_NAME = 64;
    private static final long MIN_BYTES = 64 << 10;
    private static final long ALIGN_BYTES = 1 << 20;

    /** The NVMe namespace the control plane hands out in ranges: the function, namespace and its geometry. */
    public record NvmeDevice(String pci, int namespace, long lbaCount, int lbaSize) {
        public NvmeDevice {
            if (pci == null || pci.isBlank() || namespace < 1 || lbaCount < 1 || lbaSize < 512
                    || Integer.bitCount(lbaSize) != 1) {
                throw new IllegalArgumentException("an NVMe device for VSAs is pci,namespace>=1,lbaCount>=1,"
                        + "lbaSize (a power of two >= 512), not " + pci + "," + namespace + "," + lbaCount + ","
                        + lbaSize);
            }
        }

        /** Parses {@code pci,namespace,lbaCount,lbaSize}. */
        public static NvmeDevice parse(String text) {
            String[] parts = text.split(",");
            if (parts.length != 4) {
                throw new IllegalArgumentException("an NVMe device for VSAs is written pci,namespace,lbaCount,lbaSize"
                        + " (e.g. 0000:00:04.0,1,131072,512), not " + text);
            }
            try {
                return new NvmeDevice(parts[0].trim(), Integer.parseInt(parts[1].trim()),
                        Long.parseLong(parts[2].trim()), Integer.parseInt(parts[3].trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("an NVMe device for VSAs is written pci,namespace,lbaCount,lbaSize,"
                        + " not " + text, e);
            }
        }
    }

    /**
     * Where file VSAs live, and the NVMe namespace to hand out (null: none). Defaults: the system
     * properties {@code arrakis.vsa.directory} and {@code arrakis.vsa.nvme}, else
     * {@code /var/lib/arrakis/vsa} for root, {@code $XDG_DATA_HOME/arrakis/vsa} or
     * {@code ~/.local/share/arrakis/vsa} for others, and no NVMe.
     */
    public record Settings(Path directory, NvmeDevice nvme) {
        public static Settings defaults() {
            String directory = System.getProperty("arrakis.vsa.directory");
            String nvme = System.getProperty("arrakis.vsa.nvme");
            return new Settings(directory != null ? Path.of(directory) : defaultDirectory(),
                    nvme != null && !nvme.isBlank() ? NvmeDevice.parse(nvme) : null);
        }
    }

    static Path defaultDirectory() {
        if (ControlPlane.currentUid() == 0) {
            return Path.of("/var/lib/arrakis/vsa");
        }
        String data = System.getenv("XDG_DATA_HOME");
        if (data != null && !data.isBlank()) {
            return Path.of(data, "arrakis", "vsa");
        }
        return Path.of(System.getProperty("user.home"), ".local", "share", "arrakis", "vsa");
    }

    /** What a successful attach gives: the reply, and the descriptor to send with it (-1: none). */
    record Grant(Protocol.VsaGranted message, int fd) {}

    /** Who holds a VSA now, and what it is. */
    private record Holder(Object connection, int pid, int uid, String name, String kind, long bytes, long firstLba,
            long lbaCount) {}

    /** One NVMe range as remembered: the user and name that own it, and where it is. */
    private record Range(int uid, String name, long firstLba, long lbaCount) {}

    private final Settings settings;
    private final Map<String, Holder> held = new HashMap<>();
    private List<Range> ranges;

    VsaRegistry(Settings settings) {
        this.settings = settings;
    }

    Settings settings() {
        return settings;
    }

    /**
     * Attaches VSA {@code name} for the process {@code pid} of user {@code uid} on
     * {@code connection}; creates it when absent. Refusals are IOExceptions saying why and what to do.
     */
    Grant attach(Object connection, int pid, int uid, String name, long bytes, String kind) throws IOException {
        if (name == null || name.isEmpty() || name.length() > MAX_NAME || name.startsWith(".")
                || !name.chars().allMatch(c -> Character.isLetterOrDigit(c) && c < 128 || c == '-' || c == '_'
                || c == '.')) {
            throw new IOException("VSA name \"" + name + "\" must be 1.." + MAX_NAME + " letters, digits, '-', '_'"
                    + " or '.', not starting with '.'");
        }
        if (bytes < MIN_BYTES || bytes % 4096 != 0) {
            throw new IOException("VSA " + name + ": size " + bytes + " must be a multiple of 4096 of at least "
                    + MIN_BYTES + " bytes");
        }
        if (!KIND_FILE.equals(kind) && !KIND_NVME.equals(kind)) {
            throw new IOException("VSA " + name + ": kind \"" + kind + "\" is neither " + KIND_FILE + " (the file and"
                    + " io_uring backends) nor " + KIND_NVME);
        }
        String key = uid + "/" + kind + "/" + name;
        Holder holder = held.get(key);
        if (holder != null) {
            throw new IOException("VSA " + name + " (" + kind + ") is attached to process " + holder.pid()
                    + ", which is alive; a VSA belongs to one process at a time: stop that process or use another"
                    + " name");
        }
        Grant grant = KIND_FILE.equals(kind) ? attachFile(uid, name, bytes) : attachNvme(uid, name, bytes);
        Protocol.VsaGranted granted = grant.message();
        held.put(key, new Holder(connection, pid, uid, name, kind, granted.bytes(), granted.firstLba(),
                granted.lbaCount()));
        return grant;
    }

    /** Frees every VSA {@code connection} held (its process closed the connection or died). */
    void release(Object connection) {
        held.values().removeIf(holder -> holder.connection() == connection);
    }

    /**
     * Every VSA this control plane has allocated, held ones with their process, sorted by user,
     * kind and name: the held ones, the files in the VSA directory and the NVMe ranges remembered.
     * A file or range list that cannot be read is left out (status must not fail for it).
     */
    List<ControlStatus.VsaStatus> list() {
        TreeMap<String, ControlStatus.VsaStatus> all = new TreeMap<>();
        try (var users = Files.newDirectoryStream(settings.directory(), Files::isDirectory)) {
            for (Path user : users) {
                int uid;
                try {
                    uid = Integer.parseInt(user.getFileName().toString());
                } catch (NumberFormatException notOurs) {
                    continue;
                }
                try (var files = Files.newDirectoryStream(user, "*.vsa")) {
                    for (Path file : files) {
                        String name = file.getFileName().toString();
                        name = name.substring(0, name.length() - ".vsa".length());
                        all.put(uid + "/" + KIND_FILE + "/" + name, new ControlStatus.VsaStatus(name, KIND_FILE, uid,
                                Files.size(file), 0, 0, 0));
                    }
                }
            }
        } catch (IOException | RuntimeException unreadable) {
            // No directory yet (no file VSA made), or one we cannot list: the held ones still show.
        }
        NvmeDevice device = settings.nvme();
        if (device != null) {
            try {
                for (Range range : ranges()) {
                    all.put(range.uid() + "/" + KIND_NVME + "/" + range.name(), new ControlStatus.VsaStatus(
                            range.name(), KIND_NVME, range.uid(), range.lbaCount() * device.lbaSize(),
                            range.firstLba(), range.lbaCount(), 0));
                }
            } catch (IOException | RuntimeException unreadable) {
                // As above.
            }
        }
        held.forEach((key, h) -> all.put(key, new ControlStatus.VsaStatus(h.name(), h.kind(), h.uid(), h.bytes(),
                h.firstLba(), h.lbaCount(), h.pid())));
        return new ArrayList<>(all.values());
    }

    /** How many VSAs are attached now. */
    int attached() {
        return held.size();
    }

    private Path userDirectory(int uid) throws IOException {
        Path directory = settings.directory().resolve(Integer.toString(uid));
        if (!Files.isDirectory(directory)) {
            Files.createDirectories(directory);
            Files.setPosixFilePermissions(settings.directory(), PosixFilePermissions.fromString("rwx------"));
            Files.setPosixFilePermissions(directory, PosixFilePermissions.fromString("rwx------"));
        }
        return directory;
    }

    private Grant attachFile(int uid, String name, long bytes) throws IOException {
        Path path = userDirectory(uid).resolve(name + ".vsa");
        boolean fresh = false;
        int fd;
        try {
            fd = Unistd.open(path.toString(), Unistd.O_RDWR | Unistd.O_CLOEXEC, 0);
        } catch (LinuxException e) {
            if (e.errno() != Errno.ENOENT) {
                throw new IOException("VSA " + name + ": cannot open " + path + ": " + e.getMessage(), e);
            }
            fd = Unistd.open(path.toString(), Unistd.O_RDWR | Unistd.O_CLOEXEC | Unistd.O_CREAT | Unistd.O_EXCL, 0600);
            fresh = true;
        }
        try {
            long size = FileIo.stat(fd).size();
            if (fresh) {
                try {
                    FileIo.fallocate(fd, 0, 0, bytes);
                } catch (LinuxException e) {
                    long free = Files.getFileStore(path.getParent()).getUsableSpace();
                    throw new IOException("VSA " + name + ": cannot preallocate " + bytes + " bytes for " + path + " ("
                            + e.getMessage() + "; " + free + " bytes free there): ask for less or free space", e);
                }
                size = bytes;
            } else if (size < bytes) {
                throw new IOException("VSA " + name + " exists with " + size + " bytes, less than the " + bytes
                        + " asked for: ask for at most " + size + " bytes (its data stays), or delete " + path);
            }
            return new Grant(new Protocol.VsaGranted(name, KIND_FILE, size, fresh, path.toString(), 0, 0, 0, 0), fd);
        } catch (IOException | RuntimeException e) {
            try {
                Unistd.close(fd);
            } catch (LinuxException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (fresh) {
                Files.deleteIfExists(path);
            }
            throw e;
        }
    }

    private Path rangesFile() {
        return settings.directory().resolve("nvme.ranges");
    }

    private List<Range> ranges() throws IOException {
        if (ranges == null) {
            ranges = new ArrayList<>();
            Path file = rangesFile();
            if (Files.exists(file)) {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    if (line.isBlank() || line.startsWith("#")) {
                        continue;
                    }
                    String[] f = line.trim().split(" ");
                    ranges.add(new Range(Integer.parseInt(f[0]), f[1], Long.parseLong(f[2]), Long.parseLong(f[3])));
                }
            }
        }
        return ranges;
    }

    private void saveRanges() throws IOException {
        NvmeDevice device = settings.nvme();
        StringBuilder text = new StringBuilder("# uid name firstLba lbaCount on " + device.pci() + " namespace "
                + device.namespace() + " (" + device.lbaSize() + "-byte LBAs)\n");
        for (Range range : ranges) {
            text.append(range.uid()).append(' ').append(range.name()).append(' ').append(range.firstLba()).append(' ')
                    .append(range.lbaCount()).append('\n');
        }
        Files.createDirectories(settings.directory());
        Path temporary = rangesFile().resolveSibling("nvme.ranges.tmp");
        Files.writeString(temporary, text, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(temporary, PosixFilePermissions.fromString("rw-------"));
        Files.move(temporary, rangesFile(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private Grant attachNvme(int uid, String name, long bytes) throws IOException {
        NvmeDevice device = settings.nvme();
        if (device == null) {
            throw new IOException("VSA " + name + ": this control plane has no NVMe namespace to hand out; start it"
                    + " with -Darrakis.vsa.nvme=<pci>,<namespace>,<lbaCount>,<lbaSize>, or ask for a file VSA");
        }
        if (bytes % device.lbaSize() != 0) {
            throw new IOException("VSA " + name + ": size " + bytes + " is not a whole number of "
                    + device.lbaSize() + "-byte LBAs");
        }
        long lbas = bytes / device.lbaSize();
        for (Range range : ranges()) {
            if (range.uid() == uid && range.name().equals(name)) {
                if (range.lbaCount() < lbas) {
                    throw new IOException("VSA " + name + " exists with " + range.lbaCount() * device.lbaSize()
                            + " bytes, less than the " + bytes + " asked for: ask for at most that");
                }
                return new Grant(new Protocol.VsaGranted(name, KIND_NVME, range.lbaCount() * device.lbaSize(), false,
                        device.pci(), device.namespace(), range.firstLba(), range.lbaCount(), device.lbaSize()), -1);
            }
        }
        long align = Math.max(1, ALIGN_BYTES / device.lbaSize());
        long count = (lbas + align - 1) / align * align;
        TreeMap<Long, Range> byStart = new TreeMap<>();
        for (Range range : ranges()) {
            byStart.put(range.firstLba(), range);
        }
        long candidate = 0;
        for (Iterator<Range> it = byStart.values().iterator(); it.hasNext(); ) {
            Range next = it.next();
            if (candidate + count <= next.firstLba()) {
                break;
            }
            long end = next.firstLba() + next.lbaCount();
            candidate = Math.max(candidate, (end + align - 1) / align * align);
        }
        if (candidate + count > device.lbaCount()) {
            long used = ranges().stream().mapToLong(Range::lbaCount).sum();
            throw new IOException("VSA " + name + ": no free range of " + bytes + " bytes on " + device.pci()
                    + " namespace " + device.namespace() + " (" + device.lbaCount() * device.lbaSize() + " bytes, "
                    + used * device.lbaSize() + " assigned): ask for less or free a VSA");
        }
        Range range = new Range(uid, name, candidate, count);
        ranges().add(range);
        try {
            saveRanges();
        } catch (IOException e) {
            ranges().remove(range);
            throw new IOException("VSA " + name + ": cannot record its NVMe range in " + rangesFile() + ": "
                    + e.getMessage(), e);
        }
        return new Grant(new Protocol.VsaGranted(name, KIND_NVME, count * device.lbaSize(), true, device.pci(),
                device.namespace(), candidate, count, device.lbaSize()), -1);
    }
}

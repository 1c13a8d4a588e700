package io.arrakis.storage;

import io.arrakis.device.VsicConfig;
import io.arrakis.linux.Errno;
import io.arrakis.linux.FileIo;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The descriptor of one virtual storage area: a preallocated regular file or a block device,
 * reached by path or handed over already open (the control plane will allocate VSAs and pass
 * their descriptors over {@code SCM_RIGHTS}, so a process reaches only its own areas). Immutable
 * after {@link #open}; {@link #close} once, by the owning {@code Vsic}.
 *
 * <p>Options read from {@link VsicConfig#options()}:
 * <ul>
 * <li>{@value #OPTION_PATH}: a file (created and preallocated with {@code fallocate} when absent or
 *     shorter than the capacity, unless {@value #OPTION_CREATE}{@code =false}) or a block device;
 * <li>{@value #OPTION_FD}: a descriptor already open for reading and writing; it is duplicated,
 *     so the caller may close its own. A file behind it must already hold the capacity (nothing
 *     is allocated through a descriptor someone else handed us);
 * <li>{@value #OPTION_BLOCK_SIZE}: the logical block size, a power of two ≥ 512 (default 4096);
 * <li>{@value #OPTION_DIRECT}: {@code true} for O_DIRECT (bypass the page cache);
 * <li>{@value #OPTION_ZERO_FILL}: {@code true} to write zeros over the whole file once, when this
 *     call creates it. {@code fallocate} leaves the blocks <em>unwritten</em>
 *     (ext4, xfs): the first write to each then converts its extent, a metadata change that the
 *     following {@code fdatasync} commits through the file system's journal. The log writes
 *     every block for the first time as it advances, so without this each commit paid that
 *     journal commit; with it, the file behaves as a device's area does (an overwrite in place,
 *     the flush only data). It costs one write of the whole capacity at creation.
 * </ul>
 */
public final class VsaFile implements AutoCloseable {
    public static final String OPTION_PATH = "path";
    public static final String OPTION_FD = "fd";
    public static final String OPTION_CREATE = "create";
    public static final String OPTION_BLOCK_SIZE = "blockSize";
    public static final String OPTION_DIRECT = "direct";
    public static final String OPTION_ZERO_FILL = "zeroFill";
    /** The chunk {@value #OPTION_ZERO_FILL} writes at a time. */
    private static final int ZERO_CHUNK = 1 << 20;
    public static final int DEFAULT_BLOCK_SIZE = 4096;

    private final String vsaName;
    private final String source;
    private final int fd;
    private final int blockSize;
    private final long capacityBlocks;
    private final boolean direct;
    private final boolean blockDevice;
    private final int memoryAlignment;

    private VsaFile(String vsaName, String source, int fd, int blockSize, long capacityBlocks, boolean direct,
            boolean blockDevice, int memoryAlignment) {
        this.vsaName = vsaName;
        this.source = source;
        this.fd = fd;
        this.blockSize = blockSize;
        this.capacityBlocks = capacityBlocks;
        this.direct = direct;
        this.blockDevice = blockDevice;
        this.memoryAlignment = memoryAlignment;
    }

    /** Opens (or creates) the area {@code config} names; {@code directByDefault} when the option is absent. */
    public static VsaFile open(VsicConfig config, boolean directByDefault) throws IOException {
        String name = config.name();
        int blockSize = parseBlockSize(config);
        boolean direct = Boolean.parseBoolean(config.option(OPTION_DIRECT, String.valueOf(directByDefault)));
        String path = config.options().get(OPTION_PATH);
        String fdText = config.options().get(OPTION_FD);
        if ((path == null) == (fdText == null)) {
            throw new IllegalArgumentException("VSA " + name + ": give exactly one of the options '" + OPTION_PATH
                    + "' (a file or block device) and '" + OPTION_FD + "' (an open descriptor); got " + config.options());
        }
        if (config.capacityBlocks() > Long.MAX_VALUE / blockSize) {
            throw new IllegalArgumentException("VSA " + name + ": " + config.capacityBlocks() + " blocks of "
                    + blockSize + " bytes overflow a 64-bit size");
        }
        long bytes = config.capacityBlocks() * blockSize;
        int fd;
        String source;
        boolean created = false;
        if (path != null) {
            source = path;
            boolean create = Boolean.parseBoolean(config.option(OPTION_CREATE, "true"));
            created = create && !Files.exists(Path.of(path));
            int flags = Unistd.O_RDWR | Unistd.O_CLOEXEC | (create ? Unistd.O_CREAT : 0) | (direct ? Unistd.O_DIRECT : 0);
            try {
                fd = Unistd.open(path, flags, 0600);
            } catch (LinuxException e) {
                String hint = e.errno() == Errno.EINVAL && direct
                        ? "; the file system may not support O_DIRECT: open it with option direct=false" : "";
                throw new IOException("VSA " + name + ": cannot open " + path + hint + " (" + e.getMessage() + ")", e);
            }
        } else {
            int given;
            try {
                given = Integer.parseInt(fdText);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("VSA " + name + ": option fd=" + fdText + " is not a descriptor number");
            }
            source = "fd " + given;
            try {
                fd = Unistd.fcntl(given, Unistd.F_DUPFD_CLOEXEC, 0);
            } catch (LinuxException e) {
                throw new IOException("VSA " + name + ": option fd=" + given + " is not a usable descriptor ("
                        + e.getMessage() + ")", e);
            }
            if (direct) {
                int status = FileIo.fcntl(fd, FileIo.F_GETFL, 0);
                if ((status & Unistd.O_DIRECT) == 0) {
                    // F_SETFL changes the open file description we share with whoever sent it; the
                    // control plane gives each process its own, so that is ours to set.
                    FileIo.fcntl(fd, FileIo.F_SETFL, status | Unistd.O_DIRECT);
                }
            }
        }
        try {
            FileIo.Stat stat = FileIo.stat(fd);
            int memoryAlignment = Math.max(blockSize, Math.max(4096, stat.directIoMemoryAlignment()));
            if (stat.isBlockDevice()) {
                long deviceBytes = FileIo.blockDeviceBytes(fd);
                int sector = FileIo.blockDeviceSectorSize(fd);
                if (blockSize % sector != 0) {
                    throw new IllegalArgumentException("VSA " + name + ": block size " + blockSize
                            + " is not a multiple of " + source + "'s logical sector size " + sector);
                }
                if (deviceBytes < bytes) {
                    throw new IOException("VSA " + name + ": block device " + source + " holds " + deviceBytes
                            + " bytes, less than the " + bytes + " bytes (" + config.capacityBlocks() + " blocks of "
                            + blockSize + ") asked for");
                }
                return new VsaFile(name, source, fd, blockSize, config.capacityBlocks(), direct, true, memoryAlignment);
            }
            if (!stat.isRegularFile()) {
                throw new IllegalArgumentException("VSA " + name + ": " + source
                        + " is neither a regular file nor a block device (mode 0" + Integer.toOctalString(stat.mode())
                        + ")");
            }
            if (direct && stat.directIoOffsetAlignment() > 0 && blockSize % stat.directIoOffsetAlignment() != 0) {
                throw new IllegalArgumentException("VSA " + name + ": block size " + blockSize + " is not a multiple of "
                        + stat.directIoOffsetAlignment() + ", the O_DIRECT alignment " + source + " requires");
            }
            if (stat.allocatedBytes() < bytes || stat.size() < bytes) {
                if (path == null) {
                    throw new IOException("VSA " + name + ": the file behind " + source + " holds " + stat.size()
                            + " bytes (" + stat.allocatedBytes() + " allocated), less than the " + bytes
                            + " bytes asked for; whoever handed over the descriptor must preallocate it");
                }
                if (!Boolean.parseBoolean(config.option(OPTION_CREATE, "true"))) {
                    throw new IOException("VSA " + name + ": " + path + " holds " + stat.size() + " bytes, less than the "
                            + bytes + " asked for, and create=false forbids growing it");
                }
                preallocate(name, path, fd, bytes, stat);
                if (created && Boolean.parseBoolean(config.option(OPTION_ZERO_FILL, "false"))) {
                    zeroFill(name, path, fd, bytes, memoryAlignment);
                }
            }
            return new VsaFile(name, source, fd, blockSize, config.capacityBlocks(), direct, false, memoryAlignment);
        } catch (IOException | RuntimeException e) {
            closeQuietly(fd, e);
            if (created) {
                try {
                    Files.deleteIfExists(Path.of(path));
                } catch (IOException deleteFailure) {
                    e.addSuppressed(deleteFailure);
                }
            }
            throw e;
        }
    }

    private static void preallocate(String name, String path, int fd, long bytes, FileIo.Stat stat)
            throws IOException {
        try {
            FileIo.fallocate(fd, 0, 0, bytes);
        } catch (LinuxException e) {
            if (e.errno() == Errno.ENOSPC) {
                long usable = Files.getFileStore(Path.of(path)).getUsableSpace();
                throw new IOException("VSA " + name + ": no space to preallocate " + path + " to " + bytes + " bytes ("
                        + stat.allocatedBytes() + " already allocated, the file system has " + usable
                        + " bytes free): free space there or ask for a smaller capacity (" + e.getMessage() + ")", e);
            }
            if (e.errno() == Errno.EOPNOTSUPP) {
                throw new IOException("VSA " + name + ": the file system of " + path + " cannot preallocate (fallocate:"
                        + " EOPNOTSUPP); put the VSA on ext4, xfs, btrfs or tmpfs, or on a block device", e);
            }
            throw new IOException("VSA " + name + ": cannot preallocate " + path + " to " + bytes + " bytes: "
                    + e.getMessage(), e);
        }
    }

    /**
     * Writes zeros over the {@code bytes} of a file just created and preallocated, and makes
     * them durable, so its extents are written ones (see {@value #OPTION_ZERO_FILL}).
     */
    private static void zeroFill(String name, String path, int fd, long bytes, int alignment) throws IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment zeros = arena.allocate(ZERO_CHUNK, alignment); // zeroed by the arena
            for (long at = 0; at < bytes; ) {
                at += FileIo.pwrite(fd, zeros.asSlice(0, Math.min(ZERO_CHUNK, bytes - at)), at);
            }
            FileIo.fdatasync(fd);
        } catch (LinuxException e) {
            throw new IOException("VSA " + name + ": cannot write zeros over " + path + " (" + e.getMessage()
                    + "); create it without option " + OPTION_ZERO_FILL + ", or free space there", e);
        }
    }

    private static int parseBlockSize(VsicConfig config) {
        String text = config.option(OPTION_BLOCK_SIZE, String.valueOf(DEFAULT_BLOCK_SIZE));
        int blockSize;
        try {
            blockSize = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            blockSize = -1;
        }
        if (blockSize < 512 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("VSA " + config.name() + ": blockSize=" + text
                    + " must be a power of two of at least 512");
        }
        return blockSize;
    }

    private static void closeQuietly(int fd, Exception cause) {
        try {
            Unistd.close(fd);
        } catch (LinuxException e) {
            cause.addSuppressed(e);
        }
    }

    public String vsaName() {
        return vsaName;
    }

    /** The path, or {@code "fd N"} for a descriptor handed over: for messages. */
    public String source() {
        return source;
    }

    public int fd() {
        return fd;
    }

    public int blockSize() {
        return blockSize;
    }

    public long capacityBlocks() {
        return capacityBlocks;
    }

    public long capacityBytes() {
        return capacityBlocks * blockSize;
    }

    public boolean direct() {
        return direct;
    }

    public boolean blockDevice() {
        return blockDevice;
    }

    /** How I/O memory must be aligned: at least a block and a page. */
    public int memoryAlignment() {
        return memoryAlignment;
    }

    @Override
    public void close() throws LinuxException {
        Unistd.close(fd);
    }

    @Override
    public String toString() {
        return vsaName + " on " + source + " (" + capacityBlocks + " blocks of " + blockSize + (direct ? ", O_DIRECT" : "")
                + ")";
    }
}

package io.arrakis.storage.fs;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.storage.VsaFile;
import io.arrakis.storage.log.LogFile;
import io.arrakis.storage.log.LogStore;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.spi.FileSystemProvider;
import java.util.Map;
import java.util.Set;

/**
 * One directory whose files live in a {@link LogStore} on a VSA: {@code <directory>/<name>} is the
 * store's file {@code name} (a flat namespace: no subdirectories). The mount holds an exclusive
 * lock on {@code <image>.lock} while it is open, so a second process mounting the same VSA fails
 * at once with a message naming it, and the in-JVM lock table ({@code FileLock}) is the whole truth.
 *
 * <p>Thread-safe (the store is).
 */
public final class StorageMount implements AutoCloseable {
    /** The VSA size when none is given: 256 MiB (two 128 MiB log regions). */
    public static final long DEFAULT_SIZE = 256L << 20;

    private final Path directory;
    private final Path image;
    private final LogStore store;
    private final FileChannel lockChannel;
    private final FileLock processLock;
    /** What gives the VSA back when it came from the control plane (then there is no lock file); else null. */
    private final AutoCloseable lease;

    private StorageMount(Path directory, Path image, LogStore store, FileChannel lockChannel, FileLock processLock,
            AutoCloseable lease) {
        this.directory = directory;
        this.image = image;
        this.store = store;
        this.lockChannel = lockChannel;
        this.processLock = processLock;
        this.lease = lease;
    }

    /**
     * Mounts {@code directory} on a VSA the control plane granted: the open file {@code fd} of
     * {@code bytes} bytes (a multiple of 4 KiB), formatted first when {@code fresh}. The control
     * plane, not a lock file, keeps other processes off it; {@code lease} (its grant) is closed
     * when the mount closes or fails to open. {@code vsaName} names it in messages.
     */
    public static StorageMount openGranted(Path directory, String vsaName, int fd, long bytes, boolean fresh,
            String backend, AutoCloseable lease) throws IOException {
        try {
            long blocks = bytes / VsaFile.DEFAULT_BLOCK_SIZE;
            Map<String, String> options = Map.of(VsaFile.OPTION_FD, Integer.toString(fd));
            if (fresh) {
                try (Vsic vsic = DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig(vsaName, blocks,
                        options))) {
                    LogStore.format(vsic);
                }
            }
            Vsic vsic = DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig(vsaName, blocks, options));
            LogStore store;
            try {
                store = LogStore.open(vsic);
            } catch (IOException | RuntimeException e) {
                vsic.close();
                throw e;
            }
            return new StorageMount(directory, Path.of(vsaName), store, null, null, lease);
        } catch (IOException | RuntimeException e) {
            try {
                lease.close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Mounts {@code directory} (absolute, normalised) on the VSA image {@code image}, opened with
     * the VSIC backend {@code backend} ("file" or "io_uring"); creates the image when it does not
     * exist yet ({@code sizeBytes}, a multiple of 4 KiB, written with zeros once) and formats it. {@code kernel} is the JDK's own provider,
     * used for the image's lock file whatever the default file system is.
     */
    public static StorageMount open(Path directory, Path image, String backend, long sizeBytes,
            FileSystemProvider kernel) throws IOException {
        if (sizeBytes % VsaFile.DEFAULT_BLOCK_SIZE != 0 || sizeBytes < 16 * VsaFile.DEFAULT_BLOCK_SIZE) {
            throw new IllegalArgumentException("storage size " + sizeBytes + " for VSA " + image
                    + " is not a multiple of 4096 of at least 64 KiB");
        }
        Path lockFile = image.resolveSibling(image.getFileName() + ".lock");
        FileChannel lockChannel = kernel.newFileChannel(lockFile,
                Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE));
        FileLock processLock;
        try {
            processLock = lockChannel.tryLock();
        } catch (IOException | OverlappingFileLockException e) {
            lockChannel.close();
            throw new IOException("VSA " + image + " is already mounted in this process (" + e + ")");
        }
        if (processLock == null) {
            lockChannel.close();
            throw new IOException("VSA " + image + " is mounted by another process (it holds " + lockFile
                    + "); a VSA belongs to one process at a time: stop that process or give this one another VSA");
        }
        try {
            boolean fresh = !exists(kernel, image);
            long blocks = sizeBytes / VsaFile.DEFAULT_BLOCK_SIZE;
            if (!fresh) {
                long present = kernel.readAttributes(image, java.nio.file.attribute.BasicFileAttributes.class).size();
                blocks = Math.max(blocks, present / VsaFile.DEFAULT_BLOCK_SIZE);
            }
            // A new image is written with zeros once (VsaFile.OPTION_ZERO_FILL): its blocks then behave as a
            // device's do, and no commit pays the file system's journal for converting unwritten extents.
            Map<String, String> options = Map.of(VsaFile.OPTION_PATH, image.toString(), VsaFile.OPTION_ZERO_FILL,
                    "true");
            if (fresh) {
                try (Vsic vsic = DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig(image.toString(), blocks,
                        options))) {
                    LogStore.format(vsic);
                }
            }
            Vsic vsic = DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig(image.toString(), blocks, options));
            LogStore store;
            try {
                store = LogStore.open(vsic);
            } catch (IOException | RuntimeException e) {
                vsic.close();
                throw e;
            }
            return new StorageMount(directory, image, store, lockChannel, processLock, null);
        } catch (IOException | RuntimeException e) {
            lockChannel.close();
            throw e;
        }
    }

    private static boolean exists(FileSystemProvider kernel, Path path) {
        try {
            kernel.checkAccess(path);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    public Path directory() {
        return directory;
    }

    public Path image() {
        return image;
    }

    public LogStore store() {
        return store;
    }

    /** Whether {@code path} (absolute, normalised) names a file of this mount: a direct child of its directory. */
    public boolean holds(Path path) {
        Path parent = path.getParent();
        return parent != null && parent.equals(directory);
    }

    /**
     * A channel on the file {@code path} names, with {@code FileChannel.open}'s option rules:
     * READ unless WRITE or APPEND; CREATE and CREATE_NEW only when writing; APPEND with READ or
     * TRUNCATE_EXISTING refused. SYNC and DSYNC force after each write; DELETE_ON_CLOSE deletes
     * the file at close; SPARSE and NOFOLLOW_LINKS change nothing.
     */
    public FileChannel newFileChannel(Path path, Set<? extends OpenOption> options) throws IOException {
        boolean read = false;
        boolean write = false;
        boolean append = false;
        boolean truncate = false;
        boolean create = false;
        boolean createNew = false;
        boolean sync = false;
        boolean deleteOnClose = false;
        for (OpenOption option : options) {
            if (option instanceof StandardOpenOption standard) {
                switch (standard) {
                    case READ -> read = true;
                    case WRITE -> write = true;
                    case APPEND -> append = true;
                    case TRUNCATE_EXISTING -> truncate = true;
                    case CREATE -> create = true;
                    case CREATE_NEW -> createNew = true;
                    case SYNC, DSYNC -> sync = true;
                    case DELETE_ON_CLOSE -> deleteOnClose = true;
                    case SPARSE -> { }
                }
            } else if (option != LinkOption.NOFOLLOW_LINKS) {
                throw option == null ? new NullPointerException()
                        : new UnsupportedOperationException("'" + option + "' not supported");
            }
        }
        if (read && append) {
            throw new IllegalArgumentException("READ + APPEND not allowed");
        }
        if (append && truncate) {
            throw new IllegalArgumentException("APPEND + TRUNCATE_EXISTING not allowed");
        }
        if (append) {
            write = true;
        }
        if (!read && !write) {
            read = true;
        }
        String name = path.getFileName().toString();
        LogFile file;
        if (write && createNew) {
            if (store.exists(name)) {
                throw new FileAlreadyExistsException(path.toString());
            }
            file = store.open(name, true);
        } else if (write && create) {
            file = store.open(name, true);
        } else {
            if (!store.exists(name)) {
                throw new NoSuchFileException(path.toString());
            }
            file = store.open(name, false);
        }
        if (write && truncate) {
            file.truncate(0);
        }
        return new StoreFileChannel(file, path, read, write, append, sync, deleteOnClose ? name : null);
    }

    /** Unmounts: forces what is pending, closes the store, and lets another process mount the VSA. */
    @Override
    public void close() throws IOException {
        try {
            store.close();
        } finally {
            if (lease != null) {
                try {
                    lease.close();
                } catch (IOException | RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IOException("giving VSA " + image + " back to the control plane failed: " + e, e);
                }
            } else {
                try {
                    processLock.release();
                } finally {
                    lockChannel.close();
                }
            }
        }
    }

    @Override
    public String toString() {
        return directory + " on VSA " + image;
    }
}

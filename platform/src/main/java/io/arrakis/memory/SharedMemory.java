package io.arrakis.memory;

import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Mman;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A shared mapping of a memory file: a memfd we create, a descriptor received from another
 * process, or a file such as one in {@code /dev/shm}. Thread-safe: {@link #segment()} may be used
 * from any thread, and {@link #close()} unmaps and closes the descriptor exactly once however
 * many threads call it.
 *
 * <p>{@link #segment()} belongs to a shared arena that {@code close} closes before unmapping, so
 * a use after close throws {@link IllegalStateException} instead of crashing the JVM on an
 * unmapped address.
 *
 * <p>A peer that shrinks the file (ftruncate) makes our accesses beyond the new end fault with
 * SIGBUS. Memory shared with untrusted peers must therefore be created with
 * {@code MFD_ALLOW_SEALING} and sealed ({@code Unistd.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK |
 * F_SEAL_GROW | F_SEAL_SEAL)}) before it is handed out, as the control plane does; this class
 * does not seal what it creates.
 */
public final class SharedMemory implements AutoCloseable {
    private static final int PROT_RW = Mman.PROT_READ | Mman.PROT_WRITE;

    private final String name;
    private final int fd;
    private final MemorySegment mapping;
    private final Arena arena;
    private final MemorySegment segment;
    private final AtomicBoolean closed = new AtomicBoolean();

    private SharedMemory(String name, int fd, MemorySegment mapping) {
        this.name = name;
        this.fd = fd;
        this.mapping = mapping;
        this.arena = Arena.ofShared();
        this.segment = mapping.reinterpret(arena, null);
    }

    /** Creates a memfd of {@code bytes} bytes (zero-filled, pages allocated on first touch) and maps it. */
    public static SharedMemory create(String name, long bytes) throws LinuxException {
        checkSize(bytes);
        int fd = Mman.memfdCreate(name, Mman.MFD_CLOEXEC);
        try {
            Unistd.ftruncate(fd, bytes);
            return new SharedMemory("memfd:" + name, fd, Mman.mmap(bytes, PROT_RW, Mman.MAP_SHARED, fd, 0));
        } catch (LinuxException | RuntimeException e) {
            closeQuietly(fd, e);
            throw e;
        }
    }

    /**
     * Creates a memfd backed by huge pages (fewer TLB misses for large packet-buffer areas), of
     * {@code bytes} rounded up to the huge page size ({@link #byteSize()} says how much).
     *
     * @throws HugePagesUnavailableException if the kernel has no free huge pages reserved
     *         ({@code /proc/sys/vm/nr_hugepages}); the message says how to reserve them
     */
    public static SharedMemory createHuge(String name, long bytes) throws IOException {
        checkSize(bytes);
        long hugePage = hugePageSize();
        long rounded = (bytes + hugePage - 1) / hugePage * hugePage;
        int fd;
        try {
            fd = Mman.memfdCreate(name, Mman.MFD_CLOEXEC | Mman.MFD_HUGETLB);
        } catch (LinuxException e) {
            throw hugePagesUnavailable(name, rounded, hugePage, e);
        }
        try {
            Unistd.ftruncate(fd, rounded);
            // Huge pages are reserved at mmap: with none free, this is where it fails (ENOMEM).
            return new SharedMemory("memfd:" + name + " (huge)", fd,
                    Mman.mmap(rounded, PROT_RW, Mman.MAP_SHARED, fd, 0));
        } catch (LinuxException e) {
            closeQuietly(fd, e);
            throw e.errno() == Errno.ENOMEM || e.errno() == Errno.EINVAL || e.errno() == Errno.ENOSPC
                    ? hugePagesUnavailable(name, rounded, hugePage, e) : e;
        } catch (RuntimeException e) {
            closeQuietly(fd, e);
            throw e;
        }
    }

    /**
     * Maps the first {@code bytes} bytes of {@code fd} (e.g. a memfd received from another
     * process). On success the returned object owns {@code fd} and closes it; on failure the
     * caller still does.
     *
     * @throws IllegalArgumentException if the file is smaller than {@code bytes} (touching the
     *         missing part would kill the JVM with SIGBUS)
     */
    public static SharedMemory map(int fd, long bytes) throws IOException {
        checkSize(bytes);
        Path link = Path.of("/proc/self/fd/" + fd);
        long size;
        try {
            size = Files.size(link);
        } catch (NoSuchFileException e) {
            throw new LinuxException("map(fd=" + fd + ", bytes=" + bytes + "): no such open descriptor", Errno.EBADF);
        }
        if (size < bytes) {
            throw new IllegalArgumentException("cannot map " + bytes + " bytes of fd " + fd + " ("
                    + describeLink(link) + "): the file has only " + size + " bytes, and touching the rest would"
                    + " fault with SIGBUS; map at most " + size + " or have its creator ftruncate it");
        }
        return new SharedMemory("fd:" + fd + " (" + describeLink(link) + ")", fd,
                Mman.mmap(bytes, PROT_RW, Mman.MAP_SHARED, fd, 0));
    }

    /**
     * Opens and maps all of an existing file: a file in {@code /dev/shm}, or another process's
     * memfd through {@code /proc/<pid>/fd/<fd>} (which needs ptrace-level access to that process).
     */
    public static SharedMemory map(Path path) throws IOException {
        int fd = Unistd.open(path.toString(), Unistd.O_RDWR | Unistd.O_CLOEXEC, 0);
        try {
            // The size of what we opened, not of whatever the path names by now.
            long size = Files.size(Path.of("/proc/self/fd/" + fd));
            if (size == 0) {
                throw new IllegalArgumentException("cannot map " + path + ": it is empty (has its creator sized it"
                        + " with ftruncate yet?)");
            }
            return new SharedMemory(path.toString(), fd, Mman.mmap(size, PROT_RW, Mman.MAP_SHARED, fd, 0));
        } catch (IOException | RuntimeException e) {
            closeQuietly(fd, e);
            throw e;
        }
    }

    /**
     * Creates a new file of {@code bytes} bytes at {@code path} (e.g. in {@code /dev/shm}), readable
     * and writable by the owner only, and maps it. Fails if the file exists. The file outlives the
     * mapping: delete it when no process needs to open it any more.
     */
    public static SharedMemory createFile(Path path, long bytes) throws IOException {
        checkSize(bytes);
        int fd = Unistd.open(path.toString(), Unistd.O_RDWR | Unistd.O_CREAT | Unistd.O_EXCL | Unistd.O_CLOEXEC, 0600);
        try {
            Unistd.ftruncate(fd, bytes);
            return new SharedMemory(path.toString(), fd, Mman.mmap(bytes, PROT_RW, Mman.MAP_SHARED, fd, 0));
        } catch (IOException | RuntimeException e) {
            closeQuietly(fd, e);
            try {
                Files.deleteIfExists(path);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** The mapped memory; invalid (accesses throw {@link IllegalStateException}) after {@link #close()}. */
    public MemorySegment segment() {
        return segment;
    }

    /**
     * The descriptor of the mapped file, to hand to another process (SCM_RIGHTS, or
     * {@code /proc/<our pid>/fd/<fd>}). Owned by this object: do not close it.
     */
    public int fd() {
        if (closed.get()) {
            throw new IllegalStateException("shared memory " + name + " is closed; its descriptor " + fd
                    + " may already belong to another file");
        }
        return fd;
    }

    public long byteSize() {
        return mapping.byteSize();
    }

    /** What is mapped: {@code memfd:<name>}, a path, or {@code fd:<n>}; for messages. */
    public String name() {
        return name;
    }

    /**
     * Unmaps and closes the descriptor, once: later calls do nothing. Other processes' mappings
     * of the same memory stay valid.
     */
    @Override
    public void close() throws LinuxException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            // Invalidate every view first, so no thread can touch the pages once they are unmapped.
            arena.close();
        } catch (IllegalStateException e) {
            closed.set(false);
            throw new IllegalStateException("cannot close shared memory " + name
                    + " while a native call still uses its segment; retry when it returns", e);
        }
        LinuxException failure = null;
        try {
            Mman.munmap(mapping);
        } catch (LinuxException e) {
            failure = e;
        }
        try {
            Unistd.close(fd);
        } catch (LinuxException e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "SharedMemory[" + name + ", " + byteSize() + " B, fd " + fd + (closed.get() ? ", closed]" : "]");
    }

    private static void checkSize(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("shared memory needs a positive size, not " + bytes + " bytes");
        }
    }

    private static void closeQuietly(int fd, Exception primary) {
        try {
            Unistd.close(fd);
        } catch (LinuxException e) {
            primary.addSuppressed(e);
        }
    }

    private static String describeLink(Path link) {
        try {
            return Files.readSymbolicLink(link).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return "unknown file";
        }
    }

    /** The default huge page size from /proc/meminfo ("Hugepagesize: 2048 kB"); 2 MiB if unreadable. */
    static long hugePageSize() {
        String kb = meminfo("Hugepagesize");
        try {
            return kb == null ? 2L << 20 : Long.parseLong(kb.replace("kB", "").trim()) * 1024;
        } catch (NumberFormatException e) {
            return 2L << 20;
        }
    }

    private static String meminfo(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith(key + ":")) {
                    return line.substring(key.length() + 1).trim();
                }
            }
        } catch (IOException e) {
            // Only used to improve messages and pick a default; fall through.
        }
        return null;
    }

    private static HugePagesUnavailableException hugePagesUnavailable(String name, long bytes, long hugePage,
            LinuxException cause) {
        String reserved;
        try {
            reserved = Files.readString(Path.of("/proc/sys/vm/nr_hugepages")).trim();
        } catch (IOException e) {
            reserved = "unreadable";
        }
        String free = meminfo("HugePages_Free");
        long needed = bytes / hugePage;
        return new HugePagesUnavailableException("cannot create " + bytes + " bytes of huge-page shared memory '"
                + name + "' (" + needed + " huge pages of " + hugePage / 1024 + " kB): /proc/sys/vm/nr_hugepages is "
                + reserved + (free != null ? ", " + free + " free" : "") + ". Reserve pages as root, e.g. `echo "
                + Math.max(needed, 64) + " > /proc/sys/vm/nr_hugepages` (or vm.nr_hugepages in sysctl.conf), or use"
                + " SharedMemory.create for normal pages. The kernel said: " + cause.getMessage(), cause);
    }
}

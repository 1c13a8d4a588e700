package io.arrakis.control;

import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Mman;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A shared mapping of (the start of) a file descriptor, read-write or read-only, whose segment
 * belongs to a shared arena that {@link #close()} closes before unmapping, so a use after close
 * throws instead of faulting. A read-only mapping's segment is read-only too, so a stray write
 * throws instead of killing the JVM with SIGSEGV. Thread-safe; does not own the descriptor.
 */
final class Mapping implements AutoCloseable {
    private final String name;
    private final MemorySegment raw;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment segment;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Mapping(String name, MemorySegment raw, boolean writable) {
        this.name = name;
        this.raw = raw;
        MemorySegment scoped = raw.reinterpret(arena, null);
        this.segment = writable ? scoped : scoped.asReadOnly();
    }

    /**
     * Maps the first {@code bytes} of {@code fd}; refuses a file shorter than that (touching the
     * missing part would fault with SIGBUS).
     */
    static Mapping map(int fd, long bytes, boolean writable, String name) throws IOException {
        long size;
        try {
            size = Files.size(Path.of("/proc/self/fd/" + fd));
        } catch (NoSuchFileException e) {
            throw new IOException(name + ": descriptor " + fd + " is not open", e);
        }
        if (size < bytes) {
            throw new IOException(name + ": descriptor " + fd + " holds " + size + " bytes, expected at least "
                    + bytes + "; not mapped");
        }
        int prot = writable ? Mman.PROT_READ | Mman.PROT_WRITE : Mman.PROT_READ;
        return new Mapping(name, Mman.mmap(bytes, prot, Mman.MAP_SHARED, fd, 0), writable);
    }

    MemorySegment segment() {
        return segment;
    }

    String name() {
        return name;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        arena.close();
        try {
            Mman.munmap(raw);
        } catch (LinuxException e) {
            throw new IllegalStateException(name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "Mapping[" + name + ", " + raw.byteSize() + " B" + (segment.isReadOnly() ? ", read-only" : "")
                + (closed.get() ? ", closed]" : "]");
    }
}

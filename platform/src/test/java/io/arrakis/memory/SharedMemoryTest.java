package io.arrakis.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import io.arrakis.linux.Mman;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class SharedMemoryTest {

    @Test
    void aMemfdMappedTwiceThroughProcSelfFdSharesItsBytes() throws Exception {
        try (SharedMemory created = SharedMemory.create("shm-test", 8192);
                SharedMemory opened = SharedMemory.map(Path.of("/proc/self/fd/" + created.fd()))) {
            assertEquals(8192, created.byteSize());
            assertEquals(8192, opened.byteSize(), "map(path) maps the whole file");
            assertTrue(created.segment().address() != opened.segment().address());
            created.segment().set(ValueLayout.JAVA_LONG, 4096, 0x5EED_F00DL);
            assertEquals(0x5EED_F00DL, opened.segment().get(ValueLayout.JAVA_LONG, 4096));
            assertTrue(created.name().contains("shm-test"), created.name());
        }
    }

    @Test
    void closeUnmapsAndClosesTheDescriptorExactlyOnce() throws Exception {
        SharedMemory memory = SharedMemory.create("shm-close-once", 4096);
        int fd = memory.fd();
        Path link = Path.of("/proc/self/fd/" + fd);
        assertTrue(Files.readSymbolicLink(link).toString().contains("shm-close-once"));
        memory.close();
        memory.close(); // a second close must not close whatever file reuses the number by now
        assertTrue(!Files.exists(link) || !Files.readSymbolicLink(link).toString().contains("shm-close-once"),
                "descriptor " + fd + " still open");
        assertThrows(IllegalStateException.class, () -> memory.segment().get(ValueLayout.JAVA_INT, 0),
                "use after close must be an exception, not a SIGSEGV");
        assertThrows(IllegalStateException.class, memory::fd);
    }

    @Test
    void mapOfADescriptorTakesOwnershipAndRefusesMoreBytesThanTheFileHas() throws Exception {
        int fd = Mman.memfdCreate("shm-small", Mman.MFD_CLOEXEC);
        try {
            Unistd.ftruncate(fd, 4096);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SharedMemory.map(fd, 8192));
            assertTrue(e.getMessage().contains("the file has only 4096 bytes"), e.getMessage());
            assertTrue(e.getMessage().contains("SIGBUS"), e.getMessage());
        } catch (Throwable t) {
            Unistd.close(fd);
            throw t;
        }
        try (SharedMemory memory = SharedMemory.map(fd, 4096)) {
            assertEquals(fd, memory.fd());
            memory.segment().set(ValueLayout.JAVA_INT, 0, 1);
        }
        LinuxException e = assertThrows(LinuxException.class, () -> Unistd.close(fd), "map(fd) closed it");
        assertEquals(Errno.EBADF, e.errno());
    }

    @Test
    void mapOfAClosedDescriptorSaysEbadf() {
        LinuxException e = assertThrows(LinuxException.class, () -> SharedMemory.map(987_654, 4096));
        assertEquals(Errno.EBADF, e.errno());
    }

    @Test
    void aFileInDevShmCanBeCreatedAndMappedByPath() throws Exception {
        Path dir = Path.of("/dev/shm");
        Path path = dir.resolve("arrakis-shm-test-" + ProcessHandle.current().pid());
        Files.deleteIfExists(path);
        try (SharedMemory created = SharedMemory.createFile(path, 4096);
                SharedMemory opened = SharedMemory.map(path)) {
            created.segment().set(ValueLayout.JAVA_LONG, 8, 42L);
            assertEquals(42L, opened.segment().get(ValueLayout.JAVA_LONG, 8));
            assertThrows(LinuxException.class, () -> SharedMemory.createFile(path, 4096), "O_EXCL: never clobber");
        } finally {
            Files.deleteIfExists(path);
        }
    }

    @Test
    void createHugeEitherMapsHugePagesOrNamesNrHugepagesInItsError() throws Exception {
        long free = freeHugePages();
        if (free == 0) {
            HugePagesUnavailableException e = assertThrows(HugePagesUnavailableException.class,
                    () -> SharedMemory.createHuge("shm-huge", 1 << 20));
            assertTrue(e.getMessage().contains("/proc/sys/vm/nr_hugepages"), e.getMessage());
            assertTrue(e.getMessage().contains("SharedMemory.create"), "says how to fall back: " + e.getMessage());
        } else {
            try (SharedMemory huge = SharedMemory.createHuge("shm-huge", 1 << 20)) {
                assertEquals(SharedMemory.hugePageSize(), huge.byteSize(), "rounded up to one huge page");
                huge.segment().set(ValueLayout.JAVA_LONG, 0, 7L);
            }
        }
    }

    @Test
    void aNonPositiveSizeIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> SharedMemory.create("zero", 0));
    }

    private static long freeHugePages() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("HugePages_Free:")) {
                return Long.parseLong(line.substring("HugePages_Free:".length()).trim());
            }
        }
        return 0;
    }
}

package io.arrakis.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class MmanTest {
    @Test
    void twoMappingsOfOneMemfdSeeTheSameBytes() throws Exception {
        int fd = Mman.memfdCreate("mman-test", Mman.MFD_CLOEXEC);
        try {
            Unistd.ftruncate(fd, 4096);
            MemorySegment a = Mman.mmap(4096, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, fd, 0);
            MemorySegment b = Mman.mmap(4096, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, fd, 0);
            assertTrue(a.address() != b.address());
            a.set(ValueLayout.JAVA_LONG, 128, 0xA11A_C0FFEEL);
            assertEquals(0xA11A_C0FFEEL, b.get(ValueLayout.JAVA_LONG, 128));
            Mman.munmap(a);
            Mman.munmap(b);
        } finally {
            Unistd.close(fd);
        }
    }

    @Test
    void failedMmapNamesTheCallTheArgumentsAndTheErrno() {
        LinuxException e = assertThrows(LinuxException.class,
                () -> Mman.mmap(4096, Mman.PROT_READ, Mman.MAP_SHARED, 987_654, 0));
        assertEquals(Errno.EBADF, e.errno());
        assertTrue(e.getMessage().startsWith("mmap(length=4096"), e.getMessage());
        assertTrue(e.getMessage().contains("fd=987654"), e.getMessage());
        assertTrue(e.getMessage().endsWith("EBADF (Bad file descriptor)"), e.getMessage());
    }

    @Test
    void futexWaitReturnsAtOnceWhenTheWordDiffersAndTimesOutWhenNobodyWakes() throws Exception {
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment nativeWord = arena.allocate(ValueLayout.JAVA_INT);
            nativeWord.set(ValueLayout.JAVA_INT, 0, 7);
            assertEquals(Futex.WaitResult.VALUE_CHANGED, Futex.await(nativeWord, 0, 8, 1_000_000));
            assertEquals(Futex.WaitResult.TIMED_OUT, Futex.await(nativeWord, 0, 7, 1_000_000));
            assertEquals(0, Futex.wake(nativeWord, 0, 1));
        }
    }

    @Test
    void aSealedMemfdRefusesToShrinkOrGrowAndReportsItsSeals() throws Exception {
        int fd = Mman.memfdCreate("sealed", Mman.MFD_CLOEXEC | Mman.MFD_ALLOW_SEALING);
        try {
            Unistd.ftruncate(fd, 8192);
            int seals = Unistd.F_SEAL_SHRINK | Unistd.F_SEAL_GROW | Unistd.F_SEAL_SEAL;
            Unistd.fcntl(fd, Unistd.F_ADD_SEALS, seals);
            assertEquals(seals, Unistd.fcntl(fd, Unistd.F_GET_SEALS, 0));
            LinuxException shrink = assertThrows(LinuxException.class, () -> Unistd.ftruncate(fd, 4096));
            assertEquals(Errno.EPERM, shrink.errno());
            assertThrows(LinuxException.class, () -> Unistd.ftruncate(fd, 16384));
            LinuxException reseal = assertThrows(LinuxException.class,
                    () -> Unistd.fcntl(fd, Unistd.F_ADD_SEALS, Unistd.F_SEAL_WRITE));
            assertEquals(Errno.EPERM, reseal.errno());
        } finally {
            Unistd.close(fd);
        }
    }
}

package io.arrakis.linux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Waits on the ring block in the kernel, so a lost completion shows up as a timeout, not a hang. */
@Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class IoUringTest {
    @Test
    void aNopComesBackWithItsUserData() throws Exception {
        try (IoUring ring = IoUring.open(8, 0)) {
            assertEquals(8, ring.submissionEntries());
            assertEquals(16, ring.completionEntries());
            assertTrue((ring.features() & IoUring.IORING_FEAT_SINGLE_MMAP) != 0);
            assertTrue(ring.prepareNop(0xC0FFEE_0000_0001L));
            assertEquals(1, ring.submitAndWait(1));
            IoUring.Completion completion = ring.peekCompletion();
            assertEquals(new IoUring.Completion(0xC0FFEE_0000_0001L, 0, 0), completion);
            assertNull(ring.peekCompletion());
        }
    }

    @Test
    void aTimedWaitReturnsFalseWhenNothingCompletesAndTrueWhenSomethingDoes() throws Exception {
        try (IoUring ring = IoUring.open(4, 0)) {
            long start = System.nanoTime();
            assertFalse(ring.waitForCompletion(20_000_000L));
            assertTrue(System.nanoTime() - start >= 15_000_000L, "waited about the timeout");
            assertTrue(ring.prepareNop(5));
            assertTrue(ring.waitForCompletion(5_000_000_000L));
            assertEquals(5, ring.peekCompletion().userData());
        }
    }

    @Test
    void aFsyncLinkedToAFailedWriteIsCancelled(@TempDir Path directory) throws Exception {
        Path file = directory.resolve("read-only.dat");
        Files.write(file, new byte[4096]);
        int fd = Unistd.open(file.toString(), Unistd.O_RDONLY | Unistd.O_CLOEXEC, 0);
        try (IoUring ring = IoUring.open(4, 0); Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(4096, 4096);
            assertTrue(ring.prepare(IoUring.IORING_OP_WRITE, IoUring.IOSQE_IO_LINK, fd, buffer.address(), 4096, 0, 0,
                    1, 0));
            assertTrue(ring.prepareFsync(fd, true, 2));
            ring.submit();
            assertEquals(new IoUring.Completion(1, -Errno.EBADF, 0), ring.awaitCompletion());
            assertEquals(new IoUring.Completion(2, -Errno.ECANCELED, 0), ring.awaitCompletion());
        } finally {
            Unistd.close(fd);
        }
    }

    @Test
    void aWriteThenAReadOfATempFileThroughTheRingReturnTheBytes(@TempDir Path directory) throws Exception {
        Path file = directory.resolve("ring.dat");
        int fd = Unistd.open(file.toString(), Unistd.O_RDWR | Unistd.O_CREAT | Unistd.O_CLOEXEC, 0600);
        try (IoUring ring = IoUring.open(4, 0); Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocateFrom("through the ring", StandardCharsets.US_ASCII).asSlice(0, 16);
            assertTrue(ring.prepareWrite(fd, out, 4096, 1));
            assertEquals(new IoUring.Completion(1, 16, 0), ring.awaitCompletion());
            assertTrue(ring.prepareFsync(fd, true, 2));
            assertEquals(new IoUring.Completion(2, 0, 0), ring.awaitCompletion());

            MemorySegment in = arena.allocate(16);
            assertTrue(ring.prepareRead(fd, in, 4096, 3));
            assertEquals(new IoUring.Completion(3, 16, 0), ring.awaitCompletion());
            assertArrayEquals(out.toArray(ValueLayout.JAVA_BYTE), in.toArray(ValueLayout.JAVA_BYTE));
            assertEquals(4096 + 16, Files.size(file));
        } finally {
            Unistd.close(fd);
        }
    }

    @Test
    void registeredBuffersServeFixedWritesAndReads(@TempDir Path directory) throws Exception {
        int fd = Unistd.open(directory.resolve("fixed.dat").toString(),
                Unistd.O_RDWR | Unistd.O_CREAT | Unistd.O_CLOEXEC, 0600);
        try (IoUring ring = IoUring.open(4, 0); Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(8192, 4096);
            ring.registerBuffers(buffer);
            MemorySegment out = buffer.asSlice(0, 4096).fill((byte) 0x5A);
            assertTrue(ring.prepareWriteFixed(fd, out, 0, 0, 10));
            assertEquals(new IoUring.Completion(10, 4096, 0), ring.awaitCompletion());
            MemorySegment in = buffer.asSlice(4096, 4096);
            assertTrue(ring.prepareReadFixed(fd, in, 0, 0, 11));
            assertEquals(new IoUring.Completion(11, 4096, 0), ring.awaitCompletion());
            assertEquals(0x5A, in.get(ValueLayout.JAVA_BYTE, 4095));
            ring.unregisterBuffers();

            // Outside any registered buffer now: the kernel says so in the completion, not the call.
            assertTrue(ring.prepareReadFixed(fd, in, 0, 0, 12));
            IoUring.Completion refused = ring.awaitCompletion();
            assertEquals(12, refused.userData());
            assertTrue(refused.result() < 0, refused.toString());
        } finally {
            Unistd.close(fd);
        }
    }

    @Test
    void registeredFilesAreNamedByTheirIndex(@TempDir Path directory) throws Exception {
        int fd = Unistd.open(directory.resolve("files.dat").toString(),
                Unistd.O_RDWR | Unistd.O_CREAT | Unistd.O_CLOEXEC, 0600);
        try (IoUring ring = IoUring.open(4, 0); Arena arena = Arena.ofConfined()) {
            ring.registerFiles(fd);
            MemorySegment out = arena.allocateFrom(ValueLayout.JAVA_LONG, 42L);
            assertTrue(ring.prepare(IoUring.IORING_OP_WRITE, IoUring.IOSQE_FIXED_FILE, 0, out.address(), 8, 0, 0, 7,
                    0));
            assertEquals(new IoUring.Completion(7, 8, 0), ring.awaitCompletion());
            ring.unregisterFiles();
            MemorySegment in = arena.allocate(8);
            assertTrue(ring.prepareRead(fd, in, 0, 8));
            assertEquals(8, ring.awaitCompletion().result());
            assertEquals(42L, in.get(ValueLayout.JAVA_LONG, 0));
        } finally {
            Unistd.close(fd);
        }
    }

    @Test
    void aFullSubmissionQueueRefusesMoreUntilSubmittedAndCompletionsDrainInABatch() throws Exception {
        try (IoUring ring = IoUring.open(4, 0)) {
            for (int i = 0; i < 4; i++) {
                assertTrue(ring.prepareNop(100 + i));
            }
            assertFalse(ring.prepareNop(104));
            assertEquals(4, ring.submitAndWait(4));
            assertTrue(ring.prepareNop(104));
            assertEquals(1, ring.submitAndWait(1));
            long[] sum = {0};
            assertEquals(5, ring.drainCompletions((userData, result, flags) -> sum[0] += userData + result));
            assertEquals(100 + 101 + 102 + 103 + 104, sum[0]);
            assertEquals(0, ring.drainCompletions((userData, result, flags) -> sum[0] = -1));
        }
    }

    @Test
    void aReadOfABadDescriptorCompletesWithMinusEbadf() throws Exception {
        try (IoUring ring = IoUring.open(2, 0); Arena arena = Arena.ofConfined()) {
            assertTrue(ring.prepareRead(987_654, arena.allocate(8), 0, 5));
            IoUring.Completion completion = ring.awaitCompletion();
            assertEquals(-Errno.EBADF, completion.result());
            assertTrue(completion.toString().contains("EBADF"), completion.toString());
        }
    }

    @Test
    void aSubmissionPollingRingPicksUpANopWithoutASyscallPerSubmit() throws Exception {
        try (IoUring ring = IoUring.open(4, IoUring.IORING_SETUP_SQPOLL)) {
            assertTrue(ring.prepareNop(77));
            ring.submit();
            assertEquals(new IoUring.Completion(77, 0, 0), ring.awaitCompletion());
        }
    }

    @Test
    void ioUringEnterOnAClosedRingFailsWithEbadfAndTheRingRefusesUse() throws Exception {
        IoUring ring = IoUring.open(2, 0);
        int fd = ring.fd();
        ring.close();
        ring.close();
        LinuxException e = assertThrows(LinuxException.class, () -> IoUring.enter(fd, 1, 0, 0));
        assertEquals(Errno.EBADF, e.errno());
        assertEquals("io_uring_enter(fd=" + fd + ", to_submit=1, min_complete=0, flags=0x0): EBADF (Bad file "
                + "descriptor)", e.getMessage());
        assertThrows(IllegalStateException.class, () -> ring.prepareNop(1));
        assertThrows(IllegalStateException.class, ring::submit);
        assertThrows(IllegalStateException.class, ring::peekCompletion);
        assertThrows(IllegalStateException.class, ring::unregisterFiles);
    }

    @Test
    void setupWithZeroEntriesFailsWithEinvalNamingTheCall() {
        LinuxException e = assertThrows(LinuxException.class, () -> IoUring.open(0, 0));
        assertEquals("io_uring_setup(entries=0, flags=0x0): EINVAL (Invalid argument)", e.getMessage());
        assertEquals(120, IoUring.PARAMS.byteSize());
    }
}

package io.arrakis.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.device.VsicCounter;
import io.arrakis.device.VsicQueue;
import io.arrakis.linux.FileIo;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The same behaviour from every storage backend. */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class VsicConformanceTest {
    private static final int BLOCK = 4096;

    @TempDir
    Path directory;

    @Test
    void bothBackendsAreRegisteredAndUsable() {
        assertEquals("file", DeviceBackends.vsicBackend("file").name());
        assertEquals("io_uring", DeviceBackends.vsicBackend("io_uring").name());
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aWrittenRangeReadsBackOnEveryQueueAndSurvivesReopening(String backend) throws IOException {
        Path file = directory.resolve("vsa");
        try (Vsic vsic = TestAreas.open(backend, file, 64, 2, 8, 16 * BLOCK)) {
            assertEquals(backend, vsic.backend());
            assertEquals(BLOCK, vsic.blockSize());
            assertEquals(64, vsic.capacityBlocks());
            assertEquals(2, vsic.queueCount());
            assertTrue(Files.size(file) >= 64L * BLOCK, "preallocated to the capacity");
            VsicQueue writer = vsic.queue(0);
            fill(writer.memory(), 0, 3 * BLOCK, 7);
            assertTrue(writer.submitWrite(61, 3, 0, 42));
            CompletionBatch done = TestAreas.complete(writer, 1);
            assertEquals(42, done.tag(0));
            assertEquals(0, done.status(0));

            VsicQueue reader = vsic.queue(1);
            assertTrue(reader.submitRead(61, 3, 4 * BLOCK, 43));
            TestAreas.expectSuccess(reader);
            assertBytes(reader.memory(), 4 * BLOCK, 3 * BLOCK, 7);
            assertEquals(1, writer.counters().get(VsicCounter.WRITES));
            assertEquals(3 * BLOCK, writer.counters().get(VsicCounter.WRITE_BYTES));
            assertEquals(1, reader.counters().get(VsicCounter.READS));
        }
        try (Vsic vsic = TestAreas.open(backend, file, 64, 1, 4, 4 * BLOCK)) {
            VsicQueue queue = vsic.queue(0);
            assertTrue(queue.submitRead(62, 1, 0, 1));
            TestAreas.expectSuccess(queue);
            assertBytes(queue.memory(), 0, BLOCK, 7 + BLOCK);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void writeThenFlushCompletesOnceWithItsTagAndCountsBoth(String backend) throws IOException {
        try (Vsic vsic = TestAreas.open(backend, directory.resolve("vsa"), 16, 1, 4, 4 * BLOCK)) {
            VsicQueue queue = vsic.queue(0);
            fill(queue.memory(), 0, BLOCK, 3);
            assertTrue(queue.submitWriteThenFlush(5, 1, 0, 99));
            assertTrue(queue.submitFlush(100));
            assertEquals(2, queue.ring());
            CompletionBatch done = TestAreas.complete(queue, 2);
            Set<Long> tags = new HashSet<>();
            for (int i = 0; i < done.size(); i++) {
                tags.add(done.tag(i));
                assertEquals(0, done.status(i));
            }
            assertEquals(Set.of(99L, 100L), tags);
            assertEquals(0, queue.poll(new CompletionBatch(4)), "one completion per command, not per part");
            assertEquals(1, queue.counters().get(VsicCounter.WRITES));
            assertEquals(2, queue.counters().get(VsicCounter.FLUSHES));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void rangesOutsideTheAreaOrTheMemoryAreRefusedBeforeTheDevice(String backend) throws IOException {
        try (Vsic vsic = TestAreas.open(backend, directory.resolve("vsa"), 16, 1, 4, 4 * BLOCK)) {
            VsicQueue queue = vsic.queue(0);
            var beyond = assertThrows(IllegalArgumentException.class, () -> queue.submitWrite(15, 2, 0, 1));
            assertEquals("VSA test-" + backend + " queue 0: write of blocks 15..16 refused: the area has blocks 0..15"
                    + " (16 blocks of 4096 bytes)", beyond.getMessage());
            assertThrows(IllegalArgumentException.class, () -> queue.submitRead(-1, 1, 0, 1));
            assertThrows(IllegalArgumentException.class, () -> queue.submitRead(Long.MAX_VALUE, 2, 0, 1));
            assertThrows(IllegalArgumentException.class, () -> queue.submitRead(0, 0, 0, 1));
            var memory = assertThrows(IllegalArgumentException.class,
                    () -> queue.submitWriteThenFlush(0, 2, 3 * BLOCK, 1));
            assertTrue(memory.getMessage().contains("I/O memory has 16384 bytes"), memory.getMessage());
            var misaligned = assertThrows(IllegalArgumentException.class, () -> queue.submitRead(0, 1, 512, 1));
            assertTrue(misaligned.getMessage().contains("multiples of the block size 4096"), misaligned.getMessage());
            assertEquals(0, queue.ring(), "nothing refused was staged");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aFullQueueRefusesAndCountsUntilCompletionsAreTaken(String backend) throws IOException {
        try (Vsic vsic = TestAreas.open(backend, directory.resolve("vsa"), 16, 1, 2, 4 * BLOCK)) {
            VsicQueue queue = vsic.queue(0);
            assertTrue(queue.submitRead(0, 1, 0, 1));
            assertTrue(queue.submitRead(1, 1, BLOCK, 2));
            assertFalse(queue.submitRead(2, 1, 2 * BLOCK, 3));
            assertEquals(1, queue.counters().get(VsicCounter.QUEUE_FULL));
            TestAreas.complete(queue, 2);
            assertTrue(queue.submitRead(2, 1, 2 * BLOCK, 3));
            TestAreas.expectSuccess(queue);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void awaitingWithNothingInFlightReturnsAtOnce(String backend) throws IOException {
        try (Vsic vsic = TestAreas.open(backend, directory.resolve("vsa"), 16, 1, 2, 4 * BLOCK)) {
            VsicQueue queue = vsic.queue(0);
            long start = System.nanoTime();
            assertFalse(queue.awaitCompletion(0), "no limit, but nothing could ever complete");
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1));
            assertTrue(queue.submitFlush(7));
            queue.ring();
            assertTrue(queue.awaitCompletion(0));
            assertEquals(1, queue.poll(new CompletionBatch(1)));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void anAreaHandedOverAsADescriptorIsUsedThroughADuplicate(String backend) throws IOException {
        Path file = directory.resolve("vsa");
        int fd = Unistd.open(file.toString(), Unistd.O_RDWR | Unistd.O_CREAT | Unistd.O_CLOEXEC, 0600);
        Vsic vsic;
        try {
            // What the control plane will do before handing the descriptor over.
            FileIo.fallocate(fd, 0, 0, 16L * BLOCK);
            vsic = DeviceBackends.vsicBackend(backend).open(new io.arrakis.device.VsicConfig("handed", 16, 1, 4,
                    4 * BLOCK, Map.of(VsaFile.OPTION_FD, String.valueOf(fd))));
        } finally {
            Unistd.close(fd); // the sender's copy; the VSIC keeps its own
        }
        try (vsic) {
            VsicQueue queue = vsic.queue(0);
            fill(queue.memory(), 0, BLOCK, 11);
            assertTrue(queue.submitWriteThenFlush(15, 1, 0, 1));
            TestAreas.expectSuccess(queue);
        }
        byte[] onDisk = Files.readAllBytes(file);
        assertEquals((byte) (11 + 5), onDisk[15 * BLOCK + 5]);

        var tooSmall = assertThrows(IOException.class, () -> {
            int again = Unistd.open(file.toString(), Unistd.O_RDWR | Unistd.O_CLOEXEC, 0);
            try {
                DeviceBackends.vsicBackend(backend).open(new io.arrakis.device.VsicConfig("handed", 32, 1, 4, BLOCK,
                        Map.of(VsaFile.OPTION_FD, String.valueOf(again))));
            } finally {
                Unistd.close(again);
            }
        });
        assertTrue(tooSmall.getMessage().contains("must preallocate it"), tooSmall.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aWriteTheDeviceRefusesCompletesWithItsErrnoAndNoFlush(String backend) throws IOException {
        Path file = directory.resolve("vsa");
        Files.write(file, new byte[16 * BLOCK]);
        int readOnly = Unistd.open(file.toString(), Unistd.O_RDONLY | Unistd.O_CLOEXEC, 0);
        Vsic vsic;
        try {
            vsic = DeviceBackends.vsicBackend(backend).open(new io.arrakis.device.VsicConfig("read-only", 16, 1, 4,
                    4 * BLOCK, Map.of(VsaFile.OPTION_FD, String.valueOf(readOnly))));
        } finally {
            Unistd.close(readOnly);
        }
        try (vsic) {
            VsicQueue queue = vsic.queue(0);
            assertTrue(queue.submitWriteThenFlush(0, 1, 0, 5));
            CompletionBatch done = TestAreas.complete(queue, 1);
            assertEquals(5, done.tag(0));
            assertEquals(-io.arrakis.linux.Errno.EBADF, done.status(0), "the write's error, not the cancelled flush's");
            assertEquals(1, queue.counters().get(VsicCounter.ERRORS));
            assertEquals(0, queue.counters().get(VsicCounter.WRITES));
            assertEquals(0, queue.counters().get(VsicCounter.FLUSHES));
        }
    }

    @Test
    void anSqpollRingServesCommandsAndSaysSo() throws IOException {
        try (Vsic vsic = TestAreas.open("io_uring", directory.resolve("vsa"), 16, 1, 4, 4 * BLOCK, "sqpoll", "true")) {
            assertTrue(((io.arrakis.storage.uring.UringVsic) vsic).sqPolling());
            assertTrue(vsic.toString().endsWith(", SQPOLL"), vsic.toString());
            VsicQueue queue = vsic.queue(0);
            fill(queue.memory(), 0, BLOCK, 5);
            assertTrue(queue.submitWriteThenFlush(3, 1, 0, 1));
            TestAreas.expectSuccess(queue);
            assertTrue(queue.submitRead(3, 1, BLOCK, 2));
            TestAreas.expectSuccess(queue);
            assertBytes(queue.memory(), BLOCK, BLOCK, 5);
        }
    }

    @Test
    void aDescriptorThatIsNotOpenIsRefusedByName() {
        var refused = assertThrows(IOException.class, () -> DeviceBackends.vsicBackend("file").open(
                new io.arrakis.device.VsicConfig("handed", 16, 1, 4, BLOCK, Map.of(VsaFile.OPTION_FD, "987654"))));
        assertTrue(refused.getMessage().startsWith("VSA handed: option fd=987654 is not a usable descriptor"),
                refused.getMessage());
        assertTrue(refused.getMessage().contains("EBADF"), refused.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aBlockDeviceServesAsTheArea(String backend) throws Exception {
        Path image = directory.resolve("disk.img");
        try (var channel = java.nio.channels.FileChannel.open(image, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            channel.write(java.nio.ByteBuffer.allocate(1), 32L * BLOCK - 1);
        }
        String device = run("losetup", "-f", "--show", image.toString()).strip();
        try {
            try (Vsic vsic = TestAreas.open(backend, Path.of(device), 32, 1, 4, 4 * BLOCK)) {
                assertTrue(((BlockVsic) vsic).area().blockDevice());
                VsicQueue queue = vsic.queue(0);
                fill(queue.memory(), 0, BLOCK, 21);
                assertTrue(queue.submitWriteThenFlush(31, 1, 0, 1));
                TestAreas.expectSuccess(queue);
                assertTrue(queue.submitRead(31, 1, BLOCK, 2));
                TestAreas.expectSuccess(queue);
                assertBytes(queue.memory(), BLOCK, BLOCK, 21);
            }
            var tooBig = assertThrows(IOException.class, () -> TestAreas.open(backend, Path.of(device), 64, 1, 4, BLOCK));
            assertTrue(tooBig.getMessage().contains("block device " + device + " holds " + 32 * BLOCK + " bytes"),
                    tooBig.getMessage());
        } finally {
            run("losetup", "-d", device);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void anAreaLargerThanItsFileSystemFailsWithPathAndSizesAndLeavesNothing(String backend) throws Exception {
        Path mount = Files.createDirectory(directory.resolve("small"));
        run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.toString());
        try {
            Path file = mount.resolve("vsa");
            var full = assertThrows(IOException.class, () -> TestAreas.open(backend, file, 1024, 1, 4, BLOCK));
            String message = full.getMessage();
            assertTrue(message.startsWith("VSA test-" + backend + ": no space to preallocate " + file + " to 4194304 bytes"),
                    message);
            assertTrue(message.contains("ENOSPC") && message.contains("bytes free"), message);
            assertFalse(Files.exists(file), "a VSA file we created and could not size is removed");
        } finally {
            run("umount", mount.toString());
        }
    }

    /**
     * {@code zeroFill=true}: a new file's extents are written ones (FIEMAP, as {@code filefrag -v}
     * shows them), so a commit's first write into a block changes no metadata; without the option
     * {@code fallocate} leaves them unwritten. Needs a file system with unwritten extents (ext4,
     * xfs: the temporary directory here).
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aZeroFilledAreaHasNoUnwrittenExtentsAndReadsZeros(String backend) throws Exception {
        Path plain = directory.resolve("plain.vsa");
        Path zeroed = directory.resolve("zeroed.vsa");
        try (Vsic vsic = TestAreas.open(backend, plain, 256, 1, 4, BLOCK)) {
            assertEquals(256, vsic.capacityBlocks());
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(run("filefrag", "-v", plain.toString()).contains("unwritten"),
                "the temporary directory's file system leaves fallocate'd extents written; nothing to compare");
        try (Vsic vsic = TestAreas.open(backend, zeroed, 256, 1, 4, BLOCK, VsaFile.OPTION_ZERO_FILL, "true")) {
            VsicQueue queue = vsic.queue(0);
            queue.submitRead(255, 1, 0, 0);
            TestAreas.expectSuccess(queue);
            for (int i = 0; i < BLOCK; i++) {
                assertEquals(0, queue.memory().get(ValueLayout.JAVA_BYTE, i), "byte " + i + " of the last block");
            }
        }
        String extents = run("filefrag", "-v", zeroed.toString());
        assertFalse(extents.contains("unwritten"), extents);
        assertEquals(256L * BLOCK, Files.size(zeroed));
    }

    static void fill(MemorySegment memory, long offset, long bytes, int seed) {
        for (long i = 0; i < bytes; i++) {
            memory.set(ValueLayout.JAVA_BYTE, offset + i, (byte) (seed + i % BLOCK));
        }
    }

    static void assertBytes(MemorySegment memory, long offset, long bytes, int seed) {
        for (long i = 0; i < bytes; i++) {
            byte expected = (byte) (seed + i % BLOCK);
            if (memory.get(ValueLayout.JAVA_BYTE, offset + i) != expected) {
                throw new AssertionError("byte " + i + ": expected " + expected + ", found "
                        + memory.get(ValueLayout.JAVA_BYTE, offset + i));
            }
        }
    }

    static String run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        if (!process.waitFor(10, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new IOException(String.join(" ", command) + " failed: " + output);
        }
        return output;
    }
}

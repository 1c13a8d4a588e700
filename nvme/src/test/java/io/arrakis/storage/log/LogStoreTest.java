package io.arrakis.storage.log;

import static io.arrakis.storage.log.Stores.BLOCK;
import static io.arrakis.storage.log.Stores.pattern;
import static io.arrakis.storage.log.Stores.readAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Vsic;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LogStoreTest {
    private static final long BLOCKS = 1024; // 4 MiB: two regions of 511 blocks

    @TempDir
    Path directory;

    private Path image() {
        return directory.resolve("vsa.img");
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void anAppendFollowedByAForceCostsOneDeviceWriteAndOneFlush(String backend) throws IOException {
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile file = store.open("aof", true);
            store.force();
            long writes = store.ioCounters().writes();
            long flushes = store.ioCounters().flushes();
            file.append(ByteBuffer.wrap(pattern(100, 1)));
            file.force(false);
            assertEquals(writes + 1, store.ioCounters().writes());
            assertEquals(flushes + 1, store.ioCounters().flushes());
            file.force(true);
            assertEquals(flushes + 1, store.ioCounters().flushes(), "nothing pending, nothing to flush");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void ioCountersCountTheDevicesWritesFlushesAndBytes(String backend) throws IOException {
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile file = store.open("aof", true);
            store.force();
            LogStore.IoCounters before = store.ioCounters();
            file.append(ByteBuffer.wrap(pattern(10_000, 1)));
            file.force(false);
            LogStore.IoCounters after = store.ioCounters();
            assertEquals(before.writes() + 1, after.writes());
            assertEquals(before.flushes() + 1, after.flushes());
            long written = after.bytesWritten() - before.bytesWritten();
            assertTrue(written >= 10_000 && written % BLOCK == 0, "whole blocks holding the 10,000 bytes: " + written);
            assertEquals(before.reads(), after.reads());
            assertEquals(0, after.errors());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void namesSizesAndDataSurviveReopening(String backend) throws IOException {
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile a = store.open("a", true);
            assertEquals(0, a.append(ByteBuffer.wrap(pattern(5000, 1))));
            assertEquals(5000, a.append(ByteBuffer.wrap(pattern(300, 2))));
            assertEquals(1000, a.write(ByteBuffer.wrap(pattern(1000, 3)), 2000));
            LogFile b = store.open("b", true);
            b.write(ByteBuffer.wrap(pattern(10, 4)), 100_000); // a hole of 100,000 zeros before it
            LogFile c = store.open("c", true);
            c.append(ByteBuffer.wrap(pattern(10, 5)));
            store.rename("c", "c2");
            LogFile d = store.open("d", true);
            d.append(ByteBuffer.wrap(pattern(7000, 6)));
            d.truncate(4100);
            store.delete("a");
            assertThrows(NoSuchFileException.class, () -> a.size());
            LogFile a2 = store.open("a", true);
            a2.append(ByteBuffer.wrap(pattern(3, 7)));
            assertEquals(List.of("a", "b", "c2", "d"), store.list());
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            assertTrue(store.recovery().clean(), store.recovery().toString());
            assertEquals(List.of("a", "b", "c2", "d"), store.list());
            assertArrayEquals(pattern(3, 7), readAll(store.open("a", false)));
            byte[] b = readAll(store.open("b", false));
            assertEquals(100_010, b.length);
            assertEquals(0, b[99_999]);
            assertArrayEquals(pattern(10, 4), java.util.Arrays.copyOfRange(b, 100_000, 100_010));
            assertArrayEquals(pattern(10, 5), readAll(store.open("c2", false)));
            assertArrayEquals(java.util.Arrays.copyOf(pattern(7000, 6), 4100), readAll(store.open("d", false)));
            assertThrows(NoSuchFileException.class, () -> store.open("c", false));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void concurrentForcesShareFlushes(String backend) throws Exception {
        int threads = 8;
        int appendsEach = 40;
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            List<LogFile> files = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                files.add(store.open("w" + t, true));
            }
            store.force();
            long flushesBefore = store.stats().deviceFlushes();
            long forcesBefore = store.stats().forces();
            CyclicBarrier start = new CyclicBarrier(threads);
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    LogFile file = files.get(t);
                    int seed = t;
                    done.add(pool.submit(() -> {
                        start.await();
                        for (int i = 0; i < appendsEach; i++) {
                            file.append(ByteBuffer.wrap(pattern(64, seed * 1000 + i)));
                            file.force(false);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            long forces = store.stats().forces() - forcesBefore;
            long flushes = store.stats().deviceFlushes() - flushesBefore;
            assertEquals(threads * appendsEach, forces);
            assertTrue(flushes < forces, "group commit: " + forces + " forces took " + flushes + " flushes");
            System.out.printf("%s: %d concurrent forces, %d device flushes%n", backend, forces, flushes);
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            for (int t = 0; t < threads; t++) {
                byte[] all = readAll(store.open("w" + t, false));
                assertEquals(64 * appendsEach, all.length);
                for (int i = 0; i < appendsEach; i++) {
                    assertArrayEquals(pattern(64, t * 1000 + i), java.util.Arrays.copyOfRange(all, i * 64, i * 64 + 64));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aCheckpointShrinksTheLogToTheLiveDataAndSurvivesReopening(String backend) throws IOException {
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile file = store.open("f", true);
            for (int i = 0; i < 200; i++) {
                file.write(ByteBuffer.wrap(pattern(BLOCK, i)), 0); // the same block, 200 times
            }
            store.open("gone", true).append(ByteBuffer.wrap(pattern(9000, 1)));
            store.delete("gone");
            file.write(ByteBuffer.wrap(pattern(10, 9)), 50_000);
            long before = store.stats().logBytes();
            store.checkpoint();
            LogStore.Stats after = store.stats();
            assertTrue(after.logBytes() < before / 20, before + " -> " + after.logBytes());
            assertEquals(1, after.compactions());
            assertEquals(BLOCK + 10, after.liveBytes());
            file.append(ByteBuffer.wrap(pattern(5, 10)));
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            assertTrue(store.recovery().clean(), store.recovery().toString());
            byte[] all = readAll(store.open("f", false));
            assertEquals(50_015, all.length);
            assertArrayEquals(pattern(BLOCK, 199), java.util.Arrays.copyOf(all, BLOCK));
            assertArrayEquals(pattern(10, 9), java.util.Arrays.copyOfRange(all, 50_000, 50_010));
            assertArrayEquals(pattern(5, 10), java.util.Arrays.copyOfRange(all, 50_010, 50_015));
            assertFalse(store.exists("gone"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void overwritesBeyondTheRegionCompactAutomatically(String backend) throws IOException {
        try (LogStore store = Stores.format(backend, image(), 64)) { // regions of 31 blocks
            LogFile file = store.open("f", true);
            for (int i = 0; i < 300; i++) {
                file.write(ByteBuffer.wrap(pattern(3000, i)), 1000);
                if (i % 7 == 0) {
                    file.force(false);
                }
            }
            assertTrue(store.stats().compactions() > 0);
        }
        try (LogStore store = Stores.open(backend, image(), 64)) {
            byte[] all = readAll(store.open("f", false));
            assertArrayEquals(pattern(3000, 299), java.util.Arrays.copyOfRange(all, 1000, 4000));
        }
    }

    /**
     * When the region fills, every appender that finds no room goes to compact, but only the first
     * may: the others must find the region emptied by it and append. They used to compact again,
     * one after the other, each copying the live data of a region by then almost empty (104-184
     * checkpoints where about 26 were due in the 50-writer benchmark). Made deterministic here: a
     * reader holds the region lock inside a device read, so every writer reaches the point where
     * it waits to compact before the first checkpoint can start.
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void appendersThatFindTheRegionFullTogetherCompactItOnce(String backend) throws Exception {
        int writers = 4;
        long blocks = 64; // regions of 31 blocks
        try (Vsic vsic = Stores.vsic(backend, image(), blocks)) {
            LogStore.format(vsic);
        }
        GatedVsic gated = new GatedVsic(Stores.vsic(backend, image(), blocks), 1);
        try (LogStore store = LogStore.open(gated)) {
            LogFile read = store.open("read", true);
            read.write(ByteBuffer.wrap(pattern(3000, 1)), 0);
            read.force(false);
            LogFile filler = store.open("filler", true);
            long limit = store.stats().regionBytes() - 4L * BLOCK;
            for (int i = 0; store.stats().logBytes() < limit; i++) {
                filler.write(ByteBuffer.wrap(pattern(3000, i)), 0); // a block per force
                filler.force(false);
            }
            // Every writer's 3-block record now finds the region full.
            List<LogFile> files = new ArrayList<>();
            for (int t = 0; t < writers; t++) {
                files.add(store.open("w" + t, true));
            }
            assertEquals(0, store.stats().compactions());
            gated.closeGate();
            Thread reader = Thread.ofPlatform().start(() -> {
                try {
                    assertArrayEquals(pattern(3000, 1), readAll(read));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertTrue(gated.awaitHeld(10, java.util.concurrent.TimeUnit.SECONDS), "the reader never reached the device");
            List<Thread> writing = new ArrayList<>();
            for (int t = 0; t < writers; t++) {
                LogFile file = files.get(t);
                int seed = t;
                writing.add(Thread.ofPlatform().start(() -> {
                    try {
                        file.write(ByteBuffer.wrap(pattern(8192, 100 + seed)), 0);
                        file.force(false);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }));
            }
            // Every writer parks: behind the reader for the region lock, or behind the store's lock.
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!writing.stream().allMatch(w -> w.getState() == Thread.State.WAITING) && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            gated.open();
            reader.join(20_000);
            for (Thread w : writing) {
                w.join(20_000);
                assertFalse(w.isAlive(), "a writer never finished");
            }
            assertEquals(1, store.stats().compactions(), store.stats().toString());
            for (int t = 0; t < writers; t++) {
                assertArrayEquals(pattern(8192, 100 + t), readAll(files.get(t)));
            }
        }
    }

    /**
     * A force returns only when every commit up to its records is written and flushed: while one
     * commit's write and flush are held at the device, a later commit runs on the other lane and
     * completes (the overlap), yet its force must not return (a flush covers only writes completed
     * before it, so the held commit could still be lost, and recovery would then drop everything
     * after it). Pins rule 1 of "Overlapping commits" (docs/storage-layout.md).
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aForceNeverReturnsBeforeAnEarlierCommitIsFlushed(String backend) throws Exception {
        GatedVsic gated = Stores.formattedGated(backend, image(), BLOCKS);
        try (LogStore store = LogStore.open(gated)) {
            assertEquals(2, store.commitLanes());
            LogFile first = store.open("first", true);
            LogFile later = store.open("later", true);
            store.force();
            first.write(ByteBuffer.wrap(pattern(5000, 1)), 0);
            gated.closeGate();
            java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
            Thread holder = Thread.ofPlatform().start(() -> {
                try {
                    first.force(false);
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            assertTrue(gated.awaitHeld(10, java.util.concurrent.TimeUnit.SECONDS), "the first commit never reached the device");
            long deviceFlushesBefore = store.ioCounters().flushes();
            java.util.concurrent.atomic.AtomicBoolean laterReturned = new java.util.concurrent.atomic.AtomicBoolean();
            Thread follower = Thread.ofPlatform().start(() -> {
                try {
                    later.write(ByteBuffer.wrap(pattern(3000, 2)), 0);
                    later.force(false);
                    laterReturned.set(true);
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            assertTrue(awaitDeviceFlushes(store, deviceFlushesBefore + 1),
                    "the later commit was not written and flushed on the other lane while the first was held");
            // Give the follower every chance to (wrongly) finish while the first commit is held.
            follower.join(300);
            assertFalse(laterReturned.get(), "a force returned while an earlier commit was not yet flushed");
            assertTrue(holder.isAlive(), "the held commit's force returned before its flush");
            gated.open();
            holder.join(20_000);
            follower.join(20_000);
            assertFalse(holder.isAlive() || follower.isAlive(), "a force never returned after the gate opened");
            if (failure.get() != null) {
                throw new AssertionError("a force failed", failure.get());
            }
            assertTrue(laterReturned.get());
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            assertArrayEquals(pattern(5000, 1), readAll(store.open("first", false)));
            assertArrayEquals(pattern(3000, 2), readAll(store.open("later", false)));
        }
    }

    /**
     * Commit k fails at the device after commit k+1, on the other lane, was written and flushed:
     * the store fails, k+1's force fails too (its records follow a gap replay stops at, so they
     * were never durable in the log's sense), and the next open drops and reports them.
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aFailedCommitFailsTheStoreAndALaterCompletedCommitIsNotAcknowledged(String backend) throws Exception {
        GatedVsic gated = Stores.formattedGated(backend, image(), BLOCKS);
        LogStore store = LogStore.open(gated);
        try {
            LogFile first = store.open("first", true);
            LogFile later = store.open("later", true);
            later.write(ByteBuffer.wrap(pattern(2000, 7)), 0);
            store.force();
            first.write(ByteBuffer.wrap(pattern(5000, 1)), 0);
            gated.closeGate();
            java.util.concurrent.atomic.AtomicReference<Throwable> holderOutcome = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.concurrent.atomic.AtomicReference<Throwable> followerOutcome = new java.util.concurrent.atomic.AtomicReference<>();
            Thread holder = Thread.ofPlatform().start(() -> holderOutcome.set(forceOutcome(first)));
            assertTrue(gated.awaitHeld(10, java.util.concurrent.TimeUnit.SECONDS), "the first commit never reached the device");
            long deviceFlushesBefore = store.ioCounters().flushes();
            Thread follower = Thread.ofPlatform().start(() -> {
                try {
                    later.write(ByteBuffer.wrap(pattern(3000, 2)), 4000);
                } catch (IOException e) {
                    followerOutcome.set(e);
                    return;
                }
                followerOutcome.set(forceOutcome(later));
            });
            assertTrue(awaitDeviceFlushes(store, deviceFlushesBefore + 1), "the later commit never completed on the other lane");
            follower.join(200);
            assertTrue(follower.isAlive(), "the later force returned while the earlier commit was held");
            gated.failHeld();
            holder.join(20_000);
            follower.join(20_000);
            assertFalse(holder.isAlive() || follower.isAlive(), "a force never returned after the failure");
            assertTrue(holderOutcome.get() instanceof IOException, "the failed commit's force: " + holderOutcome.get());
            assertTrue(followerOutcome.get() instanceof IOException,
                    "the force of a commit after a failed one must fail, not return: " + followerOutcome.get());
            assertThrows(IOException.class, () -> later.write(ByteBuffer.wrap(pattern(10, 3)), 0), "the store is failed");
        } finally {
            try {
                store.close();
            } catch (IOException expected) {
                // the store failed: close reports it
            }
        }
        try (LogStore reopened = Stores.open(backend, image(), BLOCKS)) {
            assertArrayEquals(pattern(2000, 7), readAll(reopened.open("later", false)), "what was acknowledged");
            assertEquals(0, reopened.open("first", false).size(), "the failed commit never reached the device");
            assertTrue(reopened.recovery().droppedRecords() >= 1,
                    "the later commit's records lie past the gap and are dropped: " + reopened.recovery());
        }
    }

    /**
     * A checkpoint waits for every commit in flight, not only the latest: with commit k held at
     * the device and commit k+1 already completed on the other lane, a checkpoint must not start
     * copying (it would move data, and reuse buffer memory, under the held commit).
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aCheckpointWaitsForEveryCommitInFlight(String backend) throws Exception {
        GatedVsic gated = Stores.formattedGated(backend, image(), BLOCKS);
        try (LogStore store = LogStore.open(gated)) {
            LogFile first = store.open("first", true);
            LogFile later = store.open("later", true);
            store.force();
            first.write(ByteBuffer.wrap(pattern(5000, 1)), 0);
            gated.closeGate();
            java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
            Thread holder = Thread.ofPlatform().start(() -> failure.compareAndSet(null, forceOutcome(first)));
            assertTrue(gated.awaitHeld(10, java.util.concurrent.TimeUnit.SECONDS), "the first commit never reached the device");
            long deviceFlushesBefore = store.ioCounters().flushes();
            later.write(ByteBuffer.wrap(pattern(3000, 2)), 0);
            Thread follower = Thread.ofPlatform().start(() -> failure.compareAndSet(null, forceOutcome(later)));
            assertTrue(awaitDeviceFlushes(store, deviceFlushesBefore + 1), "the later commit never completed on the other lane");
            Thread checkpointer = Thread.ofPlatform().start(() -> {
                try {
                    store.checkpoint();
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            checkpointer.join(300);
            assertTrue(checkpointer.isAlive(), "the checkpoint ended while a commit was held");
            assertEquals(0, store.stats().compactions(), "a checkpoint ran under a commit in flight");
            gated.open();
            for (Thread thread : List.of(holder, follower, checkpointer)) {
                thread.join(20_000);
                assertFalse(thread.isAlive(), "a thread never finished after the gate opened");
            }
            if (failure.get() != null) {
                throw new AssertionError("a force or the checkpoint failed", failure.get());
            }
            assertEquals(1, store.stats().compactions());
            assertArrayEquals(pattern(5000, 1), readAll(first));
            assertArrayEquals(pattern(3000, 2), readAll(later));
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            assertArrayEquals(pattern(5000, 1), readAll(store.open("first", false)));
            assertArrayEquals(pattern(3000, 2), readAll(store.open("later", false)));
        }
    }

    /**
     * Reads see the bytes of every buffer whose commit is still in flight: two commits held at the
     * device, one on each lane, plus records in the current buffer; none of them is on the device.
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void readsSeeTheBytesOfEveryBufferStillInFlight(String backend) throws Exception {
        GatedVsic gated = Stores.formattedGated(backend, image(), BLOCKS);
        try (LogStore store = LogStore.open(gated)) {
            LogFile a = store.open("a", true);
            LogFile b = store.open("b", true);
            LogFile c = store.open("c", true);
            a.write(ByteBuffer.wrap(pattern(9000, 1)), 0); // on the device before the gate closes
            store.force();
            gated.closeGate(2);
            a.write(ByteBuffer.wrap(pattern(3000, 2)), 4000); // over part of the durable bytes
            java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
            Thread holdA = Thread.ofPlatform().start(() -> failure.compareAndSet(null, forceOutcome(a)));
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (gated.held() < 1 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertEquals(1, gated.held(), "the first commit never reached the device");
            b.write(ByteBuffer.wrap(pattern(5000, 3)), 0);
            Thread holdB = Thread.ofPlatform().start(() -> failure.compareAndSet(null, forceOutcome(b)));
            assertTrue(gated.awaitHeld(10, java.util.concurrent.TimeUnit.SECONDS), "two commits never reached the device");
            c.write(ByteBuffer.wrap(pattern(2000, 4)), 0); // stays in the current buffer
            byte[] expectedA = pattern(9000, 1);
            System.arraycopy(pattern(3000, 2), 0, expectedA, 4000, 3000);
            assertArrayEquals(expectedA, readAll(a), "bytes of the first held commit over durable ones");
            assertArrayEquals(pattern(5000, 3), readAll(b), "bytes of the second held commit");
            assertArrayEquals(pattern(2000, 4), readAll(c), "bytes of the current buffer");
            gated.open();
            holdA.join(20_000);
            holdB.join(20_000);
            assertFalse(holdA.isAlive() || holdB.isAlive(), "a force never returned after the gate opened");
            if (failure.get() != null) {
                throw new AssertionError("a force failed", failure.get());
            }
            store.force();
            assertArrayEquals(expectedA, readAll(a));
            assertArrayEquals(pattern(5000, 3), readAll(b));
        }
    }

    @Test
    void oneCommitLaneByDefaultTwoOnRequestAndAnyOtherCountIsRefused() throws IOException {
        assertEquals(2, LogStore.vsicConfig("v", BLOCKS, java.util.Map.of()).queues());
        assertEquals(3, LogStore.vsicConfig("v", BLOCKS, java.util.Map.of(LogStore.OPTION_COMMIT_LANES, "2")).queues());
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> LogStore.vsicConfig("v", BLOCKS, java.util.Map.of(LogStore.OPTION_COMMIT_LANES, "3")));
        assertTrue(refused.getMessage().contains("commitLanes='3'"), refused.getMessage());
        java.util.Map<String, String> options = java.util.Map.of(io.arrakis.storage.VsaFile.OPTION_PATH, image().toString());
        try (Vsic vsic = io.arrakis.device.DeviceBackends.vsicBackend("file").open(LogStore.vsicConfig("v", BLOCKS, options))) {
            LogStore.format(vsic);
        }
        try (LogStore store = LogStore.open(io.arrakis.device.DeviceBackends.vsicBackend("file")
                .open(LogStore.vsicConfig("v", BLOCKS, options)))) {
            assertEquals(1, store.commitLanes());
            LogFile file = store.open("f", true);
            file.write(ByteBuffer.wrap(pattern(5000, 1)), 0);
            file.force(false);
            assertArrayEquals(pattern(5000, 1), readAll(file));
        }
    }

    /** Null if {@code file}'s force returned, else what it threw. */
    private static Throwable forceOutcome(LogFile file) {
        try {
            file.force(false);
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    /** Waits (bounded, 10 s) until the store's device has done {@code flushes} flushes in all. */
    private static boolean awaitDeviceFlushes(LogStore store, long flushes) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (store.ioCounters().flushes() < flushes && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        return store.ioCounters().flushes() >= flushes;
    }

    /**
     * The end of a commit wakes the forces it served and one force of the next buffer to lead;
     * commits that no force asked for (a full buffer, a checkpoint) must hand over the same way,
     * or forces waiting behind them would sleep forever (each wait here is bounded).
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void forcesWaitingBehindFullBufferCommitsAndCheckpointsAreAllServed(String backend) throws Exception {
        int forcers = 4;
        int appendsEach = 100;
        byte[] bulk = pattern(300 << 10, 7);
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            List<LogFile> files = new ArrayList<>();
            for (int t = 0; t < forcers; t++) {
                files.add(store.open("w" + t, true));
            }
            LogFile big = store.open("big", true);
            ExecutorService pool = Executors.newFixedThreadPool(forcers + 1);
            try {
                List<Future<?>> done = new ArrayList<>();
                done.add(pool.submit(() -> {
                    for (int i = 0; i < 40; i++) { // never forced: buffers fill, the region wraps
                        big.write(ByteBuffer.wrap(bulk), 0);
                    }
                    return null;
                }));
                for (int t = 0; t < forcers; t++) {
                    LogFile file = files.get(t);
                    int seed = t;
                    done.add(pool.submit(() -> {
                        for (int i = 0; i < appendsEach; i++) {
                            file.append(ByteBuffer.wrap(pattern(64, seed * 1000 + i)));
                            file.force(false);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get(60, java.util.concurrent.TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            assertTrue(store.stats().compactions() >= 1, store.stats().toString());
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            for (int t = 0; t < forcers; t++) {
                byte[] all = readAll(store.open("w" + t, false));
                assertEquals(64 * appendsEach, all.length);
                for (int i = 0; i < appendsEach; i++) {
                    assertArrayEquals(pattern(64, t * 1000 + i), java.util.Arrays.copyOfRange(all, i * 64, i * 64 + 64));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void concurrentForcesAcrossAutomaticCompactionsLoseNothing(String backend) throws Exception {
        int threads = 4;
        int rounds = 150;
        try (LogStore store = Stores.format(backend, image(), 64)) { // regions of 31 blocks: a checkpoint every ~30 forces
            LogFile file = store.open("f", true);
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    done.add(pool.submit(() -> {
                        for (int i = 0; i < rounds; i++) {
                            file.write(ByteBuffer.wrap(pattern(3000, thread * 10_000 + i)), thread * 3000L);
                            file.force(false);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            assertTrue(store.stats().compactions() >= 5, store.stats().toString());
        }
        try (LogStore store = Stores.open(backend, image(), 64)) {
            byte[] all = readAll(store.open("f", false));
            for (int t = 0; t < threads; t++) {
                assertArrayEquals(pattern(3000, t * 10_000 + rounds - 1),
                        java.util.Arrays.copyOfRange(all, t * 3000, t * 3000 + 3000), "thread " + t);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aFullVsaRefusesWithItsNameAndSpaceLeftAndLosesNothingForced(String backend) throws IOException {
        int written = 0;
        try (LogStore store = Stores.format(backend, image(), 64)) {
            LogFile file = store.open("f", true);
            StoreFullException full = null;
            for (int i = 0; i < 1000 && full == null; i++) {
                try {
                    file.append(ByteBuffer.wrap(pattern(2000, i)));
                    file.force(false);
                    written++;
                } catch (StoreFullException e) {
                    full = e;
                }
            }
            assertNotNull(full, "a 256 KiB VSA cannot take 2 MB");
            assertTrue(full.getMessage().startsWith("VSA log-" + backend + " is full"), full.getMessage());
            assertTrue(full.getMessage().contains("bytes left"), full.getMessage());
            assertEquals(2000L * written, file.size());
        }
        try (LogStore store = Stores.open(backend, image(), 64)) {
            byte[] all = readAll(store.open("f", false));
            assertEquals(2000 * written, all.length);
            for (int i = 0; i < written; i++) {
                assertArrayEquals(pattern(2000, i), java.util.Arrays.copyOfRange(all, i * 2000, i * 2000 + 2000));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void readsSeeWritesBeforeTheyAreForced(String backend) throws IOException {
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile file = store.open("f", true);
            file.write(ByteBuffer.wrap(pattern(100, 1)), 10);
            ByteBuffer buffer = ByteBuffer.allocate(200);
            assertEquals(110, file.read(buffer, 0));
            assertEquals(0, buffer.get(9));
            assertEquals(pattern(100, 1)[0], buffer.get(10));
            assertEquals(-1, file.read(ByteBuffer.allocate(1), 110));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aDamagedSuperblockFallsBackToTheOlderGenerationAndSaysSo(String backend) throws IOException {
        long before;
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            before = store.recovery().generation();
            store.open("f", true).append(ByteBuffer.wrap(pattern(100, 1)));
            store.checkpoint();
            assertEquals(1, store.stats().compactions());
        }
        try (RandomAccessFile raw = new RandomAccessFile(image().toFile(), "rw")) {
            long slot = (before + 1) % 2;
            raw.seek(slot * BLOCK + 40); // inside the checksummed fields
            raw.write(0x7f);
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            RecoveryReport report = store.recovery();
            assertFalse(report.clean());
            assertEquals(before, report.generation());
            assertTrue(report.superblockProblem().startsWith("superblock slot " + (before + 1) % 2
                    + " has the magic but fails its checksum"), report.toString());
            assertTrue(report.toString().contains("may predate the last checkpoint"), report.toString());
            assertArrayEquals(pattern(100, 1), readAll(store.open("f", false)), "the old region is intact");
        }
    }

    @Test
    void aVsaWithoutALogIsRefusedWithWhatToDo() throws IOException {
        try (Vsic vsic = Stores.vsic("file", image(), 64)) {
            var refused = assertThrows(IOException.class, () -> LogStore.open(vsic));
            assertTrue(refused.getMessage().contains("holds no Arrakis log"), refused.getMessage());
            assertTrue(refused.getMessage().contains("LogStore.format"), refused.getMessage());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void aTornTailIsDroppedAndEverythingBeforeItKept(String backend) throws IOException {
        long lastRecordAt;
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile file = store.open("f", true);
            for (int i = 0; i < 10; i++) {
                file.append(ByteBuffer.wrap(pattern(1000, i)));
                file.force(false);
            }
            lastRecordAt = store.stats().logBytes();
        }
        long regionStart = 2L * BLOCK;
        try (RandomAccessFile raw = new RandomAccessFile(image().toFile(), "rw")) {
            // The last commit group is one block; tear its second half (a record spans it).
            long lastGroup = regionStart + lastRecordAt - BLOCK;
            raw.seek(lastGroup + 600);
            raw.write(new byte[200]);
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            RecoveryReport report = store.recovery();
            assertNotNull(report.stopReason(), report.toString());
            assertTrue(report.stopReason().contains("fails its checksum"), report.toString());
            byte[] all = readAll(store.open("f", false));
            assertEquals(9000, all.length);
            for (int i = 0; i < 9; i++) {
                assertArrayEquals(pattern(1000, i), java.util.Arrays.copyOfRange(all, i * 1000, i * 1000 + 1000));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void damageInTheMiddleKeepsWhatPrecedesItAndReportsWhatFollows(String backend) throws IOException {
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile file = store.open("f", true);
            for (int i = 0; i < 20; i++) {
                file.append(ByteBuffer.wrap(pattern(3000, i)));
                file.force(false); // one group (one block or two) per append
            }
        }
        // Each append is a 3,048-byte record in a group of its own, so group i starts at block 2 + i
        // (the CREATE record shares group 0 with nothing: it was forced with the first append).
        long victimGroup = 2L * BLOCK + 10L * BLOCK;
        try (RandomAccessFile raw = new RandomAccessFile(image().toFile(), "rw")) {
            raw.seek(victimGroup + 100);
            int b = raw.read();
            raw.seek(victimGroup + 100);
            raw.write(b ^ 0x40);
        }
        byte[] survived;
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            RecoveryReport report = store.recovery();
            assertFalse(report.clean());
            assertTrue(report.stopReason().contains("checksum"), report.toString());
            assertTrue(report.droppedRecords() >= 9, report.toString());
            survived = readAll(store.open("f", false));
            assertTrue(survived.length >= 9 * 3000 && survived.length < 20 * 3000, "kept " + survived.length);
            for (int i = 0; i < survived.length / 3000; i++) {
                assertArrayEquals(pattern(3000, i), java.util.Arrays.copyOfRange(survived, i * 3000, i * 3000 + 3000));
            }
            store.open("f", false).append(ByteBuffer.wrap(pattern(1, 99)));
        }
        try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
            assertTrue(store.recovery().clean(), "the dropped records were erased: " + store.recovery());
            assertEquals(survived.length + 1, store.open("f", false).size());
        }
    }

    @Test
    void aReadOnlyOpenReportsDamageReadsAndChangesNothing() throws IOException {
        try (LogStore store = Stores.format("file", image(), BLOCKS)) {
            LogFile file = store.open("f", true);
            for (int i = 0; i < 6; i++) {
                file.append(ByteBuffer.wrap(pattern(3000, i)));
                file.force(false);
            }
        }
        long victimGroup = 2L * BLOCK + 3L * BLOCK;
        try (RandomAccessFile raw = new RandomAccessFile(image().toFile(), "rw")) {
            raw.seek(victimGroup + 100);
            int b = raw.read();
            raw.seek(victimGroup + 100);
            raw.write(b ^ 0x40);
        }
        byte[] before = java.nio.file.Files.readAllBytes(image());
        RecoveryReport readOnlyReport;
        try (LogStore store = LogStore.openReadOnly(Stores.vsic("file", image(), BLOCKS))) {
            readOnlyReport = store.recovery();
            assertTrue(store.readOnly());
            assertTrue(readOnlyReport.stopReason().contains("checksum"), readOnlyReport.toString());
            assertTrue(readOnlyReport.droppedRecords() >= 2, readOnlyReport.toString());
            assertEquals(3 * 3000, readAll(store.open("f", false)).length);
            IOException refused = assertThrows(IOException.class,
                    () -> store.open("f", false).append(ByteBuffer.wrap(new byte[1])));
            assertTrue(refused.getMessage().contains("read-only"), refused.getMessage());
            assertThrows(IOException.class, () -> store.open("new", true));
            assertThrows(IOException.class, store::force);
        }
        assertArrayEquals(before, java.nio.file.Files.readAllBytes(image()), "a read-only open wrote to the VSA");
        try (LogStore store = Stores.open("file", image(), BLOCKS)) {
            assertEquals(readOnlyReport, store.recovery(), "the read-only report is what a real open finds");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void garbageAnywhereNeverThrowsAnUnexplainedException(String backend) throws IOException {
        java.util.Random random = new java.util.Random(7);
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile file = store.open("f", true);
            for (int i = 0; i < 30; i++) {
                file.append(ByteBuffer.wrap(pattern(1 + random.nextInt(6000), i)));
                if (random.nextBoolean()) {
                    file.force(false);
                }
            }
        }
        byte[] pristine = java.nio.file.Files.readAllBytes(image());
        for (int round = 0; round < 20; round++) {
            byte[] damaged = pristine.clone();
            int flips = 1 + random.nextInt(50);
            for (int i = 0; i < flips; i++) {
                int at = 2 * BLOCK + random.nextInt(40 * BLOCK);
                damaged[at] = (byte) random.nextInt(256);
            }
            java.nio.file.Files.write(image(), damaged);
            try (LogStore store = Stores.open(backend, image(), BLOCKS)) {
                RecoveryReport report = store.recovery();
                assertTrue(report.recordsReplayed() >= 0);
                if (store.exists("f")) {
                    readAll(store.open("f", false));
                }
            }
        }
    }


}

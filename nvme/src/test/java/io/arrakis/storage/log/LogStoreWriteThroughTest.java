package io.arrakis.storage.log;

import static io.arrakis.storage.log.Stores.pattern;
import static io.arrakis.storage.log.Stores.readAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link LogStore#writeThrough()}, the mode the agent switches a mounted store to at the JVM's
 * exit: every change made before the switch, and each one after it before it returns, is on the
 * device without a flush, so a process that ends then (its image copied as it stands, never
 * closed) loses nothing, as the kernel's page cache loses nothing at a process's exit.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LogStoreWriteThroughTest {
    private static final long BLOCKS = 1024;

    @TempDir
    Path directory;

    private Path image() {
        return directory.resolve("vsa.img");
    }

    /** The image as the device holds it now, as the next process would find it (the store stays open, unforced). */
    private LogStore reopenedCopy(String backend) throws IOException {
        Path copy = directory.resolve("after-exit.img");
        Files.copy(image(), copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        return Stores.open(backend, copy, BLOCKS);
    }

    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void everyChangeIsWrittenBeforeItReturnsAndOnlyForceFlushes(String backend) throws IOException {
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            LogFile kept = store.open("kept", true);
            kept.write(ByteBuffer.wrap(pattern(3000, 1)), 0);
            store.force();
            kept.append(ByteBuffer.wrap(pattern(500, 2))); // buffered: the switch writes it
            LogStore.IoCounters before = store.ioCounters();
            store.writeThrough();
            LogStore.IoCounters after = store.ioCounters();
            assertEquals(before.writes() + 1, after.writes(), "the buffered append written at the switch");
            assertEquals(before.flushes(), after.flushes(), "and not flushed");

            LogFile created = store.open("created", true);
            created.write(ByteBuffer.wrap(pattern(9000, 3)), 0);
            kept.append(ByteBuffer.wrap(pattern(700, 4)));
            store.open("doomed", true).write(ByteBuffer.wrap(pattern(10, 5)), 0);
            store.delete("doomed");
            store.rename("created", "renamed");
            kept.truncate(3000 + 500 + 300);
            LogStore.IoCounters changed = store.ioCounters();
            assertEquals(after.writes() + 8, changed.writes(), "one device write per change (8 changes)");
            assertEquals(after.flushes(), changed.flushes(), "no flush without a force");

            try (LogStore next = reopenedCopy(backend)) {
                assertEquals(List.of("kept", "renamed"), next.list());
                byte[] expected = new byte[3800];
                System.arraycopy(pattern(3000, 1), 0, expected, 0, 3000);
                System.arraycopy(pattern(500, 2), 0, expected, 3000, 500);
                System.arraycopy(pattern(300, 4), 0, expected, 3500, 300);
                assertArrayEquals(expected, readAll(next.open("kept", false)));
                assertArrayEquals(pattern(9000, 3), readAll(next.open("renamed", false)));
            }

            store.force();
            assertEquals(changed.flushes() + 1, store.ioCounters().flushes(), "a force flushes what was written");
            assertEquals(changed.writes(), store.ioCounters().writes(), "and has nothing left to write");
            store.force();
            assertEquals(changed.flushes() + 1, store.ioCounters().flushes(), "nothing unflushed: no flush");
        }
    }

    /**
     * The switch comes while a commit is held at the device and later writes wait in the buffer:
     * it returns only once the held commit completed and the buffer is written.
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void theSwitchWaitsForTheCommitInFlightAndWritesWhatFollowedIt(String backend) throws Exception {
        GatedVsic gated = Stores.formattedGated(backend, image(), BLOCKS);
        try (LogStore store = LogStore.open(gated)) {
            LogFile first = store.open("first", true);
            LogFile second = store.open("second", true);
            store.force();
            first.write(ByteBuffer.wrap(pattern(5000, 1)), 0);
            gated.closeGate();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread forcing = Thread.ofPlatform().start(() -> run(failure, () -> first.force(false)));
            assertTrue(gated.awaitHeld(10, TimeUnit.SECONDS), "the commit never reached the device");
            second.write(ByteBuffer.wrap(pattern(3000, 2)), 0);
            Thread switching = Thread.ofPlatform().start(() -> run(failure, store::writeThrough));
            switching.join(200);
            assertTrue(switching.isAlive(), "the switch returned while a commit was still in flight");
            gated.open();
            switching.join(20_000);
            forcing.join(20_000);
            assertFalse(switching.isAlive() || forcing.isAlive(), "the switch or the force never returned");
            if (failure.get() != null) {
                throw new AssertionError("the switch or the force failed", failure.get());
            }
            try (LogStore next = reopenedCopy(backend)) {
                assertArrayEquals(pattern(5000, 1), readAll(next.open("first", false)));
                assertArrayEquals(pattern(3000, 2), readAll(next.open("second", false)), "written at the switch");
            }
        }
    }

    /**
     * Writers (forcing now and then) run across the switch and past it; once they stop, the
     * device holds every write that returned, though the last ones were never forced.
     */
    @ParameterizedTest
    @ValueSource(strings = {"file", "io_uring"})
    void writersRunningAcrossTheSwitchLoseNothing(String backend) throws Exception {
        int threads = 4;
        int writes = 300;
        try (LogStore store = Stores.format(backend, image(), BLOCKS)) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            java.util.concurrent.CountDownLatch halfway = new java.util.concurrent.CountDownLatch(threads);
            List<Thread> writers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                writers.add(Thread.ofPlatform().start(() -> run(failure, () -> {
                    LogFile file = store.open("t" + id, true);
                    for (int i = 0; i < writes; i++) {
                        file.append(ByteBuffer.wrap(pattern(100, id * 1000 + i)));
                        if (i % 25 == 0) {
                            file.force(false);
                        }
                        if (i == writes / 2) {
                            halfway.countDown();
                        }
                    }
                })));
            }
            assertTrue(halfway.await(20, TimeUnit.SECONDS), "the writers never got halfway");
            store.writeThrough();
            for (Thread writer : writers) {
                writer.join(20_000);
                assertFalse(writer.isAlive(), "a writer never finished");
            }
            if (failure.get() != null) {
                throw new AssertionError("a writer failed", failure.get());
            }
            try (LogStore next = reopenedCopy(backend)) {
                for (int t = 0; t < threads; t++) {
                    byte[] all = readAll(next.open("t" + t, false));
                    assertEquals(writes * 100, all.length, "thread " + t);
                    for (int i = 0; i < writes; i++) {
                        assertArrayEquals(pattern(100, t * 1000 + i),
                                java.util.Arrays.copyOfRange(all, i * 100, i * 100 + 100), "thread " + t + " write " + i);
                    }
                }
            }
        }
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void run(AtomicReference<Throwable> failure, Step step) {
        try {
            step.run();
        } catch (Throwable e) {
            failure.compareAndSet(null, e);
        }
    }
}

package io.arrakis.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.storage.log.LogStore;
import io.arrakis.storage.log.StoreFullException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PersistentLogTest {
    @TempDir
    Path directory;

    @Test
    void recordsComeBackInOrderAfterReopenWithTheirPositions() throws IOException {
        Path image = directory.resolve("vsa.img");
        List<Long> positions = new ArrayList<>();
        try (LogStore store = PersistentLogs.format("file", image, 512);
                PersistentLog log = PersistentLog.open(store, "aof", 4096)) {
            for (int i = 0; i < 20; i++) {
                positions.add(log.append(MemorySegment.ofArray(record(i))));
            }
            log.force();
        }
        try (LogStore store = PersistentLogs.open("file", image, 512);
                PersistentLog log = PersistentLog.open(store, "aof", 4096)) {
            List<PersistentLog.Entry> entries = PersistentLogs.all(log, 0);
            assertEquals(positions, entries.stream().map(PersistentLog.Entry::position).toList());
            for (int i = 0; i < 20; i++) {
                assertArrayEquals(record(i), PersistentLogs.bytes(entries.get(i)));
            }
            assertEquals(positions.subList(7, 20),
                    PersistentLogs.all(log, positions.get(7)).stream().map(PersistentLog.Entry::position).toList());
            assertTrue(store.list().stream().filter(n -> n.startsWith("aof.seg.")).count() > 1,
                    "4 KiB segments roll over: " + store.list());
        }
    }

    private static byte[] record(int i) {
        byte[] bytes = new byte[300 + i];
        java.util.Arrays.fill(bytes, (byte) i);
        return bytes;
    }

    @Test
    void aWriterThatThrowsAppendsNothing() throws IOException {
        try (LogStore store = PersistentLogs.format("file", directory.resolve("vsa.img"), 512);
                PersistentLog log = PersistentLog.open(store, "aof")) {
            long first = log.append(3, target -> target.copyFrom(MemorySegment.ofArray(new byte[] {1, 2, 3})));
            assertThrows(IllegalStateException.class, () -> log.append(100, target -> {
                target.set(ValueLayout.JAVA_BYTE, 0, (byte) 9);
                throw new IllegalStateException("application failed mid-record");
            }));
            long second = log.append(ByteBuffer.wrap(new byte[] {4}));
            log.force();
            assertEquals(first + PersistentLog.RECORD_HEADER + 3, second);
            List<PersistentLog.Entry> entries = PersistentLogs.all(log, 0);
            assertEquals(2, entries.size());
            assertArrayEquals(new byte[] {4}, PersistentLogs.bytes(entries.get(1)));
            IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                    () -> log.append(ByteBuffer.allocate(log.maxRecordBytes() + 1)));
            assertTrue(tooLong.getMessage().contains("records hold 0.." + log.maxRecordBytes()), tooLong.getMessage());
        }
    }

    @Test
    void unforcedRecordsAreNotIteratedAndForcedOnesAre() throws IOException {
        try (LogStore store = PersistentLogs.format("file", directory.resolve("vsa.img"), 512);
                PersistentLog log = PersistentLog.open(store, "aof")) {
            log.append(ByteBuffer.wrap(new byte[] {1}));
            assertEquals(0, PersistentLogs.all(log, 0).size());
            log.force();
            assertEquals(1, PersistentLogs.all(log, 0).size());
        }
    }

    @Test
    void aFullLogSaysSoKeepsWhatWasForcedAndTrimReclaimsTheSpace() throws IOException {
        Path image = directory.resolve("vsa.img");
        // 64 blocks: two regions of 31 blocks (124 KiB).
        byte[] record = new byte[4000];
        List<Long> forced = new ArrayList<>();
        try (LogStore store = PersistentLogs.format("file", image, 64);
                PersistentLog log = PersistentLog.open(store, "aof", 16 << 10)) {
            StoreFullException full = null;
            for (int i = 0; i < 100 && full == null; i++) {
                try {
                    record[0] = (byte) i;
                    long position = log.append(ByteBuffer.wrap(record));
                    log.force();
                    forced.add(position);
                } catch (StoreFullException e) {
                    full = e;
                }
            }
            assertTrue(full != null, "a 256 KiB VSA cannot take 400 KB of untrimmed records");
            assertTrue(full.getMessage().contains("persistent log 'aof'") && full.getMessage().contains("trim(")
                    && full.getMessage().contains(store.vsaName()), full.getMessage());
            long endWhenFull = log.endPosition();
            assertEquals(forced, PersistentLogs.all(log, 0).stream().map(PersistentLog.Entry::position).toList());
            log.trim(endWhenFull);
            log.force();
            for (int i = 0; i < 20; i++) {
                log.append(ByteBuffer.wrap(record));
                log.force();
                log.trim(log.endPosition());
            }
            assertTrue(store.stats().compactions() > 0, "space came back through checkpoints");
            assertTrue(log.endPosition() > endWhenFull);
        }
        try (LogStore store = PersistentLogs.open("file", image, 64);
                PersistentLog log = PersistentLog.open(store, "aof", 16 << 10)) {
            assertEquals(0, PersistentLogs.all(log, 0).size());
            long next = log.append(ByteBuffer.wrap(new byte[] {7}));
            assertEquals(log.trimPosition(), next, "positions go on after a full trim and a reopen, never reused");
        }
    }

    @Test
    void concurrentForcesShareFlushes() throws Exception {
        try (LogStore store = PersistentLogs.format("file", directory.resolve("vsa.img"), 4096);
                PersistentLog log = PersistentLog.open(store, "aof")) {
            int threads = 8;
            int each = 40;
            CountDownLatch start = new CountDownLatch(1);
            List<Thread> writers = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int t = 0; t < threads; t++) {
                writers.add(Thread.ofPlatform().start(() -> {
                    try {
                        start.await();
                        for (int i = 0; i < each; i++) {
                            log.append(ByteBuffer.wrap(new byte[100]));
                            log.force();
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            long flushesBefore = store.stats().deviceFlushes();
            start.countDown();
            for (Thread writer : writers) {
                writer.join(60_000);
            }
            assertTrue(failures.isEmpty(), failures.toString());
            long flushes = store.stats().deviceFlushes() - flushesBefore;
            assertEquals(threads * each, PersistentLogs.all(log, 0).size());
            assertTrue(flushes < threads * each, flushes + " flushes for " + threads * each + " forces");
        }
    }

    @Test
    void trimBeyondTheEndIsRefused() throws IOException {
        try (LogStore store = PersistentLogs.format("file", directory.resolve("vsa.img"), 512);
                PersistentLog log = PersistentLog.open(store, "aof")) {
            log.append(ByteBuffer.wrap(new byte[10]));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> log.trim(1000));
            assertTrue(e.getMessage().contains("beyond its end 18"), e.getMessage());
        }
    }
}

package io.arrakis.storage;

import io.arrakis.storage.log.LogStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Random appends, forces, trims, iterations, clean reopens and simulated crashes (a copy of the
 * image taken while the log is open) against a model: the history of every record appended, by
 * position. After a clean reopen the log holds exactly the untrimmed history; after a crash it
 * holds a gap-free run of the history that starts at a trim position no older than the last
 * forced one and includes every record forced before the copy.
 */
class PersistentLogModelTest {
    /** 2 MiB: regions of 1 MiB, so trimmed segments must be reclaimed by checkpoints for the runs to go on. */
    private static final long BLOCKS = 512;
    private static final long SEGMENT = 16 << 10;

    @Provide
    Arbitrary<String> backends() {
        return Arbitraries.of(TestAreas.BACKENDS);
    }

    @Property(tries = 25)
    void theLogAgreesWithTheModel(@ForAll("backends") String backend, @ForAll long seed) throws IOException {
        Random random = new Random(seed);
        Path directory = Files.createTempDirectory("plog-model");
        Path image = directory.resolve("vsa.img");
        Path crashImage = directory.resolve("crash.img");
        TreeMap<Long, byte[]> history = new TreeMap<>();
        long trim = 0;
        long forcedEnd = 0;
        long forcedTrim = 0;
        List<String> trace = new ArrayList<>();
        LogStore store = PersistentLogs.format(backend, image, BLOCKS);
        PersistentLog log = PersistentLog.open(store, "aof", SEGMENT);
        try {
            for (int step = 0; step < 120; step++) {
                int choice = random.nextInt(100);
                if (choice < 50) {
                    byte[] data = new byte[random.nextInt(3000)];
                    random.nextBytes(data);
                    long expected = log.endPosition();
                    long position = random.nextBoolean() ? log.append(ByteBuffer.wrap(data))
                            : log.append(data.length, target -> target.copyFrom(java.lang.foreign.MemorySegment.ofArray(data)));
                    trace.add("append " + data.length + " -> " + position);
                    check(position == expected, "append returned " + position + ", not the end " + expected, trace);
                    history.put(position, data);
                    check(log.endPosition() == position + PersistentLog.RECORD_HEADER + data.length, "end moved wrongly",
                            trace);
                } else if (choice < 65) {
                    trace.add("force");
                    log.force();
                    forcedEnd = log.endPosition();
                    forcedTrim = trim;
                    check(log.durablePosition() == forcedEnd, "durable " + log.durablePosition() + " after force, end "
                            + forcedEnd, trace);
                } else if (choice < 75) {
                    long upTo = pickPosition(random, history, trim, log.endPosition());
                    trace.add("trim " + upTo);
                    log.trim(upTo);
                    trim = Math.max(trim, upTo);
                } else if (choice < 85) {
                    long from = pickPosition(random, history, 0, log.endPosition());
                    trace.add("iterate " + from);
                    expectEntries(PersistentLogs.all(log, from), history, Math.max(from, trim), log.durablePosition(),
                            trace);
                } else if (choice < 93) {
                    trace.add("reopen");
                    log.close();
                    store.close();
                    store = PersistentLogs.open(backend, image, BLOCKS);
                    log = PersistentLog.open(store, "aof", SEGMENT);
                    forcedEnd = log.endPosition();
                    forcedTrim = trim;
                    check(log.trimPosition() == trim, "trim position " + log.trimPosition() + " after reopen, expected "
                            + trim, trace);
                    check(forcedEnd == (history.isEmpty() ? trim : Math.max(trim, lastEnd(history))),
                            "end " + forcedEnd + " after reopen", trace);
                    expectEntries(PersistentLogs.all(log, 0), history, trim, forcedEnd, trace);
                } else {
                    trace.add("crash");
                    Files.copy(image, crashImage, StandardCopyOption.REPLACE_EXISTING);
                    try (LogStore crashed = PersistentLogs.open(backend, crashImage, BLOCKS);
                            PersistentLog recovered = PersistentLog.open(crashed, "aof", SEGMENT)) {
                        long recoveredTrim = recovered.trimPosition();
                        check(recoveredTrim >= forcedTrim && recoveredTrim <= trim, "trim " + recoveredTrim
                                + " after a crash, outside [" + forcedTrim + ", " + trim + "]", trace);
                        List<PersistentLog.Entry> entries = PersistentLogs.all(recovered, 0);
                        long expectNext = entries.isEmpty() ? -1 : entries.getFirst().position();
                        for (PersistentLog.Entry entry : entries) {
                            check(entry.position() >= recoveredTrim, "record " + entry.position() + " below the trim",
                                    trace);
                            check(entry.position() == expectNext, "gap before record " + entry.position(), trace);
                            byte[] expected = history.get(entry.position());
                            check(expected != null && Arrays.equals(expected, PersistentLogs.bytes(entry)),
                                    "record " + entry.position() + " differs from what was appended", trace);
                            expectNext = entry.next();
                        }
                        for (var record : history.subMap(recoveredTrim, forcedEnd).entrySet()) {
                            check(entries.stream().anyMatch(e -> e.position() == record.getKey()), "forced record "
                                    + record.getKey() + " lost in a crash (recovered " + entries.size() + " records)",
                                    trace);
                        }
                    }
                }
            }
        } finally {
            log.close();
            store.close();
            Files.deleteIfExists(crashImage);
            Files.deleteIfExists(image);
            Files.deleteIfExists(directory);
        }
    }

    /** A record's position, or the end, or (rarely) a position inside a record. */
    private static long pickPosition(Random random, TreeMap<Long, byte[]> history, long floor, long end) {
        List<Long> candidates = new ArrayList<>(history.tailMap(floor, true).keySet());
        candidates.add(end);
        long pick = candidates.get(random.nextInt(candidates.size()));
        if (random.nextInt(8) == 0 && pick < end) {
            pick += 1 + random.nextInt(4);
        }
        return Math.min(pick, end);
    }

    private static long lastEnd(TreeMap<Long, byte[]> history) {
        var last = history.lastEntry();
        return last.getKey() + PersistentLog.RECORD_HEADER + last.getValue().length;
    }

    private static void expectEntries(List<PersistentLog.Entry> entries, TreeMap<Long, byte[]> history, long from,
            long durable, List<String> trace) {
        List<Long> expected = new ArrayList<>();
        for (var record : history.tailMap(from, true).entrySet()) {
            if (record.getKey() + PersistentLog.RECORD_HEADER + record.getValue().length <= durable) {
                expected.add(record.getKey());
            }
        }
        List<Long> got = entries.stream().map(PersistentLog.Entry::position).toList();
        check(got.equals(expected), "iterate from " + from + " gave " + got + ", expected " + expected, trace);
        for (PersistentLog.Entry entry : entries) {
            check(Arrays.equals(history.get(entry.position()), PersistentLogs.bytes(entry)),
                    "record " + entry.position() + " has other bytes", trace);
        }
    }

    private static void check(boolean condition, String message, List<String> trace) {
        if (!condition) {
            throw new AssertionError(message + "; steps: "
                    + String.join(", ", trace.subList(Math.max(0, trace.size() - 30), trace.size())));
        }
    }
}

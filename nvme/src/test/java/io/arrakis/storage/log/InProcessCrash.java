package io.arrakis.storage.log;

import io.arrakis.device.Vsic;
import io.arrakis.storage.CrashingVsic;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The crash-consistency check of {@link LogStoreCrashTest} without a child JVM per crash, for
 * devices where JVM starts are dear (the emulated-hardware lab): {@value #THREADS} threads
 * append {@link CrashWriter} records and force, noting each acknowledged record, on a store over
 * a {@link CrashingVsic} that dies at a random write (torn or not); the store is then abandoned
 * unclosed, the VSA reopened from scratch, and every acknowledged record must be there, every
 * file must hold whole records only. Not thread-safe; one run at a time.
 */
public final class InProcessCrash {
    /** Opens the VSA under test afresh (a new VSIC; nothing of the last one's memory survives). */
    @FunctionalInterface
    public interface Opener {
        Vsic open() throws IOException;
    }

    static final int THREADS = 3;
    private static final int APPENDS_PER_THREAD = 120;

    private InProcessCrash() {}

    /** Formats the VSA, then crashes and recovers {@code rounds} times; returns a one-line summary. */
    public static String run(Opener opener, int rounds, long seed) throws Exception {
        Random random = new Random(seed);
        try (Vsic vsic = opener.open()) {
            LogStore.format(vsic);
        }
        int[] ackedEpoch = new int[THREADS];
        int[] acknowledged = new int[THREADS];
        Arrays.fill(ackedEpoch, -1);
        Arrays.fill(acknowledged, -1);
        long totalAcks = 0;
        int unclean = 0;
        int torn = 0;
        for (int round = 0; round < rounds; round++) {
            boolean tear = random.nextBoolean();
            CrashingVsic crashing = new CrashingVsic(opener.open(), 1 + random.nextInt(THREADS * APPENDS_PER_THREAD
                    / 2), tear);
            LogStore store;
            try {
                store = LogStore.open(crashing);
            } catch (IOException e) {
                // The crash came during recovery's own writes (erasing a torn tail): fine, try again.
                crashing.close();
                continue;
            }
            totalAcks += writeUntilCrash(store, ackedEpoch, acknowledged);
            // The store is abandoned, not closed: nothing it held in memory reaches the device.
            if (crashing.crashDescription().contains("tearing")) {
                torn++;
            }
            crashing.close();
            String where = "round " + round + " (" + crashing.crashDescription() + ")";
            if (Boolean.getBoolean("arrakis.test.crashTrace")) {
                System.out.println(where);
            }
            try (Vsic vsic = opener.open(); LogStore recovered = LogStore.open(vsic)) {
                if (Boolean.getBoolean("arrakis.test.crashTrace")) {
                    System.out.println("  recovered: " + recovered.recovery());
                }
                if (!recovered.recovery().clean()) {
                    unclean++;
                }
                verify(recovered, ackedEpoch, acknowledged, where);
            }
        }
        if (totalAcks <= rounds) {
            throw new AssertionError("the writers made little progress: " + totalAcks + " acknowledged appends in "
                    + rounds + " rounds");
        }
        return rounds + " in-process crashes (" + torn + " with a torn write), " + totalAcks
                + " acknowledged appends, all present; " + unclean + " recoveries found a torn or unreachable tail";
    }

    /** Runs the writers until the VSIC dies (or each made its appends); returns how many were acknowledged. */
    private static long writeUntilCrash(LogStore store, int[] ackedEpoch, int[] acknowledged) throws Exception {
        long[] acks = new long[1];
        AtomicReference<Throwable> unexpected = new AtomicReference<>();
        List<Thread> writers = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int thread = t;
            writers.add(Thread.ofPlatform().start(() -> {
                try {
                    int epoch = Math.max(0, CrashWriter.latestEpoch(store, thread));
                    LogFile file = store.open(CrashWriter.fileName(thread, epoch), true);
                    int n = CrashWriter.countRecords(thread, Stores.readAll(file));
                    for (int i = 0; i < APPENDS_PER_THREAD; i++, n++) {
                        if (file.size() > CrashWriter.FILE_LIMIT) {
                            LogFile next = store.open(CrashWriter.fileName(thread, epoch + 1), true);
                            next.force(true);
                            store.delete(CrashWriter.fileName(thread, epoch));
                            file = next;
                            epoch++;
                            n = 0;
                        }
                        file.append(ByteBuffer.wrap(CrashWriter.record(thread, n)));
                        file.force(false);
                        synchronized (acks) {
                            if (epoch > ackedEpoch[thread] || epoch == ackedEpoch[thread] && n > acknowledged[thread]) {
                                ackedEpoch[thread] = epoch;
                                acknowledged[thread] = n;
                            }
                            acks[0]++;
                        }
                    }
                } catch (IOException | IllegalStateException e) {
                    // The crash: the device is gone for this "process".
                } catch (Throwable e) {
                    unexpected.compareAndSet(null, e);
                }
            }));
        }
        for (Thread writer : writers) {
            writer.join(120_000);
            if (writer.isAlive()) {
                throw new AssertionError("a writer did not stop within 120 s of the crash");
            }
        }
        if (unexpected.get() != null) {
            throw new AssertionError("a writer failed other than by the crash: " + unexpected.get(), unexpected.get());
        }
        return acks[0];
    }

    private static void verify(LogStore store, int[] ackedEpoch, int[] acknowledged, String where) throws IOException {
        for (String name : store.list()) {
            try {
                CrashWriter.countRecords(Integer.parseInt(name.substring(1, name.indexOf('-'))),
                        Stores.readAll(store.open(name, false)));
            } catch (AssertionError e) {
                throw new AssertionError(where + ": " + e.getMessage() + "; recovery " + store.recovery(), e);
            }
        }
        for (int t = 0; t < THREADS; t++) {
            if (ackedEpoch[t] < 0 || CrashWriter.latestEpoch(store, t) > ackedEpoch[t]) {
                continue;
            }
            String name = CrashWriter.fileName(t, ackedEpoch[t]);
            int present = store.exists(name) ? CrashWriter.countRecords(t, Stores.readAll(store.open(name, false))) : -1;
            if (present <= acknowledged[t]) {
                throw new AssertionError(where + ": writer " + t + " had record " + acknowledged[t] + " of " + name
                        + " acknowledged, but " + (present < 0 ? "the file is gone" : "only " + present
                        + " records survived") + "; recovery " + store.recovery());
            }
        }
    }
}

package io.arrakis.storage.log;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The child of {@link LogStoreCrashTest}: appends numbered records to one file per thread,
 * forces after each, and prints {@code ACK <thread> <epoch> <record>} once the force returned,
 * until it is killed. A thread's file is {@code w<thread>-<epoch>}; once it holds more than
 * {@link #FILE_LIMIT} bytes the thread creates the next epoch's file, forces, deletes the old one
 * and starts again from record 0, so the live data stays bounded however long it runs.
 * Arguments: backend, VSA image, capacity in blocks, threads.
 */
public final class CrashWriter {
    static final long FILE_LIMIT = 128 << 10;

    private CrashWriter() {}

    static String fileName(int thread, int epoch) {
        return "w" + thread + "-" + epoch;
    }

    /** The highest epoch of {@code thread}'s files in the store, or -1. */
    static int latestEpoch(LogStore store, int thread) {
        int latest = -1;
        for (String name : store.list()) {
            if (name.startsWith("w" + thread + "-")) {
                latest = Math.max(latest, Integer.parseInt(name.substring(name.indexOf('-') + 1)));
            }
        }
        return latest;
    }

    /** Record {@code n} of writer {@code t}: int n, int payload length, payload. */
    static byte[] record(int thread, int n) {
        int length = 1 + (int) ((n * 7919L + thread * 104_729L) % 6000);
        ByteBuffer buffer = ByteBuffer.allocate(8 + length);
        buffer.putInt(n).putInt(length).put(Stores.pattern(length, n * 13 + thread));
        return buffer.array();
    }

    /** How many whole, correct records {@code content} holds, or an error naming the first bad byte range. */
    static int countRecords(int thread, byte[] content) {
        int at = 0;
        int n = 0;
        while (at < content.length) {
            byte[] expected = record(thread, n);
            if (at + expected.length > content.length
                    || !java.util.Arrays.equals(expected, java.util.Arrays.copyOfRange(content, at, at + expected.length))) {
                throw new AssertionError("writer " + thread + ": record " + n + " at offset " + at + " is missing its end"
                        + " or wrong (file has " + content.length + " bytes): half-written or damaged");
            }
            at += expected.length;
            n++;
        }
        return n;
    }

    public static void main(String[] args) throws Exception {
        String backend = args[0];
        Path image = Path.of(args[1]);
        long blocks = Long.parseLong(args[2]);
        int threads = Integer.parseInt(args[3]);
        PrintStream out = System.out;
        LogStore store = Stores.open(backend, image, blocks);
        out.println("RECOVERED " + store.recovery());
        out.flush();
        List<Thread> writers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int thread = t;
            int firstEpoch = Math.max(0, latestEpoch(store, thread));
            LogFile firstFile = store.open(fileName(thread, firstEpoch), true);
            int start = countRecords(thread, Stores.readAll(firstFile));
            writers.add(Thread.ofPlatform().start(() -> {
                try {
                    LogFile file = firstFile;
                    int epoch = firstEpoch;
                    for (int n = start; ; n++) {
                        if (file.size() > FILE_LIMIT) {
                            LogFile next = store.open(fileName(thread, epoch + 1), true);
                            next.force(true);
                            store.delete(fileName(thread, epoch));
                            file = next;
                            epoch++;
                            n = 0;
                        }
                        file.append(ByteBuffer.wrap(record(thread, n)));
                        file.force(false);
                        synchronized (out) {
                            out.println("ACK " + thread + " " + epoch + " " + n);
                            out.flush();
                        }
                    }
                } catch (IOException e) {
                    e.printStackTrace();
                    System.exit(3);
                }
            }));
        }
        for (Thread writer : writers) {
            writer.join();
        }
    }
}

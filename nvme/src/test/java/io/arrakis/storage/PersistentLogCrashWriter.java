package io.arrakis.storage;

import io.arrakis.storage.log.LogStore;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

/**
 * The child of {@link PersistentLogCrashTest}: threads append numbered records to one
 * {@link PersistentLog}, force after each, and print {@code ACK <position> <thread> <n>} once the
 * force returned, until killed. Thread 0 trims the log to its last 128 KiB whenever it holds
 * more than 256 KiB, so the live data stays bounded. Arguments: backend, image, blocks, threads.
 */
public final class PersistentLogCrashWriter {
    static final String LOG = "aof";
    static final long SEGMENT = 64 << 10;

    private PersistentLogCrashWriter() {}

    /** Record {@code n} of thread {@code t}: int t, int n, then a pattern of a length both decide. */
    static byte[] record(int thread, int n) {
        int length = 8 + (int) ((n * 7919L + thread * 104_729L) % 3000);
        ByteBuffer buffer = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.putInt(thread).putInt(n);
        while (buffer.hasRemaining()) {
            buffer.put((byte) (n * 31 + thread * 7 + buffer.position()));
        }
        return buffer.array();
    }

    /** Checks that {@code entry} is exactly some {@link #record}; returns {thread, n}. */
    static int[] decode(PersistentLog.Entry entry) {
        byte[] bytes = PersistentLogs.bytes(entry);
        if (bytes.length < 8) {
            throw new AssertionError("record at " + entry.position() + " has " + bytes.length + " bytes: not ours");
        }
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int thread = buffer.getInt();
        int n = buffer.getInt();
        if (!Arrays.equals(bytes, record(thread, n))) {
            throw new AssertionError("record at " + entry.position() + " (thread " + thread + ", n " + n
                    + ") is half-written or damaged");
        }
        return new int[] {thread, n};
    }

    public static void main(String[] args) throws Exception {
        String backend = args[0];
        Path image = Path.of(args[1]);
        long blocks = Long.parseLong(args[2]);
        int threads = Integer.parseInt(args[3]);
        PrintStream out = System.out;
        LogStore store = PersistentLogs.open(backend, image, blocks);
        PersistentLog log = PersistentLog.open(store, LOG, SEGMENT);
        int[] next = new int[threads];
        for (Iterator<PersistentLog.Entry> it = log.iterate(0); it.hasNext(); ) {
            int[] decoded = decode(it.next());
            if (decoded[0] < threads) {
                next[decoded[0]] = Math.max(next[decoded[0]], decoded[1] + 1);
            }
        }
        out.println("RECOVERED " + store.recovery() + " " + log);
        out.flush();
        List<Thread> writers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int thread = t;
            writers.add(Thread.ofPlatform().start(() -> {
                try {
                    for (int n = next[thread]; ; n++) {
                        long position = log.append(ByteBuffer.wrap(record(thread, n)));
                        log.force();
                        synchronized (out) {
                            out.println("ACK " + position + " " + thread + " " + n);
                            out.flush();
                        }
                        if (thread == 0 && log.endPosition() - log.trimPosition() > 256 << 10) {
                            log.trim(log.endPosition() - (128 << 10));
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

package io.arrakis.storage.fs;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.zip.CRC32C;

/**
 * The child of {@link FileChannelCrashTest}: waits for the VSA (the previous child holds it until
 * it is killed), reports what each writer's file holds ({@code STATE}), then appends checksummed
 * records through {@link StoreFileChannel} from several threads, forcing each and printing
 * {@code ACK <thread> <sequence>} once {@code force} returned. A writer whose file passes 256 KiB
 * prints {@code RESETTING <thread>} and truncates it (so the VSA keeps compacting).
 *
 * <p>Record: int length n, long sequence, n bytes derived from (thread, sequence), int CRC32C of
 * all before it.
 */
public final class ChannelCrashWriter {
    static final long RESET_BYTES = 256 << 10;

    private ChannelCrashWriter() {}

    public static void main(String[] args) throws Exception {
        Path directory = Path.of(args[0]);
        Path image = Path.of(args[1]);
        String backend = args[2];
        long size = Long.parseLong(args[3]);
        int threads = Integer.parseInt(args[4]);
        System.out.println("BOOTED");
        StorageMount mount = null;
        for (int attempt = 0; mount == null; attempt++) {
            try {
                mount = StorageMount.open(directory, image, backend, size, Path.of("/").getFileSystem().provider());
            } catch (IOException e) {
                if (!e.getMessage().contains("another process") || attempt > 60_000) {
                    throw e;
                }
                Thread.sleep(1);
            }
        }
        long[] next = new long[threads];
        for (int t = 0; t < threads; t++) {
            State state = check(mount, t);
            System.out.println("STATE " + t + " " + state);
            next[t] = state.last + 1;
        }
        System.out.println("RECOVERED " + mount.store().recovery());
        StorageMount store = mount;
        for (int t = 0; t < threads; t++) {
            int thread = t;
            long first = next[t];
            Thread.ofPlatform().start(() -> {
                try {
                    write(store, thread, first);
                } catch (Throwable e) {
                    System.out.println("ERROR " + thread + " " + e);
                    System.exit(3);
                }
            });
        }
    }

    private static void write(StorageMount mount, int thread, long sequence) throws IOException {
        Path path = mount.directory().resolve("w" + thread);
        try (FileChannel channel = mount.newFileChannel(path, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND))) {
            while (true) {
                if (channel.size() > RESET_BYTES) {
                    System.out.println("RESETTING " + thread);
                    channel.truncate(0);
                }
                ByteBuffer record = record(thread, sequence);
                while (record.hasRemaining()) {
                    channel.write(record);
                }
                channel.force(false);
                System.out.println("ACK " + thread + " " + sequence);
                sequence++;
            }
        }
    }

    static ByteBuffer record(int thread, long sequence) {
        int length = (int) ((sequence * 7919 + thread * 104729L) % 2000) + 1;
        ByteBuffer record = ByteBuffer.allocate(4 + 8 + length + 4).order(ByteOrder.LITTLE_ENDIAN);
        record.putInt(length).putLong(sequence);
        for (int i = 0; i < length; i++) {
            record.put((byte) (sequence * 31 + i * 7 + thread));
        }
        CRC32C crc = new CRC32C();
        crc.update(record.array(), 0, record.position());
        record.putInt((int) crc.getValue());
        return record.flip();
    }

    /**
     * What a writer's file holds: {@code first}..{@code last} consecutive intact records (last =
     * first - 1 when none), and whether the file ends exactly after them ({@code clean}).
     */
    record State(long first, long last, long size, boolean clean, String problem) {
        @Override
        public String toString() {
            return first + " " + last + " " + size + " " + clean + (problem == null ? "" : " " + problem);
        }

        static State parse(String text) {
            String[] parts = text.split(" ", 5);
            return new State(Long.parseLong(parts[0]), Long.parseLong(parts[1]), Long.parseLong(parts[2]),
                    Boolean.parseBoolean(parts[3]), parts.length > 4 ? parts[4] : null);
        }
    }

    static State check(StorageMount mount, int thread) throws IOException {
        FileChannel channel;
        try {
            channel = mount.newFileChannel(mount.directory().resolve("w" + thread), Set.of(StandardOpenOption.READ));
        } catch (NoSuchFileException e) {
            return new State(0, -1, 0, true, null);
        }
        try (channel) {
            long size = channel.size();
            ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(size)).order(ByteOrder.LITTLE_ENDIAN);
            while (all.hasRemaining() && channel.read(all, all.position()) > 0) {
                // whole file
            }
            all.flip();
            long first = -1;
            long last = -1;
            while (all.remaining() >= 16) {
                int at = all.position();
                int length = all.getInt(at);
                if (length < 1 || length > 2000 || all.remaining() < 16 + length) {
                    break;
                }
                long sequence = all.getLong(at + 4);
                ByteBuffer expected = record(thread, sequence);
                if (!expected.equals(all.slice(at, 16 + length))) {
                    break;
                }
                if (first < 0) {
                    first = sequence;
                } else if (sequence != last + 1) {
                    return new State(first, last, size, false, "sequence " + sequence + " follows " + last);
                }
                last = sequence;
                all.position(at + 16 + length);
            }
            if (first < 0) {
                return new State(0, -1, size, size == 0, size == 0 ? null : "no intact record at the start");
            }
            boolean clean = !all.hasRemaining();
            return new State(first, last, size, clean, clean ? null : all.remaining() + " bytes after record " + last);
        }
    }
}

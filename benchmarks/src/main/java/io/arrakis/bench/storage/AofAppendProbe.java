package io.arrakis.bench.storage;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.storage.VsaFile;
import io.arrakis.storage.log.LogFile;
import io.arrakis.storage.log.LogStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * What one durable SET of the Redis-like server costs its append-only file, without the network:
 * a 68-byte append (one SET as RESP) followed by a force, one thread, on three targets in
 * alternating rounds: the JDK's {@code FileChannel} appending to a new file on {@code /tmp}
 * (what the server does on the kernel's path), and our log store on a new VSA image in
 * {@code /tmp} that is either only fallocated or also zero-filled ({@link VsaFile#OPTION_ZERO_FILL},
 * what {@code storage.mount} does since the durable-SET analysis). Prints p50, p90, p99 and the
 * mean per target and round, with the load average.
 *
 * <p>{@code java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar
 * io.arrakis.bench.storage.AofAppendProbe [file|io_uring] [appends per round] [rounds]}
 *
 * <p>Single-threaded.
 */
public final class AofAppendProbe {
    private static final int SET_BYTES = 68;
    private static final long VSA_BLOCKS = 65_536; // 256 MiB, the agent's default storage.size

    private AofAppendProbe() {}

    public static void main(String[] args) throws IOException {
        String backend = args.length > 0 ? args[0] : "file";
        int appends = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        ByteBuffer set = ByteBuffer.allocateDirect(SET_BYTES);
        for (int round = 1; round <= rounds; round++) {
            report("jdk ext4 append", round, jdkAppend(set, appends));
            report(backend + " fallocated", round, storeAppend(backend, false, set, appends));
            report(backend + " zero-filled", round, storeAppend(backend, true, set, appends));
        }
    }

    private static long[] jdkAppend(ByteBuffer set, int appends) throws IOException {
        Path directory = Files.createTempDirectory(Path.of("/tmp"), "aof-append");
        Path file = directory.resolve("appendonly.aof");
        long[] nanos = new long[appends];
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int i = 0; i < appends; i++) {
                set.clear();
                long start = System.nanoTime();
                channel.write(set);
                channel.force(false);
                nanos[i] = System.nanoTime() - start;
            }
        } finally {
            Files.deleteIfExists(file);
            Files.delete(directory);
        }
        return nanos;
    }

    private static long[] storeAppend(String backend, boolean zeroFill, ByteBuffer set, int appends)
            throws IOException {
        Path directory = Files.createTempDirectory(Path.of("/tmp"), "aof-append");
        Path image = directory.resolve("vsa.img");
        long[] nanos = new long[appends];
        try {
            try (Vsic vsic = DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig(image.toString(), VSA_BLOCKS,
                    Map.of(VsaFile.OPTION_PATH, image.toString(), VsaFile.OPTION_ZERO_FILL,
                            Boolean.toString(zeroFill))))) {
                LogStore.format(vsic);
            }
            Vsic vsic = DeviceBackends.vsicBackend(backend).open(LogStore.vsicConfig(image.toString(), VSA_BLOCKS,
                    Map.of(VsaFile.OPTION_PATH, image.toString())));
            try (LogStore store = LogStore.open(vsic)) {
                LogFile file = store.open("appendonly.aof", true);
                for (int i = 0; i < appends; i++) {
                    set.clear();
                    long start = System.nanoTime();
                    file.append(set);
                    store.force();
                    nanos[i] = System.nanoTime() - start;
                }
            }
        } finally {
            Files.deleteIfExists(image);
            Files.delete(directory);
        }
        return nanos;
    }

    private static void report(String target, int round, long[] nanos) throws IOException {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        System.out.printf(Locale.ROOT, "round %d  %-24s p50 %6.0f us  p90 %6.0f us  p99 %6.0f us  mean %6.0f us"
                        + "  (load average %s)%n", round, target, sorted[n / 2] / 1e3, sorted[n * 9 / 10] / 1e3,
                sorted[n * 99 / 100] / 1e3, Arrays.stream(sorted).average().orElse(0) / 1e3,
                Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
    }
}

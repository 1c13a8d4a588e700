package io.arrakis.bench.stack;

import io.arrakis.stack.wire.InternetChecksum;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The Internet checksum over off-heap packet bytes: ours (eight bytes per step, deferred
 * carries) against the textbook loop of RFC 1071 (one 16-bit word per step), in the same run.
 * {@code ./dev bench ChecksumBenchmark}; add {@code -prof gc} to see that neither allocates.
 */
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
public class ChecksumBenchmark {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    @Param({"20", "64", "1460", "9000"})
    public int length;

    private MemorySegment packet;

    @Setup
    public void fill() {
        packet = Arena.ofAuto().allocate(9000 + 8, 64);
        byte[] bytes = new byte[9000];
        new Random(1).nextBytes(bytes);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, packet, 2, 9000);
    }

    @Benchmark
    public int ours() {
        // Offset 2: packet payloads rarely start 8-byte aligned (14-byte Ethernet header).
        return InternetChecksum.of(packet, 2, length);
    }

    @Benchmark
    public int wordByWord() {
        long sum = 0;
        int i = 0;
        for (; i + 1 < length; i += 2) {
            sum += packet.get(U16, 2 + i) & 0xFFFF;
        }
        if (i < length) {
            sum += (packet.get(ValueLayout.JAVA_BYTE, 2 + i) & 0xFF) << 8;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) (~sum & 0xFFFF);
    }
}

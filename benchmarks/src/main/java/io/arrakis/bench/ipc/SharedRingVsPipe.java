package io.arrakis.bench.ipc;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Our cross-process shared-memory ring against a pair of Linux pipes, in the same run: round-trip
 * latency of a 64-byte message (sample mode, so JMH reports p50/p99) and one-way throughput of
 * 64-byte messages to a consuming peer. Each transport's peer is a second JVM; it checks that
 * every message arrived in order, and a tear-down fails if one did not.
 *
 * <p>{@code ./dev bench SharedRingVsPipe} runs it; the ratio ring/pipe is the figure to quote.
 */
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class SharedRingVsPipe {

    @State(Scope.Thread)
    public static class Echo {
        @Param({"RING", "PIPE", "PIPE_SPIN"})
        public Transport.Kind transport;
        Transport channel;
        long sequence;

        @Setup(Level.Trial)
        public void open() throws IOException {
            channel = Transport.open(transport, Transport.PeerMode.ECHO);
        }

        @TearDown(Level.Trial)
        public void close() throws IOException {
            channel.close();
        }
    }

    @State(Scope.Thread)
    public static class Sink {
        @Param({"RING", "PIPE", "PIPE_SPIN"})
        public Transport.Kind transport;
        Transport channel;
        long sequence;

        @Setup(Level.Trial)
        public void open() throws IOException {
            channel = Transport.open(transport, Transport.PeerMode.SINK);
        }

        @TearDown(Level.Trial)
        public void close() throws IOException {
            channel.close();
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public long roundTrip(Echo state) throws IOException {
        long sent = state.sequence++;
        long echoed = state.channel.roundTrip(sent);
        if (echoed != sent) {
            throw new IllegalStateException("sent message " + sent + ", got " + echoed + " back");
        }
        return echoed;
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void oneWay(Sink state) throws IOException {
        state.channel.send(state.sequence++);
    }
}

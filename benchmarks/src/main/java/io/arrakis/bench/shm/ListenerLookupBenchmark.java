package io.arrakis.bench.shm;

import io.arrakis.control.ControlPlane;
import io.arrakis.control.ShmVnic;
import io.arrakis.device.FlowFilter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What loopback acceleration pays at every connect to 127.0.0.1: one
 * {@link ShmVnic#lookupListener} (a request to the control plane's thread and its answer over the
 * control socket), for a port someone announced and for one nobody did. The control plane is
 * embedded in the benchmark's JVM, as it is when the first process starts it; a daemon's would
 * add nothing but the scheduling of another process. Sample mode: p50/p99 of single lookups.
 *
 * <p>{@code ./dev bench ListenerLookupBenchmark}.
 */
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ListenerLookupBenchmark {
    private static final int ANNOUNCED = 8080;
    private static final int SILENT = 8081;

    @State(Scope.Benchmark)
    public static class Directory {
        Path directory;
        ControlPlane plane;
        ShmVnic server;
        ShmVnic client;

        @Setup(Level.Trial)
        public void open() throws IOException {
            directory = Files.createTempDirectory("arrakis-bench-lookup");
            plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
            server = RoundTripPath.openVnic(plane.socketPath(), "server");
            client = RoundTripPath.openVnic(plane.socketPath(), "client");
            server.announceListener(FlowFilter.Protocol.TCP, ANNOUNCED);
        }

        @TearDown(Level.Trial)
        public void close() throws IOException {
            client.close();
            server.close();
            plane.close();
            Files.deleteIfExists(directory.resolve("control.sock.lock"));
            Files.deleteIfExists(directory);
        }
    }

    @Benchmark
    public int lookupAnnounced(Directory state) throws IOException {
        OptionalInt address = state.client.lookupListener(FlowFilter.Protocol.TCP, ANNOUNCED);
        if (address.isEmpty()) {
            throw new IllegalStateException("the announced listener on TCP port " + ANNOUNCED + " was not found");
        }
        return address.getAsInt();
    }

    @Benchmark
    public boolean lookupNobody(Directory state) throws IOException {
        if (state.client.lookupListener(FlowFilter.Protocol.TCP, SILENT).isPresent()) {
            throw new IllegalStateException("TCP port " + SILENT + " was announced by nobody, yet found");
        }
        return false;
    }
}

package io.arrakis.bench.stack;

import io.arrakis.stack.link.LinkFaults;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Bulk TCP throughput in one JVM: 64 MiB sent in 64 KiB writes, our two stacks over the
 * in-memory link against Linux TCP over loopback, in the same run. One operation is one byte
 * ({@code @OperationsPerInvocation} = 64 MiB per call), so the score in ops/s is bytes/s:
 * Gbit/s = score × 8 / 10⁹.
 *
 * <ul>
 *   <li>{@code stacks}: a writes 64 KiB at a time into {@code TcpLayer.write} (retrying the rest
 *       of a chunk the send buffer did not take), both stacks poll, b reads into a 64 KiB buffer,
 *       until b has read 64 MiB; all in the benchmark thread, on virtual time (1 µs per loop
 *       turn), MTU 1500 (MSS 1448 with timestamps: the simulated link carries at most 1500),
 *       {@code bufferKiB} KiB send and receive buffers (256 was the fastest of 64, 256 and 1024).
 *       Five copies per byte: into the send ring, ring to packet, the simulated wire, packet to
 *       receive ring, ring to the application (the kernel makes two). The first transfer of a
 *       trial checks every byte; the fixture fails the trial on a drop or a retransmission.
 *   <li>{@code kernelLoopback}: a blocking {@code SocketChannel} pair over 127.0.0.1, the
 *       benchmark thread writing 64 KiB direct buffers, a second thread reading into one; the
 *       operation ends when the reader has all 64 MiB. Linux's loopback has a 64 KiB MTU (so
 *       ~45 times fewer segments than ours) and uses two threads plus softirq work, on the two
 *       cores of this machine.
 *   <li>{@code kernelLoopbackOneThread}: the same pair non-blocking, both ends driven by the
 *       benchmark thread, as our stacks are.
 * </ul>
 *
 * <p>{@code ./dev bench BulkTransferBenchmark}: quote each as Gbit/s (score × 8e-9) with JMH's
 * error, and the ratio stacks / kernelLoopback.
 */
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class BulkTransferBenchmark {
    static final int TOTAL = 64 * 1024 * 1024;
    static final int WRITE = 64 * 1024;
    private static final int MAX_TURNS = 10_000_000;

    @State(Scope.Thread)
    public static class Stacks {
        @Param({"256"})
        public int bufferKiB;
        TwoStacks s;
        MemorySegment source;
        MemorySegment sink;

        @Setup(Level.Trial)
        public void open() {
            s = new TwoStacks(LinkFaults.NONE);
            s.connectTcp(bufferKiB * 1024, bufferKiB * 1024, false);
            source = s.buffer(WRITE);
            sink = s.buffer(WRITE);
            transfer(true);
        }

        /** Sends TOTAL bytes a → b; with {@code verify}, checks each byte read against what was written. */
        long transfer(boolean verify) {
            TwoStacks s = this.s;
            long sent = 0;
            long received = 0;
            try {
                for (int turn = 0; turn < MAX_TURNS; turn++) {
                    long now = s.tick();
                    if (sent < TOTAL) {
                        int offset = (int) (sent % WRITE);
                        int length = (int) Math.min(WRITE - offset, TOTAL - sent);
                        int n = s.tcpA.write(s.client, source, offset, length, now);
                        if (n < 0) {
                            throw new IllegalStateException("a cannot send: " + s.client.info());
                        }
                        sent += n;
                    }
                    s.a.poll(now);
                    while (s.b.poll(now) > 0) {
                        received += readAll(now, received, verify);
                    }
                    received += readAll(now, received, verify);
                    if (received == TOTAL) {
                        return received;
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            throw new IllegalStateException("64 MiB not through in " + MAX_TURNS + " turns: sent " + sent
                    + ", received " + received + "; " + s.client.info());
        }

        private long readAll(long now, long received, boolean verify) {
            long got = 0;
            int n;
            while ((n = s.tcpB.read(s.server, sink, 0, WRITE, now)) > 0) {
                if (verify) {
                    for (int i = 0; i < n; i++) {
                        long at = received + got + i;
                        if (sink.get(ValueLayout.JAVA_BYTE, i) != source.get(ValueLayout.JAVA_BYTE, at % WRITE)) {
                            throw new IllegalStateException("byte " + at + " differs");
                        }
                    }
                }
                got += n;
            }
            return got;
        }

        @TearDown(Level.Trial)
        public void close() {
            s.close();
        }
    }

    @State(Scope.Thread)
    public static class Kernel {
        ServerSocketChannel listener;
        SocketChannel writer;
        SocketChannel reader;
        Thread readerThread;
        final Semaphore done = new Semaphore(0);
        final ByteBuffer out = ByteBuffer.allocateDirect(WRITE);
        volatile Throwable readerFailure;

        @Setup(Level.Trial)
        public void open() throws IOException {
            listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            writer = SocketChannel.open(listener.getLocalAddress());
            reader = listener.accept();
            for (int i = 0; i < WRITE; i++) {
                out.put(i, (byte) (i * 31 + 7));
            }
            readerThread = Thread.ofPlatform().name("loopback-reader").daemon().start(this::readForever);
        }

        private void readForever() {
            ByteBuffer in = ByteBuffer.allocateDirect(WRITE);
            long pending = 0;
            try {
                while (true) {
                    int n = reader.read(in);
                    if (n < 0) {
                        return;
                    }
                    in.clear();
                    pending += n;
                    while (pending >= TOTAL) {
                        pending -= TOTAL;
                        done.release();
                    }
                }
            } catch (IOException | RuntimeException e) {
                readerFailure = e;
                done.release(Integer.MAX_VALUE / 2);
            }
        }

        void transfer() throws IOException, InterruptedException {
            for (long sent = 0; sent < TOTAL; sent += WRITE) {
                out.clear();
                while (out.hasRemaining()) {
                    writer.write(out);
                }
            }
            done.acquire();
            if (readerFailure != null) {
                throw new IOException("loopback reader failed", readerFailure);
            }
        }

        @TearDown(Level.Trial)
        public void close() throws IOException, InterruptedException {
            writer.close();
            readerThread.join(10_000);
            reader.close();
            listener.close();
            if (readerThread.isAlive()) {
                throw new IllegalStateException("loopback reader did not stop");
            }
        }
    }

    @State(Scope.Thread)
    public static class KernelOneThread {
        ServerSocketChannel listener;
        SocketChannel writer;
        SocketChannel reader;
        final ByteBuffer out = ByteBuffer.allocateDirect(WRITE);
        final ByteBuffer in = ByteBuffer.allocateDirect(WRITE);

        @Setup(Level.Trial)
        public void open() throws IOException {
            listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            writer = SocketChannel.open(listener.getLocalAddress());
            reader = listener.accept();
            writer.configureBlocking(false);
            reader.configureBlocking(false);
            for (int i = 0; i < WRITE; i++) {
                out.put(i, (byte) (i * 31 + 7));
            }
        }

        void transfer() throws IOException {
            long sent = 0;
            long received = 0;
            out.clear();
            while (received < TOTAL) {
                if (sent < TOTAL) {
                    sent += writer.write(out);
                    if (!out.hasRemaining()) {
                        out.clear();
                    }
                }
                int n;
                while ((n = reader.read(in)) > 0) {
                    received += n;
                    in.clear();
                }
                if (n < 0) {
                    throw new IOException("loopback closed after " + received + " bytes");
                }
            }
        }

        @TearDown(Level.Trial)
        public void close() throws IOException {
            writer.close();
            reader.close();
            listener.close();
        }
    }

    @Benchmark
    @OperationsPerInvocation(TOTAL)
    public long stacks(Stacks state) {
        return state.transfer(false);
    }

    @Benchmark
    @OperationsPerInvocation(TOTAL)
    public void kernelLoopback(Kernel state) throws IOException, InterruptedException {
        state.transfer();
    }

    @Benchmark
    @OperationsPerInvocation(TOTAL)
    public void kernelLoopbackOneThread(KernelOneThread state) throws IOException {
        state.transfer();
    }
}

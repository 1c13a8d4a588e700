package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import io.arrakis.device.MacAddress;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.udp.UdpSocket;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Prints (does not assert) round trips of 64 bytes between this process and a child: through
 * the shm channels at the queue (raw frames echoed by the child), through the user-level stack
 * (UDP socket to UDP echo; TCP request/response), and over the kernel's loopback with JDK
 * channels (blocking), all in one run. Both sides busy-poll our paths (spinning 1 ms before
 * blocking); the kernel path blocks, as JDK channels do.
 */
class ShmLatencyTest {
    private static final int WARMUP = 5_000;
    private static final int ROUNDS = 20_000;
    private static final int PAYLOAD = 64;

    @TempDir
    Path directory;

    @Test
    void printsRoundTripsThroughTheChannelsAndTheKernelLoopback() throws Exception {
        StringBuilder report = new StringBuilder("64-byte round trips between two processes, " + ROUNDS
                + " each (after " + WARMUP + " warm-up):\n");
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"))) {
            try (Child echo = Child.start("raw-echo", plane.socketPath().toString(), "raw-echo", "1000");
                    ShmVnic own = ShmTesting.open(plane.socketPath(), "pinger")) {
                String ready = echo.awaitLine("READY", Duration.ofSeconds(30));
                assertTrue(own.awaitPeers(1, Duration.ofSeconds(5)));
                report.append(line("shm channels, raw frames at the queue", rawPing(own,
                        MacAddress.parse(Child.field(ready, "mac")).bits(), Ipv4Text.parse(Child.field(ready, "ip")))));
            }
            try (Child echo = Child.start("serve", plane.socketPath().toString(), "stack-echo");
                    ShmVnic own = ShmTesting.open(plane.socketPath(), "stack-pinger")) {
                int peer = Ipv4Text.parse(Child.field(echo.awaitLine("READY", Duration.ofSeconds(30)), "ip"));
                assertTrue(own.awaitPeers(1, Duration.ofSeconds(5)));
                long[][] both = stackPings(own, peer);
                report.append(line("shm channels + user-level stack, UDP", both[0]));
                report.append(line("shm channels + user-level stack, TCP request/response", both[1]));
            }
        }
        try (Child echo = Child.start("kernel-udp-echo")) {
            int port = Integer.parseInt(Child.field(echo.awaitLine("READY", Duration.ofSeconds(30)), "port"));
            report.append(line("kernel loopback, JDK DatagramChannel (blocking)", kernelUdpPing(port)));
        }
        try (Child echo = Child.start("kernel-tcp-echo")) {
            int port = Integer.parseInt(Child.field(echo.awaitLine("READY", Duration.ofSeconds(30)), "port"));
            report.append(line("kernel loopback, JDK SocketChannel TCP_NODELAY (blocking)", kernelTcpPing(port)));
        }
        System.out.print(report);
    }

    private static String line(String what, long[] nanos) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        return String.format("  %-56s median %8.2f us   p99 %8.2f us%n", what, sorted[sorted.length / 2] / 1e3,
                sorted[(int) (sorted.length * 0.99)] / 1e3);
    }

    /** Builds a UDP frame in a buffer of our queue, sends it, spins until the echo is back. */
    private static long[] rawPing(ShmVnic own, long peerMac, int peer) throws Exception {
        VnicQueue queue = own.queue(0);
        byte[] frame = Frames.udp(own.mac().bits(), peerMac, own.address(), peer, 5000, 5000, new byte[PAYLOAD]);
        PacketBatch out = new PacketBatch(1);
        PacketBatch in = new PacketBatch(16);
        long[] times = new long[ROUNDS];
        for (int i = -WARMUP; i < ROUNDS; i++) {
            assertEquals(1, queue.allocate(out, 1));
            long at = (long) out.buffer(0) * queue.bufferSize() + out.offset(0);
            MemorySegment.copy(frame, 0, queue.memory(), ValueLayout.JAVA_BYTE, at, frame.length);
            queue.memory().set(ValueLayout.JAVA_INT_UNALIGNED, at + 42, i);
            out.setLength(0, frame.length);
            long start = System.nanoTime();
            queue.transmit(out);
            long deadline = start + 1_000_000_000L;
            boolean back = false;
            while (!back) {
                int n = queue.receive(in);
                for (int k = 0; k < n; k++) {
                    long got = (long) in.buffer(k) * queue.bufferSize() + in.offset(k);
                    back |= queue.memory().get(ValueLayout.JAVA_INT_UNALIGNED, got + 42) == i;
                }
                queue.release(in);
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("no echo of frame " + i + " within a second");
                }
            }
            if (i >= 0) {
                times[i] = System.nanoTime() - start;
            }
        }
        return times;
    }

    /** UDP ping-pong and TCP request/response through a stack this thread owns and polls. */
    private static long[][] stackPings(ShmVnic own, int peer) throws Exception {
        try (NetworkStack stack = new NetworkStack(own, 0, ShmTesting.stackConfig(own))) {
            TcpLayer tcp = new TcpLayer(stack, TcpConfig.DEFAULT, 9);
            stack.start(System.nanoTime());
            UdpSocket socket = stack.openUdp(5001, 1 << 16);
            MemorySegment payload = MemorySegment.ofArray(new byte[PAYLOAD]);
            MemorySegment reply = MemorySegment.ofArray(new byte[2048]);
            long[] udp = new long[ROUNDS];
            for (int i = -WARMUP; i < ROUNDS; i++) {
                payload.set(ValueLayout.JAVA_INT_UNALIGNED, 0, i);
                long start = System.nanoTime();
                stack.sendUdp(socket, peer, Workloads.UDP_ECHO_PORT, payload, 0, PAYLOAD);
                stack.flush();
                long deadline = start + 2_000_000_000L;
                while (true) {
                    long now = System.nanoTime();
                    stack.poll(now);
                    if (socket.isReadable() && socket.receive(reply, 0, 2048) == PAYLOAD
                            && reply.get(ValueLayout.JAVA_INT_UNALIGNED, 0) == i) {
                        break;
                    }
                    if (now > deadline) {
                        // The first one may wait for ARP; later ones must not be lost.
                        assertTrue(i == -WARMUP, "no UDP echo of " + i);
                        stack.sendUdp(socket, peer, Workloads.UDP_ECHO_PORT, payload, 0, PAYLOAD);
                        deadline = now + 2_000_000_000L;
                    }
                }
                if (i >= 0) {
                    udp[i] = System.nanoTime() - start;
                }
            }
            TcpConnection connection = tcp.connect(peer, Workloads.TCP_ECHO_PORT, 0, 65_536, 65_536, System.nanoTime());
            connection.setNoDelay(true);
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (!connection.isConnected()) {
                stack.poll(System.nanoTime());
                assertTrue(System.nanoTime() < deadline, "TCP connect to the echo timed out");
            }
            long[] tcpTimes = new long[ROUNDS];
            for (int i = -WARMUP; i < ROUNDS; i++) {
                payload.set(ValueLayout.JAVA_INT_UNALIGNED, 0, i);
                long start = System.nanoTime();
                assertEquals(PAYLOAD, tcp.write(connection, payload, 0, PAYLOAD, start));
                stack.flush();
                int got = 0;
                long limit = start + 2_000_000_000L;
                while (got < PAYLOAD) {
                    long now = System.nanoTime();
                    stack.poll(now);
                    int n = tcp.read(connection, reply, got, PAYLOAD - got, now);
                    if (n > 0) {
                        got += n;
                    }
                    assertTrue(n >= 0 && now < limit, "TCP echo of " + i + " failed: " + connection.failure());
                }
                assertEquals(i, reply.get(ValueLayout.JAVA_INT_UNALIGNED, 0));
                if (i >= 0) {
                    tcpTimes[i] = System.nanoTime() - start;
                }
            }
            tcp.close(connection, System.nanoTime());
            stack.poll(System.nanoTime());
            return new long[][] {udp, tcpTimes};
        }
    }

    private static long[] kernelUdpPing(int port) throws Exception {
        try (DatagramChannel channel = DatagramChannel.open()) {
            channel.connect(new InetSocketAddress("127.0.0.1", port));
            ByteBuffer out = ByteBuffer.allocateDirect(PAYLOAD);
            ByteBuffer in = ByteBuffer.allocateDirect(2048);
            long[] times = new long[ROUNDS];
            for (int i = -WARMUP; i < ROUNDS; i++) {
                out.clear().putInt(0, i);
                long start = System.nanoTime();
                channel.write(out);
                in.clear();
                channel.read(in);
                if (i >= 0) {
                    times[i] = System.nanoTime() - start;
                }
                assertEquals(i, in.getInt(0));
            }
            return times;
        }
    }

    private static long[] kernelTcpPing(int port) throws Exception {
        try (SocketChannel channel = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            ByteBuffer out = ByteBuffer.allocateDirect(PAYLOAD);
            ByteBuffer in = ByteBuffer.allocateDirect(PAYLOAD);
            long[] times = new long[ROUNDS];
            for (int i = -WARMUP; i < ROUNDS; i++) {
                out.clear().putInt(0, i);
                long start = System.nanoTime();
                while (out.hasRemaining()) {
                    channel.write(out);
                }
                in.clear();
                while (in.hasRemaining()) {
                    if (channel.read(in) < 0) {
                        throw new AssertionError("the kernel TCP echo closed");
                    }
                }
                if (i >= 0) {
                    times[i] = System.nanoTime() - start;
                }
                assertEquals(i, in.getInt(0));
            }
            return times;
        }
    }
}

package io.arrakis.bench.shm;

import io.arrakis.control.ShmVnic;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicQueue;
import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.TcpLayer;
import io.arrakis.stack.tcp.TcpConfig;
import io.arrakis.stack.tcp.TcpConnection;
import io.arrakis.stack.tcp.TcpListener;
import io.arrakis.stack.udp.UdpSocket;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The echoing side of the round-trip paths ({@link RoundTripPath}), run in a second JVM by
 * {@link EchoPeerProcess}. Modes:
 * <ul>
 * <li>{@code shm-raw SOCKET}: attaches an shm VNIC and echoes frames at the queue (swapping
 *     addresses and ports in place), no stack;
 * <li>{@code shm-raw-steered SOCKET}: the same on queue 1 of a two-queue VNIC whose receive
 *     filter steers UDP port {@value RawFramePath#PORT} there;
 * <li>{@code shm-stack SOCKET}: attaches an shm VNIC and runs our stack with a UDP echo on port
 *     {@value RoundTripPath#UDP_ECHO_PORT} and a TCP echo on port {@value RoundTripPath#TCP_ECHO_PORT};
 * <li>{@code kernel-udp blocking|spin}, {@code kernel-tcp blocking|spin}: the same echoes over the
 *     kernel's loopback with JDK channels, blocking, or non-blocking and busy-polling.
 * </ul>
 * Our paths spin for {@value #SPIN_NANOS} ns after the last frame, then sleep on the VNIC's
 * doorbell, as a real poller does. Prints {@code READY key=value ...} when it can be used and
 * exits when its standard input ends (the parent closed it, or died).
 */
public final class EchoPeer {
    /** Spin this long after the last work before sleeping on the doorbell: ~1 ms, as the ring benchmark. */
    static final long SPIN_NANOS = 1_000_000;
    private static final long MAX_SLEEP_NANOS = 100_000_000;

    private EchoPeer() {}

    public static void main(String[] args) throws Exception {
        // The parent closes our input to stop us; it also ends when the parent dies.
        Thread.ofPlatform().daemon().name("stdin-watch").start(() -> {
            try {
                InputStream in = System.in;
                while (in.read() >= 0) {
                    // Nothing is sent on it.
                }
            } catch (IOException ignored) {
                // Closed either way.
            }
            System.exit(0);
        });
        try {
            switch (args[0]) {
                case "shm-raw" -> rawEcho(Path.of(args[1]), false);
                case "shm-raw-steered" -> rawEcho(Path.of(args[1]), true);
                case "shm-stack" -> stackEcho(Path.of(args[1]));
                case "kernel-udp" -> kernelUdpEcho(args[1].equals("spin"));
                case "kernel-tcp" -> kernelTcpEcho(args[1].equals("spin"));
                default -> throw new IllegalArgumentException("unknown echo mode " + args[0]);
            }
        } catch (Throwable t) {
            System.out.println("FAILED " + t);
            t.printStackTrace(System.out);
            System.out.flush();
            System.exit(1);
        }
    }

    private static void ready(String fields) {
        System.out.println("READY " + fields);
        System.out.flush();
    }

    private static void rawEcho(Path socket, boolean steered) throws IOException {
        ShmVnic vnic = RoundTripPath.openVnic(socket, "echo-raw", steered ? 2 : 1);
        if (steered) {
            vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, vnic.address(), RawFramePath.PORT,
                    0, 0), 1);
        }
        VnicQueue queue = vnic.queue(steered ? 1 : 0);
        ready("mac=" + vnic.mac().bits() + " ip=" + vnic.address());
        PacketBatch batch = new PacketBatch(64);
        MemorySegment memory = queue.memory();
        long idleSince = System.nanoTime();
        while (true) {
            int n = queue.receive(batch);
            if (n == 0) {
                if (System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    queue.awaitReceive(MAX_SLEEP_NANOS);
                    idleSince = System.nanoTime();
                }
                continue;
            }
            for (int i = 0; i < n; i++) {
                long at = (long) batch.buffer(i) * queue.bufferSize() + batch.offset(i);
                swap(memory, at, at + 6, 6);
                swap(memory, at + 26, at + 30, 4);
                swap(memory, at + 34, at + 36, 2);
            }
            queue.transmit(batch);
            queue.release(batch);
            idleSince = System.nanoTime();
        }
    }

    private static void swap(MemorySegment memory, long a, long b, int length) {
        for (int i = 0; i < length; i++) {
            byte x = memory.get(ValueLayout.JAVA_BYTE, a + i);
            memory.set(ValueLayout.JAVA_BYTE, a + i, memory.get(ValueLayout.JAVA_BYTE, b + i));
            memory.set(ValueLayout.JAVA_BYTE, b + i, x);
        }
    }

    /** One TCP connection being echoed: what was read and not yet written back. */
    private static final class Echoing {
        final TcpConnection connection;
        int start;
        int end;

        Echoing(TcpConnection connection) {
            this.connection = connection;
        }
    }

    private static void stackEcho(Path socket) throws IOException {
        ShmVnic vnic = RoundTripPath.openVnic(socket, "echo-stack");
        NetworkStack stack = new NetworkStack(vnic, 0, RoundTripPath.stackConfig(vnic));
        TcpLayer tcp = new TcpLayer(stack, TcpConfig.DEFAULT, ProcessHandle.current().pid());
        stack.start(System.nanoTime());
        UdpSocket udp = stack.openUdp(RoundTripPath.UDP_ECHO_PORT, 1 << 20);
        TcpListener listener = tcp.listen(RoundTripPath.TCP_ECHO_PORT, 16, 64 * 1024, 64 * 1024);
        MemorySegment buffer = Arena.global().allocate(64 * 1024, 64);
        List<Echoing> connections = new ArrayList<>();
        VnicQueue queue = vnic.queue(0);
        ready("mac=" + vnic.mac().bits() + " ip=" + vnic.address());
        long lastWork = System.nanoTime();
        while (true) {
            long now = System.nanoTime();
            boolean worked = stack.poll(now) > 0;
            while (udp.isReadable()) {
                int length = udp.receive(buffer, 0, (int) buffer.byteSize());
                if (length < 0) {
                    udp.takeError();
                    continue;
                }
                stack.sendUdp(udp, udp.lastSourceAddress(), udp.lastSourcePort(), buffer, 0, length);
                worked = true;
            }
            for (TcpConnection fresh; (fresh = tcp.accept(listener)) != null; ) {
                fresh.setNoDelay(true);
                connections.add(new Echoing(fresh));
            }
            for (int i = connections.size() - 1; i >= 0; i--) {
                Echoing c = connections.get(i);
                if (c.start == c.end) {
                    c.start = 0;
                    int n = tcp.read(c.connection, buffer, 0, (int) buffer.byteSize(), now);
                    if (n < 0) {
                        tcp.close(c.connection, now);
                        connections.remove(i);
                        continue;
                    }
                    c.end = n;
                }
                if (c.start < c.end) {
                    c.start += tcp.write(c.connection, buffer, c.start, c.end - c.start, now);
                    worked = true;
                }
            }
            stack.flush();
            if (worked) {
                lastWork = now;
            } else if (now - lastWork >= SPIN_NANOS) {
                long deadline = stack.nextDeadline();
                long sleep = deadline == Long.MAX_VALUE ? MAX_SLEEP_NANOS : Math.min(deadline - now, MAX_SLEEP_NANOS);
                if (sleep > 0) {
                    queue.awaitReceive(sleep);
                }
            } else {
                Thread.onSpinWait();
            }
        }
    }

    private static void kernelUdpEcho(boolean spin) throws IOException {
        DatagramChannel channel = DatagramChannel.open();
        channel.bind(new InetSocketAddress("127.0.0.1", 0));
        channel.configureBlocking(!spin);
        ready("port=" + ((InetSocketAddress) channel.getLocalAddress()).getPort());
        ByteBuffer buffer = ByteBuffer.allocateDirect(65_536);
        while (true) {
            buffer.clear();
            SocketAddress from = channel.receive(buffer);
            if (from == null) {
                Thread.onSpinWait();
                continue;
            }
            buffer.flip();
            while (channel.send(buffer, from) == 0) {
                Thread.onSpinWait();
            }
        }
    }

    private static void kernelTcpEcho(boolean spin) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();
        server.bind(new InetSocketAddress("127.0.0.1", 0));
        ready("port=" + ((InetSocketAddress) server.getLocalAddress()).getPort());
        ByteBuffer buffer = ByteBuffer.allocateDirect(65_536);
        while (true) {
            try (SocketChannel connection = server.accept()) {
                connection.setOption(StandardSocketOptions.TCP_NODELAY, true);
                connection.configureBlocking(!spin);
                int n;
                while ((n = connection.read(buffer.clear())) >= 0) {
                    if (n == 0) {
                        Thread.onSpinWait();
                        continue;
                    }
                    buffer.flip();
                    while (buffer.hasRemaining()) {
                        connection.write(buffer);
                    }
                }
            }
        }
    }
}

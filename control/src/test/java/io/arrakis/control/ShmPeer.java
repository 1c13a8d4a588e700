package io.arrakis.control;

import io.arrakis.device.Ipv4Text;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicQueue;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The child process of the cross-process tests ({@link Child} starts it). Modes:
 * <ul>
 * <li>{@code serve SOCKET NAME}: attaches an shm VNIC, runs a stack with a UDP echo (port 7) and
 *     a TCP echo (port 9); on {@code CHECK udpCount maxSize tcpBytes} it pings and streams through
 *     the echo of every peer it knows and prints {@code CHECK-OK} or {@code CHECK-FAIL}.
 * <li>{@code raw-echo SOCKET NAME SPIN_MICROS}: echoes UDP frames at the queue (swaps addresses
 *     in place), spinning that long after the last frame before it blocks.
 * <li>{@code kernel-udp-echo} / {@code kernel-tcp-echo}: the same over the kernel's loopback
 *     with JDK channels (blocking), for comparison.
 * </ul>
 * Prints {@code READY ...} when it can be used; quits on {@code QUIT} or end of input.
 */
public final class ShmPeer {
    private ShmPeer() {}

    public static void main(String[] args) throws Exception {
        try {
            switch (args[0]) {
                case "serve" -> serve(Path.of(args[1]), args[2]);
                case "raw-echo" -> rawEcho(Path.of(args[1]), args[2], Long.parseLong(args[3]));
                case "kernel-udp-echo" -> kernelUdpEcho();
                case "kernel-tcp-echo" -> kernelTcpEcho();
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (Throwable t) {
            System.out.println("FAILED " + t);
            t.printStackTrace(System.out);
            System.out.flush();
            System.exit(1);
        }
        System.out.println("BYE");
        System.out.flush();
        System.exit(0);
    }

    private static void serve(Path socket, String name) throws Exception {
        try (ShmVnic vnic = ShmTesting.open(socket, name);
                StackRunner runner = StackRunner.start(vnic, ShmTesting.stackConfig(vnic), ProcessHandle.current().pid())) {
            runner.serve(new Workloads.UdpEcho(Workloads.UDP_ECHO_PORT));
            runner.serve(new Workloads.TcpEchoServer(Workloads.TCP_ECHO_PORT));
            System.out.println("READY id=" + vnic.id() + " ip=" + Ipv4Text.format(vnic.address()) + " mac=" + vnic.mac()
                    + " pid=" + ProcessHandle.current().pid());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            int round = 0;
            for (String line; (line = in.readLine()) != null && !line.equals("QUIT"); ) {
                String[] words = line.split(" ");
                if (words[0].equals("CHECK")) {
                    System.out.println(check(vnic, runner, round++, Integer.parseInt(words[1]),
                            Integer.parseInt(words[2]), Long.parseLong(words[3])));
                    System.out.flush();
                }
            }
        }
    }

    /** Pings and streams through the echo of every known peer at once; one line of verdict. */
    private static String check(ShmVnic vnic, StackRunner runner, int round, int udpCount, int maxSize, long tcpBytes)
            throws Exception {
        List<ShmVnic.Peer> peers = vnic.peers();
        List<Workloads.UdpPinger> pingers = new ArrayList<>();
        List<Workloads.TcpEchoCheck> streams = new ArrayList<>();
        for (int i = 0; i < peers.size(); i++) {
            int peer = peers.get(i).address();
            long seed = ProcessHandle.current().pid() * 31 + peer;
            var pinger = new Workloads.UdpPinger(peer, Workloads.UDP_ECHO_PORT, 30_000 + round * 200 + i, udpCount,
                    maxSize, seed);
            var stream = new Workloads.TcpEchoCheck(peer, Workloads.TCP_ECHO_PORT, tcpBytes, seed);
            pingers.add(pinger);
            streams.add(stream);
            runner.everyPoll(pinger);
            runner.everyPoll(stream);
        }
        boolean done = runner.await(s -> pingers.stream().allMatch(Workloads.UdpPinger::done)
                && streams.stream().allMatch(Workloads.TcpEchoCheck::done), Duration.ofSeconds(120));
        return runner.call((stack, tcp) -> {
            StringBuilder problems = new StringBuilder();
            for (int i = 0; i < peers.size(); i++) {
                if (!pingers.get(i).done() || pingers.get(i).mismatches > 0) {
                    problems.append(" [").append(pingers.get(i).describe()).append(']');
                }
                if (!streams.get(i).exact()) {
                    problems.append(" [").append(streams.get(i).describe()).append(']');
                }
            }
            for (int i = 0; i < peers.size(); i++) {
                runner.removeHook(pingers.get(i));
                runner.removeHook(streams.get(i));
            }
            return done && problems.isEmpty() ? "CHECK-OK peers=" + peers.size()
                    : "CHECK-FAIL peers=" + peers.size() + problems;
        });
    }

    private static volatile boolean running = true;

    private static void rawEcho(Path socket, String name, long spinMicros) throws Exception {
        try (ShmVnic vnic = ShmTesting.open(socket, name)) {
            VnicQueue queue = vnic.queue(0);
            Thread stdin = Thread.ofPlatform().daemon().start(() -> {
                try {
                    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
                    for (String line; (line = in.readLine()) != null && !line.equals("QUIT"); ) {
                        // Nothing else to do.
                    }
                } catch (Exception ignored) {
                    // End of input either way.
                }
                running = false;
                try {
                    queue.wakeup();
                } catch (Exception ignored) {
                    // Closing anyway.
                }
            });
            System.out.println("READY id=" + vnic.id() + " ip=" + Ipv4Text.format(vnic.address()) + " mac=" + vnic.mac());
            System.out.flush();
            PacketBatch batch = new PacketBatch(64);
            MemorySegment memory = queue.memory();
            long spinNanos = spinMicros * 1000;
            long idleSince = System.nanoTime();
            while (running) {
                int n = queue.receive(batch);
                if (n == 0) {
                    long now = System.nanoTime();
                    if (now - idleSince < spinNanos) {
                        Thread.onSpinWait();
                    } else {
                        queue.awaitReceive(100_000_000);
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
            stdin.join(1000);
        }
    }

    private static void swap(MemorySegment memory, long a, long b, int length) {
        for (int i = 0; i < length; i++) {
            byte x = memory.get(ValueLayout.JAVA_BYTE, a + i);
            memory.set(ValueLayout.JAVA_BYTE, a + i, memory.get(ValueLayout.JAVA_BYTE, b + i));
            memory.set(ValueLayout.JAVA_BYTE, b + i, x);
        }
    }

    private static void kernelUdpEcho() throws Exception {
        try (DatagramChannel channel = DatagramChannel.open()) {
            channel.bind(new InetSocketAddress("127.0.0.1", 0));
            Thread echo = Thread.ofPlatform().daemon().start(() -> {
                ByteBuffer buffer = ByteBuffer.allocateDirect(65_536);
                try {
                    while (true) {
                        buffer.clear();
                        var from = channel.receive(buffer);
                        buffer.flip();
                        channel.send(buffer, from);
                    }
                } catch (Exception closed) {
                    // The channel was closed: we are quitting.
                }
            });
            System.out.println("READY port=" + ((InetSocketAddress) channel.getLocalAddress()).getPort());
            System.out.flush();
            awaitQuit();
            channel.close();
            echo.join(1000);
        }
    }

    private static void kernelTcpEcho() throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            Thread echo = Thread.ofPlatform().daemon().start(() -> {
                ByteBuffer buffer = ByteBuffer.allocateDirect(65_536);
                try (SocketChannel connection = server.accept()) {
                    connection.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    while (connection.read(buffer.clear()) > 0) {
                        buffer.flip();
                        while (buffer.hasRemaining()) {
                            connection.write(buffer);
                        }
                    }
                } catch (Exception closed) {
                    // The peer or we closed: we are quitting.
                }
            });
            System.out.println("READY port=" + ((InetSocketAddress) server.getLocalAddress()).getPort());
            System.out.flush();
            awaitQuit();
            server.close();
            echo.join(1000);
        }
    }

    private static void awaitQuit() throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.equals("QUIT"); ) {
            // Wait for the end.
        }
    }
}

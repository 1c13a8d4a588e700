package io.arrakis.bench.shm;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SocketChannel;

/**
 * The kernel's loopback with JDK channels: a connected {@link DatagramChannel} or a
 * {@link SocketChannel} with TCP_NODELAY to an {@link EchoPeer} doing the same; blocking on both
 * sides (what an ordinary program does), or non-blocking with both sides busy-polling
 * {@code read} (the kernel path at its fastest, as our paths busy-poll).
 */
final class KernelPath implements RoundTripPath {
    private final EchoPeerProcess peer;
    private final ByteChannel channel;
    private final boolean tcp;
    private final ByteBuffer out = ByteBuffer.allocateDirect(PAYLOAD);
    private final ByteBuffer in = ByteBuffer.allocateDirect(2048);

    private KernelPath(EchoPeerProcess peer, ByteChannel channel, boolean tcp) {
        this.peer = peer;
        this.channel = channel;
        this.tcp = tcp;
    }

    static KernelPath open(boolean tcp, boolean spin) throws IOException {
        EchoPeerProcess peer = EchoPeerProcess.start(tcp ? "kernel-tcp" : "kernel-udp", spin ? "spin" : "blocking");
        try {
            InetSocketAddress address = new InetSocketAddress("127.0.0.1", Integer.parseInt(peer.field("port")));
            ByteChannel channel;
            if (tcp) {
                SocketChannel socket = SocketChannel.open(address);
                socket.setOption(StandardSocketOptions.TCP_NODELAY, true);
                socket.configureBlocking(!spin);
                channel = socket;
            } else {
                DatagramChannel datagrams = DatagramChannel.open();
                datagrams.connect(address);
                datagrams.configureBlocking(!spin);
                channel = datagrams;
            }
            return new KernelPath(peer, channel, tcp);
        } catch (IOException | RuntimeException e) {
            peer.close();
            throw e;
        }
    }

    @Override
    public void roundTrip(int sequence) throws IOException {
        out.clear().putInt(0, sequence);
        while (out.hasRemaining()) {
            channel.write(out);
        }
        in.clear();
        long start = 0;
        int spins = 0;
        // UDP: one datagram is the whole echo; TCP: read until the 64 bytes are in.
        while (tcp ? in.position() < PAYLOAD : in.position() == 0) {
            int n = channel.read(in);
            if (n < 0) {
                throw new IOException("the kernel echo closed the connection");
            }
            if (n == 0 && (++spins & 0xFFFF) == 0) {
                // Non-blocking and still nothing: give up after the patience, as the other paths do.
                if (start == 0) {
                    start = System.nanoTime();
                } else if (System.nanoTime() - start > ECHO_PATIENCE_NANOS) {
                    peer.checkAlive();
                    throw new IOException("no kernel echo of message " + sequence + " within "
                            + ECHO_PATIENCE_NANOS / 1_000_000 + " ms");
                }
            }
        }
        int echoed = in.getInt(0);
        if (echoed != sequence || in.position() != PAYLOAD) {
            throw new IOException("sent message " + sequence + " (" + PAYLOAD + " bytes), the kernel echo carried "
                    + echoed + " (" + in.position() + " bytes)");
        }
    }

    @Override
    public void close() throws IOException {
        try {
            channel.close();
        } finally {
            peer.close();
        }
    }
}

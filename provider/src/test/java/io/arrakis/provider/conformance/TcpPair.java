package io.arrakis.provider.conformance;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/** A listener on the network's server address and one connection to it, both ends blocking. Used by one thread. */
record TcpPair(ServerSocketChannel listener, SocketChannel client, SocketChannel server) implements AutoCloseable {

    static TcpPair open(Network network) throws IOException {
        ServerSocketChannel listener = listen(network);
        SocketChannel client = null;
        try {
            client = network.provider().openSocketChannel();
            client.connect(listener.getLocalAddress());
            SocketChannel server = listener.accept();
            return new TcpPair(listener, client, server);
        } catch (IOException | RuntimeException e) {
            if (client != null) {
                client.close();
            }
            listener.close();
            throw e;
        }
    }

    /** A blocking listener bound to an ephemeral port of the server address. */
    static ServerSocketChannel listen(Network network) throws IOException {
        ServerSocketChannel listener = network.provider().openServerSocketChannel();
        try {
            listener.bind(new InetSocketAddress(network.serverAddress(), 0));
            return listener;
        } catch (IOException | RuntimeException e) {
            listener.close();
            throw e;
        }
    }

    /** Writes all of {@code bytes} from {@code from} (blocking or not: retries a zero-length write). */
    static void writeFully(java.nio.channels.WritableByteChannel from, byte[] bytes) throws Exception {
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        long deadline = System.nanoTime() + Await.LIMIT.toNanos();
        while (buffer.hasRemaining()) {
            if (from.write(buffer) == 0) {
                if (System.nanoTime() > deadline) {
                    throw new java.util.concurrent.TimeoutException("could not write " + bytes.length + " bytes within " + Await.LIMIT);
                }
                Thread.sleep(1);
            }
        }
    }

    /** Reads exactly {@code n} bytes, or fewer if the stream ends; bounded (a blocking channel is closed by a {@link Watchdog}). */
    static byte[] readFully(java.nio.channels.ReadableByteChannel from, int n) throws Exception {
        try (Watchdog _ = Watchdog.closeAfterLimit(from)) {
            return readFullyUnguarded(from, n);
        }
    }

    private static byte[] readFullyUnguarded(java.nio.channels.ReadableByteChannel from, int n) throws Exception {
        ByteBuffer buffer = ByteBuffer.allocate(n);
        long deadline = System.nanoTime() + Await.LIMIT.toNanos();
        while (buffer.hasRemaining()) {
            int read = from.read(buffer);
            if (read < 0) {
                break;
            }
            if (read == 0) {
                if (System.nanoTime() > deadline) {
                    throw new java.util.concurrent.TimeoutException("read " + buffer.position() + " of " + n + " bytes within " + Await.LIMIT);
                }
                Thread.sleep(1);
            }
        }
        return java.util.Arrays.copyOf(buffer.array(), buffer.position());
    }

    @Override
    public void close() {
        for (AutoCloseable c : new AutoCloseable[] {server, client, listener}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception ignored) {
                // closed by the case already
            }
        }
    }
}

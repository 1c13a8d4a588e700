package io.arrakis.bench.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * An application that knows nothing of Arrakis: plain blocking NIO, one thread per connection,
 * echoing fixed-size requests. Listens on the wildcard address; prints {@code READY <port>}.
 * Usage: {@code PlainEchoServer <port> <message bytes>}.
 */
public final class PlainEchoServer {
    private PlainEchoServer() {}

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        int size = Integer.parseInt(args[1]);
        ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress(port));
        System.out.println("READY " + ((InetSocketAddress) server.getLocalAddress()).getPort());
        System.out.flush();
        while (true) {
            SocketChannel connection = server.accept();
            Thread.ofPlatform().daemon().start(() -> echo(connection, size));
        }
    }

    private static void echo(SocketChannel connection, int size) {
        try (connection) {
            connection.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
            ByteBuffer buffer = ByteBuffer.allocateDirect(size);
            while (true) {
                buffer.clear();
                while (buffer.hasRemaining()) {
                    if (connection.read(buffer) < 0) {
                        return;
                    }
                }
                buffer.flip();
                while (buffer.hasRemaining()) {
                    connection.write(buffer);
                }
            }
        } catch (IOException e) {
            // the client went away
        }
    }
}

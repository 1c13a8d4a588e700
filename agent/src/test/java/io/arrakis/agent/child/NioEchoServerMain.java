package io.arrakis.agent.child;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/** An unmodified echo server: one thread, a plain java.nio Selector, the wildcard address. Prints {@code READY <port>}. */
public final class NioEchoServerMain {
    public static void main(String[] args) throws Exception {
        Selector selector = Selector.open();
        ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress(0));
        server.configureBlocking(false);
        server.register(selector, SelectionKey.OP_ACCEPT);
        System.out.println("READY " + ((InetSocketAddress) server.getLocalAddress()).getPort());
        System.out.flush();
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        while (true) {
            selector.select();
            for (SelectionKey key : selector.selectedKeys()) {
                if (key.isAcceptable()) {
                    SocketChannel accepted = server.accept();
                    if (accepted != null) {
                        accepted.configureBlocking(false);
                        accepted.register(selector, SelectionKey.OP_READ);
                    }
                } else if (key.isReadable()) {
                    SocketChannel channel = (SocketChannel) key.channel();
                    buffer.clear();
                    int n = channel.read(buffer);
                    if (n < 0) {
                        key.cancel();
                        channel.close();
                        continue;
                    }
                    buffer.flip();
                    while (buffer.hasRemaining()) {
                        channel.write(buffer); // small echoes: the send buffer has room
                    }
                }
            }
            selector.selectedKeys().clear();
        }
    }
}

package io.arrakis.cli;

import io.arrakis.provider.ArrakisSelectorProvider;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

/**
 * A child JVM for the ops commands' tests: a process with the provider's user-level stack on the
 * shm switch of the control plane at {@code args[0]}. {@code server}: echoes every connection on
 * a port of its VNIC, prints {@code ready address=A port=P}. {@code client A P N}: connects, sends
 * N bytes and reads them back, prints {@code done sent=N}, keeps that connection open; then on
 * the command {@code exchange}, makes one more connection that sends "hello", reads it back and
 * closes (prints {@code exchanged port=P}). Quits when its standard input closes.
 */
public final class OpsPeer {
    private OpsPeer() {}

    public static void main(String[] args) throws Exception {
        Properties settings = new Properties();
        settings.setProperty("arrakis.shm.socket", args[0]);
        settings.setProperty("arrakis.shm.embedded", "false");
        ArrakisSelectorProvider provider = ArrakisSelectorProvider.create(settings);
        BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try {
            if (args[1].equals("server")) {
                serve(provider, commands);
            } else {
                client(provider, new InetSocketAddress(args[2], Integer.parseInt(args[3])), Integer.parseInt(args[4]),
                        commands);
            }
        } finally {
            provider.shutdown();
        }
    }

    private static void serve(ArrakisSelectorProvider provider, BufferedReader commands) throws IOException {
        ServerSocketChannel listener = provider.openServerSocketChannel();
        listener.bind(new InetSocketAddress(provider.userLevelAddress(), 0));
        InetSocketAddress local = (InetSocketAddress) listener.getLocalAddress();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                while (true) {
                    SocketChannel connection = listener.accept();
                    Thread.ofPlatform().daemon().start(() -> echo(connection));
                }
            } catch (IOException e) {
                // the listener closed: we are quitting
            }
        });
        System.out.println("ready address=" + local.getAddress().getHostAddress() + " port=" + local.getPort());
        System.out.flush();
        while (commands.readLine() != null) {
            // nothing to do but wait for our input to close
        }
        listener.close();
    }

    private static void echo(SocketChannel connection) {
        ByteBuffer buffer = ByteBuffer.allocate(16 * 1024);
        try (connection) {
            while (connection.read(buffer) >= 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    connection.write(buffer);
                }
                buffer.clear();
            }
        } catch (IOException e) {
            System.out.println("echo failed: " + e);
        }
    }

    private static void client(ArrakisSelectorProvider provider, InetSocketAddress server, int bytes,
            BufferedReader commands) throws IOException {
        SocketChannel kept = provider.openSocketChannel();
        kept.connect(server);
        exchange(kept, new byte[bytes]);
        System.out.println("done sent=" + bytes + " port=" + ((InetSocketAddress) kept.getLocalAddress()).getPort());
        System.out.flush();
        for (String command; (command = commands.readLine()) != null; ) {
            if (command.equals("exchange")) {
                try (SocketChannel c = provider.openSocketChannel()) {
                    c.connect(server);
                    exchange(c, "hello".getBytes(StandardCharsets.US_ASCII));
                    c.shutdownOutput();
                    if (c.read(ByteBuffer.allocate(1)) != -1) {
                        throw new IOException("the echo server sent more than the echo");
                    }
                    System.out.println("exchanged port=" + ((InetSocketAddress) c.getLocalAddress()).getPort());
                    System.out.flush();
                }
            }
        }
        kept.close();
    }

    /** Sends {@code data} and reads as many bytes back. */
    private static void exchange(SocketChannel c, byte[] data) throws IOException {
        ByteBuffer out = ByteBuffer.wrap(data);
        ByteBuffer in = ByteBuffer.allocate(data.length);
        while (out.hasRemaining()) {
            c.write(out);
            if (in.hasRemaining() && c.read(in) < 0) {
                throw new IOException("the echo server closed early");
            }
        }
        while (in.hasRemaining()) {
            if (c.read(in) < 0) {
                throw new IOException("the echo server closed early");
            }
        }
    }
}

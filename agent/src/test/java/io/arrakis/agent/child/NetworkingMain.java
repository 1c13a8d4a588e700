package io.arrakis.agent.child;

import io.arrakis.agent.ArrakisAgent;
import io.arrakis.provider.net.JavaNetHooks;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.MulticastSocket;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * An application that knows nothing of Arrakis: a thread-per-connection {@code ServerSocket}
 * echo server and its {@code Socket} clients, {@code DatagramSocket} and {@code MulticastSocket}
 * exchanges, a virtual-thread-per-connection server, NIO channels under a {@code Selector}, all
 * on 127.0.0.1. Prints {@code key=value} lines of what it saw; any failure ends it with a stack
 * trace and exit code 1.
 */
public final class NetworkingMain {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    public static void main(String[] args) throws Exception {
        System.out.println("provider=" + SelectorProvider.provider().getClass().getName());
        System.out.println("stream.echo=" + streamEcho(false));
        System.out.println("stream.echo.virtual=" + streamEcho(true));
        System.out.println("datagram=" + datagrams(new DatagramSocket(0, LOOPBACK), new DatagramSocket(0, LOOPBACK)));
        MulticastSocket multicast = new MulticastSocket(new InetSocketAddress(LOOPBACK, 0));
        multicast.setTimeToLive(3);
        System.out.println("multicast.ttl=" + multicast.getTimeToLive());
        System.out.println("multicast=" + datagrams(multicast, new DatagramSocket(0, LOOPBACK)));
        System.out.println("nio=" + nio());
        System.out.println("implaccept.timeout=" + implAccept());
        System.out.println("agent.present=" + agentPresent());
        if (agentPresent()) {
            System.out.println("agent.source=" + java.nio.file.Path.of(
                    ArrakisAgent.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
            System.out.println("javanet.installed=" + JavaNetHooks.installed());
            System.out.println("javanet.sockets=" + JavaNetHooks.socketsCreated());
            System.out.println("javanet.serversockets=" + JavaNetHooks.serverSocketsCreated());
            System.out.println("datagram.hooked=" + ArrakisAgent.datagramSocketsHooked());
        }
    }

    private static boolean agentPresent() {
        try {
            Class.forName("io.arrakis.agent.ArrakisAgent");
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    /** Three clients echo 64 KiB each, byte for byte, through a thread-per-connection server. */
    private static String streamEcho(boolean virtualThreads) throws Exception {
        // The server closes first (ending the accept loop), then the pool waits for its tasks.
        try (ExecutorService pool = virtualThreads ? Executors.newVirtualThreadPerTaskExecutor()
                : Executors.newCachedThreadPool();
                ServerSocket server = new ServerSocket(0, 50, LOOPBACK)) {
            pool.submit(() -> {
                while (true) {
                    Socket connection;
                    try {
                        connection = server.accept();
                    } catch (SocketException closed) {
                        return null;
                    }
                    pool.submit(() -> {
                        try (Socket c = connection) {
                            c.getInputStream().transferTo(c.getOutputStream());
                        }
                        return null;
                    });
                }
            });
            Future<?>[] clients = new Future<?>[3];
            for (int i = 0; i < clients.length; i++) {
                long seed = i;
                clients[i] = pool.submit(() -> {
                    byte[] payload = new byte[64 * 1024];
                    new Random(seed).nextBytes(payload);
                    try (Socket socket = new Socket(LOOPBACK, server.getLocalPort())) {
                        socket.setSoTimeout(10_000);
                        OutputStream out = socket.getOutputStream();
                        InputStream in = socket.getInputStream();
                        Thread writer = Thread.ofPlatform().start(() -> {
                            try {
                                out.write(payload);
                                socket.shutdownOutput();
                            } catch (IOException e) {
                                throw new RuntimeException(e);
                            }
                        });
                        byte[] echoed = in.readAllBytes();
                        writer.join();
                        if (!Arrays.equals(payload, echoed)) {
                            throw new AssertionError("echo differs: sent " + payload.length + " got " + echoed.length);
                        }
                    }
                    return null;
                });
            }
            for (Future<?> client : clients) {
                client.get(20, TimeUnit.SECONDS);
            }
        }
        return "ok";
    }

    /**
     * A ServerSocket subclass accepting into a Socket it made and configured first, as TLS server
     * sockets do; returns the accepted socket's SO_TIMEOUT after an echo of one byte.
     */
    private static int implAccept() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 50, LOOPBACK) {
                    @Override
                    public Socket accept() throws IOException {
                        Socket socket = new Socket();
                        socket.setSoTimeout(4321);
                        implAccept(socket);
                        return socket;
                    }
                };
                Socket client = new Socket(LOOPBACK, server.getLocalPort());
                Socket accepted = server.accept()) {
            client.getOutputStream().write(9);
            accepted.getOutputStream().write(accepted.getInputStream().read());
            if (client.getInputStream().read() != 9) {
                throw new AssertionError("implAccept echo");
            }
            return accepted.getSoTimeout();
        }
    }

    private static String datagrams(DatagramSocket sender, DatagramSocket receiver) throws IOException {
        try (sender; receiver) {
            receiver.setSoTimeout(10_000);
            byte[] message = "hello, datagram".getBytes();
            sender.send(new DatagramPacket(message, message.length, receiver.getLocalSocketAddress()));
            DatagramPacket packet = new DatagramPacket(new byte[100], 100);
            receiver.receive(packet);
            String got = new String(packet.getData(), 0, packet.getLength());
            if (!got.equals("hello, datagram") || !packet.getSocketAddress().equals(sender.getLocalSocketAddress())) {
                throw new AssertionError("datagram: got '" + got + "' from " + packet.getSocketAddress());
            }
        }
        return "ok";
    }

    /** A non-blocking echo over a Selector, then a DatagramChannel exchange. */
    private static String nio() throws Exception {
        try (Selector selector = Selector.open(); ServerSocketChannel server = ServerSocketChannel.open();
                SocketChannel client = SocketChannel.open()) {
            server.bind(new InetSocketAddress(LOOPBACK, 0));
            server.configureBlocking(false);
            server.register(selector, SelectionKey.OP_ACCEPT);
            client.connect(server.getLocalAddress());
            client.write(ByteBuffer.wrap("ping".getBytes()));
            ByteBuffer reply = ByteBuffer.allocate(4);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            client.configureBlocking(false);
            while (reply.hasRemaining() && System.nanoTime() < deadline) {
                selector.select(100);
                for (SelectionKey key : selector.selectedKeys()) {
                    if (key.isAcceptable()) {
                        SocketChannel accepted = server.accept();
                        accepted.configureBlocking(false);
                        accepted.register(selector, SelectionKey.OP_READ, ByteBuffer.allocate(4));
                    } else if (key.isReadable()) {
                        SocketChannel accepted = (SocketChannel) key.channel();
                        ByteBuffer buffer = (ByteBuffer) key.attachment();
                        accepted.read(buffer);
                        if (!buffer.hasRemaining()) {
                            accepted.write(buffer.flip());
                            key.cancel();
                        }
                    }
                }
                selector.selectedKeys().clear();
                client.read(reply);
            }
            if (!new String(reply.array()).equals("ping")) {
                throw new AssertionError("nio echo: " + new String(reply.array()));
            }
        }
        try (DatagramChannel a = DatagramChannel.open().bind(new InetSocketAddress(LOOPBACK, 0));
                DatagramChannel b = DatagramChannel.open().bind(new InetSocketAddress(LOOPBACK, 0))) {
            a.send(ByteBuffer.wrap("dgram".getBytes()), b.getLocalAddress());
            ByteBuffer got = ByteBuffer.allocate(16);
            b.receive(got);
            if (!new String(got.array(), 0, got.position()).equals("dgram")) {
                throw new AssertionError("datagram channel");
            }
        }
        return "ok";
    }
}

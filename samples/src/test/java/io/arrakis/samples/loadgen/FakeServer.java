package io.arrakis.samples.loadgen;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A deliberately simple (thread per connection, blocking) server for testing the load generator
 * against replies a real server would never send. It reads requests in the protocol asked for
 * and answers each with what {@link Responder} says.
 */
final class FakeServer implements AutoCloseable {
    /** The reply to a request: {@code words} are the command and its arguments (not the data block). */
    interface Responder {
        byte[] reply(List<String> words, long requestNumber) throws InterruptedException;
    }

    private final ServerSocket listener;
    private final boolean memcache;
    private final Responder responder;
    private final AtomicLong requests = new AtomicLong();
    private final List<Socket> sockets = new ArrayList<>();
    private final Thread acceptor;

    FakeServer(boolean memcache, Responder responder) throws IOException {
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.memcache = memcache;
        this.responder = responder;
        this.acceptor = Thread.ofPlatform().daemon().start(this::accept);
    }

    int port() {
        return listener.getLocalPort();
    }

    private void accept() {
        try {
            while (true) {
                Socket socket = listener.accept();
                socket.setTcpNoDelay(true);
                synchronized (sockets) {
                    sockets.add(socket);
                }
                Thread.ofPlatform().daemon().start(() -> serve(socket));
            }
        } catch (IOException e) {
            // closed
        }
    }

    private void serve(Socket socket) {
        try (socket) {
            InputStream in = new BufferedInputStream(socket.getInputStream());
            OutputStream out = socket.getOutputStream();
            while (true) {
                List<String> words = memcache ? readMemcache(in) : readResp(in);
                if (words == null) {
                    return;
                }
                out.write(responder.reply(words, requests.incrementAndGet()));
                if (in.available() == 0) {
                    out.flush();
                }
            }
        } catch (IOException | InterruptedException e) {
            // connection over
        }
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int previous = -1;
        while (true) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            if (previous == '\r' && b == '\n') {
                byte[] bytes = line.toByteArray();
                return new String(bytes, 0, bytes.length - 1, StandardCharsets.ISO_8859_1);
            }
            line.write(b);
            previous = b;
        }
    }

    private static List<String> readResp(InputStream in) throws IOException {
        String header = line(in);
        if (header == null) {
            return null;
        }
        int count = Integer.parseInt(header.substring(1));
        List<String> words = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int length = Integer.parseInt(line(in).substring(1));
            words.add(new String(in.readNBytes(length), StandardCharsets.ISO_8859_1));
            in.readNBytes(2);
        }
        return words;
    }

    private static List<String> readMemcache(InputStream in) throws IOException {
        String command = line(in);
        if (command == null) {
            return null;
        }
        List<String> words = List.of(command.split(" "));
        if (words.get(0).equals("set")) {
            in.readNBytes(Integer.parseInt(words.get(4)) + 2);
        }
        return words;
    }

    @Override
    public void close() throws IOException {
        listener.close();
        synchronized (sockets) {
            for (Socket socket : sockets) {
                socket.close();
            }
        }
    }
}

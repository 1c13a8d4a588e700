package io.arrakis.samples.memcached;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/** A blocking test client for memcached's text protocol: sends raw text, reads lines and blocks. */
final class TextConnection implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    TextConnection(int port) throws IOException {
        socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        socket.setSoTimeout(10_000);
        socket.setTcpNoDelay(true);
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    void send(String text) throws IOException {
        send(text.getBytes(StandardCharsets.ISO_8859_1));
    }

    void send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    String line() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int previous = -1;
        while (true) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed after '" + line + "'");
            }
            line.write(b);
            if (previous == '\r' && b == '\n') {
                return line.toString(StandardCharsets.ISO_8859_1);
            }
            previous = b;
        }
    }

    /** Reads a retrieval reply: VALUE lines with their data, up to and including END. */
    String retrieval() throws IOException {
        StringBuilder reply = new StringBuilder();
        while (true) {
            String line = line();
            reply.append(line);
            if (line.equals("END\r\n") || !line.startsWith("VALUE ")) {
                return reply.toString();
            }
            int length = Integer.parseInt(line.trim().split(" ")[3]);
            reply.append(new String(in.readNBytes(length + 2), StandardCharsets.ISO_8859_1));
        }
    }

    /** Sends a command and reads a one-line reply. */
    String call(String command) throws IOException {
        send(command);
        return line();
    }

    boolean closedByPeer() throws IOException {
        try {
            return in.read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    /** False when the connection stays open for a short while (nothing to read, no close). */
    boolean closedByPeerQuickly() throws IOException {
        socket.setSoTimeout(100);
        try {
            return closedByPeer();
        } finally {
            socket.setSoTimeout(10_000);
        }
    }

    void timeout(int millis) throws IOException {
        socket.setSoTimeout(millis);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}

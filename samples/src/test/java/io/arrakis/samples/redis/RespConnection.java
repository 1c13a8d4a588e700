package io.arrakis.samples.redis;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/** A blocking test client that sends raw bytes and reads whole RESP2 replies as raw text. */
final class RespConnection implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    RespConnection(int port) throws IOException {
        socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        socket.setSoTimeout(10_000);
        socket.setTcpNoDelay(true);
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    static byte[] encode(String... args) {
        StringBuilder b = new StringBuilder("*").append(args.length).append("\r\n");
        for (String arg : args) {
            b.append('$').append(arg.getBytes(StandardCharsets.ISO_8859_1).length).append("\r\n").append(arg).append("\r\n");
        }
        return b.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    void send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    void send(String raw) throws IOException {
        send(raw.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** Sends a command and returns its raw reply, e.g. "+OK\r\n" or "$1\r\nx\r\n". */
    String call(String... args) throws IOException {
        send(encode(args));
        return readReply();
    }

    String readReply() throws IOException {
        StringBuilder reply = new StringBuilder();
        readInto(reply);
        return reply.toString();
    }

    private String readLine() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int previous = -1;
        while (true) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed after " + line);
            }
            line.write(b);
            if (previous == '\r' && b == '\n') {
                return line.toString(StandardCharsets.ISO_8859_1);
            }
            previous = b;
        }
    }

    private void readInto(StringBuilder reply) throws IOException {
        String line = readLine();
        reply.append(line);
        char type = line.charAt(0);
        long n = Long.parseLong(line.substring(1, line.length() - 2).isEmpty() ? "0"
                : type == '$' || type == '*' ? line.substring(1, line.length() - 2) : "0");
        if (type == '$' && n >= 0) {
            byte[] data = in.readNBytes((int) n + 2);
            reply.append(new String(data, StandardCharsets.ISO_8859_1));
        } else if (type == '*') {
            for (long i = 0; i < n; i++) {
                readInto(reply);
            }
        }
    }

    /** True when the server closes the connection (reads end of stream) within the timeout. */
    boolean closedByPeer() throws IOException {
        try {
            return in.read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
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

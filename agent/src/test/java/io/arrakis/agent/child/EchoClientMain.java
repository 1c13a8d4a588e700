package io.arrakis.agent.child;

import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.Random;

/**
 * An unmodified client: connects to 127.0.0.1:{@code port} with java.net ({@code net}) or a
 * blocking SocketChannel ({@code nio}), sends {@code rounds} messages of 1..4096 random bytes and
 * checks each echo byte for byte. Prints {@code OK <rounds>}, or fails.
 */
public final class EchoClientMain {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int rounds = Integer.parseInt(args[1]);
        boolean nio = args.length > 2 && args[2].equals("nio");
        Random random = new Random(port);
        if (nio) {
            try (SocketChannel channel = SocketChannel.open(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
                for (int i = 0; i < rounds; i++) {
                    byte[] message = new byte[1 + random.nextInt(4096)];
                    random.nextBytes(message);
                    ByteBuffer out = ByteBuffer.wrap(message);
                    while (out.hasRemaining()) {
                        channel.write(out);
                    }
                    ByteBuffer in = ByteBuffer.allocate(message.length);
                    while (in.hasRemaining()) {
                        if (channel.read(in) < 0) {
                            throw new IllegalStateException("end of stream after " + i + " rounds");
                        }
                    }
                    check(message, in.array(), i);
                }
            }
        } else {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
                OutputStream out = socket.getOutputStream();
                DataInputStream in = new DataInputStream(socket.getInputStream());
                for (int i = 0; i < rounds; i++) {
                    byte[] message = new byte[1 + random.nextInt(4096)];
                    random.nextBytes(message);
                    out.write(message);
                    byte[] echo = new byte[message.length];
                    in.readFully(echo);
                    check(message, echo, i);
                }
            }
        }
        System.out.println("OK " + rounds);
    }

    private static void check(byte[] sent, byte[] echoed, int round) {
        if (!Arrays.equals(sent, echoed)) {
            throw new IllegalStateException("round " + round + ": the echo differs from what was sent");
        }
    }
}

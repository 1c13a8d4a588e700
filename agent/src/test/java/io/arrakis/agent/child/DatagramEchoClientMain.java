package io.arrakis.agent.child;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.Random;

/**
 * An unmodified UDP client with {@code java.net.DatagramSocket}: sends {@code rounds} datagrams of
 * 1..1400 random bytes to 127.0.0.1:{@code port}, each waiting (soTimeout 2 s, 3 tries) for its
 * echo, which must come from 127.0.0.1:{@code port} byte for byte. Prints {@code OK <rounds>}, or fails.
 */
public final class DatagramEchoClientMain {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int rounds = Integer.parseInt(args[1]);
        InetSocketAddress server = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        Random random = new Random(port);
        try (DatagramSocket socket = new DatagramSocket()) {
            socket.setSoTimeout(2_000);
            byte[] buffer = new byte[2_048];
            DatagramPacket reply = new DatagramPacket(buffer, buffer.length);
            for (int i = 0; i < rounds; i++) {
                byte[] message = new byte[1 + random.nextInt(1_400)];
                random.nextBytes(message);
                for (int attempt = 1; ; attempt++) {
                    socket.send(new DatagramPacket(message, message.length, server));
                    try {
                        reply.setLength(buffer.length);
                        socket.receive(reply);
                        break;
                    } catch (java.net.SocketTimeoutException lost) {
                        if (attempt == 3) {
                            throw new IllegalStateException("round " + i + ": no echo after 3 tries", lost);
                        }
                    }
                }
                if (!server.equals(reply.getSocketAddress())) {
                    throw new IllegalStateException("round " + i + ": the echo came from " + reply.getSocketAddress()
                            + ", not " + server);
                }
                if (!Arrays.equals(message, Arrays.copyOf(buffer, reply.getLength()))) {
                    throw new IllegalStateException("round " + i + ": the echo differs from what was sent");
                }
            }
        }
        System.out.println("OK " + rounds);
    }
}

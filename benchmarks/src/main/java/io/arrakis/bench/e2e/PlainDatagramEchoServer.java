package io.arrakis.bench.e2e;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;

/**
 * An application that knows nothing of Arrakis: a {@code java.net.DatagramSocket} on the wildcard
 * address sending every datagram back to its sender. Prints {@code READY <port>}.
 * Usage: {@code PlainDatagramEchoServer <port> <message bytes>}.
 */
public final class PlainDatagramEchoServer {
    private PlainDatagramEchoServer() {}

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        int size = Integer.parseInt(args[1]);
        try (DatagramSocket socket = new DatagramSocket(port)) {
            System.out.println("READY " + socket.getLocalPort());
            System.out.flush();
            byte[] buffer = new byte[Math.max(size, 2_048)];
            DatagramPacket packet = new DatagramPacket(buffer, buffer.length);
            while (true) {
                packet.setLength(buffer.length);
                socket.receive(packet);
                socket.send(packet);
            }
        }
    }
}

package io.arrakis.agent.child;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.SocketException;

/**
 * An unmodified UDP echo server with {@code java.net.DatagramSocket}: {@code new DatagramSocket(0)}
 * (the wildcard, as such servers bind), prints {@code READY <port>}, then sends every datagram back
 * to its sender until it is killed.
 */
public final class DatagramEchoServerMain {
    public static void main(String[] args) throws Exception {
        try (DatagramSocket socket = new DatagramSocket(0)) {
            System.out.println("READY " + socket.getLocalPort());
            System.out.flush();
            byte[] buffer = new byte[65_536];
            DatagramPacket packet = new DatagramPacket(buffer, buffer.length);
            while (true) {
                packet.setLength(buffer.length);
                try {
                    socket.receive(packet);
                } catch (SocketException closed) {
                    return;
                }
                socket.send(packet); // the packet names its sender: the echo goes back there
            }
        }
    }
}

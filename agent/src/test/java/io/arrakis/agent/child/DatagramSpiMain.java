package io.arrakis.agent.child;

import io.arrakis.provider.net.DatagramSocketHook;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.MulticastSocket;
import java.nio.channels.DatagramChannel;

/**
 * Run with {@link RecordingProvider} as the JVM's provider: shows which channels
 * {@code DatagramSocket}, {@code MulticastSocket} and {@code DatagramChannel} come from, and that
 * a socket adaptor built with {@link DatagramSocketHook#noDelegate()} creates no delegate.
 */
public final class DatagramSpiMain {
    /** A provider's adaptor would be built so: no delegate of its own. */
    static final class DelegatelessSocket extends MulticastSocket {
        DelegatelessSocket() throws java.io.IOException {
            super(DatagramSocketHook.noDelegate());
        }
    }

    public static void main(String[] args) throws Exception {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        try (DatagramSocket a = new DatagramSocket(0, loopback);
                MulticastSocket b = new MulticastSocket(new InetSocketAddress(loopback, 0))) {
            byte[] message = {1, 2, 3, 4};
            a.send(new DatagramPacket(message, message.length, b.getLocalSocketAddress()));
            b.setSoTimeout(10_000);
            DatagramPacket packet = new DatagramPacket(new byte[8], 8);
            b.receive(packet);
            System.out.println("received=" + packet.getLength());
            System.out.println("multicast.reuseaddress=" + b.getReuseAddress());
        }
        System.out.println("after.sockets=" + RecordingProvider.DATAGRAM_CHANNELS_FOR_SOCKETS);
        DatagramChannel.open().close();
        System.out.println("after.channel=" + RecordingProvider.DATAGRAM_CHANNELS_FOR_SOCKETS);
        new DelegatelessSocket();
        System.out.println("after.delegateless=" + RecordingProvider.DATAGRAM_CHANNELS_FOR_SOCKETS);
    }
}

package io.arrakis.control;

import java.nio.ByteBuffer;

/** Ethernet frames built by hand, for tests below the stack. */
final class Frames {
    private Frames() {}

    /** An Ethernet + IPv4 + UDP frame (IP header checksum filled in, UDP checksum 0). */
    static byte[] udp(long sourceMac, long destinationMac, int source, int destination, int sourcePort,
            int destinationPort, byte[] payload) {
        ByteBuffer frame = ByteBuffer.allocate(14 + 20 + 8 + payload.length);
        putMac(frame, destinationMac);
        putMac(frame, sourceMac);
        frame.putShort((short) 0x0800);
        int ip = frame.position();
        frame.put((byte) 0x45).put((byte) 0).putShort((short) (20 + 8 + payload.length)).putShort((short) 0)
                .putShort((short) 0x4000).put((byte) 64).put((byte) 17).putShort((short) 0).putInt(source)
                .putInt(destination);
        int sum = 0;
        for (int i = 0; i < 20; i += 2) {
            sum += frame.getShort(ip + i) & 0xFFFF;
        }
        sum = (sum & 0xFFFF) + (sum >>> 16);
        sum = (sum & 0xFFFF) + (sum >>> 16);
        frame.putShort(ip + 10, (short) ~sum);
        frame.putShort((short) sourcePort).putShort((short) destinationPort).putShort((short) (8 + payload.length))
                .putShort((short) 0);
        frame.put(payload);
        return frame.array();
    }

    /** An ARP reply claiming {@code senderAddress} is at {@code senderMac}. */
    static byte[] arpReply(long sourceMac, long destinationMac, long senderMac, int senderAddress, long targetMac,
            int targetAddress) {
        ByteBuffer frame = ByteBuffer.allocate(42);
        putMac(frame, destinationMac);
        putMac(frame, sourceMac);
        frame.putShort((short) 0x0806).putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4)
                .putShort((short) 2);
        putMac(frame, senderMac);
        frame.putInt(senderAddress);
        putMac(frame, targetMac);
        frame.putInt(targetAddress);
        return frame.array();
    }

    private static void putMac(ByteBuffer frame, long mac) {
        frame.putShort((short) (mac >>> 32)).putInt((int) mac);
    }

    static long sourceMac(byte[] frame) {
        return ByteBuffer.wrap(frame).getLong(4) & 0xFFFF_FFFF_FFFFL;
    }
}

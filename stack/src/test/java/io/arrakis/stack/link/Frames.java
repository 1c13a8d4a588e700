package io.arrakis.stack.link;

import io.arrakis.stack.wire.Ethernet;
import io.arrakis.stack.wire.Ipv4;
import io.arrakis.stack.wire.NetworkOrder;
import io.arrakis.stack.wire.Tcp;
import io.arrakis.stack.wire.TcpOptions;
import io.arrakis.stack.wire.Udp;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** Hand-built frames for the link tests, written with the wire views; addresses in 198.18.0.0/15 only. */
final class Frames {
    static final long MAC_A = 0x02_53_00_00_00_0AL;
    static final long MAC_B = 0x02_53_00_00_00_0BL;
    /** 198.18.0.1 */
    static final int IP_A = 0xC612_0001;
    /** 198.19.0.2 */
    static final int IP_B = 0xC613_0002;
    static final int UDP_OVERHEAD = Ethernet.HEADER_LENGTH + Ipv4.MIN_HEADER_LENGTH + Udp.HEADER_LENGTH;

    private Frames() {}

    /**
     * Writes an Ethernet/IPv4/UDP frame with correct checksums whose payload is {@code payload}
     * bytes: a 4-byte big-endian {@code sequence}, then bytes derived from it. Returns its length.
     */
    static int udp(MemorySegment m, long at, long sourceMac, long destinationMac, int source, int destination,
            int sourcePort, int destinationPort, int sequence, int payload) {
        if (payload < 4) {
            throw new IllegalArgumentException("payload holds the sequence number: at least 4 bytes");
        }
        Ethernet.write(m, at, destinationMac, sourceMac, Ethernet.TYPE_IPV4);
        long ip = at + Ethernet.HEADER_LENGTH;
        long udp = ip + Ipv4.MIN_HEADER_LENGTH;
        long data = udp + Udp.HEADER_LENGTH;
        NetworkOrder.setU32(m, data, sequence);
        for (int i = 4; i < payload; i++) {
            NetworkOrder.setU8(m, data + i, sequence * 31 + i);
        }
        Ipv4.write(m, ip, 0, Ipv4.MIN_HEADER_LENGTH + Udp.HEADER_LENGTH + payload, sequence & 0xFFFF, Ipv4.FLAG_DF,
                64, Ipv4.PROTOCOL_UDP, source, destination);
        Udp.write(m, udp, sourcePort, destinationPort, payload, source, destination);
        return UDP_OVERHEAD + payload;
    }

    /** A UDP frame from A to B on ports 40001 → 40002. */
    static int udpAToB(MemorySegment m, long at, int sequence, int payload) {
        return udp(m, at, MAC_A, MAC_B, IP_A, IP_B, 40001, 40002, sequence, payload);
    }

    /** The sequence number {@link #udp} put in a frame's payload. */
    static int sequence(MemorySegment m, long at) {
        return NetworkOrder.u32(m, at + UDP_OVERHEAD);
    }

    /**
     * Whether a frame {@link #udp} wrote is intact, checked strictly: everything a receiver
     * checks, and a zero UDP checksum counts as damage (these senders always compute one).
     */
    static boolean intactUdp(MemorySegment m, long at, int length) {
        long ip = at + Ethernet.HEADER_LENGTH;
        if (length < UDP_OVERHEAD || Ethernet.etherType(m, at) != Ethernet.TYPE_IPV4
                || Ipv4.validate(m, ip, length - Ethernet.HEADER_LENGTH) != null
                || Ipv4.totalLength(m, ip) != length - Ethernet.HEADER_LENGTH
                || Ipv4.protocol(m, ip) != Ipv4.PROTOCOL_UDP) {
            return false;
        }
        long udp = ip + Ipv4.headerLength(m, ip);
        int udpLength = Ipv4.totalLength(m, ip) - Ipv4.headerLength(m, ip);
        return Udp.length(m, udp) == udpLength && Udp.checksum(m, udp) != 0
                && Udp.checksumValid(m, udp, udpLength, Ipv4.source(m, ip), Ipv4.destination(m, ip));
    }

    /**
     * Writes a TCP SYN with MSS 1460, SACK-permitted, timestamps (TSval {@code tsval}, TSecr 0)
     * and window scale 7, checksums correct. Returns its length (78 bytes).
     */
    static int tcpSyn(MemorySegment m, long at, long sourceMac, long destinationMac, int source, int destination,
            int sourcePort, int destinationPort, int sequence, int tsval) {
        Ethernet.write(m, at, destinationMac, sourceMac, Ethernet.TYPE_IPV4);
        long ip = at + Ethernet.HEADER_LENGTH;
        long tcp = ip + Ipv4.MIN_HEADER_LENGTH;
        long options = tcp + Tcp.MIN_HEADER_LENGTH;
        long end = TcpOptions.writeMss(m, options, 1460);
        end = TcpOptions.writeSackPermitted(m, end);
        end = TcpOptions.writeTimestamps(m, end, tsval, 0);
        end = TcpOptions.writeWindowScale(m, end, 7);
        end = TcpOptions.writeEndPadding(m, tcp, end);
        int headerLength = (int) (end - tcp);
        Tcp.write(m, tcp, sourcePort, destinationPort, sequence, 0, headerLength, Tcp.SYN, 64240);
        Ipv4.write(m, ip, 0, Ipv4.MIN_HEADER_LENGTH + headerLength, 0x1234, Ipv4.FLAG_DF, 64, Ipv4.PROTOCOL_TCP,
                source, destination);
        Tcp.fillChecksum(m, tcp, headerLength, source, destination);
        return Ethernet.HEADER_LENGTH + Ipv4.MIN_HEADER_LENGTH + headerLength;
    }

    static byte[] bytes(MemorySegment m, long at, int length) {
        return m.asSlice(at, length).toArray(ValueLayout.JAVA_BYTE);
    }

    /** One record of a pcap file. */
    record PcapRecord(long nanos, int originalLength, byte[] data) {}

    /** Parses what {@link PcapWriter} wrote (little-endian, nanosecond magic, Ethernet). */
    static List<PcapRecord> readPcap(byte[] file) {
        ByteBuffer in = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        if (in.getInt() != 0xA1B2_3C4D || in.getShort() != 2 || in.getShort() != 4) {
            throw new AssertionError("not a little-endian nanosecond pcap 2.4 file");
        }
        in.getInt();
        in.getInt();
        in.getInt();
        if (in.getInt() != 1) {
            throw new AssertionError("link type is not Ethernet");
        }
        List<PcapRecord> records = new ArrayList<>();
        while (in.hasRemaining()) {
            long seconds = in.getInt() & 0xFFFF_FFFFL;
            int nanos = in.getInt();
            int captured = in.getInt();
            int original = in.getInt();
            if (nanos < 0 || nanos >= 1_000_000_000) {
                throw new AssertionError("nanosecond field out of range: " + nanos);
            }
            byte[] data = new byte[captured];
            in.get(data);
            records.add(new PcapRecord(seconds * 1_000_000_000L + nanos, original, data));
        }
        return records;
    }
}

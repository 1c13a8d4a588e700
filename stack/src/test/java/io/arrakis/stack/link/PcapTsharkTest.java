package io.arrakis.stack.link;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.stack.Tshark;
import io.arrakis.stack.wire.Ethernet;
import io.arrakis.stack.wire.NetworkOrder;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Captures read back by tshark, the reference decoder, with every checksum check turned on. */
class PcapTsharkTest {
    /** 2025-01-01T00:00:00Z, so the capture shows a plausible date. */
    private static final long EPOCH = 1_735_689_600_000_000_000L;

    @TempDir
    Path directory;

    @Test
    void tsharkDecodesHandBuiltUdpAndTcpSynFramesWithCorrectChecksums() throws Exception {
        Path file = directory.resolve("good.pcap");
        try (Arena arena = Arena.ofConfined();
                PcapWriter writer = new PcapWriter(FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE), 65_535)) {
            MemorySegment m = arena.allocate(2048);
            int udp = Frames.udpAToB(m, 0, 0x0102_0304, 32);
            writer.write(EPOCH + 1_000, m, 0, udp);
            int syn = Frames.tcpSyn(m, 1024, Frames.MAC_B, Frames.MAC_A, Frames.IP_B, Frames.IP_A, 40003, 5001,
                    0x1000_0000, 12345);
            writer.write(EPOCH + 2_500, m, 1024, syn);
        }
        String out = tshark(file);

        assertTrue(out.contains("Frame 1:") && out.contains("Frame 2:") && !out.contains("Frame 3:"), out);
        assertTrue(out.contains("Internet Protocol Version 4, Src: 198.18.0.1, Dst: 198.19.0.2"), out);
        assertTrue(out.contains("Internet Protocol Version 4, Src: 198.19.0.2, Dst: 198.18.0.1"), out);
        assertTrue(out.contains("User Datagram Protocol, Src Port: 40001, Dst Port: 40002"), out);
        assertTrue(out.contains("Transmission Control Protocol, Src Port: 40003, Dst Port: 5001"), out);
        assertTrue(out.contains("Ethernet II, Src: 02:53:00:00:00:0a"), out);
        assertTrue(out.contains("Flags: 0x002 (SYN)"), out);
        assertTrue(out.contains("Maximum segment size: 1460 bytes"), out);
        assertTrue(out.contains("SACK permitted"), out);
        assertTrue(out.contains("Timestamps: TSval 12345, TSecr 0"), out);
        assertTrue(out.contains("Window scale: 7 (multiply by 128)"), out);
        assertTrue(out.contains("Epoch Time: 1735689600.000001000 seconds"), out);
        assertTrue(out.contains("Epoch Time: 1735689600.000002500 seconds"), out);
        // Every checksum was checked, and all three kinds were found good.
        assertEquals(2, count(out, "Header checksum status: Good"), out);
        assertEquals(2, count(out, "[Checksum Status: Good]"), out);
        assertNoMarkers(out);
        // Only benchmarking addresses (RFC 2544: 198.18.0.0/15) in the capture.
        Matcher addresses = Pattern.compile("\\b(\\d{1,3})\\.(\\d{1,3})\\.\\d{1,3}\\.\\d{1,3}\\b").matcher(out);
        while (addresses.find()) {
            String first = addresses.group(1);
            String second = addresses.group(2);
            if (first.equals("198")) {
                assertTrue(second.equals("18") || second.equals("19"), addresses.group());
            }
        }
    }

    @Test
    void tsharkFlagsTheChecksumOfACorruptedFrame() throws Exception {
        Path file = directory.resolve("bad.pcap");
        try (Arena arena = Arena.ofConfined();
                PcapWriter writer = new PcapWriter(FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE), 65_535)) {
            MemorySegment m = arena.allocate(2048);
            int udp = Frames.udpAToB(m, 0, 7, 32);
            long payload = Frames.UDP_OVERHEAD + 10;
            NetworkOrder.setU8(m, payload, NetworkOrder.u8(m, payload) ^ 0x10); // one bit in the UDP payload
            writer.write(EPOCH, m, 0, udp);
            int syn = Frames.tcpSyn(m, 1024, Frames.MAC_B, Frames.MAC_A, Frames.IP_B, Frames.IP_A, 40003, 5001, 1, 1);
            long ttl = 1024 + Ethernet.HEADER_LENGTH + 8;
            NetworkOrder.setU8(m, ttl, NetworkOrder.u8(m, ttl) ^ 0x01); // one bit in the IPv4 header
            writer.write(EPOCH, m, 1024, syn);
        }
        String out = tshark(file);
        assertTrue(out.contains("[Checksum Status: Bad]"), "UDP checksum flagged:\n" + out);
        assertTrue(out.contains("Header checksum status: Bad"), "IPv4 checksum flagged:\n" + out);
        assertTrue(out.contains("Bad checksum"), out);
    }

    @Test
    void aSimulatedLinkCapturedDirectlyShowsVirtualArrivalTimesAndItsCorruption() throws Exception {
        Path file = directory.resolve("link.pcap");
        VirtualClock clock = new VirtualClock(EPOCH);
        LinkFaults faults = LinkFaults.NONE.withLatency(10_000);
        try (PcapWriter writer = new PcapWriter(FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE), 65_535);
                SimulatedLink link = new SimulatedLink(clock, faults, faults.withCorruption(1).withSeed(3), 16,
                        2048)) {
            link.capture(writer);
            Station.a(link.a()).send(1, 1, 32);
            Station.b(link.b()).send(2, 1, 32);
            while (link.nextEventTime() != Long.MAX_VALUE) {
                link.advanceTo(link.nextEventTime());
            }
            assertEquals(1, link.counters(SimulatedLink.Direction.B_TO_A).get(LinkCounter.CORRUPTED));
        }
        String out = tshark(file);
        assertEquals(2, count(out, "Epoch Time: 1735689600.000010000 seconds"), out);
        assertTrue(out.contains("Src: 198.18.0.1, Dst: 198.19.0.2"), out);
        assertTrue(out.contains("Src: 198.19.0.2, Dst: 198.18.0.1"), out);
        // On a tie A's frame is delivered first: frame 1 went A to B intact, frame 2 is B's, corrupted.
        String fromA = out.substring(0, out.indexOf("Frame 2:"));
        String fromB = out.substring(out.indexOf("Frame 2:"));
        assertTrue(fromA.contains("Src: 198.18.0.1, Dst: 198.19.0.2"), out);
        assertNoMarkers(fromA);
        assertTrue(fromB.contains("Bad checksum"), "the corrupted frame B sent is flagged:\n" + out);
    }

    private static void assertNoMarkers(String out) {
        for (String marker : List.of("Bad checksum", "incorrect", "Status: Bad", "Malformed",
                "Expert Info (Error", "Expert Info (Warning")) {
            assertFalse(out.contains(marker), "tshark reported '" + marker + "':\n" + out);
        }
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }

    private String tshark(Path file) throws Exception {
        return Tshark.decode(file, directory, 20);
    }
}

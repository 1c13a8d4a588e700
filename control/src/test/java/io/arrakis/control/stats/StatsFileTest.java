package io.arrakis.control.stats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.Ipv4Text;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The stats file between a publisher and a tool: snapshots, the seqlock, the capture ring, replacement. */
class StatsFileTest {
    @TempDir
    Path directory;

    private StatsPublisher publisher(Path path) throws IOException {
        return StatsPublisher.create(path, "vf1", List.of("vnic.RX_PACKETS", "tcp.SEGMENTS_IN"), 4, 4096, 0);
    }

    @Test
    void aToolReadsTheCountersAndTheConnectionTableAsPublished() throws IOException {
        Path path = StatsFile.path(directory.resolve("control.sock"), "vf1");
        assertEquals(directory.resolve("control.sock.stats").resolve("vf1"), path);
        try (StatsPublisher p = publisher(path); StatsReader reader = StatsReader.open(path)) {
            int a = Ipv4Text.parse("198.18.0.2");
            int b = Ipv4Text.parse("198.18.0.3");
            p.begin(1);
            p.counter(0, 42);
            p.counter(1, 7);
            p.row(0).listener(a, 80, 3);
            p.row(1).connection(a, 80, b, 40000).state("ESTABLISHED").queues(10, 20, 30).timing(1_000, 2_000, 3_000)
                    .congestion(14480, 1L << 30, 1448, 65535, 131072).traffic(100, 200, 5);
            p.end(2, 9);
            StackStats stats = reader.read();
            assertEquals(ProcessHandle.current().pid(), stats.pid());
            assertEquals("vf1", stats.vnic());
            assertEquals(List.of("vnic.RX_PACKETS", "tcp.SEGMENTS_IN"), List.copyOf(stats.counters().keySet()));
            assertEquals(42, stats.counter("vnic.RX_PACKETS"));
            assertEquals(7, stats.counter("tcp.SEGMENTS_IN"));
            assertEquals(9, stats.totalConnections(), "more connections than rows: the tool can say so");
            StackStats.Connection listener = stats.connections().get(0);
            assertTrue(listener.listener());
            assertEquals("LISTEN", listener.state());
            assertEquals("198.18.0.2:80", listener.local());
            assertEquals(3, listener.acceptQueue());
            StackStats.Connection c = stats.connections().get(1);
            assertEquals("198.18.0.3:40000", c.remote());
            assertEquals("ESTABLISHED", c.state());
            assertEquals(List.of(10, 20, 30), List.of(c.sendQueue(), c.receiveQueue(), c.bytesInFlight()));
            assertEquals(List.of(1_000L, 2_000L, 3_000L), List.of(c.srttNanos(), c.rttVarNanos(), c.rtoNanos()));
            assertEquals(List.of(14480L, 1L << 30), List.of(c.congestionWindow(), c.slowStartThreshold()));
            assertEquals(List.of(1448, 65535, 131072), List.of(c.mss(), c.sendWindow(), c.receiveWindow()));
            assertEquals(List.of(100L, 200L, 5L), List.of(c.bytesIn(), c.bytesOut(), c.retransmits()));
        }
        assertTrue(!Files.exists(path), "the publisher deletes its file when it closes");
    }

    @Test
    void aReaderNeverReturnsAHalfWrittenPublication() throws IOException {
        Path path = directory.resolve("vf1");
        try (StatsPublisher p = publisher(path); StatsReader reader = StatsReader.open(path)) {
            p.begin(1);
            p.counter(0, 1);
            p.end(0, 0);
            p.begin(2); // a publisher stopped mid-write (say, SIGSTOP) leaves the sequence odd
            p.counter(0, 2);
            IOException e = assertThrows(IOException.class, reader::read);
            assertTrue(e.getMessage().contains(path.toString()), e.getMessage());
            p.end(0, 0);
            assertEquals(2, reader.read().counter("vnic.RX_PACKETS"));
        }
    }

    @Test
    void theCaptureRingCarriesFramesInOrderAcrossItsEndAndDropsWhatDoesNotFit() throws IOException {
        Path path = directory.resolve("vf1");
        try (StatsPublisher p = publisher(path); StatsReader reader = StatsReader.openForCapture(path)) {
            byte[] frame = new byte[1000];
            assertTrue(!p.captureWanted(), "the mirror copies nothing until a tool asks");
            frame[0] = 99;
            p.capture(1, MemorySegment.ofArray(frame), 0, frame.length); // left from an earlier capture
            List<byte[]> seen = new ArrayList<>();
            try (StatsReader.Capture capture = reader.startCapture()) {
                assertTrue(p.captureWanted());
                for (int round = 0; round < 5; round++) {
                    for (int i = 0; i < 3; i++) { // 3 x 1016 bytes of a 4096-byte ring: wraps every round
                        frame[0] = (byte) (round * 3 + i);
                        p.capture(100 + round * 3 + i, MemorySegment.ofArray(frame), 0, frame.length);
                    }
                    capture.drain((nanos, bytes, length) -> {
                        assertEquals(1000, length);
                        seen.add(bytes.toArray(ValueLayout.JAVA_BYTE));
                    });
                }
                for (int i = 0; i < 5; i++) {
                    p.capture(0, MemorySegment.ofArray(frame), 0, frame.length);
                }
                assertEquals(1, capture.dropped(), "the fifth frame finds no room: dropped, not blocking");
            }
            assertTrue(!p.captureWanted(), "the tool's end stops the copying");
            assertEquals(15, seen.size(), "a new capture skips what an earlier one left");
            for (int i = 0; i < 15; i++) {
                assertEquals(i, seen.get(i)[0], "frame " + i + " in order");
            }
            assertArrayEquals(new byte[999], java.util.Arrays.copyOfRange(seen.get(14), 1, 1000));
        }
    }

    /** Writes {@code pid} into the file's capture request word, as a tool in that process would. */
    private static void requestCaptureAs(Path path, long pid) throws IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined();
                java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(path,
                        java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
            channel.map(java.nio.channels.FileChannel.MapMode.READ_WRITE, 0, 4096, arena)
                    .set(ValueLayout.JAVA_INT, StatsFile.CAPTURE_WANTED_AT, (int) pid);
        }
    }

    private static long exitedPid() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        return gone.pid();
    }

    @Test
    void anotherLiveToolsCaptureIsRefusedNamingItAndADeadOnesIsForgotten() throws Exception {
        Path path = directory.resolve("vf1");
        try (StatsPublisher p = publisher(path); StatsReader reader = StatsReader.openForCapture(path)) {
            long live = ProcessHandle.current().parent().orElseThrow().pid();
            requestCaptureAs(path, live);
            IOException refused = assertThrows(IOException.class, reader::startCapture);
            assertTrue(refused.getMessage().contains("pid " + live), refused.getMessage());

            long dead = exitedPid();
            requestCaptureAs(path, dead);
            assertTrue(p.captureWanted(), "until the publisher looks, it copies");
            p.begin(1); // its first publication checks the capturer at once (then every second)
            p.end(0, 0);
            assertTrue(!p.captureWanted(), "a dead tool's request is dropped");

            requestCaptureAs(path, dead);
            try (StatsReader.Capture taken = reader.startCapture()) {
                assertTrue(p.captureWanted(), "a tool takes over a dead one's request");
            }
        }
    }

    @Test
    void aReplacedFileLeavesTheOldMappingReadable() throws IOException {
        Path path = directory.resolve("vf1");
        try (StatsPublisher old = publisher(path); StatsReader reader = StatsReader.open(path)) {
            old.begin(1);
            old.counter(0, 5);
            old.end(0, 0);
            try (StatsPublisher replacement = publisher(path); StatsReader fresh = StatsReader.open(path)) {
                assertEquals(5, reader.read().counter("vnic.RX_PACKETS"), "the old inode is intact, not truncated");
                replacement.begin(1);
                replacement.end(0, 0);
                assertEquals(0, fresh.read().counter("vnic.RX_PACKETS"));
            }
        }
    }

    @Test
    void aFileThatIsNoStatsFileIsRefusedWithItsPath() throws IOException {
        Path path = directory.resolve("garbage");
        Files.write(path, new byte[32 * 1024]);
        IOException e = assertThrows(IOException.class, () -> StatsReader.open(path));
        assertTrue(e.getMessage().contains(path.toString()) && e.getMessage().contains("magic"), e.getMessage());
    }
}

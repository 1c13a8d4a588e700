package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code arrakis.capture}: the provider writes every frame of its VNIC to a pcap file, which the
 * real tshark reads back (the kernel's capture never sees user-level traffic).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CaptureOptionTest {
    @TempDir
    Path directory;

    @Test
    void aTcpExchangeIsCapturedWithItsHandshakeDataAndFinAndGoodChecksums() throws Exception {
        Path pcap = directory.resolve("server.pcap");
        Properties serverSettings = TwoProviders.properties(directory);
        serverSettings.setProperty("arrakis.capture", pcap.toString());
        ArrakisSelectorProvider server = ArrakisSelectorProvider.create(serverSettings);
        ArrakisSelectorProvider client = ArrakisSelectorProvider.create(TwoProviders.properties(directory));
        try (ServerSocketChannel listener = server.openServerSocketChannel()) {
            listener.bind(new InetSocketAddress(server.userLevelAddress(), 0));
            try (SocketChannel c = client.openSocketChannel()) {
                c.connect(listener.getLocalAddress());
                try (SocketChannel accepted = listener.accept()) {
                    c.write(ByteBuffer.wrap("hello".getBytes(StandardCharsets.US_ASCII)));
                    ByteBuffer in = ByteBuffer.allocate(5);
                    while (in.hasRemaining()) {
                        accepted.read(in);
                    }
                    accepted.write(in.flip());
                    ByteBuffer back = ByteBuffer.allocate(5);
                    while (back.hasRemaining()) {
                        c.read(back);
                    }
                    assertEquals("hello", new String(back.array(), StandardCharsets.US_ASCII));
                    c.shutdownOutput();
                    assertEquals(-1, accepted.read(ByteBuffer.allocate(1)), "the client's FIN");
                }
            }
        } finally {
            client.shutdown();
            server.shutdown(); // closes the capture
        }

        List<String[]> segments = tcpSegments(pcap);
        assertTrue(segments.stream().anyMatch(s -> s[0].equals("1") && s[1].equals("0")), "a SYN: " + show(segments));
        assertTrue(segments.stream().anyMatch(s -> s[0].equals("1") && s[1].equals("1")), "a SYN-ACK: " + show(segments));
        assertEquals(2, segments.stream().filter(s -> s[3].equals("5")).count(), "hello each way: " + show(segments));
        assertTrue(segments.stream().anyMatch(s -> s[2].equals("1")), "a FIN: " + show(segments));
        for (String[] s : segments) {
            assertEquals("1", s[4], "TCP checksum good in " + String.join(" ", s));
            assertEquals("1", s[5], "IPv4 checksum good in " + String.join(" ", s));
        }
    }

    @Test
    void aCaptureFileThatCannotBeOpenedFailsTheAttachWithItsPath() throws IOException {
        Properties settings = TwoProviders.properties(directory);
        String bad = directory.resolve("no-such-dir/capture.pcap").toString();
        settings.setProperty("arrakis.capture", bad);
        ArrakisSelectorProvider provider = ArrakisSelectorProvider.create(settings);
        try {
            IOException e = assertThrows(IOException.class, () -> {
                try (ServerSocketChannel listener = provider.openServerSocketChannel()) {
                    listener.bind(new InetSocketAddress("198.18.0.1", 0)); // on the switch: attaches
                }
            });
            assertTrue(String.valueOf(e.getMessage()).contains(bad), e.toString());
        } finally {
            provider.shutdown();
        }
    }

    /** Each TCP segment as {syn, ack, fin, payload length, tcp checksum status, ip checksum status} (1 = good). */
    private List<String[]> tcpSegments(Path pcap) throws Exception {
        Path out = directory.resolve("tshark.txt");
        Path err = directory.resolve("tshark.err");
        Process tshark = new ProcessBuilder("tshark", "-n", "-r", pcap.toString(), "-Y", "tcp",
                "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields",
                "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.flags.fin", "-e", "tcp.len",
                "-e", "tcp.checksum.status", "-e", "ip.checksum.status")
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        try {
            assertTrue(tshark.waitFor(30, TimeUnit.SECONDS), "tshark did not finish");
            assertEquals(0, tshark.exitValue(), "tshark failed: " + Files.readString(err));
        } finally {
            tshark.destroyForcibly();
        }
        List<String[]> segments = new ArrayList<>();
        for (String line : Files.readAllLines(out)) {
            if (!line.isBlank()) {
                segments.add(line.split("\t", -1));
            }
        }
        assertTrue(segments.size() >= 6, "handshake, data, ACKs and FIN captured: " + show(segments));
        return segments;
    }

    private static String show(List<String[]> segments) {
        StringBuilder b = new StringBuilder();
        for (String[] s : segments) {
            b.append("\n  ").append(String.join(" ", s));
        }
        return b.toString();
    }
}

package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Reads a capture back with the real tshark, the independent judge of what our stacks put on
 * the wire: {@code tshark -n -r file -V} with IPv4, UDP and TCP checksum checking on.
 */
public final class Tshark {
    private Tshark() {}

    /** The decoded capture; fails the test if tshark is missing, fails, or takes over {@code seconds}. */
    public static String decode(Path pcap, Path workDirectory, int seconds) throws Exception {
        Path tshark = find();
        assertNotNull(tshark, "tshark is not installed: ./dev installs it (apt-get install tshark)");
        Path output = workDirectory.resolve(pcap.getFileName() + ".tshark.txt");
        Path errors = workDirectory.resolve(pcap.getFileName() + ".tshark.stderr");
        // Output goes to files, so a stuck tshark cannot block the test in a read: the wait is bounded.
        Process process = new ProcessBuilder(tshark.toString(), "-n", "-r", pcap.toString(), "-V",
                // Payloads are ours, not whatever protocol tshark guesses from an ephemeral port
                // (a peer port of 54328 once decoded as a "malformed" Elasticsearch packet).
                "-d", "udp.port==1-65535,data", "-d", "tcp.port==1-65535,data",
                "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE")
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(output.toFile()).redirectError(errors.toFile()).start();
        try {
            assertTrue(process.waitFor(seconds, TimeUnit.SECONDS), "tshark did not finish in " + seconds + " s");
            String text = Files.readString(output);
            assertEquals(0, process.exitValue(), "tshark failed: " + Files.readString(errors) + "\n" + text);
            return text;
        } finally {
            process.destroyForcibly();
        }
    }

    private static Path find() {
        for (String dir : (System.getenv().getOrDefault("PATH", "") + ":/usr/bin:/usr/local/bin").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "tshark"))) {
                return Path.of(dir, "tshark");
            }
        }
        return null;
    }
}

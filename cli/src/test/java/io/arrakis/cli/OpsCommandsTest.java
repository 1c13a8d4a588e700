package io.arrakis.cli;

import static io.arrakis.cli.ArrakisTest.arrakis;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.cli.ArrakisTest.Result;
import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlPlaneConfig;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.Ipv4Text;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * {@code arrakis status|stat|ss|capture} against a control plane (in this JVM) with two attached
 * JVMs: an echo server and a client that sent it {@value #SENT} bytes and keeps that connection
 * open. Outputs must name the right processes, connections and counters; {@code --json} must
 * parse; unknown VNICs and a missing control plane get one line and exit status 1.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OpsCommandsTest {
    private static final int SENT = 100_000;
    private static final Duration PATIENCE = Duration.ofSeconds(30);

    private Path directory;
    private ControlPlane plane;
    private String socket;
    private PeerProcess server;
    private PeerProcess client;
    private String serverAddress;
    private int serverPort;
    private int clientPort;
    private String serverVnic;
    private String clientVnic;
    private String clientAddress;

    @BeforeAll
    void twoAttachedJvmsAfterKnownTraffic() throws Exception {
        directory = Files.createTempDirectory("arrakis-ops-test");
        plane = ControlPlane.startEmbedded(ControlPlaneConfig.withSubnet(directory.resolve("control.sock"),
                "198.18.12.0/24"));
        socket = plane.socketPath().toString();
        server = PeerProcess.start(List.of(), socket, "server");
        String ready = server.awaitLine("ready ", PATIENCE);
        serverAddress = PeerProcess.field(ready, "address");
        serverPort = Integer.parseInt(PeerProcess.field(ready, "port"));
        client = PeerProcess.start(List.of(), socket, "client", serverAddress, Integer.toString(serverPort),
                Integer.toString(SENT));
        clientPort = Integer.parseInt(PeerProcess.field(client.awaitLine("done ", PATIENCE), "port"));
        try (ControlClient control = ControlClient.connect(plane.socketPath())) {
            ControlStatus status = control.status();
            serverVnic = owned(status, server.pid()).name();
            ControlStatus.VnicStatus c = owned(status, client.pid());
            clientVnic = c.name();
            clientAddress = Ipv4Text.format(c.address());
        }
    }

    private static ControlStatus.VnicStatus owned(ControlStatus status, long pid) {
        return status.vnics().stream().filter(v -> v.pid() == pid).findFirst()
                .orElseThrow(() -> new AssertionError("no VNIC of pid " + pid + " in " + status.format()));
    }

    @AfterAll
    void stop() throws Exception {
        try {
            if (client != null) {
                client.close();
            }
            if (server != null) {
                server.close();
            }
        } finally {
            if (plane != null) {
                plane.close();
            }
        }
    }

    /** Runs the command until {@code done} accepts its result (stacks publish every 100 ms), at most 10 s. */
    private static Result eventually(Predicate<Result> done, String... args) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            Result result = arrakis(args);
            if (done.test(result) || System.nanoTime() - deadline > 0) {
                return result;
            }
            Thread.sleep(50);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(String json) {
        return (Map<String, Object>) MiniJson.parse(json);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> list(Object value) {
        return (List<Map<String, Object>>) value;
    }

    private static Map<String, Object> byField(List<Map<String, Object>> items, String field, Object value) {
        return items.stream().filter(i -> value.equals(i.get(field))).findFirst()
                .orElseThrow(() -> new AssertionError("nothing with " + field + "=" + value + " in " + items));
    }

    @Test
    void statusNamesBothProcessesWithTheirMainClassAndAddresses() throws Exception {
        Result text = arrakis("status", "--socket", socket);
        assertEquals(0, text.status(), text.err());
        for (PeerProcess peer : List.of(server, client)) {
            assertTrue(text.out().matches("(?s).*\\n  \\S+ +pid " + peer.pid() + " +" + OpsPeer.class.getName()
                    + " .*"), text.out());
        }
        assertTrue(text.out().contains(serverAddress) && text.out().contains(clientAddress), text.out());
        assertTrue(text.out().contains("listening: tcp/" + serverPort) || text.out().contains(serverVnic), text.out());

        Result json = arrakis("status", "--json", "--socket", socket);
        assertEquals(0, json.status(), json.err());
        Map<String, Object> status = object(json.out());
        assertEquals(socket, status.get("socket"));
        List<Map<String, Object>> processes = list(status.get("processes"));
        assertEquals(2, processes.size(), json.out());
        for (PeerProcess peer : List.of(server, client)) {
            Map<String, Object> p = byField(processes, "pid", peer.pid());
            assertEquals(OpsPeer.class.getName(), p.get("mainClass"), json.out());
        }
        assertEquals(clientAddress, byField(list(status.get("vnics")), "name", clientVnic).get("address"));
    }

    @Test
    void ssShowsTheListenerAndBothEndsOfTheConnectionWithTheirBytes() throws Exception {
        Result json = eventually(r -> r.status() == 0 && r.out().contains("\"bytesReceived\":" + SENT
                + ",\"sendWindow\"") && r.out().indexOf("\"bytesReceived\":" + SENT) != r.out()
                .lastIndexOf("\"bytesReceived\":" + SENT), "ss", "--json", "--socket", socket);
        assertEquals(0, json.status(), json.err());
        List<Map<String, Object>> processes = list(object(json.out()).get("processes"));
        List<Map<String, Object>> serverRows = list(byField(processes, "pid", server.pid()).get("connections"));
        Map<String, Object> listener = byField(serverRows, "state", "LISTEN");
        assertEquals((long) serverPort, listener.get("localPort"));
        Map<String, Object> accepted = byField(serverRows, "remotePort", (long) clientPort);
        assertEquals("ESTABLISHED", accepted.get("state"), json.out());
        assertEquals(clientAddress, accepted.get("remoteAddress"));
        assertEquals((long) SENT, accepted.get("bytesReceived"), json.out());
        assertEquals((long) SENT, accepted.get("bytesSent"), json.out());

        List<Map<String, Object>> clientRows = list(byField(processes, "pid", client.pid()).get("connections"));
        Map<String, Object> connection = byField(clientRows, "localPort", (long) clientPort);
        assertEquals("ESTABLISHED", connection.get("state"));
        assertEquals(serverAddress, connection.get("remoteAddress"));
        assertEquals((long) serverPort, connection.get("remotePort"));
        assertEquals((long) SENT, connection.get("bytesSent"));
        assertEquals(0L, connection.get("sendQueue"));
        assertTrue(((Number) connection.get("rttMillis")).doubleValue() > 0, json.out());
        assertTrue((long) connection.get("cwndBytes") > 0, json.out());

        Result text = arrakis("ss", clientVnic, "--socket", socket);
        assertEquals(0, text.status(), text.err());
        assertTrue(text.out().startsWith("VNIC " + clientVnic + "  pid " + client.pid()), text.out());
        assertTrue(text.out().matches("(?s).*ESTABLISHED +0 +0 +" + clientAddress + ":" + clientPort + " +"
                + serverAddress + ":" + serverPort + "\\s.*"), text.out());
        assertTrue(text.out().contains("bytes_sent:" + SENT + " bytes_received:" + SENT), text.out());
        assertTrue(!text.out().contains("VNIC " + serverVnic), "only the VNIC asked for: " + text.out());
    }

    @SuppressWarnings("unchecked")
    private static Object stackCounter(String statJson, long pid, String counter) {
        Object stack = byField(list(object(statJson).get("vnics")), "pid", pid).get("stack");
        return stack == null ? null : ((Map<String, Object>) stack).get(counter);
    }

    @Test
    void statCountsTheKnownTrafficPerQueueAndPerStack() throws Exception {
        // Each stack publishes at most every 100 ms: wait for the client's snapshot after its last byte.
        Result json = eventually(r -> r.status() == 0 && Long.valueOf(SENT).equals(stackCounter(r.out(), client.pid(),
                "tcp.DATA_BYTES_IN")), "stat", "--json", "--socket", socket);
        assertEquals(0, json.status(), json.err());
        Map<String, Object> clientStats = byField(list(object(json.out()).get("vnics")), "pid", client.pid());
        @SuppressWarnings("unchecked")
        Map<String, Object> queue0 = (Map<String, Object>) list(clientStats.get("queues")).getFirst().get("counters");
        assertTrue((long) queue0.get("TX_BYTES") > SENT, "frames carry the bytes plus headers: " + queue0);
        assertTrue((long) queue0.get("RX_PACKETS") > 0, queue0.toString());
        @SuppressWarnings("unchecked")
        Map<String, Object> stack = (Map<String, Object>) clientStats.get("stack");
        assertEquals((long) SENT, stack.get("tcp.DATA_BYTES_OUT"), json.out());
        assertEquals((long) SENT, stack.get("tcp.DATA_BYTES_IN"), json.out());
        assertEquals(0L, stack.get("tcp.RETRANSMITTED_SEGMENTS"), "a lossless switch: " + json.out());

        Result text = arrakis("stat", "--socket", socket);
        assertEquals(0, text.status(), text.err());
        assertTrue(text.out().contains("VNIC " + clientVnic + "  pid " + client.pid()), text.out());
        assertTrue(text.out().contains(String.format(java.util.Locale.ROOT, "data bytes in %,d out %,d", SENT, SENT)),
                text.out());

        Result repeated = arrakis("stat", "--interval", "0.1", "--count", "3", "--socket", socket);
        assertEquals(0, repeated.status(), repeated.err());
        List<String> lines = repeated.out().lines().toList();
        assertEquals(1 + 3 * 2, lines.size(), "a header, then a line per VNIC per report: " + repeated.out());
        assertTrue(lines.getFirst().startsWith("vnic ") && lines.getFirst().contains("spins/s"), repeated.out());
        assertEquals(3, lines.stream().filter(l -> l.startsWith(clientVnic + " ")).count(), repeated.out());

        Result jsonLines = arrakis("stat", "--interval", "0.1", "--count", "2", "--json", "--socket", socket);
        assertEquals(0, jsonLines.status(), jsonLines.err());
        List<String> reports = jsonLines.out().lines().toList();
        assertEquals(2, reports.size(), jsonLines.out());
        for (String report : reports) {
            assertEquals(100L, object(report).get("intervalMillis"));
        }
    }

    @Test
    void aCaptureToStandardOutputShowsTheHandshakeDataAndFinWithGoodChecksums() throws Exception {
        ByteArrayOutputStream pcap = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Path statsFile = io.arrakis.control.stats.StatsFile.path(plane.socketPath(), clientVnic);
        CompletableFuture<Integer> capture = CompletableFuture.supplyAsync(() -> Arrakis.run(
                new String[] {"capture", clientVnic, "-w", "-", "--duration", "4", "--socket", socket},
                new PrintStream(pcap, true), new PrintStream(err, true, StandardCharsets.UTF_8)));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (pcap.size() < 24 && System.nanoTime() - deadline < 0) {
            Thread.sleep(5); // the header is written once the process was asked to mirror
        }
        assertTrue(pcap.size() >= 24, "the capture started: " + err);
        client.send("exchange");
        int port = Integer.parseInt(PeerProcess.field(client.awaitLine("exchanged ", PATIENCE), "port"));
        assertEquals(0, capture.get(20, TimeUnit.SECONDS), err.toString(StandardCharsets.UTF_8));
        assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("arrakis capture: "), err.toString());
        assertTrue(Files.exists(statsFile));

        Path file = directory.resolve("capture.pcap");
        Files.write(file, pcap.toByteArray());
        List<String[]> segments = new ArrayList<>();
        for (String[] s : Tshark.tcpSegments(file, directory)) {
            if (s[6].equals(Integer.toString(port)) || s[7].equals(Integer.toString(port))) {
                segments.add(s);
            }
        }
        String shown = Tshark.show(segments);
        assertTrue(segments.stream().anyMatch(s -> s[0].equals("1") && s[1].equals("0")), "a SYN: " + shown);
        assertTrue(segments.stream().anyMatch(s -> s[0].equals("1") && s[1].equals("1")), "a SYN-ACK: " + shown);
        assertEquals(2, segments.stream().filter(s -> s[3].equals("5")).count(), "hello each way: " + shown);
        assertTrue(segments.stream().filter(s -> s[2].equals("1")).count() >= 2, "a FIN each way: " + shown);
        for (String[] s : segments) {
            assertEquals("1", s[4], "TCP checksum good in " + String.join(" ", s));
            assertEquals("1", s[5], "IPv4 checksum good in " + String.join(" ", s));
        }
    }

    @Test
    void unknownVnicsGetOneLineNamingTheVnicsThereAre() {
        for (String[] args : List.of(new String[] {"ss", "nosuch", "--socket", socket},
                new String[] {"stat", "nosuch", "--socket", socket},
                new String[] {"capture", "nosuch", "-w", directory.resolve("x.pcap").toString(), "--socket", socket})) {
            Result result = arrakis(args);
            assertEquals(1, result.status(), String.join(" ", args) + ": " + result.err());
            assertTrue(result.oneLineError(), result.err());
            assertTrue(result.err().contains("no VNIC named nosuch") && result.err().contains(clientVnic),
                    result.err());
        }
        assertTrue(!Files.exists(directory.resolve("x.pcap")), "nothing created for an unknown VNIC");
    }

    @Test
    void aMissingControlPlaneGetsOneLineAndStatusOne() {
        String missing = directory.resolve("nobody/control.sock").toString();
        for (String[] args : List.of(new String[] {"status", "--socket", missing},
                new String[] {"stat", "--socket", missing}, new String[] {"ss", "--socket", missing},
                new String[] {"capture", "vf1", "-w", "-", "--socket", missing})) {
            Result result = arrakis(args);
            assertEquals(1, result.status(), String.join(" ", args) + ": " + result.err());
            assertTrue(result.oneLineError(), result.err());
            assertTrue(result.err().contains(missing) && result.err().contains("arrakis control start"), result.err());
        }
    }

    @Test
    void everySubcommandHasHelpAndUsageErrorsExitTwo() {
        for (String command : List.of("status", "stat", "ss", "capture")) {
            Result help = arrakis(command, "--help");
            assertEquals(0, help.status(), help.err());
            assertTrue(help.out().startsWith("usage: arrakis " + command), help.out());
        }
        Result listing = arrakis("--help");
        for (String command : List.of("status", "stat", "ss", "capture", "control", "vsa")) {
            assertTrue(listing.out().contains("  " + command + " "), listing.out());
        }
        for (String[] args : List.of(new String[] {"capture", "vf1", "--socket", socket},
                new String[] {"stat", "--interval", "soon", "--socket", socket},
                new String[] {"stat", "--count", "3", "--socket", socket},
                new String[] {"ss", "--bogus"})) {
            Result result = arrakis(args);
            assertEquals(2, result.status(), String.join(" ", args) + ": " + result.err());
            assertTrue(result.oneLineError(), result.err());
        }
    }

    /** tshark's view of a pcap's TCP segments. */
    static final class Tshark {
        /** {syn, ack, fin, payload length, tcp checksum status, ip checksum status, src port, dst port} (1 = good). */
        static List<String[]> tcpSegments(Path pcap, Path scratch) throws Exception {
            Path out = scratch.resolve("tshark.txt");
            Path err = scratch.resolve("tshark.err");
            Process tshark = new ProcessBuilder("tshark", "-n", "-r", pcap.toString(), "-Y", "tcp",
                    "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields",
                    "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.flags.fin", "-e", "tcp.len",
                    "-e", "tcp.checksum.status", "-e", "ip.checksum.status", "-e", "tcp.srcport", "-e", "tcp.dstport")
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
            return segments;
        }

        static String show(List<String[]> segments) {
            StringBuilder b = new StringBuilder();
            for (String[] s : segments) {
                b.append("\n  ").append(String.join(" ", s));
            }
            return b.toString();
        }
    }
}

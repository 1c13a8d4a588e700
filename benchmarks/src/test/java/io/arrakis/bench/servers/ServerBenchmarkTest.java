package io.arrakis.bench.servers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.bench.servers.Scenario.DataPath;
import io.arrakis.bench.servers.ServerBenchmark.ScenarioResult;
import io.arrakis.samples.redis.RedisServer;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server benchmark's machinery end to end at a tiny scale (issue 6): one case of the Redis
 * scenario on our path (agent, shared-memory switch) and on the kernel's, one short repetition
 * each, through the child processes, the control plane's counters, the results JSON, the plots
 * and the summary table. Checks that the files are there and parse, and that each path is the
 * one it claims to be; the figures themselves are not judged (speed is for the benchmark).
 */
@Tag("agent-jar")
class ServerBenchmarkTest {

    @Test
    @Timeout(120)
    void aTinyRunWritesResultsPlotsAndTheTableForBothPaths(@TempDir Path work) throws Exception {
        Path agentJar = Path.of(System.getProperty("arrakis.agent.jar", "../agent/target/arrakis-agent.jar"))
                .toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(agentJar), "no agent jar at " + agentJar + "; run mvn verify, which builds it");
        Path samples = Path.of(RedisServer.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Scenario redis = Scenario.suite().getFirst().onlyCases(name -> name.equals("get-c1-p1"));
        assertEquals(List.of(DataPath.AGENT, DataPath.KERNEL), redis.paths());
        Path out = work.resolve("results");
        ByteArrayOutputStream progress = new ByteArrayOutputStream();

        List<ScenarioResult> results = ServerBenchmark.run(List.of(redis), Scenario.Sizes.TINY, agentJar, samples,
                out, new PrintStream(progress, true, StandardCharsets.UTF_8));

        String log = progress.toString(StandardCharsets.UTF_8);
        ServerBenchmark.CaseResult only = results.getFirst().cases().getFirst();
        assertTrue(only.failures().isEmpty(), "failures: " + only.failures() + "\n" + log);

        Path json = single(out, "redis-", ".json");
        Map<String, Object> root = Json.object(Json.parse(Files.readString(json)), "the results file");
        assertEquals("redis", root.get("scenario"));
        Map<String, Object> row = Json.object(Json.array(root.get("cases"), "cases").getFirst(), "the case");
        assertEquals("get-c1-p1", row.get("name"));
        List<Object> runs = Json.array(row.get("runs"), "runs");
        assertEquals(2, runs.size(), "one repetition per path: " + runs);
        Map<String, Object> ours = Json.object(runs.get(0), "our run");
        Map<String, Object> kernel = Json.object(runs.get(1), "the kernel's run");
        assertEquals("ours", ours.get("path"));
        assertEquals("kernel", kernel.get("path"));
        for (Map<String, Object> run : List.of(ours, kernel)) {
            assertTrue(Json.number(run.get("operations"), "operations") > 0, "requests measured: " + run);
            assertTrue(Json.number(run.get("p50Micros"), "p50") > 0, "a median latency: " + run);
            assertTrue(Json.array(run.get("latencyCurveMicros"), "curve").size() > 5, "a percentile curve: " + run);
        }
        // One connection, one request in flight: each request is at least one frame into the server's VNIC.
        assertTrue(Json.number(ours.get("serverFramesIn"), "frames in") >= Json.number(ours.get("operations"), "ops"),
                "the switch carried our path's requests: " + ours);
        assertEquals(0.0, Json.number(kernel.get("serverFramesIn"), "frames in"), "no VNIC on the kernel path");
        Map<String, Object> ratios = Json.object(row.get("ratios"), "ratios");
        assertTrue(Json.number(ratios.get("opsPerSecond"), "ratio") > 0, "a throughput ratio: " + ratios);

        for (String suffix : List.of("-get-c1-p1-latency.png", "-throughput.png")) {
            BufferedImage image = ImageIO.read(single(out, "redis-", suffix).toFile());
            assertNotNull(image, "a PNG that decodes: " + suffix);
            assertTrue(image.getWidth() >= 600 && image.getHeight() >= 400, suffix + " is " + image.getWidth() + "x"
                    + image.getHeight());
        }
        String summary = Files.readString(out.resolve(Report.SUMMARY));
        assertTrue(summary.contains("| GET, 1 conn x pipeline 1 | Redis-like (Java) | agent, shm switch | "), summary);
        assertTrue(summary.contains("| | | **ours/kernel** | **"), summary);
    }

    /**
     * The durable scenario's AOF on our storage stack: the server with the agent mounts its AOF
     * directory on a VSA, SETs reach the store (read back from the image after the stop) and
     * not the kernel's directory, and the stop deletes the image, its lock file and the directory.
     */
    @Test
    @Timeout(120)
    void theAofOnOurStorageIsWrittenToTheVsaAndTheImageIsDeletedAtTheStop(@TempDir Path work) throws Exception {
        Path agentJar = Path.of(System.getProperty("arrakis.agent.jar", "../agent/target/arrakis-agent.jar"))
                .toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(agentJar), "no agent jar at " + agentJar + "; run mvn verify, which builds it");
        Path samples = Path.of(RedisServer.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Scenario.Case c = Scenario.suite().stream().filter(s -> s.name().equals("durable")).findFirst().orElseThrow()
                .cases().stream().filter(k -> k.name().equals("set-c1-p1-aof-store-file")).findFirst().orElseThrow();
        try (io.arrakis.bench.child.ChildProcesses children = new io.arrakis.bench.child.ChildProcesses()) {
            ServerRunner.Setup setup = ServerRunner.Setup.of(agentJar, samples, work.resolve("control.sock"), work);
            try (io.arrakis.control.ControlPlane plane = io.arrakis.control.ControlPlane.startEmbedded(
                    setup.controlSocket());
                    io.arrakis.control.ControlClient control = io.arrakis.control.ControlClient.connect(
                            setup.controlSocket())) {
                ServerRunner runner = new ServerRunner(setup, children, control);
                runner.vsaBytes("64m"); // zero-filled at creation: small, for a test
                ServerRunner.RunningServer server = runner.start(c.server(), DataPath.AGENT);
                ServerRunner.StoredAof stored;
                try {
                    assertTrue(server.aofOnStore());
                    Path image = Scenario.AofPlacement.image(server.aofDirectory());
                    assertTrue(Files.isRegularFile(image), "the VSA image " + image + " exists while the server runs");
                    Measurement m = runner.runLoadGenerator(server, c, 1, Scenario.Sizes.TINY);
                    assertTrue(m.operations() > 0, "SETs acknowledged: " + m);
                    assertFalse(Files.exists(server.aofDirectory().resolve(ServerRunner.AOF_FILE)),
                            "no AOF on the kernel's file system");
                } finally {
                    stored = runner.stop(server, false);
                }
                // Each SET is a RESP command of more than 32 bytes (the value) in the AOF.
                assertTrue(stored.aofBytes() > 32, "the AOF in the VSA holds the SETs: " + stored);
                assertTrue(stored.records() > 1, "log records for the AOF's writes: " + stored);
                assertFalse(Files.exists(Scenario.AofPlacement.image(server.aofDirectory())), "the image is deleted");
                assertFalse(Files.exists(server.aofDirectory()), "the mount directory is deleted");
            }
        }
    }

    private static Path single(Path directory, String prefix, String suffix) throws Exception {
        try (Stream<Path> files = Files.list(directory)) {
            List<Path> matches = files.filter(p -> p.getFileName().toString().startsWith(prefix)
                    && p.getFileName().toString().endsWith(suffix)).toList();
            assertEquals(1, matches.size(), "files " + prefix + "*" + suffix + " in " + directory + ": " + matches);
            return matches.getFirst();
        }
    }
}

package io.arrakis.bench.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.bench.child.ChildProcesses;
import io.arrakis.bench.demo.RedisDemo.Measurement;
import io.arrakis.bench.demo.RedisDemo.PathResult;
import io.arrakis.bench.demo.RedisDemo.Setup;
import io.arrakis.bench.demo.RedisDemo.Workload;
import io.arrakis.control.ControlPlane;
import io.arrakis.device.VnicCounter;
import io.arrakis.samples.redis.RedisServer;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's two paths at small scale (issue 6): the samples' server and load generator in
 * child JVMs whose class paths hold only the samples and HdrHistogram, once with the agent,
 * once without. Every reply is checked by the load generator (the path fails on any wrong one);
 * this test checks that each path is the one it claims to be.
 */
@Tag("agent-jar")
class RedisDemoTest {
    private static final List<Workload> SMALL = List.of(new Workload("1 connection", 1, 1, 0, 0.5, 100));

    @Test
    @Timeout(120)
    void withTheAgentTheTrafficGoesThroughTheSwitchAndWithoutItThroughTheKernel(@TempDir Path work)
            throws Exception {
        Path agentJar = Path.of(System.getProperty("arrakis.agent.jar", "../agent/target/arrakis-agent.jar"))
                .toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(agentJar), "no agent jar at " + agentJar + "; run mvn verify, which builds it");
        String samples = Path.of(RedisServer.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .toString();
        String loadGenerator = samples + File.pathSeparator + ChildProcesses.hdrHistogramJar(work);
        Setup setup = new Setup(ProcessHandle.current().info().command().orElseThrow(), agentJar, samples,
                loadGenerator, work.resolve("control.sock"), work);
        try (ChildProcesses children = new ChildProcesses();
                ControlPlane plane = ControlPlane.startEmbedded(setup.socket())) {
            PathResult arrakis = RedisDemo.runPath(setup, true, SMALL, children);
            PathResult kernel = RedisDemo.runPath(setup, false, SMALL, children);

            assertEquals("io.arrakis.provider.ArrakisSelectorProvider", arrakis.selectorProvider());
            assertNotNull(arrakis.serverVnic(), "the server with the agent has a VNIC");
            Measurement ours = arrakis.measurements().getFirst();
            assertTrue(ours.operations() > 0, "requests measured with the agent: " + ours.operations());
            // One connection, one request in flight: every request is at least one frame into the server.
            assertTrue(ours.serverFramesIn() >= ours.operations(), "the server's VNIC received "
                    + ours.serverFramesIn() + " frames for " + ours.operations() + " requests");
            assertTrue(arrakis.serverVnic().counter(VnicCounter.TX_PACKETS) >= ours.operations());

            assertTrue(kernel.selectorProvider().startsWith("sun.nio.ch."), kernel.selectorProvider());
            assertNull(kernel.serverVnic(), "the server without the agent attached no VNIC");
            Measurement theirs = kernel.measurements().getFirst();
            assertTrue(theirs.operations() > 0, "requests measured without the agent: " + theirs.operations());
            assertEquals(0, theirs.serverFramesIn());
        }
    }
}

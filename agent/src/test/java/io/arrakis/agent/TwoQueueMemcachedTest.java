package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.VnicCounter;
import io.arrakis.samples.memcached.MemcachedServer;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The memcached-like sample, unmodified, with two worker threads and the agent's {@code queues=2}:
 * the load generator's 50 connections (with the agent too, through loopback acceleration) are
 * answered correctly, and both queues of the server's VNIC carry traffic, so the second worker's
 * connections moved to the second queue's stack. The proof of the split is the control plane's
 * per-queue counters, not the programs' output.
 */
@Tag("agent-jar")
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TwoQueueMemcachedTest {
    private static final Pattern READY = Pattern.compile("memcached: ready on .*:(\\d+) ");

    @TempDir
    Path directory;

    @Test
    void twoWorkersOnTwoQueuesServeFiftyConnectionsCorrectly() throws Exception {
        Path socket = directory.resolve("control.sock");
        String samples = Path.of(MemcachedServer.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .toString();
        try (ControlPlane plane = ControlPlane.startEmbedded(socket)) {
            Process server = start(socket, "queues=2", samples, "io.arrakis.samples.memcached.MemcachedServer",
                    "-p", "0", "-t", "2", "-m", "64");
            try {
                BufferedReader err = new BufferedReader(new InputStreamReader(server.getErrorStream(),
                        StandardCharsets.UTF_8));
                String port = null;
                for (String line; port == null && (line = err.readLine()) != null; ) {
                    Matcher m = READY.matcher(line);
                    if (m.find()) {
                        port = m.group(1);
                    }
                }
                assertNotNull(port, "the server ended before it was ready");
                Path json = directory.resolve("load.json");
                String loadClassPath = samples + File.pathSeparator + Arrays.stream(
                        System.getProperty("java.class.path").split(File.pathSeparator))
                        .filter(entry -> entry.contains("HdrHistogram")).findFirst().orElseThrow();
                Process load = start(socket, null, loadClassPath, "io.arrakis.samples.loadgen.LoadGenerator",
                        "--protocol", "memcache", "--host", "127.0.0.1", "--port", port, "--connections", "50",
                        "--pipeline", "1", "--ratio", "9:1", "--keys", "1000", "--value-size", "32",
                        "--warmup", "0.5", "--duration", "1.5", "--json", json.toString());
                try {
                    assertTrue(load.waitFor(60, TimeUnit.SECONDS), "the load generator did not finish");
                    String out = new String(load.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
                            + new String(load.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
                    assertEquals(0, load.exitValue(), "the load generator saw wrong or failed replies:\n" + out);
                    assertTrue(Files.exists(json), out);
                } finally {
                    kill(load);
                }
                try (ControlClient control = ControlClient.connect(socket)) {
                    ControlStatus status = control.status();
                    ControlStatus.VnicStatus vnic = status.vnics().stream()
                            .filter(v -> v.pid() == server.pid()).findFirst().orElse(null);
                    assertNotNull(vnic, "the server attached no VNIC: " + status.format());
                    assertEquals(2, vnic.queues().size(), status.format());
                    long queue0 = vnic.queue(0).counter(VnicCounter.RX_PACKETS);
                    long queue1 = vnic.queue(1).counter(VnicCounter.RX_PACKETS);
                    // 50 connections split between the workers: each queue takes a large share of
                    // the requests (the other's a few thousand frames at the very least).
                    assertTrue(queue0 > 5_000 && queue1 > 5_000, "frames received per queue: " + queue0 + " and "
                            + queue1 + ": one stack served (nearly) everything\n" + status.format());
                }
            } finally {
                kill(server);
            }
        }
    }

    private static Process start(Path socket, String agentArguments, String classPath, String main, String... args)
            throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx256m",
                "-javaagent:" + ChildJvm.AGENT_JAR + "=banner=false,shm.socket=" + socket
                        + (agentArguments == null ? "" : "," + agentArguments),
                "-cp", classPath, main));
        command.addAll(Arrays.asList(args));
        return new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    }

    private static void kill(Process process) throws InterruptedException {
        ProcessHandle handle = process.toHandle();
        handle.descendants().forEach(ProcessHandle::destroyForcibly);
        handle.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }
}

package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.arrakis.lab.HostMailbox;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Redis-like sample of the samples module, unmodified, in a child JVM of the guest with the
 * agent on the {@code virtio} backend (the lab's virtio-net function through VFIO), serving the
 * real {@code redis-cli} and {@code redis-benchmark} run on the host through the lab's mailbox.
 * The agent jar and the samples' classes are the repository's build outputs, which the guest sees
 * at the host's paths. Skipped outside the lab.
 */
@Tag("lab")
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class VirtioRedisLabTest {
    private static final long START_LIMIT_NANOS = TimeUnit.SECONDS.toNanos(240);

    /** The repository root: this class is in {@code <root>/vfio/target/test-classes}. */
    private static Path repository() throws Exception {
        return Path.of(VirtioRedisLabTest.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .getParent().getParent().getParent();
    }

    @Test
    void theRedisSampleWithTheAgentOnVirtioServesRedisCliAndRedisBenchmarkFromTheHost() throws Exception {
        String pci = VirtioNetLabTest.labProperty("arrakis.lab.virtio-net");
        String guest = VirtioNetLabTest.labProperty("arrakis.lab.guest-address");
        String java = VirtioNetLabTest.labProperty("arrakis.lab.java");
        HostMailbox mailbox = HostMailbox.fromSystemProperties();
        assumeTrue(mailbox != null, "arrakis.lab.shared is not set: no host mailbox");
        Path root = repository();
        Path agent = root.resolve("agent/target/arrakis-agent.jar");
        Path samples = root.resolve("samples/target/classes");
        assertTrue(Files.isRegularFile(agent), "no agent jar at " + agent + ": build it (mvn package) before ./dev lab");
        assertTrue(Files.isDirectory(samples), "no compiled samples at " + samples);

        Path log = Files.createTempFile("virtio-redis", ".log");
        List<String> command = new ArrayList<>(List.of(java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Xmx256m", "-Xshare:auto", "--enable-native-access=ALL-UNNAMED",
                "-javaagent:" + agent + "=banner=false,backend=virtio,virtio.pci=" + pci + ",virtio.address=" + guest
                        + "/24",
                "-cp", samples.toString(), "io.arrakis.samples.redis.RedisServer", "--port", "6379", "--bind", guest));
        Process server = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            long deadline = System.nanoTime() + START_LIMIT_NANOS;
            Pattern ready = Pattern.compile("redis: ready[^\n]*\n");
            while (!ready.matcher(Files.readString(log)).find()) {
                assertTrue(server.isAlive(), "the sample exited: " + Files.readString(log));
                assertTrue(System.nanoTime() - deadline < 0, "the sample did not start within 240 s: "
                        + Files.readString(log));
                Thread.sleep(200);
            }
            System.out.println("lab: sample started: " + Files.readString(log).strip());

            HostMailbox.Result cli = mailbox.run("virtio-redis-cli", "redis-cli -h " + guest
                    + " -p 6379 set lab-key virtio-over-vfio && redis-cli -h " + guest + " -p 6379 get lab-key"
                    + " && redis-cli -h " + guest + " -p 6379 incr lab-counter", Duration.ofSeconds(150));
            assertEquals(0, cli.exitCode(), cli.output());
            assertEquals(List.of("OK", "virtio-over-vfio", "1"), cli.output().strip().lines().map(String::strip).toList(),
                    cli.output());

            HostMailbox.Result benchmark = mailbox.run("virtio-redis-benchmark", "redis-benchmark -h " + guest
                    + " -p 6379 -q -n 2000 -t set,get,incr,lpush,lpop", Duration.ofSeconds(150));
            System.out.println("lab: redis-benchmark on the host:\n" + benchmark.output());
            assertEquals(0, benchmark.exitCode(), benchmark.output());
            for (String test : new String[] {"SET", "GET", "INCR", "LPUSH", "LPOP"}) {
                assertTrue(Pattern.compile("(?m)^" + test + ": [0-9.]+ requests per second").matcher(
                        benchmark.output().replace('\r', '\n')).find(), test + " did not finish:\n" + benchmark.output());
            }
            assertFalse(benchmark.output().contains("Error"), benchmark.output());

            HostMailbox.Result after = mailbox.run("virtio-redis-after", "redis-cli -h " + guest
                    + " -p 6379 get lab-key", Duration.ofSeconds(60));
            assertEquals("virtio-over-vfio", after.output().strip(), "the key survives the benchmark's traffic");
            assertTrue(server.isAlive(), Files.readString(log));
        } finally {
            List<ProcessHandle> descendants = server.descendants().toList();
            server.destroy();
            if (!server.waitFor(20, TimeUnit.SECONDS)) {
                server.destroyForcibly();
                server.waitFor(10, TimeUnit.SECONDS);
            }
            descendants.forEach(ProcessHandle::destroyForcibly);
            System.out.println("lab: sample log:\n" + Files.readString(log));
            Files.deleteIfExists(log);
        }
    }
}

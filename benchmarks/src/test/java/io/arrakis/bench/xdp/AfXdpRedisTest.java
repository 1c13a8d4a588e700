package io.arrakis.bench.xdp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.xdp.XdpTestbed;
import io.arrakis.samples.redis.RedisServer;
import io.arrakis.testing.NetworkNamespace;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Redis-like sample, unmodified, with the agent on the {@code af_xdp} backend, in one
 * namespace of a veth pair ({@link XdpTestbed}); the real {@code redis-benchmark} drives it from
 * the other. The XDP program claims the sample's dedicated address; the kernel keeps its own
 * address on the same interface. {@link #figures} runs the GET/SET grid against AF_XDP
 * and against the same sample on the kernel's path over the same veth, alternating, and prints
 * both (speed is reported, never asserted).
 */
@Tag("agent-jar")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class AfXdpRedisTest {
    private static final Duration BENCHMARK_LIMIT = Duration.ofSeconds(120);

    @TempDir
    Path work;

    private static Path agentJar() {
        Path jar = Path.of(System.getProperty("arrakis.agent.jar", "../agent/target/arrakis-agent.jar"))
                .toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(jar), "no agent jar at " + jar + "; run mvn verify, which builds it");
        return jar;
    }

    private static String samplesClassPath() throws Exception {
        return Path.of(RedisServer.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }

    /**
     * The sample in namespace {@code ours}, with the agent on af_xdp when {@code xdpMode} is not
     * null: on the dedicated address {@link XdpTestbed#OUR_IP} when {@code bind} is that address,
     * else on {@code bind} shared with the kernel ({@code claim=none}: only the ports it binds).
     */
    private Process startServer(XdpTestbed testbed, String xdpMode, String bind, Path log) throws Exception {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", testbed.ours.name(),
                ProcessHandle.current().info().command().orElseThrow(), "-XX:+UseSerialGC", "-Xmx256m"));
        if (xdpMode != null) {
            command.add("--enable-native-access=ALL-UNNAMED");
            command.add("-javaagent:" + agentJar() + "=banner=false,backend=af_xdp,af_xdp.interface=" + testbed.ourLink
                    + ",af_xdp.address=" + bind + "/24,af_xdp.xdp-mode=" + xdpMode
                    + (bind.equals(XdpTestbed.OUR_IP) ? "" : ",af_xdp.claim=none"));
        }
        command.addAll(List.of("-cp", samplesClassPath(), RedisServer.class.getName(), "--port", "6379", "--bind",
                bind));
        Process server = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        // The whole ready line: printf writes it in pieces, so a read between them sees half of it.
        java.util.regex.Pattern ready = java.util.regex.Pattern.compile("redis: ready[^\n]*\n");
        while (!ready.matcher(Files.readString(log)).find()) {
            assertTrue(server.isAlive(), "the sample exited: " + Files.readString(log));
            assertTrue(System.nanoTime() - deadline < 0, "the sample did not start: " + Files.readString(log));
            Thread.sleep(50);
        }
        return server;
    }

    private static void stop(Process server) throws InterruptedException {
        List<ProcessHandle> descendants = server.descendants().toList();
        server.destroyForcibly();
        descendants.forEach(ProcessHandle::destroyForcibly);
        server.waitFor(10, TimeUnit.SECONDS);
    }

    private static String benchmark(XdpTestbed testbed, String host, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", testbed.peer.name(), "redis-benchmark",
                "-h", host, "-p", "6379", "-q"));
        command.addAll(List.of(args));
        NetworkNamespace.Result result = NetworkNamespace.run(command, BENCHMARK_LIMIT);
        // redis-benchmark stops with a non-zero exit at the first error reply.
        assertEquals(0, result.exitCode(), String.join(" ", command) + "\n" + result.stdout() + result.stderr());
        return result.stdout();
    }

    /** "NAME: N requests per second, p50=..." lines, progress lines dropped. */
    private static List<String> finished(String output) {
        List<String> lines = new ArrayList<>();
        for (String line : output.split("[\r\n]+")) {
            if (line.contains("requests per second") && !line.contains("rps=")) {
                lines.add(line.strip());
            }
        }
        return lines;
    }

    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void redisBenchmarkFromThePeerNamespaceRunsEveryCommandCorrectlyOnAfXdp(String xdpMode) throws Exception {
        try (XdpTestbed testbed = XdpTestbed.create()) {
            Path log = work.resolve("server-" + xdpMode + ".log");
            Process server = startServer(testbed, xdpMode, XdpTestbed.OUR_IP, log);
            try {
                assertTrue(Files.readString(log).contains("io.arrakis.provider.ArrakisSelectorProvider"),
                        Files.readString(log));
                assertTrue(testbed.ours.ip("link", "show", "dev", testbed.ourLink).stdout().contains("arrakis_filter"),
                        "the XDP program is attached");
                String output = benchmark(testbed, XdpTestbed.OUR_IP, "-t",
                        "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange,mset", "-n", "2000", "-c", "10",
                        "-r", "1000");
                List<String> names = finished(output).stream().map(line -> line.substring(0, line.indexOf(':')))
                        .toList();
                for (String test : new String[] {"SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD",
                        "HSET", "SPOP", "ZADD", "LRANGE_100 (first 100 elements)", "LRANGE_600 (first 600 elements)",
                        "MSET (10 keys)"}) {
                    assertTrue(names.contains(test), test + " did not finish:\n" + output);
                }
                assertFalse(output.contains("Error"), output);
                // The kernel still answers on its own address of the same interface.
                assertEquals(0, testbed.peer.execAllowingFailure("ping", "-c", "1", "-W", "2", XdpTestbed.KERNEL_IP)
                        .exitCode());
            } finally {
                stop(server);
            }
        }
    }

    /**
     * Shared-address mode: the sample on the kernel's own address 198.18.0.1, where the XDP program
     * admits only the port it binds (6379); an SSH stand-in (a kernel TCP server on port 22 of the
     * same address) and ping keep reaching the kernel while {@code redis-benchmark} runs every
     * command against the sample, and the kernel itself holds no socket on 6379.
     */
    @ParameterizedTest
    @ValueSource(strings = {"skb", "native"})
    void onTheKernelsOwnAddressRedisBenchmarkPassesWhileSshAndPingStayWithTheKernel(String xdpMode) throws Exception {
        try (XdpTestbed testbed = XdpTestbed.create();
                NetworkNamespace.Background ssh = testbed.ours.start("python3", "-c", """
                        import socket
                        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        s.bind(('198.18.0.1', 22)); s.listen(8)
                        while True:
                            c, _ = s.accept(); c.sendall(b'SSH-2.0-kernel\\r\\n'); c.close()
                        """)) {
            Path log = work.resolve("shared-" + xdpMode + ".log");
            Process server = startServer(testbed, xdpMode, XdpTestbed.KERNEL_IP, log);
            try {
                assertTrue(Files.readString(log).contains("io.arrakis.provider.ArrakisSelectorProvider"),
                        Files.readString(log));
                assertTrue(testbed.ours.ip("link", "show", "dev", testbed.ourLink).stdout().contains("arrakis_filter"),
                        "the XDP program is attached");
                // The sample's listener is ours, not the kernel's.
                assertEquals("", testbed.ours.exec("ss", "-Htln", "sport = :6379").stdout().strip(),
                        "the kernel has no listener on 6379");
                CompletableFuture<String> run = CompletableFuture.supplyAsync(() -> {
                    try {
                        return benchmark(testbed, XdpTestbed.KERNEL_IP, "-t", COMMANDS, "-n", "2000", "-c", "10",
                                "-r", "1000");
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
                // While it runs, the kernel keeps the rest of its address: SSH's port and ICMP.
                assertEquals("SSH-2.0-kernel", sshBanner(testbed), "port 22 reaches the kernel");
                assertEquals(0, testbed.peer.execAllowingFailure("ping", "-c", "2", "-i", "0.2", "-W", "2",
                        XdpTestbed.KERNEL_IP).exitCode(), "ping reaches the kernel");
                String output = run.get(BENCHMARK_LIMIT.toSeconds(), TimeUnit.SECONDS);
                assertEveryCommandFinished(output);
                assertEquals("SSH-2.0-kernel", sshBanner(testbed), "port 22 still reaches the kernel");
            } finally {
                stop(server);
            }
            // The sample gone, its port is the kernel's again: nothing listens, so it refuses.
            assertTrue(ssh.isAlive());
            assertEquals("refused", connect(testbed, 6379));
        }
    }

    private static final String COMMANDS = "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange,mset";

    private static void assertEveryCommandFinished(String output) {
        List<String> names = finished(output).stream().map(line -> line.substring(0, line.indexOf(':'))).toList();
        for (String test : new String[] {"SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET",
                "SPOP", "ZADD", "LRANGE_100 (first 100 elements)", "LRANGE_600 (first 600 elements)",
                "MSET (10 keys)"}) {
            assertTrue(names.contains(test), test + " did not finish:\n" + output);
        }
        assertFalse(output.contains("Error"), output);
    }

    private static String sshBanner(XdpTestbed testbed) throws Exception {
        String banner = "";
        for (int attempt = 0; attempt < 50 && !banner.equals("SSH-2.0-kernel"); attempt++) {
            banner = connect(testbed, 22);
            if (!banner.equals("SSH-2.0-kernel")) {
                Thread.sleep(100);
            }
        }
        return banner;
    }

    /** What the kernel's address sends first on a TCP connection to {@code port}, or "refused". */
    private static String connect(XdpTestbed testbed, int port) throws IOException {
        return testbed.peer.execAllowingFailure("python3", "-c", """
                import socket
                try:
                    c = socket.create_connection(('198.18.0.1', %d), timeout=1); print(c.recv(64).decode().strip(), end='')
                except OSError:
                    print('refused', end='')
                """.formatted(port)).stdout();
    }

    /**
     * Both servers at once in the same namespace (the sample with the agent on the dedicated
     * address, the same sample without it on the kernel's), and the grid alternating between
     * them, {@link #ROUNDS} rounds: per cell the median of each path's requests/s.
     */
    @Test
    void figures() throws Exception {
        try (XdpTestbed testbed = XdpTestbed.create()) {
            Process xdp = startServer(testbed, "native", XdpTestbed.OUR_IP, work.resolve("xdp.log"));
            Process kernel = startServer(testbed, null, XdpTestbed.KERNEL_IP, work.resolve("kernel.log"));
            try {
                for (String host : new String[] {XdpTestbed.OUR_IP, XdpTestbed.KERNEL_IP}) {
                    benchmark(testbed, host, "-t", "get,set", "-n", "50000", "-c", "10"); // warm-up
                }
                Map<String, List<Double>> rates = new TreeMap<>();
                for (int round = 0; round < ROUNDS; round++) {
                    for (int connections : new int[] {1, 50}) {
                        for (int pipeline : new int[] {1, 16}) {
                            for (String host : new String[] {XdpTestbed.OUR_IP, XdpTestbed.KERNEL_IP}) {
                                String output = benchmark(testbed, host, "-t", "get,set", "-n",
                                        connections == 1 && pipeline == 1 ? "20000" : "100000", "-c",
                                        Integer.toString(connections), "-P", Integer.toString(pipeline));
                                for (String line : finished(output)) {
                                    String test = line.substring(0, line.indexOf(':'));
                                    double rate = Double.parseDouble(line.replaceAll(".*?: ([0-9.]+) requests.*", "$1"));
                                    String cell = String.format(Locale.ROOT, "-c %2d -P %2d %s %s", connections,
                                            pipeline, test, host.equals(XdpTestbed.OUR_IP) ? "af_xdp" : "kernel");
                                    rates.computeIfAbsent(cell, k -> new ArrayList<>()).add(rate);
                                }
                            }
                        }
                    }
                }
                List<String> report = new ArrayList<>();
                rates.forEach((cell, values) -> {
                    List<Double> sorted = values.stream().sorted().toList();
                    report.add(String.format(Locale.ROOT, "REDIS %s: median %.0f req/s (runs %s)", cell,
                            sorted.get(sorted.size() / 2), values));
                });
                report.forEach(System.out::println);
                Files.write(work.resolve("figures.txt"), report, StandardCharsets.UTF_8);
                assertEquals(16, report.size(), String.join("\n", report));
            } finally {
                stop(xdp);
                stop(kernel);
            }
        }
    }

    /** Rounds of the grid; {@code -Dxdp.figures.rounds=N} for more. */
    private static final int ROUNDS = Integer.getInteger("xdp.figures.rounds", 3);
}

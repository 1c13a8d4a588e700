package io.arrakis.bench.e2e;

import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.Ipv4Text;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The figure issue 5 asks for: 64-byte request/response round trips between two JVMs running
 * unmodified blocking NIO code ({@link PlainEchoServer}, {@link PlainPingClient}), once on the
 * kernel's loopback and once with the agent in both JVMs (the client still connects to
 * 127.0.0.1; the provider sends it through the shm switch, this process owning the control
 * plane), alternating rounds in the same run, each pair of JVMs fresh.
 * Prints medians, p99 and p99.9 of every round and the ratios of the medians. With {@code udp}, the
 * same with {@code java.net.DatagramSocket} ({@link PlainDatagramEchoServer},
 * {@link PlainDatagramPingClient}) instead of TCP.
 *
 * <p>Usage: {@code RoundTripComparison [rounds=3] [round trips per round=200000] [bytes=64] [tcp|udp]}.
 */
public final class RoundTripComparison {
    private static final long PATIENCE_SECONDS = 120;

    private RoundTripComparison() {}

    record Result(String path, long count, long p50, long p99, long p999, double mean) {
        String row() {
            return String.format("%-34s %9.2f %9.2f %9.2f %9.2f", path, p50 / 1e3, p99 / 1e3, p999 / 1e3, mean / 1e3);
        }
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int measured = args.length > 1 ? Integer.parseInt(args[1]) : 200_000;
        int size = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        boolean udp = args.length > 3 && args[3].equals("udp");
        if (args.length > 3 && !udp && !args[3].equals("tcp")) {
            throw new IllegalArgumentException("transport '" + args[3] + "': expected tcp or udp");
        }
        Class<?> server = udp ? PlainDatagramEchoServer.class : PlainEchoServer.class;
        Class<?> client = udp ? PlainDatagramPingClient.class : PlainPingClient.class;
        int warmUp = Math.max(20_000, measured / 5);
        Path directory = Files.createTempDirectory("arrakis-e2e");
        Path socket = directory.resolve("control.sock");
        List<Result> kernel = new ArrayList<>();
        List<Result> arrakis = new ArrayList<>();
        try (ControlPlane plane = ControlPlane.startEmbedded(socket)) {
            for (int round = 0; round < rounds; round++) {
                kernel.add(run(server, client, "kernel loopback, JDK provider", List.of(), false, socket, size, warmUp,
                        measured));
                arrakis.add(run(server, client, "Arrakis agent, shm switch", providerOptions(socket), true, socket, size,
                        warmUp, measured));
            }
        }
        System.out.printf("%n%d-byte request/response between two JVMs, %s, %d round trips per row"
                + " (after %d warm-up), load average %s%n", size, udp ? "java.net.DatagramSocket" : "plain blocking NIO",
                measured, warmUp, loadAverage());
        System.out.printf("%-34s %9s %9s %9s %9s%n", "path", "p50 us", "p99 us", "p99.9 us", "mean us");
        for (int i = 0; i < rounds; i++) {
            System.out.println(kernel.get(i).row());
            System.out.println(arrakis.get(i).row());
        }
        long kernelMedian = median(kernel.stream().mapToLong(Result::p50).toArray());
        long arrakisMedian = median(arrakis.stream().mapToLong(Result::p50).toArray());
        long kernelP99 = median(kernel.stream().mapToLong(Result::p99).toArray());
        long arrakisP99 = median(arrakis.stream().mapToLong(Result::p99).toArray());
        System.out.printf("ratio kernel/Arrakis (median of rounds): p50 %.1fx, p99 %.1fx%n",
                (double) kernelMedian / arrakisMedian, (double) kernelP99 / arrakisP99);
    }

    /**
     * How a JVM gets Arrakis without changing the application: {@code -javaagent}, the jar given
     * by {@code -Darrakis.agent.jar} (default {@code agent/target/arrakis-agent.jar}, which the
     * build makes).
     */
    static List<String> providerOptions(Path socket) throws IOException {
        Path agent = Path.of(System.getProperty("arrakis.agent.jar", "agent/target/arrakis-agent.jar"));
        if (!Files.isRegularFile(agent)) {
            throw new IOException("no agent jar at " + agent.toAbsolutePath()
                    + ": build it (mvn -pl agent -am package -DskipTests) or name it with -Darrakis.agent.jar");
        }
        return List.of("-javaagent:" + agent.toAbsolutePath() + "=banner=false", "-Darrakis.shm.socket=" + socket,
                "-Darrakis.shm.embedded=false");
    }

    private static Result run(Class<?> serverMain, Class<?> clientMain, String path, List<String> jvmOptions,
            boolean userLevel, Path socket, int size, int warmUp, int measured) throws Exception {
        Process server = start(serverMain, jvmOptions, "0", Integer.toString(size));
        try {
            BufferedReader serverOut = new BufferedReader(new InputStreamReader(server.getInputStream(),
                    StandardCharsets.UTF_8));
            String ready;
            while ((ready = serverOut.readLine()) != null && !ready.startsWith("READY ")) {
                System.out.println("server: " + ready);
            }
            if (ready == null) {
                throw new IOException("the echo server (" + path + ") ended before it was ready, exit " + server.waitFor());
            }
            Thread.ofPlatform().daemon().start(() -> serverOut.lines().forEach(l -> System.out.println("server: " + l)));
            int port = Integer.parseInt(ready.substring(6).trim());
            // Both clients ask for 127.0.0.1, as an unmodified client does; with Arrakis the
            // provider routes it through the switch (loopback acceleration).
            String host = "127.0.0.1";
            if (userLevel) {
                vnicAddressOf(server.pid(), socket); // the server attached: its listener is announced
            }
            Process client = start(clientMain, jvmOptions, host, Integer.toString(port),
                    Integer.toString(size), Integer.toString(warmUp), Integer.toString(measured));
            try {
                BufferedReader clientOut = new BufferedReader(new InputStreamReader(client.getInputStream(),
                        StandardCharsets.UTF_8));
                String line;
                while ((line = clientOut.readLine()) != null) {
                    if (line.startsWith("RESULT ")) {
                        String[] f = line.split(" ");
                        return new Result(path, Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
                                Long.parseLong(f[4]), Double.parseDouble(f[5]));
                    }
                    System.out.println("client: " + line);
                }
                throw new IOException("the ping client (" + path + ") ended without a result, exit "
                        + client.waitFor());
            } finally {
                stop(client);
            }
        } finally {
            stop(server);
        }
    }

    /** The address of the VNIC the server process attached (it attaches when it listens). */
    private static String vnicAddressOf(long pid, Path socket) throws Exception {
        try (ControlClient control = ControlClient.connect(socket)) {
            for (int i = 0; i < 500; i++) {
                for (ControlStatus.VnicStatus vnic : control.status().vnics()) {
                    if (vnic.pid() == pid) {
                        return Ipv4Text.format(vnic.address());
                    }
                }
                Thread.sleep(10);
            }
        }
        throw new IOException("process " + pid + " attached no VNIC to the control plane at " + socket);
    }

    private static Process start(Class<?> main, List<String> jvmOptions, String... args) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-Xmx256m"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true).start();
    }

    private static void stop(Process process) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(PATIENCE_SECONDS, TimeUnit.SECONDS);
        }
    }

    private static long median(long[] values) {
        long[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ", 4)[0];
        } catch (IOException e) {
            return "?";
        }
    }
}

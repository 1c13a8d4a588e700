package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.agent.child.DatagramEchoClientMain;
import io.arrakis.agent.child.DatagramEchoServerMain;
import io.arrakis.agent.child.EchoClientMain;
import io.arrakis.agent.child.NettyEchoClientMain;
import io.arrakis.agent.child.NettyEchoServerMain;
import io.arrakis.agent.child.NioEchoServerMain;
import io.arrakis.agent.child.ThreadPerConnectionServerMain;
import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.VnicCounter;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Servers and clients that know nothing of Arrakis, each in its own JVM with {@code -javaagent}:
 * the client connects to 127.0.0.1 as it would without us, and the traffic goes through the
 * user-level stacks and the shm switch (loopback acceleration). The proof is the server's VNIC
 * counters at the control plane this test runs, not the programs' output.
 */
@Tag("agent-jar")
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UnmodifiedServersTest {
    private static final int ROUNDS = 500;

    @TempDir
    Path directory;

    @Test
    void aPlainNioSelectorServer() throws Exception {
        exercise(NioEchoServerMain.class, List.of(), EchoClientMain.class, "nio", false);
    }

    @Test
    void aThreadPerConnectionJavaNetServer() throws Exception {
        exercise(ThreadPerConnectionServerMain.class, List.of(), EchoClientMain.class, "net", false);
    }

    @Test
    void aVirtualThreadPerConnectionServer() throws Exception {
        exercise(ThreadPerConnectionServerMain.class, List.of("virtual"), EchoClientMain.class, "nio", false);
    }

    /** UDP: {@code java.net.DatagramSocket} on both sides, the client sending to 127.0.0.1 (loopback acceleration). */
    @Test
    void aJavaNetDatagramSocketEchoServerAndClient() throws Exception {
        exercise(DatagramEchoServerMain.class, List.of(), DatagramEchoClientMain.class, "", false);
    }

    @Test
    void aNettyServerAndClient() throws Exception {
        exercise(NettyEchoServerMain.class, List.of(), NettyEchoClientMain.class, null, true);
    }

    private void exercise(Class<?> server, List<String> serverArgs, Class<?> client, String clientMode,
            boolean netty) throws Exception {
        Path socket = directory.resolve("control.sock");
        try (ControlPlane plane = ControlPlane.startEmbedded(socket)) {
            Process serverProcess = start(socket, server, netty, serverArgs.toArray(String[]::new));
            try {
                BufferedReader out = new BufferedReader(new InputStreamReader(serverProcess.getInputStream(),
                        StandardCharsets.UTF_8));
                String ready = out.readLine();
                if (ready == null) {
                    throw new AssertionError("the server ended before it was ready: "
                            + new String(serverProcess.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
                }
                assertTrue(ready.startsWith("READY "), ready);
                String port = ready.substring(6).trim();
                List<String> clientArgs = new ArrayList<>(List.of(port));
                if (clientMode != null) {
                    clientArgs.add(Integer.toString(ROUNDS));
                    if (!clientMode.isEmpty()) {
                        clientArgs.add(clientMode);
                    }
                }
                Process clientProcess = start(socket, client, netty, clientArgs.toArray(String[]::new));
                try {
                    assertTrue(clientProcess.waitFor(60, TimeUnit.SECONDS), "the client did not finish");
                    String clientOut = new String(clientProcess.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                    String clientErr = new String(clientProcess.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
                    assertEquals(0, clientProcess.exitValue(), clientOut + clientErr);
                    assertTrue(clientOut.contains("OK"), clientOut + clientErr);
                } finally {
                    kill(clientProcess);
                }
                try (ControlClient control = ControlClient.connect(socket)) {
                    ControlStatus status = control.status();
                    ControlStatus.VnicStatus vnic = status.vnics().stream()
                            .filter(v -> v.pid() == serverProcess.pid()).findFirst().orElse(null);
                    assertNotNull(vnic, "the server attached no VNIC: " + status.format());
                    long received = vnic.counter(VnicCounter.RX_PACKETS);
                    long minimum = clientMode == null ? 100 : ROUNDS;
                    assertTrue(received >= minimum, "the server's VNIC received " + received
                            + " frames, fewer than the exchange needs: the traffic went through the kernel");
                }
            } finally {
                kill(serverProcess);
            }
        }
    }

    private static Process start(Path socket, Class<?> main, boolean netty, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx256m",
                "-javaagent:" + ChildJvm.AGENT_JAR + "=banner=false",
                "-Darrakis.shm.socket=" + socket, "-cp", classPath(netty), main.getName()));
        command.addAll(Arrays.asList(args));
        return new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    }

    /** The test classes only (the application knows nothing of us), plus Netty's jars for the Netty pair. */
    private static String classPath(boolean netty) {
        List<String> entries = new ArrayList<>(List.of(ChildJvm.TEST_CLASSES.toAbsolutePath().toString()));
        if (netty) {
            entries.addAll(Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                    .filter(entry -> entry.contains("netty")).collect(Collectors.toList()));
        }
        return String.join(File.pathSeparator, entries);
    }

    private static void kill(Process process) throws InterruptedException {
        ProcessHandle handle = process.toHandle();
        handle.descendants().forEach(ProcessHandle::destroyForcibly);
        handle.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }
}

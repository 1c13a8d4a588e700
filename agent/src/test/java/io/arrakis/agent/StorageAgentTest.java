package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.agent.child.EarlyFileSystemAgent;
import io.arrakis.agent.child.JdkFilesMain;
import io.arrakis.agent.child.StorageExitMain;
import io.arrakis.agent.child.StorageMain;
import io.arrakis.samples.redis.RedisServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Unmodified programs with {@code -javaagent:arrakis-agent.jar=storage.mount=<dir>}: what they
 * write through {@code FileChannel} into the directory lives in the VSA's log store (the kernel's
 * directory stays empty), survives restarts and SIGKILL once forced, and everything else is the
 * kernel's as before.
 */
@Tag("agent-jar")
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StorageAgentTest {
    private static final String END_OF_OUTPUT = "-- end of the server's output --";
    private static final Pattern READY = Pattern.compile("redis: ready on [^:]+:(\\d+)");

    @TempDir
    Path directory;

    private String storageAgent(Path mount) {
        return "storage.mount=" + mount + ",storage.vsa=" + directory.resolve("data.vsa") + ",storage.size=16m"
                + ",route=,loopback=false";
    }

    @Test
    void aPlainProgramsFileChannelWritesToTheStoreAndOnlyThere() throws Exception {
        Path mount = directory.resolve("data");
        for (String run : List.of("first", "second")) {
            ChildJvm.Result result = new ChildJvm(directory).agent(storageAgent(mount))
                    .option("--enable-native-access=ALL-UNNAMED")
                    .run(StorageMain.class, mount.toString(), directory.resolve("outside.txt").toString(), run);
            assertEquals(0, result.exitCode(), result.describe());
            assertEquals("io.arrakis.storage.fs.StoreFileChannel", result.value("channel"), result.describe());
            assertEquals("io.arrakis.storage.fs.ArrakisFileSystemProvider", result.value("provider"));
            assertEquals("plain", result.value("outside"));
            assertTrue(Long.parseLong(result.value("vsaForces")) >= 1, "the VSA's MBean counted the force: "
                    + result.describe());
            for (String line : result.stderr()) {
                assertTrue(line.startsWith("arrakis: ") || line.isBlank(), "no warnings from the JDK: "
                        + result.describe());
            }
        }
        ChildJvm.Result last = new ChildJvm(directory).agent(storageAgent(mount))
                .option("--enable-native-access=ALL-UNNAMED")
                .run(StorageMain.class, mount.toString(), directory.resolve("outside.txt").toString(), "third");
        assertEquals("first|second|third|", last.value("content"), last.describe());
        assertEquals("[log.txt]", last.value("listing"));
        try (Stream<Path> kernelView = Files.list(mount)) {
            assertEquals(0, kernelView.count(), "the kernel's directory holds nothing: the file is in the VSA");
        }
        assertEquals("plain", Files.readString(directory.resolve("outside.txt")));
    }

    /** The JDK's own file use (security configuration, jrt:, zip file systems, walks) works through our provider. */
    @Test
    void theJdksOwnFileMachineryWorksUnderOurProvider() throws Exception {
        ChildJvm.Result without = new ChildJvm(directory).run(JdkFilesMain.class, directory.toString());
        ChildJvm.Result with = new ChildJvm(directory).agent(storageAgent(directory.resolve("data")))
                .option("--enable-native-access=ALL-UNNAMED").run(JdkFilesMain.class, directory.toString());
        assertEquals(0, with.exitCode(), with.describe());
        assertEquals("io.arrakis.storage.fs.ArrakisFileSystemProvider", with.value("provider"));
        assertEquals(without.stdout().subList(1, without.stdout().size()), with.stdout().subList(1, with.stdout().size()),
                with.describe());
        assertEquals(List.of("tls=Default", "jrt=true", "conf.files=true", "zip=zipped", "file.toPath=true"),
                with.stdout().subList(1, with.stdout().size()));
        for (String line : with.stderr()) {
            assertTrue(line.startsWith("arrakis: ") || line.isBlank(), "no warnings from the JDK: " + with.describe());
        }
    }

    /** A default file system made before our premain cannot be replaced: one error line, and the kernel's files. */
    @Test
    void aFileSystemMadeBeforeTheAgentIsReportedAndLeftAlone() throws Exception {
        Path early = directory.resolve("early-agent.jar");
        java.util.jar.Manifest manifest = new java.util.jar.Manifest();
        manifest.getMainAttributes().put(java.util.jar.Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().putValue("Premain-Class", EarlyFileSystemAgent.class.getName());
        try (OutputStream out = Files.newOutputStream(early)) {
            new java.util.jar.JarOutputStream(out, manifest).close();
        }
        Path mount = directory.resolve("data");
        ChildJvm.Result result = new ChildJvm(directory).option("-javaagent:" + early).agent(storageAgent(mount))
                .option("--enable-native-access=ALL-UNNAMED")
                .run(StorageMain.class, mount.toString(), directory.resolve("outside.txt").toString(), "early");
        assertEquals(0, result.exitCode(), result.describe());
        String errors = String.join("\n", result.stderr());
        assertTrue(errors.contains("arrakis: error: the JVM made its default file system before the agent started"),
                result.describe());
        assertEquals("sun.nio.ch.FileChannelImpl", result.value("channel"));
        assertEquals("early|", Files.readString(mount.resolve("log.txt")).replace('\n', '|'), "on the kernel");
    }

    @Test
    void withoutTheAgentTheSameProgramUsesTheKernel() throws Exception {
        Path mount = directory.resolve("data");
        ChildJvm.Result result = new ChildJvm(directory)
                .run(StorageMain.class, mount.toString(), directory.resolve("outside.txt").toString(), "kernel");
        assertEquals(0, result.exitCode(), result.describe());
        assertEquals("sun.nio.ch.FileChannelImpl", result.value("channel"));
        assertEquals("kernel|", Files.readString(mount.resolve("log.txt")).replace('\n', '|'));
    }

    /**
     * The Redis-like sample, {@code appendfsync always}, its AOF directory mounted: SETs from a
     * client run while the server is SIGKILLed; after a restart with the agent every SET that was
     * answered {@code +OK} is there.
     */
    @Test
    void redisWithAppendFsyncAlwaysKeepsEveryAcknowledgedSetAcrossSigkill() throws Exception {
        Path aofDirectory = directory.resolve("aof");
        List<String> acknowledged = new ArrayList<>();
        Process server = startRedis(aofDirectory);
        try {
            int port = awaitPort(server);
            AtomicBoolean stop = new AtomicBoolean();
            Thread writer = Thread.ofPlatform().start(() -> {
                try (Socket socket = new Socket()) {
                    socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                    socket.setSoTimeout(10_000);
                    OutputStream out = socket.getOutputStream();
                    InputStream in = socket.getInputStream();
                    for (int i = 0; !stop.get() && i < 100_000; i++) {
                        String key = "key:" + i;
                        out.write(set(key, "value-" + i));
                        out.flush();
                        String reply = readLine(in);
                        if (!reply.equals("+OK")) {
                            throw new AssertionError("SET " + key + " answered " + reply);
                        }
                        synchronized (acknowledged) {
                            acknowledged.add(key);
                        }
                    }
                } catch (IOException e) {
                    // the server was killed under the client: what was acknowledged counts
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (acknowledged(acknowledged) < 300 && System.nanoTime() < deadline && writer.isAlive()) {
                Thread.sleep(10);
            }
            server.destroyForcibly(); // SIGKILL, mid-stream
            assertTrue(server.waitFor(10, TimeUnit.SECONDS));
            writer.join(15_000);
            stop.set(true);
        } finally {
            server.destroyForcibly();
            server.waitFor(10, TimeUnit.SECONDS);
        }
        int count = acknowledged(acknowledged);
        assertTrue(count >= 300, "the server acknowledged " + count + " SETs before it was killed");
        try (Stream<Path> kernelView = Files.list(aofDirectory)) {
            assertEquals(List.of(), kernelView.toList(), "the AOF is in the VSA, not in the kernel's directory");
        }

        Process restarted = startRedis(aofDirectory);
        try (Socket socket = new Socket()) {
            int port = awaitPort(restarted);
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            List<String> missing = new ArrayList<>();
            synchronized (acknowledged) {
                for (String key : acknowledged) {
                    out.write(command("GET", key));
                    out.flush();
                    String header = readLine(in);
                    if (header.equals("$-1")) {
                        missing.add(key);
                        continue;
                    }
                    String value = readLine(in);
                    assertEquals("value-" + key.substring(4), value, key);
                }
            }
            assertEquals(List.of(), missing, "acknowledged SETs lost after SIGKILL and restart");
            System.out.printf("redis on Arrakis storage: %d acknowledged SETs before SIGKILL, all present after restart%n",
                    count);
        } finally {
            restarted.destroyForcibly();
            restarted.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * The Redis-like sample, {@code appendfsync everysec}, stopped by SIGTERM: its own shutdown
     * hook writes and forces the AOF while the agent's runs (in no fixed order). That must
     * succeed, and every SET answered {@code +OK} (written, maybe not yet forced) is there after
     * a restart, as on the kernel's file system.
     */
    @Test
    void redisWithAppendFsyncEverysecKeepsEveryAcknowledgedSetAcrossSigterm() throws Exception {
        Path aofDirectory = directory.resolve("aof");
        List<String> acknowledged = new ArrayList<>();
        List<String> serverOutput = java.util.Collections.synchronizedList(new ArrayList<>());
        Process server = startRedis(aofDirectory, "everysec");
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", awaitPort(server, serverOutput)), 5000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            for (int i = 0; i < 500; i++) {
                String key = "key:" + i;
                out.write(set(key, "value-" + i));
                out.flush();
                assertEquals("+OK", readLine(in), "SET " + key);
                acknowledged.add(key);
            }
            server.toHandle().destroy(); // SIGTERM, by its PID: the shutdown hooks run
            assertTrue(server.waitFor(20, TimeUnit.SECONDS), "the server did not stop on SIGTERM");
        } finally {
            server.destroyForcibly();
            server.waitFor(10, TimeUnit.SECONDS);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!serverOutput.contains(END_OF_OUTPUT) && System.nanoTime() < deadline) {
            Thread.sleep(5); // the pipe's last lines, after the process ended
        }
        String output = String.join("\n", serverOutput);
        assertTrue(output.contains(END_OF_OUTPUT), output);
        for (String failure : List.of("redis: closing the append-only file", "redis: cannot write", "fsync of",
                "is closed")) {
            assertFalse(output.contains(failure), "the server's own final AOF write and force failed:\n" + output);
        }
        assertEquals(List.of(), missingAfterRestart(aofDirectory, acknowledged),
                "acknowledged SETs lost after SIGTERM and restart");
    }

    /**
     * A program's own shutdown hook writes (never forcing) to mounted files after the agent's exit
     * hook ran, at {@code System.exit}: no write fails, and the next process finds every byte,
     * the lines written before the exit (buffered then) included.
     */
    @Test
    void writesOfShutdownHooksThatRunAfterOursReachTheStoreAtSystemExit() throws Exception {
        Path mount = directory.resolve("data");
        ChildJvm.Result writer = new ChildJvm(directory).agent(storageAgent(mount))
                .option("--enable-native-access=ALL-UNNAMED")
                .run(StorageExitMain.class, "write", mount.toString(), StorageInstaller.WRITE_THROUGH_PROPERTY, "200",
                        "exit");
        assertEquals(0, writer.exitCode(), writer.describe());
        assertNoChildErrors(writer.stderr(), writer.describe());
        assertEveryLateWriteIsThere(mount, 200);
    }

    /** The same when the program is stopped by SIGTERM (sent by its PID) while it waits. */
    @Test
    void writesOfShutdownHooksThatRunAfterOursReachTheStoreAtSigterm() throws Exception {
        Path mount = directory.resolve("data");
        Path stderr = directory.resolve("child.err");
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-javaagent:" + ChildJvm.AGENT_JAR + "=" + storageAgent(mount),
                "-Darrakis.shm.socket=" + directory.resolve("control.sock"), "--enable-native-access=ALL-UNNAMED",
                "-cp", ChildJvm.TEST_CLASSES.toString(), StorageExitMain.class.getName(), "write", mount.toString(),
                StorageInstaller.WRITE_THROUGH_PROPERTY, "200", "term");
        Process child = new ProcessBuilder(command).redirectError(stderr.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
        try {
            BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8));
            assertEquals("ready", lines.readLine(), "the child's first line; its stderr: " + Files.readString(stderr));
            child.toHandle().destroy(); // SIGTERM, by its PID
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child did not end on SIGTERM");
            assertEquals(143, child.exitValue(), "ended by SIGTERM after its hooks; stderr: " + Files.readString(stderr));
        } finally {
            child.destroyForcibly();
            child.waitFor(10, TimeUnit.SECONDS);
        }
        List<String> errors = Files.readAllLines(stderr);
        assertNoChildErrors(errors, String.join("\n", errors));
        assertEveryLateWriteIsThere(mount, 200);
    }

    private static void assertNoChildErrors(List<String> stderr, String describe) {
        for (String line : stderr) {
            assertFalse(line.startsWith("child:") || line.contains("arrakis: error"), describe);
        }
    }

    private void assertEveryLateWriteIsThere(Path mount, int lines) throws Exception {
        ChildJvm.Result reader = new ChildJvm(directory).agent(storageAgent(mount))
                .option("--enable-native-access=ALL-UNNAMED").run(StorageExitMain.class, "read", mount.toString());
        assertEquals(0, reader.exitCode(), reader.describe());
        StringBuilder expected = new StringBuilder("main|");
        for (int i = 0; i < lines; i++) {
            expected.append("late-").append(i).append('|');
        }
        assertEquals(expected.toString(), reader.value("exit.txt"), reader.describe());
        assertEquals("written after the agent's hook", reader.value("late.txt"), reader.describe());
        try (Stream<Path> kernelView = Files.list(mount)) {
            assertEquals(List.of(), kernelView.toList(), "nothing reached the kernel's directory (no unmount at exit)");
        }
    }

    /** The acknowledged keys a restarted server (with the agent) does not have. */
    private List<String> missingAfterRestart(Path aofDirectory, List<String> acknowledged) throws Exception {
        Process restarted = startRedis(aofDirectory, "everysec");
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", awaitPort(restarted)), 5000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            List<String> missing = new ArrayList<>();
            for (String key : acknowledged) {
                out.write(command("GET", key));
                out.flush();
                if (readLine(in).equals("$-1")) {
                    missing.add(key);
                    continue;
                }
                assertEquals("value-" + key.substring(4), readLine(in), key);
            }
            return missing;
        } finally {
            restarted.destroyForcibly();
            restarted.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static int acknowledged(List<String> keys) {
        synchronized (keys) {
            return keys.size();
        }
    }

    private Process startRedis(Path aofDirectory) throws IOException {
        return startRedis(aofDirectory, "always");
    }

    private Process startRedis(Path aofDirectory, String appendFsync) throws IOException {
        String samples = Path.of(RedisServer.class.getProtectionDomain().getCodeSource().getLocation().getPath())
                .toString();
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-javaagent:" + ChildJvm.AGENT_JAR + "=" + storageAgent(aofDirectory),
                "-Darrakis.shm.socket=" + directory.resolve("control.sock"),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx256m", "-cp", samples,
                RedisServer.class.getName(), "--port", "0", "--appendonly", "yes", "--appendfsync", appendFsync,
                "--dir", aofDirectory.toString());
        return new ProcessBuilder(command).redirectErrorStream(true).start();
    }

    private static int awaitPort(Process server) throws IOException {
        return awaitPort(server, null);
    }

    /** The port the server announces; every line it prints (to its end) goes to {@code output} unless null. */
    private static int awaitPort(Process server, List<String> output) throws IOException {
        BufferedReader lines = new BufferedReader(new InputStreamReader(server.getInputStream(),
                StandardCharsets.UTF_8));
        List<String> seen = new ArrayList<>();
        for (String line; (line = lines.readLine()) != null; ) {
            seen.add(line);
            if (output != null) {
                output.add(line);
            }
            Matcher ready = READY.matcher(line);
            if (ready.find()) {
                Thread.ofPlatform().daemon().start(() -> drain(lines, output));
                return Integer.parseInt(ready.group(1));
            }
        }
        throw new AssertionError("the server ended before it was ready: " + String.join("\n", seen));
    }

    private static void drain(BufferedReader lines, List<String> output) {
        try {
            for (String line; (line = lines.readLine()) != null; ) {
                if (output != null) { // else only keep the pipe from filling
                    output.add(line);
                }
            }
            if (output != null) {
                output.add(END_OF_OUTPUT);
            }
        } catch (IOException ignored) {
            // the server is gone
        }
    }

    private static byte[] set(String key, String value) {
        return command("SET", key, value);
    }

    private static byte[] command(String... words) {
        StringBuilder resp = new StringBuilder("*").append(words.length).append("\r\n");
        for (String word : words) {
            resp.append('$').append(word.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(word)
                    .append("\r\n");
        }
        return resp.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int b; (b = in.read()) >= 0; ) {
            if (b == '\n') {
                int end = line.length() - 1;
                return end >= 0 && line.charAt(end) == '\r' ? line.substring(0, end) : line.toString();
            }
            line.append((char) b);
        }
        throw new IOException("connection closed after '" + line + "'");
    }

    @Test
    void aSecondProcessCannotMountAVsaInUse() throws Exception {
        Path mount = directory.resolve("data");
        Process holder = startRedis(mount);
        try {
            awaitPort(holder);
            ChildJvm.Result second = new ChildJvm(directory).agent(storageAgent(mount))
                    .option("--enable-native-access=ALL-UNNAMED")
                    .run(StorageMain.class, mount.toString(), directory.resolve("outside.txt").toString(), "x");
            String errors = String.join("\n", second.stderr());
            assertTrue(errors.contains("mounted by another process") && errors.contains("data.vsa"), second.describe());
            assertEquals("sun.nio.ch.FileChannelImpl", second.value("channel"), "not mounted: the kernel's");
            assertFalse(errors.contains("Exception in thread"), second.describe());
        } finally {
            holder.destroyForcibly();
            holder.waitFor(10, TimeUnit.SECONDS);
        }
    }
}

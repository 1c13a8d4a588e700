package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.agent.child.VsaWriterMain;
import io.arrakis.cli.Arrakis;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlPlaneConfig;
import io.arrakis.control.VsaRegistry;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code arrakis status} and {@code arrakis stat} on a VSA the control plane allocated: a child JVM
 * mounts it with {@code storage.vsa=control:<socket>#<name>} and writes a known number of bytes
 * with {@code force()}; status names the VSA with its holder (pid, main class, backend), stat's
 * write counters move by at least what was written, and once the child is killed status shows
 * the VSA free.
 */
@Tag("agent-jar")
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VsaOpsTest {
    private static final String VSA = "opsdata";
    private static final int WRITTEN = 300_000;

    @TempDir
    Path directory;

    record Result(int status, String out, String err) {}

    private static Result arrakis(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Arrakis.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Runs the command until {@code done} accepts it (files are published every 100 ms), at most 15 s. */
    private static Result eventually(Predicate<Result> done, String... args) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
            Result result = arrakis(args);
            if (done.test(result) || System.nanoTime() - deadline > 0) {
                return result;
            }
            Thread.sleep(50);
        }
    }

    /** The object of {@code json}'s array {@code array} whose {@code key} is {@code name} (flat but for "counters"). */
    private static String entry(String json, String key, String name) {
        Matcher m = Pattern.compile("\\{\"" + key + "\":\"" + Pattern.quote(name) + "\"(?:[^{}]|\\{[^{}]*\\})*\\}")
                .matcher(json);
        return m.find() ? m.group() : null;
    }

    private static long number(String object, String field) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(field) + "\":(-?\\d+)").matcher(object);
        assertTrue(m.find(), field + " in " + object);
        return Long.parseLong(m.group(1));
    }

    private static long bytesWritten(Result stat) {
        String vsa = entry(stat.out(), "vsa", VSA);
        return vsa == null || !vsa.contains("\"vsa.BYTES_WRITTEN\"") ? -1 : number(vsa, "vsa.BYTES_WRITTEN");
    }

    @Test
    void statusAndStatShowAMountedControlPlaneVsaItsWritesAndThenThatItIsFree() throws Exception {
        Path socket = directory.resolve("control.sock");
        Path mount = directory.resolve("data");
        try (ControlPlane plane = ControlPlane.startEmbedded(ControlPlaneConfig.withSubnet(socket, "198.18.14.0/24"),
                new VsaRegistry.Settings(directory.resolve("vsas"), null))) {
            List<String> command = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-javaagent:" + ChildJvm.AGENT_JAR + "=storage.mount=" + mount + ",storage.vsa=control:" + socket
                            + "#" + VSA + ",storage.size=16m,storage.backend=file,route=,loopback=false",
                    "--enable-native-access=ALL-UNNAMED", "-cp", ChildJvm.TEST_CLASSES.toString(),
                    VsaWriterMain.class.getName(), mount.toString()));
            Process child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            long pid = child.pid();
            try {
                BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(),
                        StandardCharsets.UTF_8));
                assertEquals("ready", line(lines), "the child mounted the VSA");

                Result status = eventually(r -> r.out().contains("pid " + pid + " " + VsaWriterMain.class.getName()),
                        "status", "--socket", socket.toString());
                assertEquals(0, status.status(), status.err());
                String row = status.out().lines().filter(l -> l.trim().startsWith(VSA + " ")).reduce((a, b) -> b)
                        .orElse("");
                assertTrue(row.contains("file") && row.contains("16777216 bytes")
                        && row.contains("pid " + pid + " " + VsaWriterMain.class.getName()), status.out());

                Result json = arrakis("status", "--socket", socket.toString(), "--json");
                assertEquals(0, json.status(), json.err());
                String vsa = entry(json.out(), "name", VSA);
                assertNotNull(vsa, json.out());
                assertEquals(pid, number(vsa, "pid"), vsa);
                assertTrue(vsa.contains("\"free\":false") && vsa.contains("\"backend\":\"file\"")
                        && vsa.contains("\"mainClass\":\"" + VsaWriterMain.class.getName() + "\""), vsa);

                Result before = eventually(r -> bytesWritten(r) >= 0, "stat", "--socket", socket.toString(), "--json");
                long writtenBefore = bytesWritten(before);
                assertTrue(writtenBefore >= 0, "stat --json has the VSA's counters: " + before.out() + before.err());
                OutputStream in = child.getOutputStream();
                in.write(("write " + WRITTEN + "\n").getBytes(StandardCharsets.UTF_8));
                in.flush();
                assertEquals("written=" + WRITTEN, line(lines));
                Result after = eventually(r -> bytesWritten(r) - writtenBefore >= WRITTEN, "stat", "--socket",
                        socket.toString(), "--json");
                String counters = entry(after.out(), "vsa", VSA);
                assertTrue(bytesWritten(after) - writtenBefore >= WRITTEN, "the VSA's bytes written moved by at least "
                        + WRITTEN + " from " + writtenBefore + ": " + counters);
                assertTrue(number(counters, "vsa.WRITES") >= 1 && number(counters, "vsa.FLUSHES") >= 1, counters);
                assertEquals(0, number(counters, "vsa.ERRORS"), counters);
                Result text = arrakis("stat", VSA, "--socket", socket.toString());
                assertEquals(0, text.status(), text.err());
                assertTrue(text.out().startsWith("VSA " + VSA + "  pid " + pid) && text.out().contains("io: reads"),
                        text.out());
            } finally {
                child.toHandle().destroyForcibly();
                assertTrue(child.waitFor(10, TimeUnit.SECONDS), "child " + pid + " ended when killed");
            }
            Result freed = eventually(r -> {
                String vsa = entry(r.out(), "name", VSA);
                return vsa != null && vsa.contains("\"free\":true");
            }, "status", "--socket", socket.toString(), "--json");
            String vsa = entry(freed.out(), "name", VSA);
            assertTrue(vsa != null && vsa.contains("\"free\":true") && number(vsa, "pid") == 0, freed.out());
            Result text = arrakis("status", "--socket", socket.toString());
            assertTrue(text.out().lines().anyMatch(l -> l.trim().startsWith(VSA + " ") && l.trim().endsWith("free")),
                    text.out());
        }
    }

    /** The child's next line of output, waiting at most 30 s. */
    private static String line(BufferedReader lines) throws Exception {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return lines.readLine();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).get(30, TimeUnit.SECONDS);
    }
}

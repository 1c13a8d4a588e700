package io.arrakis.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/arrakis} itself, in child processes: it finds a JDK, runs the tool, passes the exit
 * status through; {@code control start} leaves a daemon that {@code control stop} ends. The
 * launcher gets this JVM's class path ({@code ARRAKIS_CLASSPATH}), since the shaded jar is only
 * built after the tests.
 */
class LauncherTest {
    private static final Path LAUNCHER = Path.of(System.getProperty("user.dir")).resolve("../bin/arrakis").normalize();

    @TempDir
    Path directory;

    record Run(int status, String out, String err) {}

    static Run launcher(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(LAUNCHER.toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().put("ARRAKIS_CLASSPATH", System.getProperty("java.class.path"));
        builder.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Path out = Files.createTempFile("arrakis-launcher", ".out");
        Path err = Files.createTempFile("arrakis-launcher", ".err");
        try {
            Process process = builder.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("bin/arrakis " + String.join(" ", args) + " did not finish within 60 s");
            }
            return new Run(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    @Test
    void theLauncherStartsADaemonThatStatusSeesAndStopEnds() throws Exception {
        assertTrue(Files.isExecutable(LAUNCHER), LAUNCHER + " is executable");
        String socket = directory.resolve("control.sock").toString();
        Optional<ProcessHandle> daemon = Optional.empty();
        try {
            Run start = launcher("control", "start", "--socket", socket, "--subnet", "198.18.13.0/24");
            assertEquals(0, start.status(), start.err());
            Matcher started = Pattern.compile("started: pid (\\d+) on " + Pattern.quote(socket)).matcher(start.out());
            assertTrue(started.find(), start.out());
            daemon = ProcessHandle.of(Long.parseLong(started.group(1)));
            assertTrue(daemon.isPresent() && daemon.get().isAlive(), "the daemon outlives the command that started it");
            assertTrue(daemon.get().pid() != ProcessHandle.current().pid());

            Run status = launcher("control", "status", "--socket", socket);
            assertEquals(0, status.status(), status.err());
            assertTrue(status.out().contains("control plane pid " + daemon.get().pid() + " on " + socket
                    + ", subnet 198.18.13.0/24"), status.out());

            Run unknown = launcher("control", "rate", "nosuch", "1M", "--socket", socket);
            assertEquals(1, unknown.status());
            assertEquals(1, unknown.err().lines().count(), unknown.err());
            assertTrue(unknown.err().startsWith("arrakis: no VNIC named nosuch"), unknown.err());

            Run stop = launcher("control", "stop", "--socket", socket);
            assertEquals(0, stop.status(), stop.err());
            assertFalse(ControlCommands.Stop.isRunning(daemon.get().pid()), "stop returns once the daemon has exited");
            assertTrue(Files.readString(Path.of(socket + ".log")).contains("listening on " + socket),
                    "the daemon's output went to its log");

            Run gone = launcher("control", "status", "--socket", socket);
            assertEquals(1, gone.status());
            assertEquals(1, gone.err().lines().count(), gone.err());
            assertTrue(gone.err().contains("no control plane answers on " + socket), gone.err());

            Run usage = launcher("control", "rate");
            assertEquals(2, usage.status(), usage.err());
        } finally {
            // Whatever failed above, the daemon goes, by its own pid.
            daemon.filter(d -> ControlCommands.Stop.isRunning(d.pid())).ifPresent(ProcessHandle::destroyForcibly);
        }
    }
}

package io.arrakis.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlPlaneConfig;
import io.arrakis.control.ShmVnic;
import io.arrakis.control.ShmVnicBackend;
import io.arrakis.device.DeviceBackends;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.RateLimit;
import io.arrakis.device.VnicConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code arrakis} commands run in this JVM against control planes the tests start. */
class ArrakisTest {
    @TempDir
    Path directory;

    /** What one command line printed and returned. */
    record Result(int status, String out, String err) {
        /** The error output is exactly one line. */
        boolean oneLineError() {
            return err.endsWith("\n") && err.indexOf('\n') == err.length() - 1 && err.startsWith("arrakis: ");
        }
    }

    static Result arrakis(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Arrakis.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static ShmVnic attach(Path socket, String name) throws IOException {
        return (ShmVnic) DeviceBackends.vnicBackend(ShmVnicBackend.NAME).open(new VnicConfig(name, 1, 256, 2048,
                Map.of(ShmVnicBackend.OPTION_SOCKET, socket.toString(), ShmVnicBackend.OPTION_EMBEDDED, "false")));
    }

    @Test
    void statusShowsVnicsWithOwnersAddressesListenersRatesAndCounters() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(
                ControlPlaneConfig.withSubnet(directory.resolve("control.sock"), "198.18.11.0/24"));
                ShmVnic web = attach(plane.socketPath(), "web");
                ShmVnic cache = attach(plane.socketPath(), "cache")) {
            String socket = plane.socketPath().toString();
            web.announceListener(FlowFilter.Protocol.TCP, 8080);
            web.setRateLimit(new RateLimit(1_000_000, 0, 0, 0));

            Result text = arrakis("control", "status", "--socket", socket);
            assertEquals(0, text.status(), text.err());
            String pid = Long.toString(ProcessHandle.current().pid());
            assertTrue(text.out().contains("subnet 198.18.11.0/24: 2 VNICs, 2 channels"), text.out());
            assertTrue(text.out().matches("(?s).*web +pid " + pid + " .*" + Ipv4Text.format(web.address())
                    + " +rate 1000000 B/s.*"), text.out());
            assertTrue(text.out().contains("listening: tcp/8080"), text.out());
            assertTrue(text.out().matches("(?s).*cache +pid " + pid + " .*rate unlimited.*"), text.out());

            Result json = arrakis("control", "status", "--json", "--socket", socket);
            assertEquals(0, json.status(), json.err());
            assertTrue(json.out().startsWith("{\"pid\":" + pid + ",\"socket\":\"" + socket
                    + "\",\"subnet\":\"198.18.11.0/24\",\"attaches\":2,\"detaches\":0,\"vnics\":[{\"id\":"), json.out());
            assertTrue(json.out().contains("\"name\":\"web\",\"pid\":" + pid), json.out());
            assertTrue(json.out().contains("\"address\":\"" + Ipv4Text.format(web.address()) + "\",\"rateLimit\":"
                    + "{\"bytesPerSecond\":1000000,\"packetsPerSecond\":0,\"burstBytes\":0,\"burstPackets\":0},"
                    + "\"listeners\":[{\"protocol\":\"tcp\",\"port\":8080}]"), json.out());
            assertTrue(json.out().endsWith("]}\n") && json.out().contains("\"channels\":[{\"from\":"), json.out());
        }
    }

    @Test
    void rateSetsAndLiftsAVnicsLimitAtRunTime() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic vnic = attach(plane.socketPath(), "v")) {
            String socket = plane.socketPath().toString();
            Result set = arrakis("control", "rate", "v", "2M", "500", "--socket", socket);
            assertEquals(0, set.status(), set.err());
            assertEquals("VNIC v: rate limit 2,000,000 B/s, 500 packets/s\n", set.out());
            awaitLimit(vnic, new RateLimit(2_000_000, 500, 0, 0));

            assertEquals(0, arrakis("control", "rate", "v", "unlimited", "1k", "--socket", socket).status());
            awaitLimit(vnic, new RateLimit(0, 1_000, 0, 0));

            Result lifted = arrakis("control", "rate", "--socket=" + socket, "v", "unlimited");
            assertEquals(0, lifted.status(), lifted.err());
            assertEquals("VNIC v: rate limit lifted (unlimited)\n", lifted.out());
            awaitLimit(vnic, RateLimit.UNLIMITED);
            assertEquals(RateLimit.UNLIMITED, plane.status().vnic("v").rateLimit());
        }
    }

    @Test
    void anUnknownVnicAndAMissingControlPlaneGiveOneLineErrors() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic vnic = attach(plane.socketPath(), "present")) {
            Result unknown = arrakis("control", "rate", "absent", "1000", "--socket", plane.socketPath().toString());
            assertEquals(1, unknown.status());
            assertTrue(unknown.oneLineError(), unknown.err());
            assertTrue(unknown.err().contains("no VNIC named absent") && unknown.err().contains("it has: present"),
                    unknown.err());
            assertEquals(RateLimit.UNLIMITED, vnic.rateLimit(), "nothing changed");
        }
        String nowhere = directory.resolve("nobody-here.sock").toString();
        for (String[] command : new String[][] {{"control", "status", "--socket", nowhere},
            {"control", "stop", "--socket", nowhere}, {"control", "rate", "v", "1M", "--socket", nowhere}}) {
            Result missing = arrakis(command);
            assertEquals(1, missing.status(), String.join(" ", command));
            assertTrue(missing.oneLineError(), missing.err());
            assertTrue(missing.err().contains("no control plane answers on " + nowhere)
                    && missing.err().contains("start one with: arrakis control start"), missing.err());
        }
    }

    @Test
    void usageErrorsSayWhatIsWrongAndExitWithTwo() {
        String[][] wrong = {
            {"control", "rate", "v"}, {"control", "rate", "v", "0"}, {"control", "rate", "v", "12q"},
            {"control", "rate", "v", "1M", "-5"}, {"control", "rate", "a", "1", "2", "3"}, {"control", "frob"},
            {"frob"}, {"control", "status", "--bogus"}, {"control", "status", "--socket"},
            {"control", "start", "--subnet", "198.18.0.1/24"}, {"control", "start", "--subnet", "198.18.0.0/31"}};
        for (String[] command : wrong) {
            Result result = arrakis(command);
            assertEquals(2, result.status(), String.join(" ", command) + ": " + result.err());
            assertTrue(result.oneLineError(), String.join(" ", command) + ": " + result.err());
        }
        assertTrue(arrakis("control", "rate", "v", "0").err().contains("use 'unlimited'"));
        assertTrue(arrakis("control", "start", "--subnet", "198.18.0.1/24").err().contains("did you mean 198.18.0.0/24"));
        assertTrue(arrakis("control", "frob").err().contains("known: start, stop, status, rate"));

        Result help = arrakis("control", "rate", "--help");
        assertEquals(0, help.status());
        assertTrue(help.out().startsWith("usage: arrakis control rate <vnic> <bytes/s|unlimited> [packets/s]"),
                help.out());
        Result listing = arrakis("--help");
        assertEquals(0, listing.status());
        assertTrue(listing.out().contains("control"), listing.out());
    }

    @Test
    void startInTheForegroundRefusesASecondAndStopsWhenAsked() throws Exception {
        Path socket = directory.resolve("fg.sock");
        CompletableFuture<Result> foreground = CompletableFuture.supplyAsync(() -> arrakis("control", "start",
                "--foreground", "--socket", socket.toString(), "--subnet", "198.18.12.0/24"));
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                try (ControlClient client = ControlClient.connect(socket)) {
                    assertEquals("198.18.12.0/24", client.status().subnet());
                    break;
                } catch (ControlClient.NotRunningException notYet) {
                    assertTrue(System.nanoTime() < deadline, "the foreground control plane did not start");
                    Thread.sleep(10);
                }
            }
            Result second = arrakis("control", "start", "--socket", socket.toString());
            assertEquals(1, second.status());
            assertTrue(second.oneLineError() && second.err().contains("already runs on " + socket), second.err());

            Result stop = arrakis("control", "stop", "--socket", socket.toString());
            assertEquals(0, stop.status(), stop.err());
            assertTrue(stop.out().contains("stopped"), stop.out());
            assertEquals(0, foreground.get(20, TimeUnit.SECONDS).status(), "start --foreground returned after stop");
            assertTrue(Files.notExists(socket), "the socket was removed");
        } finally {
            if (!foreground.isDone()) {
                try (ControlClient client = ControlClient.connect(socket)) {
                    client.shutdown();
                } catch (IOException ignored) {
                    // Not running: nothing to stop.
                }
            }
        }
    }

    @Test
    void stopEndsAnEmbeddedControlPlaneAndItsHostGoesOn() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"))) {
            Result stop = arrakis("control", "stop", "--socket", plane.socketPath().toString());
            assertEquals(0, stop.status(), stop.err());
            assertEquals("arrakis control plane pid " + ProcessHandle.current().pid() + " on " + plane.socketPath()
                    + " stopped\n", stop.out());
            assertThrows(IOException.class, plane::status);
        }
    }

    @Test
    void anExitedButUnreapedProcessCountsAsStopped() throws Exception {
        // The child's child exits at once; the child never waits for it (exec replaces the shell), so it stays a zombie.
        Process parent = new ProcessBuilder("bash", "-c", "sleep 0.01 & echo $!; exec sleep 10").start();
        try {
            long zombie = Long.parseLong(new java.io.BufferedReader(new java.io.InputStreamReader(
                    parent.getInputStream(), StandardCharsets.UTF_8)).readLine().strip());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (ControlCommands.Stop.isRunning(zombie)) {
                assertTrue(System.nanoTime() < deadline, "process " + zombie + " never became a zombie");
                Thread.sleep(5);
            }
            assertTrue(ProcessHandle.of(zombie).map(ProcessHandle::isAlive).orElse(false),
                    "the JDK still calls the zombie alive, which is why stop reads /proc");
            assertTrue(ControlCommands.Stop.isRunning(parent.pid()));
            assertTrue(!ControlCommands.Stop.isRunning(Integer.MAX_VALUE), "no such process");
        } finally {
            parent.destroyForcibly();
            parent.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static void awaitLimit(ShmVnic vnic, RateLimit expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!vnic.rateLimit().equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertEquals(expected, vnic.rateLimit());
    }
}

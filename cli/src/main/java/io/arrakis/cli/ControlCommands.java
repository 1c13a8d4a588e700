package io.arrakis.cli;

import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlPlane;
import io.arrakis.control.ControlPlaneConfig;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.RateLimit;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * {@code arrakis control start|stop|status|rate}: the control plane as a daemon, its status, and
 * its rate limits. Every subcommand takes {@code --socket PATH} (default
 * {@link ControlPlane#defaultSocketPath()}).
 */
final class ControlCommands {
    static final String SOCKET = "--socket";
    private static final long START_PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(20);
    private static final long STOP_PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(15);
    private static final String NOT_RUNNING_HINT = "; start one with: arrakis control start";

    private ControlCommands() {}

    static CommandGroup group() {
        return new CommandGroup("control", "the control plane: start, stop, status, rate limits",
                List.of(new Start(), new Stop(), new Status(), new Rate()));
    }

    static Path socket(Arguments arguments) {
        String given = arguments.value(SOCKET, null);
        return given != null ? Path.of(given).toAbsolutePath().normalize() : ControlPlane.defaultSocketPath();
    }

    /** Connects, or fails with the one line that says none runs there and how to start one. */
    static ControlClient connect(Path socket) throws IOException {
        try {
            return ControlClient.connect(socket);
        } catch (ControlClient.NotRunningException e) {
            throw new IOException(e.getMessage() + NOT_RUNNING_HINT, e);
        }
    }

    /** The status of the control plane at {@code socket}, or empty if none answers there. */
    static Optional<ControlStatus> statusIfRunning(Path socket) throws IOException {
        try (ControlClient client = ControlClient.connect(socket)) {
            return Optional.of(client.status());
        } catch (ControlClient.NotRunningException e) {
            return Optional.empty();
        }
    }

    /** {@code control start}: a daemon (a JVM of its own, detached), or this process with {@code --foreground}. */
    static final class Start implements Command {
        @Override
        public String name() {
            return "start";
        }

        @Override
        public String summary() {
            return "start the control plane as a daemon (its output goes to <socket>.log), or in this process with"
                    + " --foreground";
        }

        @Override
        public String usage() {
            return "[--socket PATH] [--subnet a.b.c.d/n] [--foreground]";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Arguments arguments = Arguments.parse(words, Set.of(SOCKET, "--subnet"), Set.of("--foreground"))
                    .expectPositional(0, 0);
            Path socket = socket(arguments);
            String subnet = arguments.value("--subnet", ControlPlaneConfig.DEFAULT_SUBNET);
            ControlPlaneConfig config;
            try {
                config = ControlPlaneConfig.withSubnet(socket, subnet);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            Optional<ControlStatus> running = statusIfRunning(socket);
            if (running.isPresent()) {
                throw new IOException("a control plane already runs on " + socket + " (pid " + running.get().pid()
                        + ", subnet " + running.get().subnet() + "); stop it first with: arrakis control stop");
            }
            if (arguments.flag("--foreground")) {
                ControlPlane.runInForeground(config);
                return 0;
            }
            return startDaemon(config, console);
        }

        private static int startDaemon(ControlPlaneConfig config, Console console) throws IOException {
            Path socket = config.socket();
            ControlPlane.prepareSocketDirectory(socket);
            Path log = socket.resolveSibling(socket.getFileName() + ".log");
            String java = ProcessHandle.current().info().command()
                    .orElseThrow(() -> new IOException("cannot tell which java binary runs this command"));
            List<String> command = new ArrayList<>();
            // A session of its own: no controlling terminal, so closing this one does not stop it.
            if (new File("/usr/bin/setsid").canExecute()) {
                command.add("/usr/bin/setsid");
            }
            command.addAll(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx64m",
                    "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"), Arrakis.class.getName(),
                    "control", "start", "--foreground", SOCKET, socket.toString(), "--subnet", config.subnetText()));
            Process daemon = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            long deadline = System.nanoTime() + START_PATIENCE_NANOS;
            while (true) {
                Optional<ControlStatus> status = statusIfRunning(socket);
                if (status.isPresent()) {
                    console.out().println("arrakis control plane started: pid " + status.get().pid() + " on " + socket
                            + ", subnet " + status.get().subnet() + " (log: " + log + ")");
                    return 0;
                }
                if (!daemon.isAlive()) {
                    throw new IOException("the control plane exited with status " + daemon.exitValue()
                            + " before it answered on " + socket + "; its log " + log + " ends with: " + lastLine(log));
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new IOException("the control plane (pid " + daemon.pid() + ") did not answer on " + socket
                            + " within " + TimeUnit.NANOSECONDS.toSeconds(START_PATIENCE_NANOS) + " s; see " + log);
                }
                sleep(20);
            }
        }

        private static String lastLine(Path log) {
            try {
                List<String> lines = Files.readAllLines(log);
                return lines.isEmpty() ? "(nothing)" : lines.getLast();
            } catch (IOException e) {
                return "(unreadable: " + e.getMessage() + ")";
            }
        }
    }

    /** {@code control stop}: asks the control plane to stop and waits until it no longer answers. */
    static final class Stop implements Command {
        @Override
        public String name() {
            return "stop";
        }

        @Override
        public String summary() {
            return "stop the control plane (attached processes keep their channels; nobody new can join)";
        }

        @Override
        public String usage() {
            return "[--socket PATH]";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Path socket = socket(Arguments.parse(words, Set.of(SOCKET), Set.of()).expectPositional(0, 0));
            int pid;
            try (ControlClient client = connect(socket)) {
                pid = client.status().pid();
                client.shutdown();
            }
            // A daemon started by `control start` exits once its loop ends; an embedded one's JVM goes on.
            boolean daemon = isOurDaemon(pid);
            long deadline = System.nanoTime() + STOP_PATIENCE_NANOS;
            while (statusIfRunning(socket).isPresent() || (daemon && isRunning(pid))) {
                if (System.nanoTime() - deadline > 0) {
                    throw new IOException("the control plane (pid " + pid + ") on " + socket + " did not stop within "
                            + TimeUnit.NANOSECONDS.toSeconds(STOP_PATIENCE_NANOS) + " s");
                }
                sleep(20);
            }
            console.out().println("arrakis control plane pid " + pid + " on " + socket + " stopped");
            return 0;
        }

        /**
         * Whether {@code pid} runs {@code arrakis control start --foreground}. Read from
         * {@code /proc}: {@code ProcessHandle.Info} gives no arguments for long command lines.
         */
        private static boolean isOurDaemon(int pid) {
            try {
                List<String> args = List.of(new String(Files.readAllBytes(Path.of("/proc", Integer.toString(pid),
                        "cmdline")), StandardCharsets.UTF_8).split("\0"));
                return args.contains(Arrakis.class.getName()) && args.contains("--foreground");
            } catch (IOException e) {
                return false;
            }
        }

        /**
         * Whether {@code pid} still runs: not gone, and not a zombie (an exited daemon stays one
         * until init reaps it, and {@code ProcessHandle.isAlive} counts zombies as alive).
         */
        static boolean isRunning(long pid) {
            try {
                String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
                // "pid (comm) S ...": the state follows the last ')' (comm may hold anything).
                int end = stat.lastIndexOf(')');
                return end < 0 || end + 2 >= stat.length() || stat.charAt(end + 2) != 'Z';
            } catch (IOException e) {
                return false;
            }
        }
    }

    /** {@code control status}: VNICs, owners, addresses, listeners, rate limits, counters, channels. */
    static final class Status implements Command {
        @Override
        public String name() {
            return "status";
        }

        @Override
        public String summary() {
            return "show the VNICs (owner pid, MAC, address, listeners, rate limit, counters) and channels";
        }

        @Override
        public String usage() {
            return "[--socket PATH] [--json]";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Arguments arguments = Arguments.parse(words, Set.of(SOCKET), Set.of("--json")).expectPositional(0, 0);
            try (ControlClient client = connect(socket(arguments))) {
                ControlStatus status = client.status();
                console.out().print(arguments.flag("--json") ? StatusJson.format(status) + "\n" : status.format());
            }
            return 0;
        }
    }

    /** {@code control rate}: sets (or lifts) a VNIC's token-bucket limit at run time. */
    static final class Rate implements Command {
        @Override
        public String name() {
            return "rate";
        }

        @Override
        public String summary() {
            return "set a VNIC's rate limit in bytes/s (k, M, G: powers of 1000) and optionally packets/s, or lift"
                    + " it with 'unlimited'";
        }

        @Override
        public String usage() {
            return "<vnic> <bytes/s|unlimited> [packets/s] [--socket PATH]";
        }

        @Override
        public int run(List<String> words, Console console) throws Exception {
            Arguments arguments = Arguments.parse(words, Set.of(SOCKET), Set.of()).expectPositional(2, 3);
            String vnic = arguments.positional().get(0);
            long bytes = parseRate(arguments.positional().get(1), "bytes/s");
            long packets = arguments.positional().size() > 2 ? parseRate(arguments.positional().get(2), "packets/s") : 0;
            RateLimit limit = new RateLimit(bytes, packets, 0, 0);
            Path socket = socket(arguments);
            try (ControlClient client = connect(socket)) {
                ControlStatus status = client.status();
                if (status.vnic(vnic) == null) {
                    List<String> names = status.vnics().stream().map(ControlStatus.VnicStatus::name).toList();
                    throw new IOException("no VNIC named " + vnic + " on the control plane at " + socket + " ("
                            + (names.isEmpty() ? "it has none" : "it has: " + String.join(", ", names))
                            + "); see: arrakis control status");
                }
                client.setRateLimit(vnic, limit);
            }
            console.out().println("VNIC " + vnic + ": rate limit " + describe(limit));
            return 0;
        }

        /** A positive count, with an optional k/M/G suffix (powers of 1000), or "unlimited" (0). */
        static long parseRate(String text, String unit) throws UsageException {
            if (text.equalsIgnoreCase("unlimited")) {
                return 0;
            }
            long multiplier = 1;
            String digits = text;
            switch (text.isEmpty() ? ' ' : text.charAt(text.length() - 1)) {
                case 'k', 'K' -> multiplier = 1_000;
                case 'm', 'M' -> multiplier = 1_000_000;
                case 'g', 'G' -> multiplier = 1_000_000_000;
                default -> multiplier = 1;
            }
            if (multiplier != 1) {
                digits = text.substring(0, text.length() - 1);
            }
            long value;
            try {
                value = Math.multiplyExact(Long.parseLong(digits), multiplier);
            } catch (NumberFormatException | ArithmeticException e) {
                throw new UsageException(unit + " must be a positive whole number (optionally with k, M or G) or"
                        + " 'unlimited', not '" + text + "'");
            }
            if (value <= 0) {
                throw new UsageException(unit + " must be positive, not '" + text + "'; use 'unlimited' to lift the"
                        + " limit");
            }
            return value;
        }

        static String describe(RateLimit limit) {
            if (limit.isUnlimited()) {
                return "lifted (unlimited)";
            }
            return (limit.bytesPerSecond() > 0 ? String.format(Locale.ROOT, "%,d B/s", limit.bytesPerSecond())
                    : "unlimited B/s") + ", " + (limit.packetsPerSecond() > 0
                    ? String.format(Locale.ROOT, "%,d packets/s", limit.packetsPerSecond()) : "unlimited packets/s");
        }
    }

    private static void sleep(long millis) throws IOException {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }
}

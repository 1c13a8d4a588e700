package io.arrakis.bench.servers;

import io.arrakis.bench.child.ChildProcesses;
import io.arrakis.bench.servers.Scenario.Case;
import io.arrakis.bench.servers.Scenario.DataPath;
import io.arrakis.bench.servers.Scenario.ServerKind;
import io.arrakis.bench.servers.Scenario.ServerSpec;
import io.arrakis.bench.servers.Scenario.Sizes;
import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlStatus;
import io.arrakis.device.DeviceBackends;
import io.arrakis.device.VnicCounter;
import io.arrakis.device.Vsic;
import io.arrakis.storage.VsaFile;
import io.arrakis.storage.log.LogStore;
import io.arrakis.storage.log.RecoveryReport;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Starts the servers of the benchmark (the samples' Java servers with or without the agent, the
 * C ones from Debian) and runs the load generator against them, each in its own process, as the
 * demo does. With the agent, every case checks on the control plane that the server's VNIC
 * received frames (the switch carried the traffic); without it, that the server has no VNIC.
 *
 * <p>Not thread-safe: one benchmark thread drives it.
 */
final class ServerRunner {
    static final String REDIS_MAIN = "io.arrakis.samples.redis.RedisServer";
    static final String MEMCACHED_MAIN = "io.arrakis.samples.memcached.MemcachedServer";
    static final String LOAD_GENERATOR_MAIN = "io.arrakis.samples.loadgen.LoadGenerator";
    private static final Pattern REDIS_READY = Pattern.compile("redis: ready on [^:]+:(\\d+) .*selector ([\\w.$]+)\\)");
    private static final Pattern MEMCACHED_READY = Pattern.compile(
            "memcached: ready on [^:]+:(\\d+) .*selector ([\\w.$]+)\\)");
    private static final Pattern REDIS_C_READY = Pattern.compile("Ready to accept connections");
    private static final long SERVER_START_SECONDS = 30;
    /** The Redis-like server's AOF file name (its {@code AppendOnlyFile.FILE_NAME}, package-private there). */
    static final String AOF_FILE = "appendonly.aof";

    /**
     * Where things are: the agent jar, the class paths of the servers and of the load generator,
     * the embedded control plane's socket, and a private directory for logs and data.
     */
    record Setup(Path agentJar, String samplesClassPath, String loadGeneratorClassPath, Path controlSocket,
            Path workDirectory) {

        static Setup of(Path agentJar, Path samples, Path controlSocket, Path work) throws IOException {
            return new Setup(agentJar, samples.toString(),
                    samples + File.pathSeparator + ChildProcesses.hdrHistogramJar(work), controlSocket, work);
        }

        /** {@code java}, and {@code -javaagent} for the shared-memory switch when {@code agent}. */
        List<String> jvm(boolean agent) {
            return jvm(agent, "");
        }

        /** As {@link #jvm(boolean)}, with {@code moreAgentArguments} ({@code key=value,...}) for the agent. */
        List<String> jvm(boolean agent, String moreAgentArguments) {
            List<String> options = new ArrayList<>(List.of(ChildProcesses.javaCommand(),
                    "--enable-native-access=ALL-UNNAMED"));
            if (agent) {
                options.add(agentOption("banner=false,shm.socket=" + controlSocket + ",shm.embedded=false"
                        + (moreAgentArguments.isEmpty() ? "" : "," + moreAgentArguments)));
            }
            return options;
        }

        String agentOption(String arguments) {
            return "-javaagent:" + agentJar + "=" + arguments;
        }
    }

    /**
     * A started server: its process, port, log, selector provider (Java servers), VNIC (with the
     * agent), and its AOF directory (durable servers; else null).
     */
    record RunningServer(ServerSpec spec, DataPath path, Process process, int port, Path log, String selectorProvider,
            ControlStatus.VnicStatus vnic, Path aofDirectory) {

        /** Whether this server's AOF is on our storage stack (a store placement, on our path). */
        boolean aofOnStore() {
            return spec.durable() != null && spec.durable().onStore() && path == DataPath.AGENT;
        }
    }

    private final Setup setup;
    private final ChildProcesses children;
    private final ControlClient control;
    private int serial;
    private String vsaBytes = Scenario.AofPlacement.VSA_BYTES;

    ServerRunner(Setup setup, ChildProcesses children, ControlClient control) {
        this.setup = setup;
        this.children = children;
        this.control = control;
    }

    Setup setup() {
        return setup;
    }

    /** The size of the VSA image a server with the AOF on our storage gets (agent syntax: 64m, 1g). */
    void vsaBytes(String size) {
        vsaBytes = size;
    }

    ChildProcesses children() {
        return children;
    }

    /** A fresh file name stem in the work directory. */
    String stem(String what) {
        return String.format(Locale.ROOT, "%03d-%s", ++serial, what);
    }

    /** Starts {@code spec}'s server on {@code path} (agent or kernel) and waits until it serves. */
    RunningServer start(ServerSpec spec, DataPath path) throws IOException, InterruptedException {
        if (path == DataPath.AGENT_TAP) {
            throw new IllegalArgumentException("TAP servers are started by the clients scenario");
        }
        boolean agent = path == DataPath.AGENT;
        if (agent && !spec.kind().java()) {
            throw new IllegalArgumentException(spec.kind().description + " cannot run with the agent (not a JVM)");
        }
        String stem = stem(spec.kind().name().toLowerCase(Locale.ROOT) + "-" + path.key);
        Path log = setup.workDirectory().resolve(stem + ".log");
        List<String> command = new ArrayList<>();
        Pattern ready;
        int port = 0;
        Path aof = spec.durable() == null ? null : aofDirectory(spec, stem);
        switch (spec.kind()) {
            case REDIS_JAVA -> {
                command.addAll(setup.jvm(agent, aof == null || !agent ? ""
                        : spec.durable().agentArguments(aof, vsaBytes)));
                command.addAll(List.of("-cp", setup.samplesClassPath(), REDIS_MAIN, "--port", "0"));
                if (aof != null) {
                    command.addAll(List.of("--appendonly", "yes", "--appendfsync", "always", "--dir",
                            aof.toString()));
                }
                ready = REDIS_READY;
            }
            case MEMCACHED_JAVA -> {
                command.addAll(setup.jvm(agent));
                command.addAll(List.of("-cp", setup.samplesClassPath(), MEMCACHED_MAIN, "-p", "0", "-t",
                        Integer.toString(spec.threads()), "-m", "1024"));
                ready = MEMCACHED_READY;
            }
            case REDIS_C -> {
                port = freePort();
                command.addAll(List.of("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
                        "--save", "", "--protected-mode", "no", "--daemonize", "no", "--dir",
                        (aof != null ? aof : aofDirectory(spec, stem)).toString()));
                command.addAll(spec.durable() != null ? List.of("--appendonly", "yes", "--appendfsync", "always")
                        : List.of("--appendonly", "no"));
                ready = REDIS_C_READY;
            }
            case MEMCACHED_C -> {
                port = freePort();
                command.addAll(List.of("memcached", "-p", Integer.toString(port), "-l", "127.0.0.1", "-U", "0", "-t",
                        Integer.toString(spec.threads()), "-m", "1024", "-c", "4096"));
                if (ProcessHandle.current().info().user().orElse("").equals("root")) {
                    command.addAll(List.of("-u", "root")); // memcached refuses to run as root otherwise
                }
                ready = null;
            }
            default -> throw new IllegalStateException();
        }
        Process process;
        try {
            process = children.start(command, setup.workDirectory(), log);
        } catch (IOException e) {
            throw new IOException("cannot start " + spec.kind().description + " (" + command.getFirst() + "): "
                    + e.getMessage() + (spec.kind().java() ? "" : "; ./dev installs it (Debian package "
                    + (spec.kind() == ServerKind.REDIS_C ? "redis-server" : "memcached") + ")"), e);
        }
        boolean ok = false;
        try {
            String provider = null;
            String what = spec.kind().description + " (" + path.description + ")";
            if (ready != null) {
                Matcher matcher = ChildProcesses.awaitLine(process, log, ready, SERVER_START_SECONDS, what);
                if (spec.kind().java()) {
                    port = Integer.parseInt(matcher.group(1));
                    provider = matcher.group(2);
                }
            }
            if (!spec.kind().java()) {
                awaitConnectable(process, port, log, what);
            }
            ControlStatus.VnicStatus vnic = null;
            if (agent) {
                vnic = ChildProcesses.awaitListener(control, process, port);
            } else if (spec.kind().java() && ChildProcesses.serverVnic(control, process) != null) {
                throw new IOException(what + " attached a VNIC without the agent: the kernel path is not the kernel's");
            }
            ok = true;
            return new RunningServer(spec, path, process, port, log, provider, vnic, aof);
        } finally {
            if (!ok) {
                ChildProcesses.stop(process, spec.kind().description, log, false);
            }
        }
    }

    /**
     * Ends a server by its PID; one that died during the cases is an error. A server whose AOF
     * was on our storage then has its VSA image inspected ({@link #inspectStoredAof}) and deleted,
     * with its lock file and mount directory, whatever the inspection found; returns what it
     * found, or null for every other server.
     */
    StoredAof stop(RunningServer server, boolean completed) throws IOException, InterruptedException {
        try {
            ChildProcesses.stop(server.process(), server.spec().kind().description + " (" + server.path().description
                    + ")", server.log(), completed);
            return server.aofOnStore() ? inspectStoredAof(server) : null;
        } finally {
            if (server.aofOnStore()) {
                Path image = Scenario.AofPlacement.image(server.aofDirectory());
                Files.deleteIfExists(image);
                Files.deleteIfExists(image.resolveSibling(image.getFileName() + ".lock"));
                ChildProcesses.deleteRecursively(server.aofDirectory());
            }
        }
    }

    /** What a stopped server left in its VSA: the AOF's size and the log's records, blocks and state. */
    record StoredAof(long aofBytes, long records, long logBytes, boolean clean) {}

    /**
     * Opens the VSA image of a stopped server read-only (as {@code arrakis vsa fsck} does: nothing
     * written) and checks that the AOF is there and not empty and that the log recovers clean:
     * the proof that the server's appends went to our storage stack. Returns what it found.
     */
    StoredAof inspectStoredAof(RunningServer server) throws IOException {
        Path image = Scenario.AofPlacement.image(server.aofDirectory());
        if (!Files.isRegularFile(image)) {
            throw new IOException("the server's AOF was to be on our storage, but its VSA image " + image
                    + " does not exist: the agent did not mount " + server.aofDirectory() + "; its output:\n"
                    + ChildProcesses.tail(server.log()));
        }
        long blocks = Files.size(image) / VsaFile.DEFAULT_BLOCK_SIZE;
        try (Vsic vsic = DeviceBackends.vsicBackend("file").open(LogStore.vsicConfig(image.toString(), blocks,
                Map.of(VsaFile.OPTION_PATH, image.toString(), VsaFile.OPTION_CREATE, "false")));
                LogStore store = LogStore.openReadOnly(vsic)) {
            if (!store.list().contains(AOF_FILE)) {
                throw new IOException("the VSA image " + image + " holds no " + AOF_FILE + " (files: " + store.list()
                        + "): the server's AOF did not go to our storage");
            }
            long size = store.open(AOF_FILE, false).size();
            RecoveryReport recovery = store.recovery();
            StoredAof found = new StoredAof(size, recovery.recordsReplayed(), recovery.endOffset(), recovery.clean());
            if (size == 0 || !found.clean()) {
                throw new IOException("the VSA image " + image + " holds " + AOF_FILE + " of " + size + " bytes and"
                        + " recovers " + (found.clean() ? "clean" : "not clean: " + recovery) + "; expected a non-empty"
                        + " AOF and a clean log after the server's orderly stop");
            }
            return found;
        }
    }

    /**
     * Warms a freshly started Java server up (its JIT, and with the agent its stack's): one load
     * generator run of {@code sizes.warmupSeconds()}, GET:SET 1:1 at 10 connections x pipeline
     * 4, every reply checked, nothing recorded. Without it the first case after each start would
     * measure a cold server; the load generator's own warm-up is too short for both JVMs.
     */
    void warmUp(RunningServer server, Sizes sizes) throws IOException, InterruptedException {
        if (!server.spec().kind().java() || sizes.warmupSeconds() <= 0) {
            return;
        }
        Case warmUp = new Case("warm-up", "warm-up", server.spec(), new Scenario.Load(1, 1, 10, 4));
        runLoadGenerator(server, warmUp, 0, new Sizes(sizes.name(), 1, 0, sizes.warmupSeconds(), sizes.keys(),
                sizes.valueSize(), 0, 0));
    }

    /**
     * Runs one load generator process for {@code c} against {@code server}, with the agent when
     * the server has it, and returns what it measured; any wrong reply fails the case.
     */
    Measurement runLoadGenerator(RunningServer server, Case c, int repetition, Sizes sizes)
            throws IOException, InterruptedException {
        boolean agent = server.path() == DataPath.AGENT;
        String stem = stem(c.name() + "-" + server.path().key + "-r" + repetition);
        Path json = setup.workDirectory().resolve(stem + ".json");
        Path log = setup.workDirectory().resolve(stem + ".log");
        List<String> command = new ArrayList<>(setup.jvm(agent));
        command.addAll(List.of("-cp", setup.loadGeneratorClassPath(), LOAD_GENERATOR_MAIN,
                "--protocol", server.spec().kind().resp() ? "resp" : "memcache",
                "--host", "127.0.0.1", "--port", Integer.toString(server.port()),
                "--connections", Integer.toString(c.load().connections()),
                "--pipeline", Integer.toString(c.load().pipeline()),
                "--ratio", c.load().gets() + ":" + c.load().sets(),
                "--keys", Integer.toString(sizes.keys()), "--value-size", Integer.toString(sizes.valueSize()),
                "--warmup", Double.toString(sizes.warmupSeconds()),
                "--duration", Double.toString(sizes.durationSeconds()), "--json", json.toString()));
        ControlStatus.VnicStatus before = agent ? ChildProcesses.serverVnic(control, server.process()) : null;
        long framesIn = before == null ? 0 : before.counter(VnicCounter.RX_PACKETS);
        long framesOut = before == null ? 0 : before.counter(VnicCounter.TX_PACKETS);
        Process load = children.start(command, setup.workDirectory(), log);
        long patience = (long) Math.ceil(sizes.warmupSeconds() + sizes.durationSeconds()) + 90;
        ChildProcesses.awaitExit(load, patience, "the load generator (" + stem + ")", log);
        if (load.exitValue() != 0 || !Files.exists(json)) {
            throw new IOException("the load generator (" + stem + ") failed with exit status " + load.exitValue()
                    + " (1: wrong or failed replies); its output:\n" + ChildProcesses.tail(log)
                    + "\nthe server's output:\n" + ChildProcesses.tail(server.log()));
        }
        if (server.aofOnStore() && Files.exists(server.aofDirectory().resolve(AOF_FILE))) {
            throw new IOException("the server's AOF was to be on our storage, but " + server.aofDirectory()
                    .resolve(AOF_FILE) + " is on the kernel's file system after " + stem + ": the agent did not mount"
                    + " the directory; the server's output:\n" + ChildProcesses.tail(server.log()));
        }
        if (!server.process().isAlive()) {
            throw new IOException("the server (pid " + server.process().pid() + ") ended during " + stem
                    + "; its output:\n" + ChildProcesses.tail(server.log()));
        }
        long in = 0;
        long out = 0;
        if (agent) {
            ControlStatus.VnicStatus after = ChildProcesses.serverVnic(control, server.process());
            if (after == null) {
                throw new IOException("the server with the agent (pid " + server.process().pid()
                        + ") no longer has a VNIC after " + stem);
            }
            in = after.counter(VnicCounter.RX_PACKETS) - framesIn;
            out = after.counter(VnicCounter.TX_PACKETS) - framesOut;
            if (in == 0 || out == 0) {
                throw new IOException("with the agent, the server's VNIC " + after.name() + " counted " + in
                        + " frames in and " + out + " out during " + stem + ": the switch did not carry the"
                        + " traffic, so this is not our path");
            }
        }
        try {
            return Measurement.fromLoadGenerator(server.path(), repetition, Files.readString(json), in, out);
        } catch (IllegalArgumentException e) {
            throw new IOException("cannot read the load generator's results " + json + ": " + e.getMessage(), e);
        }
    }

    private Path aofDirectory(ServerSpec spec, String stem) throws IOException {
        // AofPlacement.TMP: the work directory is under java.io.tmpdir (/tmp), on both paths.
        return Files.createDirectories(setup.workDirectory().resolve(stem + "-data"));
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket.getLocalPort();
        }
    }

    /** Waits until a kernel TCP connection to the port succeeds (the C servers print nothing useful when ready). */
    private static void awaitConnectable(Process process, int port, Path log, String what)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + SERVER_START_SECONDS * 1_000_000_000L;
        IOException last = null;
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException(what + " (pid " + process.pid() + ") ended with exit status "
                        + process.exitValue() + " before it accepted connections; its output:\n"
                        + ChildProcesses.tail(log));
            }
            try (SocketChannel probe = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
                return;
            } catch (IOException e) {
                last = e;
            }
            Thread.sleep(20);
        }
        throw new IOException(what + " accepted no connection on 127.0.0.1:" + port + " within " + SERVER_START_SECONDS
                + " s (" + (last == null ? "" : last.getMessage()) + "); its output:\n" + ChildProcesses.tail(log));
    }
}

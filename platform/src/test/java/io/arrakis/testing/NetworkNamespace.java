package io.arrakis.testing;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Linux network namespace for one test, driven with {@code ip} (iproute2): created by
 * {@link #create()}, used with {@link #ip}, {@link #exec} and the helpers, and removed, with
 * every link it created and every process it started, by {@link #close()}. Needs root (or
 * CAP_SYS_ADMIN and CAP_NET_ADMIN). Self-contained: only the JDK and {@code ip}.
 *
 * <p>Rules it keeps, so that tests can run on a developer's machine and in parallel JVMs:
 * <ul>
 * <li>It never touches the host's interfaces or addresses: it creates links only as veth pairs
 *     (made atomically, one end already inside the namespace) and deletes only links it created.
 *     Interfaces tests move in ({@link #moveLink}) go where the kernel sends them when the
 *     namespace goes: a TAP or veth is destroyed, a physical device returns to the host.
 * <li>Addresses it assigns must be in {@code 198.18.0.0/15} (RFC 2544 benchmarking space),
 *     which no real network uses: {@link #addAddress} refuses anything else.
 * <li>Names are unique per JVM run and per namespace: {@code arktest-<pid>-<start>-<n>}, where
 *     {@code <start>} is the JVM's start time (base 36 milliseconds). The first {@link #create()}
 *     in a JVM removes leftovers of crashed runs: namespaces with the prefix whose process is gone
 *     or has another start time (its PID was reused), and links with {@link #LINK_PREFIX} of such
 *     a process. Namespaces of other live test JVMs are left alone.
 * <li>Every wait is bounded ({@link #COMMAND_TIMEOUT}); a process that overruns is ended, with
 *     whatever it started, each by its own PID.
 * </ul>
 * Thread-safe for the commands; {@link #close()} is idempotent.
 */
public final class NetworkNamespace implements AutoCloseable {
    /** Every namespace this class creates is named with this prefix. */
    public static final String PREFIX = "arktest-";
    /** Every link this class creates is named with this prefix, then the creator's PID in base 36. */
    public static final String LINK_PREFIX = "akt";
    /** The longest any single command may run. */
    public static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(10);

    private static final Pattern NAME = Pattern.compile(Pattern.quote(PREFIX) + "(\\d+)-([0-9a-z]+)-(\\d+)");
    private static final Pattern LINK_NAME = Pattern.compile(LINK_PREFIX + "([0-9a-z]+)x[0-9a-z]+[hn]");
    private static final Pattern ETHER = Pattern.compile("link/ether ([0-9a-f]{2}(?::[0-9a-f]{2}){5})");
    private static final long PID = ProcessHandle.current().pid();
    private static final String RUN = startToken(ProcessHandle.current()).orElse("0");
    private static final AtomicInteger NEXT = new AtomicInteger(1);
    private static final Object LEFTOVERS_LOCK = new Object();
    private static boolean leftoversRemoved;
    /** Links this JVM created: a link with our PID in its name and not in here is a predecessor's. */
    private static final Set<String> CREATED_LINKS = ConcurrentHashMap.newKeySet();

    private final String name;
    private final List<String> createdLinks = new ArrayList<>();
    private final List<Background> started = new ArrayList<>();
    private boolean closed;

    private NetworkNamespace(String name) {
        this.name = name;
    }

    /** The result of a finished command. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        /** This result, or an {@link IOException} naming the command, its exit code and stderr. */
        public Result orThrow() throws IOException {
            if (exitCode != 0) {
                throw new IOException("command failed with exit code " + exitCode + ": " + String.join(" ", command)
                        + (stderr.isBlank() ? "" : "\n" + stderr.strip()));
            }
            return this;
        }
    }

    /** A veth pair: {@code hostEnd} in the host's namespace, {@code innerEnd} in this one. */
    public record Veth(String hostEnd, String innerEnd) {}

    /** Creates a namespace with a fresh name; the first call in a JVM removes leftovers first. */
    public static NetworkNamespace create() throws IOException {
        synchronized (LEFTOVERS_LOCK) {
            if (!leftoversRemoved) {
                removeLeftovers();
                leftoversRemoved = true;
            }
        }
        String name = PREFIX + PID + "-" + RUN + "-" + NEXT.getAndIncrement();
        run(List.of("ip", "netns", "add", name)).orThrow();
        return new NetworkNamespace(name);
    }

    public String name() {
        return name;
    }

    /** Runs {@code ip -n <this> args...}; throws unless it succeeds. */
    public Result ip(String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("ip", "-n", name));
        command.addAll(Arrays.asList(args));
        return run(command).orThrow();
    }

    /** Runs {@code command} inside this namespace ({@code ip netns exec}); throws unless it succeeds. */
    public Result exec(String... command) throws IOException {
        return run(inside(command)).orThrow();
    }

    /** As {@link #exec}, but returns the result whatever the exit code. */
    public Result execAllowingFailure(String... command) throws IOException {
        return run(inside(command));
    }

    /**
     * Starts {@code command} inside this namespace in the background (a server, say); it is ended
     * by its PID when the returned handle or this namespace closes, whichever comes first.
     */
    public synchronized Background start(String... command) throws IOException {
        checkOpen();
        Background background = new Background(new ProcessBuilder(inside(command))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start());
        started.add(background);
        return background;
    }

    private List<String> inside(String... command) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(Arrays.asList(command));
        return full;
    }

    /**
     * Moves {@code link} from the host's namespace into this one ({@code ip link set ... netns}).
     * Its state is reset to down, as the kernel does on a move; an open TAP descriptor keeps
     * working.
     */
    public void moveLink(String link) throws IOException {
        checkOpen();
        run(List.of("ip", "link", "set", "dev", link, "netns", name)).orThrow();
    }

    /**
     * Creates a veth pair, one end in the host's namespace and the other already in this one (one
     * atomic command, so no crash leaves both ends in the host). Neither end is up or addressed.
     */
    public synchronized Veth createVeth() throws IOException {
        checkOpen();
        String stem = LINK_PREFIX + Long.toString(PID, 36) + "x" + Integer.toString(NEXT.getAndIncrement(), 36);
        Veth veth = new Veth(stem + "h", stem + "n");
        if (veth.hostEnd().length() > 15) {
            throw new IllegalStateException("link name too long for IFNAMSIZ: " + veth.hostEnd());
        }
        CREATED_LINKS.add(veth.hostEnd());
        run(List.of("ip", "link", "add", veth.hostEnd(), "type", "veth", "peer", "name", veth.innerEnd(), "netns",
                name)).orThrow();
        createdLinks.add(veth.hostEnd());
        return veth;
    }

    /** Brings {@code link} (inside this namespace) up. */
    public void setUp(String link) throws IOException {
        ip("link", "set", "dev", link, "up");
    }

    /**
     * Adds {@code cidr} (e.g. {@code "198.18.0.1/24"}) to {@code link} inside this namespace;
     * refuses any address outside {@code 198.18.0.0/15}.
     */
    public void addAddress(String link, String cidr) throws IOException {
        String[] parts = cidr.split("/", -1);
        if (parts.length != 2) {
            throw new IllegalArgumentException("want an address with a prefix length, like 198.18.0.1/24: " + cidr);
        }
        requireTestAddress(parts[0]);
        int prefix = Integer.parseInt(parts[1]);
        if (prefix < 15 || prefix > 32) {
            throw new IllegalArgumentException("prefix /" + prefix + " reaches outside 198.18.0.0/15: " + cidr);
        }
        ip("address", "add", cidr, "dev", link);
    }

    /** A permanent neighbour entry: {@code address} is at {@code mac} on {@code link}. */
    public void addNeighbour(String link, String address, String mac) throws IOException {
        requireTestAddress(address);
        ip("neighbour", "replace", address, "lladdr", mac, "dev", link, "nud", "permanent");
    }

    /** Sets a sysctl inside this namespace ({@code net.*} keys are per namespace). */
    public void sysctl(String key, String value) throws IOException {
        exec("sysctl", "-q", "-w", key + "=" + value);
    }

    /**
     * Turns IPv6 off for links created in or moved into this namespace from now on, so that the
     * kernel does not send router solicitations, MLD reports and duplicate-address probes.
     */
    public void disableIpv6() throws IOException {
        sysctl("net.ipv6.conf.all.disable_ipv6", "1");
        sysctl("net.ipv6.conf.default.disable_ipv6", "1");
    }

    /** Whether {@code link} exists inside this namespace. */
    public boolean hasLink(String link) throws IOException {
        return run(List.of("ip", "-n", name, "link", "show", "dev", link)).exitCode() == 0;
    }

    /** The kernel's MAC of {@code link} inside this namespace, as {@code 02:00:5e:00:00:01}. */
    public String hardwareAddress(String link) throws IOException {
        String out = ip("-o", "link", "show", "dev", link).stdout();
        Matcher matcher = ETHER.matcher(out);
        if (!matcher.find()) {
            throw new IOException("no Ethernet address for " + link + " in namespace " + name + ": " + out.strip());
        }
        return matcher.group(1);
    }

    /**
     * One of the kernel's statistics of {@code link} inside this namespace, e.g.
     * {@code "rx_packets"} (frames the kernel received on it): from the namespace's
     * {@code /sys/class/net/<link>/statistics}.
     */
    public long linkStatistic(String link, String statistic) throws IOException {
        if (!statistic.matches("[a-z_]+") || !link.matches("[A-Za-z0-9_.%-]+")) {
            throw new IllegalArgumentException("bad link or statistic name: " + link + " / " + statistic);
        }
        return Long.parseLong(exec("cat", "/sys/class/net/" + link + "/statistics/" + statistic).stdout().strip());
    }

    /** Whether a namespace called {@code namespace} exists ({@code ip netns list}). */
    public static boolean exists(String namespace) throws IOException {
        return list().contains(namespace);
    }

    /** The names of all named network namespaces. */
    public static List<String> list() throws IOException {
        List<String> names = new ArrayList<>();
        for (String line : run(List.of("ip", "netns", "list")).orThrow().stdout().split("\n")) {
            String trimmed = line.strip();
            if (!trimmed.isEmpty()) {
                names.add(trimmed.split("\\s+", 2)[0]);
            }
        }
        return names;
    }

    /** Whether {@code link} exists in the host's (this process's) namespace. */
    public static boolean hostHasLink(String link) throws IOException {
        return run(List.of("ip", "link", "show", "dev", link)).exitCode() == 0;
    }

    /** Throws unless {@code address} is a dotted quad in {@code 198.18.0.0/15}. */
    public static void requireTestAddress(String address) {
        String[] octets = address.split("\\.", -1);
        boolean ok = octets.length == 4;
        for (int i = 0; ok && i < 4; i++) {
            ok = octets[i].matches("\\d{1,3}") && Integer.parseInt(octets[i]) <= 255;
        }
        if (!ok || !octets[0].equals("198") || !(octets[1].equals("18") || octets[1].equals("19"))) {
            throw new IllegalArgumentException("test addresses must be in 198.18.0.0/15 (never a real network): "
                    + address);
        }
    }

    /**
     * Removes namespaces (and links) left by test JVMs that are gone: names with {@link #PREFIX}
     * whose PID is not running, or is running with another start time. Returns what it removed.
     */
    public static List<String> removeLeftovers() throws IOException {
        List<String> removed = new ArrayList<>();
        for (String namespace : list()) {
            Matcher matcher = NAME.matcher(namespace);
            if (matcher.matches() && isStale(Long.parseLong(matcher.group(1)), matcher.group(2))) {
                run(List.of("ip", "netns", "delete", namespace)).orThrow();
                removed.add(namespace);
            }
        }
        // Links we create die with their namespace; these are only from a crash in between.
        for (String line : run(List.of("ip", "-o", "link", "show")).orThrow().stdout().split("\n")) {
            String[] fields = line.split(":\\s+", 3);
            if (fields.length < 2) {
                continue;
            }
            String link = fields[1].split("@", 2)[0];
            Matcher matcher = LINK_NAME.matcher(link);
            if (matcher.matches()) {
                long pid = Long.parseLong(matcher.group(1), 36);
                boolean stale = pid == PID ? !CREATED_LINKS.contains(link) : ProcessHandle.of(pid).isEmpty();
                if (stale && run(List.of("ip", "link", "delete", "dev", link)).exitCode() == 0) {
                    removed.add(link);
                }
            }
        }
        return removed;
    }

    private static boolean isStale(long pid, String startToken) {
        if (pid == PID) {
            return !startToken.equals(RUN);
        }
        Optional<ProcessHandle> process = ProcessHandle.of(pid);
        if (process.isEmpty()) {
            return true;
        }
        // Alive: stale only if we can tell it is another process that reused the PID.
        return startToken(process.get()).map(token -> !token.equals(startToken)).orElse(false);
    }

    private static Optional<String> startToken(ProcessHandle process) {
        return process.info().startInstant().map(Instant::toEpochMilli).map(ms -> Long.toString(ms, 36));
    }

    /**
     * Ends the processes it started, deletes the links it created and the namespace, and waits
     * (bounded) until {@code ip netns list} no longer shows it. Idempotent.
     */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        IOException failure = null;
        for (Background background : started) {
            background.close();
        }
        for (String link : createdLinks) {
            try {
                if (hostHasLink(link)) {
                    run(List.of("ip", "link", "delete", "dev", link)).orThrow();
                }
            } catch (IOException e) {
                failure = addFailure(failure, e);
            }
        }
        try {
            run(List.of("ip", "netns", "delete", name)).orThrow();
            long deadline = System.nanoTime() + COMMAND_TIMEOUT.toNanos();
            while (exists(name)) {
                if (System.nanoTime() - deadline > 0) {
                    throw new IOException("namespace " + name + " still listed " + COMMAND_TIMEOUT + " after delete");
                }
                Thread.sleep(10);
            }
        } catch (IOException e) {
            failure = addFailure(failure, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = addFailure(failure, new InterruptedIOException("interrupted while deleting namespace " + name));
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static IOException addFailure(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("network namespace " + name + " is closed");
        }
    }

    @Override
    public String toString() {
        return "network namespace " + name;
    }

    /** Runs a command (not in any namespace of ours) with the default time limit. */
    public static Result run(List<String> command) throws IOException {
        return run(command, COMMAND_TIMEOUT);
    }

    /**
     * Runs {@code command} to completion within {@code timeout}, capturing its output; if it
     * overruns, it and its descendants are ended (each by its PID) and an {@link IOException}
     * is thrown.
     */
    public static Result run(List<String> command, Duration timeout) throws IOException {
        Process process = new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .start();
        FutureTask<String> stdout = drain(process.getInputStream());
        FutureTask<String> stderr = drain(process.getErrorStream());
        try {
            if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                end(process);
                throw new IOException("command did not finish within " + timeout + " and was ended: "
                        + String.join(" ", command));
            }
            // The pipes close when the process exits, unless something it started still holds them.
            return new Result(List.copyOf(command), process.exitValue(), collect(stdout), collect(stderr));
        } catch (InterruptedException e) {
            end(process);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while running " + String.join(" ", command));
        }
    }

    private static FutureTask<String> drain(InputStream stream) {
        FutureTask<String> task = new FutureTask<>(() -> {
            try (stream) {
                return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
            }
        });
        Thread.ofVirtual().name("netns-output").start(task);
        return task;
    }

    private static String collect(FutureTask<String> output) throws InterruptedException, IOException {
        try {
            return output.get(2, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            output.cancel(true);
            return "(output not collected: a descendant still holds the pipe)";
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException("reading command output", e.getCause());
        }
    }

    /** Ends {@code process} and everything it started, each by its own PID, and waits (bounded). */
    private static void end(Process process) {
        // Collect the descendants first: once their parent is gone they are re-parented out of reach.
        List<ProcessHandle> descendants = process.descendants().toList();
        process.destroyForcibly();
        for (ProcessHandle descendant : descendants) {
            descendant.destroyForcibly();
        }
        try {
            process.waitFor(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A process started with {@link #start}: closing it ends it (and what it started) by PID. */
    public static final class Background implements AutoCloseable {
        private final Process process;

        private Background(Process process) {
            this.process = process;
        }

        public long pid() {
            return process.pid();
        }

        public boolean isAlive() {
            return process.isAlive();
        }

        @Override
        public void close() {
            if (process.isAlive()) {
                end(process);
            }
        }
    }
}

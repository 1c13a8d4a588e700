package io.arrakis.bench.servers;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A network namespace made for the real-client scenario: a persistent TAP interface in it with the
 * kernel's end at {@value #CLIENT_ADDRESS}/24, for a server whose agent opens the same interface
 * (backend {@code tap}) and answers as {@value #SERVER_ADDRESS}, and for the Linux clients, run in
 * the namespace, to reach it only through the TAP. Needs root; {@link #close} deletes the
 * namespace and with it the interface. Not thread-safe.
 */
final class TapNamespace implements AutoCloseable {
    static final String CLIENT_ADDRESS = "198.18.0.1";
    static final String SERVER_ADDRESS = "198.18.0.2";
    static final String INTERFACE = "arkbench0";

    final String name;
    /** Deletes the namespace if this JVM ends first (Ctrl-C during the scenario). */
    private final Thread cleaner;

    private TapNamespace(String name) {
        this.name = name;
        this.cleaner = new Thread(this::delete, "netns-cleaner");
        Runtime.getRuntime().addShutdownHook(cleaner);
    }

    /** Whether this process can create namespaces and TAP interfaces (it is root). */
    static boolean permitted() {
        return ProcessHandle.current().info().user().orElse("").equals("root");
    }

    /** Creates the namespace {@code arrakis-bench-<pid>} with its TAP interface up and addressed. */
    static TapNamespace create() throws IOException, InterruptedException {
        String name = "arrakis-bench-" + ProcessHandle.current().pid();
        TapNamespace namespace;
        try {
            namespace = new TapNamespace(name); // its cleaner first, so no namespace outlives this JVM
        } catch (IllegalStateException e) {
            throw new IOException("not creating network namespace " + name + ": this JVM is shutting down");
        }
        try {
            run(List.of("ip", "netns", "add", name));
            run(List.of("ip", "-n", name, "link", "set", "lo", "up"));
            run(namespace.inside(List.of("ip", "tuntap", "add", "dev", INTERFACE, "mode", "tap")));
            run(List.of("ip", "-n", name, "addr", "add", CLIENT_ADDRESS + "/24", "dev", INTERFACE));
            run(List.of("ip", "-n", name, "link", "set", INTERFACE, "up"));
            return namespace;
        } catch (IOException | InterruptedException | RuntimeException e) {
            namespace.close();
            throw e;
        }
    }

    /** {@code command} as run inside the namespace. */
    List<String> inside(List<String> command) {
        List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", name));
        all.addAll(command);
        return all;
    }

    /** Frames the kernel's end of the TAP received and sent so far: {rx, tx}. */
    long[] kernelSideFrames() throws IOException, InterruptedException {
        String text = run(List.of("ip", "-n", name, "-s", "link", "show", INTERFACE));
        Matcher rx = Pattern.compile("RX:[^\\n]*\\n\\s*(\\d+)\\s+(\\d+)").matcher(text);
        Matcher tx = Pattern.compile("TX:[^\\n]*\\n\\s*(\\d+)\\s+(\\d+)").matcher(text);
        if (!rx.find() || !tx.find()) {
            throw new IOException("cannot read the counters of " + INTERFACE + " in " + name + " from:\n" + text);
        }
        return new long[] {Long.parseLong(rx.group(2)), Long.parseLong(tx.group(2))};
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(cleaner);
        } catch (IllegalStateException e) {
            return; // this JVM is shutting down: the hook deletes the namespace
        }
        delete();
    }

    private void delete() {
        try {
            if (!run(List.of("ip", "netns", "list")).contains(name)) {
                return; // never created (its creation failed), or already deleted
            }
            run(List.of("ip", "netns", "del", name));
        } catch (IOException | InterruptedException e) {
            System.err.println("bench-servers: could not delete network namespace " + name + " (delete it with: ip"
                    + " netns del " + name + "): " + e.getMessage());
        }
    }

    /** Runs a short command to its end (10 s at most) and returns its output; a failure says which and why. */
    static String run(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IOException("'" + String.join(" ", command) + "' did not finish within 10 s");
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (process.exitValue() != 0) {
            throw new IOException("'" + String.join(" ", command) + "' failed (exit " + process.exitValue() + "): "
                    + output.strip());
        }
        return output;
    }
}

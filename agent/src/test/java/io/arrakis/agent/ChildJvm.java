package io.arrakis.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs a test main in a JVM of its own (this JVM's JDK), usually with {@code -javaagent}, and
 * collects its exit code and output. The wait is bounded, and the child is killed by its PID,
 * with anything it started, whatever happens.
 */
final class ChildJvm {
    static final Path AGENT_JAR = Path.of(System.getProperty("arrakis.agent.jar", "target/arrakis-agent.jar"));
    static final Path TEST_CLASSES = Path.of(System.getProperty("arrakis.test.classes", "target/test-classes"));
    private static final long WAIT_SECONDS = 60;

    record Result(int exitCode, List<String> stdout, List<String> stderr) {
        /** The lines on stderr, for assertion messages. */
        String describe() {
            return "exit " + exitCode + "\n--- stdout\n" + String.join("\n", stdout) + "\n--- stderr\n"
                    + String.join("\n", stderr);
        }

        /** The value of the first stdout line {@code key=value}, or null. */
        String value(String key) {
            for (String line : stdout) {
                if (line.startsWith(key + "=")) {
                    return line.substring(key.length() + 1);
                }
            }
            return null;
        }
    }

    private final List<String> jvmOptions = new ArrayList<>();
    private final List<String> classPath = new ArrayList<>(List.of(TEST_CLASSES.toString()));
    private final Path controlSocket;

    /**
     * A child whose shm backend would use a control plane on a socket in {@code directory}
     * (the test's own), never one the machine or another test runs.
     */
    ChildJvm(Path directory) {
        this.controlSocket = directory.resolve("control.sock");
        jvmOptions.add("-Darrakis.shm.socket=" + controlSocket);
    }

    /** The control plane socket this child's agent is given. */
    Path controlSocket() {
        return controlSocket;
    }

    /** Adds {@code -javaagent:<the agent jar>[=arguments]}; null arguments: none. */
    ChildJvm agent(String arguments) {
        return option("-javaagent:" + AGENT_JAR + (arguments == null ? "" : "=" + arguments));
    }

    ChildJvm option(String option) {
        jvmOptions.add(option);
        return this;
    }

    Result run(Class<?> main, String... arguments) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(String.join(java.io.File.pathSeparator, classPath));
        command.add(main.getName());
        command.addAll(List.of(arguments));
        return exec(command);
    }

    /** Runs {@code java <options> -jar jar}. */
    Result runJar(Path jar) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-jar");
        command.add(jar.toString());
        return exec(command);
    }

    private static Result exec(List<String> command) throws IOException, InterruptedException {
        Path out = Files.createTempFile("arrakis-child", ".out");
        Path err = Files.createTempFile("arrakis-child", ".err");
        Process process = null;
        try {
            process = new ProcessBuilder(command)
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
            if (!process.waitFor(WAIT_SECONDS, TimeUnit.SECONDS)) {
                throw new AssertionError("child JVM " + process.pid() + " did not end within " + WAIT_SECONDS
                        + " s: " + command + "\n--- stdout\n" + Files.readString(out) + "\n--- stderr\n"
                        + Files.readString(err));
            }
            return new Result(process.exitValue(), Files.readAllLines(out), Files.readAllLines(err));
        } finally {
            if (process != null) {
                ProcessHandle handle = process.toHandle();
                handle.descendants().forEach(ProcessHandle::destroyForcibly);
                handle.destroyForcibly();
                try {
                    handle.onExit().get(10, TimeUnit.SECONDS);
                } catch (ExecutionException | TimeoutException e) {
                    throw new AssertionError("child JVM " + handle.pid() + " survived being killed", e);
                }
            }
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}

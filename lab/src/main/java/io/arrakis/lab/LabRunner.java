package io.arrakis.lab;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.ClassSelector;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * The guest's test runner: runs the named test classes' {@code @Tag("lab")} tests in this one JVM
 * (a JVM start costs 10+ s under software emulation) through the JUnit Platform launcher, prints
 * one line per test and appends the same to a report file the host reads, as each test ends, so a
 * run cut short by the lab's timeout still says how far it got.
 *
 * <p>Usage: {@code LabRunner [--tag TAG] --report FILE CLASS...}; exits 0 when every test passed (and
 * at least one ran), 1 when any failed, 2 when none ran. Single-threaded (JUnit runs the tests
 * sequentially; the listener's map tolerates its callbacks from any thread).
 */
public final class LabRunner {
    /** The outcome of one test or of a class whose set-up failed. */
    public enum Outcome { PASS, FAIL, SKIP }

    private final Path report;
    private final PrintStream console;
    private final Map<String, Long> started = new ConcurrentHashMap<>();
    private int passed;
    private int failed;
    private int skipped;

    LabRunner(Path report, PrintStream console) {
        this.report = report;
        this.console = console;
    }

    public static void main(String[] args) throws IOException {
        String tag = "lab";
        Path report = null;
        List<String> classes = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--tag" -> tag = args[++i];
                case "--report" -> report = Path.of(args[++i]);
                default -> classes.add(args[i]);
            }
        }
        if (report == null || classes.isEmpty()) {
            System.err.println("usage: LabRunner [--tag TAG] --report FILE CLASS...");
            System.exit(64);
        }
        LabRunner runner = new LabRunner(report, System.out);
        System.exit(runner.run(tag, classes));
    }

    /** Runs the tests tagged {@code tag} of {@code classNames}; returns the exit code described above. */
    int run(String tag, List<String> classNames) throws IOException {
        Files.createDirectories(report.toAbsolutePath().getParent());
        Files.writeString(report, "", StandardCharsets.UTF_8);
        List<ClassSelector> selectors = classNames.stream().map(name -> selectClass(name)).toList();
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectors)
                .filters(TagFilter.includeTags(tag))
                // jqwik keeps its database in the working directory, the read-only repository here.
                .configurationParameter("jqwik.database", System.getProperty("java.io.tmpdir") + "/jqwik-database")
                .build();
        long start = System.nanoTime();
        LauncherFactory.create().execute(request, new Listener());
        double seconds = (System.nanoTime() - start) / 1e9;
        String summary = String.format(Locale.ROOT, "%d passed, %d failed, %d skipped in %.1f s", passed, failed,
                skipped, seconds);
        console.println("lab-test: " + summary);
        append("SUMMARY\t" + summary);
        return failed > 0 ? 1 : passed == 0 ? 2 : 0;
    }

    private final class Listener implements TestExecutionListener {
        @Override
        public void executionStarted(TestIdentifier test) {
            started.put(test.getUniqueId(), System.nanoTime());
            if (test.isTest()) {
                console.println("lab-test: START " + name(test));
                append("START\t" + name(test));
            }
        }

        @Override
        public void executionSkipped(TestIdentifier test, String reason) {
            if (test.isTest()) {
                record(test, Outcome.SKIP, reason);
            }
        }

        @Override
        public void executionFinished(TestIdentifier test, TestExecutionResult result) {
            switch (result.getStatus()) {
                case SUCCESSFUL -> {
                    if (test.isTest()) {
                        record(test, Outcome.PASS, "");
                    }
                }
                case ABORTED -> {
                    if (test.isTest()) {
                        record(test, Outcome.SKIP, result.getThrowable().map(Throwable::getMessage).orElse("aborted"));
                    }
                }
                case FAILED -> {
                    // A failed container is a class whose set-up or tear-down failed: its tests may
                    // never have run, so it counts as a failure of its own.
                    Throwable cause = result.getThrowable().orElse(null);
                    record(test, Outcome.FAIL, cause == null ? "failed" : cause.toString());
                    if (cause != null) {
                        StringWriter trace = new StringWriter();
                        cause.printStackTrace(new PrintWriter(trace));
                        console.print(trace);
                    }
                }
            }
        }
    }

    private void record(TestIdentifier test, Outcome outcome, String message) {
        Long since = started.remove(test.getUniqueId());
        double seconds = since == null ? 0 : (System.nanoTime() - since) / 1e9;
        switch (outcome) {
            case PASS -> passed++;
            case FAIL -> failed++;
            case SKIP -> skipped++;
        }
        String oneLine = message == null ? "" : message.replace('\n', ' ').replace('\t', ' ');
        console.println(String.format(Locale.ROOT, "lab-test: %-4s %s (%.2f s)%s", outcome, name(test), seconds,
                oneLine.isEmpty() ? "" : ": " + oneLine));
        append(String.format(Locale.ROOT, "%s\t%s\t%.2f\t%s", outcome, name(test), seconds, oneLine));
    }

    /** {@code Class.method} for a test, the class name for a class. */
    static String name(TestIdentifier test) {
        return test.getSource().map(source -> {
            if (source instanceof MethodSource method) {
                String simple = method.getClassName().substring(method.getClassName().lastIndexOf('.') + 1);
                return simple + "." + method.getMethodName() + (test.getDisplayName().startsWith(method.getMethodName())
                        ? "" : " [" + test.getDisplayName() + "]");
            }
            if (source instanceof ClassSource type) {
                return type.getClassName();
            }
            return test.getDisplayName();
        }).orElse(test.getDisplayName());
    }

    private void append(String line) {
        try {
            Files.writeString(report, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException e) {
            console.println("lab-test: cannot append to the report " + report + ": " + e);
        }
    }
}

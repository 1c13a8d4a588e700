package io.arrakis.provider.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.opentest4j.AssertionFailedError;

/**
 * The differential conformance suite: every case runs on the oracle (the JDK's provider), where its
 * pinned expectations are checked ({@code name [jdk]}), and on each subject, whose trace must equal the
 * oracle's line for line ({@code name [subject]}). Cases run one at a time.
 */
class ConformanceTest {
    private static Network oracle;
    private static List<Network> subjects;
    private static final Map<Case, CaseRunner.Run> ORACLE_RUNS = new ConcurrentHashMap<>();

    /** Every category, in the order they are reported. */
    static Map<String, List<Case>> catalog() {
        Map<String, List<Case>> categories = new LinkedHashMap<>();
        for (List<Case> cases : List.of(
                SocketChannelCases.cases(),
                ServerSocketChannelCases.cases(),
                DatagramChannelCases.cases(),
                PipeCases.cases(),
                SelectorCases.cases(),
                AsyncCloseCases.cases(),
                SocketOptionCases.cases(),
                SocketAdaptorCases.cases(),
                DatagramSocketCases.cases(),
                VirtualThreadCases.cases())) {
            categories.put(cases.getFirst().category(), cases);
        }
        return categories;
    }

    @BeforeAll
    static void openNetworks() {
        oracle = Networks.oracle();
        subjects = Networks.subjects();
    }

    @AfterAll
    static void closeNetworks() {
        if (subjects != null) {
            subjects.forEach(Network::close);
        }
        if (oracle != null) {
            oracle.close();
        }
    }

    @Test
    void catalogHasAtLeast150DistinctCases() {
        List<Case> all = catalog().values().stream().flatMap(List::stream).toList();
        Set<String> names = new HashSet<>();
        List<String> duplicates = all.stream().map(Case::name).filter(name -> !names.add(name)).toList();
        assertEquals(List.of(), duplicates, "case names must be distinct");
        assertTrue(all.size() >= 150, "only " + all.size() + " cases");
    }

    @TestFactory
    Stream<DynamicNode> conformance() {
        return catalog().entrySet().stream().map(category -> DynamicContainer.dynamicContainer(category.getKey(),
                category.getValue().stream().flatMap(c -> {
                    List<DynamicNode> tests = new ArrayList<>();
                    tests.add(DynamicTest.dynamicTest(c.name() + " [" + oracle.name() + "]", () -> checkOracle(c)));
                    for (Network subject : subjects) {
                        tests.add(DynamicTest.dynamicTest(c.name() + " [" + subject.name() + "]", () -> compare(c, subject)));
                    }
                    return tests.stream();
                })));
    }

    private static CaseRunner.Run oracleRun(Case c) throws InterruptedException {
        CaseRunner.Run run = ORACLE_RUNS.get(c);
        if (run == null) {
            run = CaseRunner.run(c, oracle);
            ORACLE_RUNS.put(c, run);
        }
        return run;
    }

    /** The case runs to the end on the JDK and its trace shows what the case pins. */
    private static void checkOracle(Case c) throws InterruptedException {
        CaseRunner.Run run = oracleRun(c);
        // the oracle's traces, in the test's output file, are the reference for whoever matches them
        System.out.println("== " + c + " [" + oracle.name() + "]\n  " + String.join("\n  ", run.lines()));
        assertPinned(c, run);
    }

    /** The subject's trace equals the oracle's, line for line. */
    private static void compare(Case c, Network subject) throws InterruptedException {
        Network.Deviation deviation = subject.knownDeviations().get(c.toString());
        CaseRunner.Run actual = CaseRunner.run(c, subject);
        if (deviation == null) {
            assertSameTrace(c, oracle.name(), oracleRun(c), subject.name(), actual);
            return;
        }
        CaseRunner.Run expected = oracleRun(c);
        if (expected.lines().equals(actual.lines()) || !actual.lines().contains(deviation.line())) {
            throw new AssertionFailedError("case " + c + " on " + subject.name() + " no longer shows its known deviation ("
                    + deviation.why() + "): expected the line\n  " + deviation.line() + "\nupdate "
                    + subject.name() + "'s knownDeviations:\n"
                    + sideBySide(oracle.name(), expected.lines(), subject.name(), actual.lines()));
        }
        System.out.println("== " + c + " [" + subject.name() + "] differs as documented: " + deviation.why());
    }

    /** Fails unless the run completed and its trace holds the case's pinned lines in order. */
    static void assertPinned(Case c, CaseRunner.Run run) {
        if (!run.completed()) {
            throw new AssertionFailedError("case " + c + " did not complete on the oracle:\n" + String.join("\n", run.lines()), run.failure());
        }
        int at = 0;
        for (String expected : c.expected()) {
            int found = run.lines().subList(at, run.lines().size()).indexOf(expected);
            if (found < 0) {
                throw new AssertionFailedError("case " + c + ": the oracle's trace lacks (in this order) the pinned line\n  "
                        + expected + "\ntrace:\n  " + String.join("\n  ", run.lines()),
                        String.join("\n", c.expected()), String.join("\n", run.lines()));
            }
            at += found + 1;
        }
    }

    /** Fails, showing both traces side by side, unless both runs completed with equal traces. */
    static void assertSameTrace(Case c, String oracleName, CaseRunner.Run expected, String subjectName, CaseRunner.Run actual) {
        if (!expected.lines().equals(actual.lines()) || !expected.completed() || !actual.completed()) {
            Throwable cause = actual.failure() != null ? actual.failure() : expected.failure();
            throw new AssertionFailedError("case " + c + " on " + subjectName + " differs from " + oracleName + ":\n"
                    + sideBySide(oracleName, expected.lines(), subjectName, actual.lines()),
                    String.join("\n", expected.lines()), String.join("\n", actual.lines()), cause);
        }
    }

    /** Both traces in two columns, differing lines marked with {@code !}. */
    static String sideBySide(String leftName, List<String> left, String rightName, List<String> right) {
        int width = Math.max(leftName.length(), left.stream().mapToInt(String::length).max().orElse(0));
        StringBuilder s = new StringBuilder();
        s.append("   ").append(pad(leftName, width)).append(" | ").append(rightName).append('\n');
        for (int i = 0; i < Math.max(left.size(), right.size()); i++) {
            String l = i < left.size() ? left.get(i) : "";
            String r = i < right.size() ? right.get(i) : "";
            s.append(l.equals(r) ? "   " : " ! ").append(pad(l, width)).append(" | ").append(r).append('\n');
        }
        return s.toString();
    }

    private static String pad(String s, int width) {
        return s + " ".repeat(Math.max(0, width - s.length()));
    }
}

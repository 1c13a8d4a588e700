package io.arrakis.lab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LabRunnerTest {
    private static final String FIXTURE_TAG = "lab-runner-fixture";

    /** Tests the runner is pointed at; tagged so that neither the build nor the lab runs them. */
    @Tag(FIXTURE_TAG)
    static class Mixed {
        @Test
        void passes() {}

        @Test
        void fails() {
            fail("deliberately");
        }

        @Test
        void skips() {
            Assumptions.assumeTrue(false, "no device here");
        }

        @Test
        @Tag("other")
        void alsoPasses() {}
    }

    static class Untagged {
        @Test
        void notSelected() {
            fail("the tag filter should have left this out");
        }
    }

    @TempDir
    Path directory;

    @Test
    void reportsEachTestAndExitsWithOneWhenAnyFailed() throws Exception {
        Path report = directory.resolve("results.txt");
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        LabRunner runner = new LabRunner(report, new PrintStream(console, true, StandardCharsets.UTF_8));
        int exit = runner.run(FIXTURE_TAG, List.of(Mixed.class.getName(), Untagged.class.getName()));
        assertEquals(1, exit);
        List<String> lines = Files.readAllLines(report);
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("PASS\tLabRunnerTest$Mixed.passes\t")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("PASS\tLabRunnerTest$Mixed.alsoPasses\t")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("FAIL\tLabRunnerTest$Mixed.fails\t")
                && l.endsWith("deliberately")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("SKIP\tLabRunnerTest$Mixed.skips\t")
                && l.contains("no device here")), lines.toString());
        assertTrue(lines.stream().noneMatch(l -> l.contains("notSelected")), lines.toString());
        assertEquals("SUMMARY\t2 passed, 1 failed, 1 skipped", lines.getLast().replaceAll(" in .*", ""));
        assertTrue(console.toString(StandardCharsets.UTF_8).contains("lab-test: FAIL LabRunnerTest$Mixed.fails"));
    }

    @Test
    void exitsWithTwoWhenNothingRan() throws Exception {
        LabRunner runner = new LabRunner(directory.resolve("r.txt"), new PrintStream(new ByteArrayOutputStream()));
        assertEquals(2, runner.run(FIXTURE_TAG, List.of(Untagged.class.getName())));
    }
}

package io.arrakis.agent;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * What the agent says. The banner and its error and warning lines are its interface: one line
 * each on stderr, starting {@code arrakis:}, filtered by the {@code log} option. Details (what
 * was installed, how) go to {@link System.Logger} {@code io.arrakis.agent}, asked for only when
 * the {@code log} level lets them through: fetching a logger in {@code premain} would start
 * {@code java.util.logging} before the application could configure it. Thread-safe.
 */
final class AgentConsole {
    static final String PREFIX = "arrakis: ";

    enum Level { OFF, ERROR, WARNING, INFO, DEBUG, TRACE }

    private final Level level;
    private final PrintStream err;

    AgentConsole(Level level, PrintStream err) {
        this.level = level;
        this.err = err;
    }

    static AgentConsole forOption(String log) {
        return new AgentConsole(Level.valueOf(log.toUpperCase(Locale.ROOT)), System.err);
    }

    /** Printed whatever the level: the agent could not read its own options, so it has no level yet. */
    static void optionError(String message) {
        System.err.println(PREFIX + "error: " + message);
    }

    void error(String message) {
        if (level.compareTo(Level.ERROR) >= 0) {
            err.println(PREFIX + "error: " + message);
        }
    }

    void warning(String message) {
        if (level.compareTo(Level.WARNING) >= 0) {
            err.println(PREFIX + "warning: " + message);
        }
    }

    void banner(String line) {
        err.println(PREFIX + line);
    }

    void info(Supplier<String> message) {
        log(Level.INFO, System.Logger.Level.INFO, message);
    }

    void debug(Supplier<String> message) {
        log(Level.DEBUG, System.Logger.Level.DEBUG, message);
    }

    private void log(Level needed, System.Logger.Level as, Supplier<String> message) {
        if (level.compareTo(needed) >= 0) {
            System.getLogger("io.arrakis.agent").log(as, message);
        }
    }
}

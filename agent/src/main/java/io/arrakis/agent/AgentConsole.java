package io.arrakis.agent;

import java.io.PrintStream;
import java.util.Locale;

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

    /** Printed whatever the level: said before the agent has read its options, so before it knows a level. */
    static void early(String message) {
        System.err.println(PREFIX + message);
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

    /** Whether details at {@code level} are wanted: ask before building the message. */
    boolean logs(Level level) {
        return this.level.compareTo(level) >= 0;
    }

    /** A detail, to {@code System.Logger} "io.arrakis.agent", if {@link #logs} says it is wanted. */
    void log(Level level, String message) {
        if (logs(level)) {
            System.getLogger("io.arrakis.agent").log(switch (level) {
                case ERROR -> System.Logger.Level.ERROR;
                case WARNING -> System.Logger.Level.WARNING;
                case INFO -> System.Logger.Level.INFO;
                case DEBUG -> System.Logger.Level.DEBUG;
                default -> System.Logger.Level.TRACE;
            }, message);
        }
    }
}

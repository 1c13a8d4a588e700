package io.arrakis.cli;

import java.util.List;

/**
 * One command of the {@code arrakis} tool: a leaf that does something, or a {@link CommandGroup}
 * that picks one of its subcommands by the next word. New commands slot in by being added to
 * {@link Arrakis#COMMANDS} (or to a group). Implementations are stateless; they run on the
 * caller's thread and write only to the {@link Console} they are given.
 */
interface Command {
    /** The word that selects it ({@code control}, {@code rate}). */
    String name();

    /** One line for the listing of its group. */
    String summary();

    /** Its arguments after {@code arrakis <path>}, for usage lines: {@code <vnic> <bytes/s|unlimited> [packets/s]}. */
    String usage();

    /**
     * Runs with the words after its own name ({@code --help} already handled by the caller) and
     * returns the exit status.
     *
     * @throws UsageException for arguments that make no sense (exit status 2)
     * @throws Exception for an operation that failed (exit status 1); its message is shown as one line
     */
    int run(List<String> words, Console console) throws Exception;

    /** Where a command writes: normal output and one-line errors. */
    record Console(java.io.PrintStream out, java.io.PrintStream err) {}

    /** Arguments that make no sense; the message says which and what is expected. */
    final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }
}

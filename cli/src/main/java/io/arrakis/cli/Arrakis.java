package io.arrakis.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/**
 * The {@code arrakis} command ({@code bin/arrakis} runs it): {@code arrakis status|stat|ss|capture}
 * (what the user-level stacks are doing), {@code arrakis control start|stop|status|rate} and
 * {@code arrakis vsa create|ls|fsck|export|import}. Commands form a tree ({@link Command}, {@link CommandGroup}); a new
 * one is a class added to {@link #COMMANDS} or to a group. Exit status 0 on success, 1 when the
 * operation failed (one line on standard error: what happened and what to do), 2 for a usage
 * error, 3 when {@code vsa fsck} found damage. Stateless: {@link #run} may be called from tests in the same JVM.
 */
public final class Arrakis {
    /** The top-level commands, in the order {@code arrakis --help} lists them. */
    static final List<Command> COMMANDS = List.of(new StatusCommand(), new StatCommand(), new SsCommand(),
            new CaptureCommand(), ControlCommands.group(), VsaCommands.group());

    private Arrakis() {}

    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    /** Runs one command line and returns its exit status. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Command.Console console = new Command.Console(out, err);
        CommandGroup root = new CommandGroup("arrakis", "kernel-bypass I/O for the JVM", COMMANDS);
        try {
            return dispatch(root, "arrakis", Arrays.asList(args), console);
        } catch (Command.UsageException e) {
            err.println("arrakis: " + oneLine(e.getMessage()));
            return 2;
        } catch (Exception e) {
            err.println("arrakis: " + oneLine(e.getMessage() != null ? e.getMessage() : e.toString()));
            return 1;
        }
    }

    private static int dispatch(Command command, String path, List<String> words, Command.Console console)
            throws Exception {
        boolean help = words.contains("--help") || words.contains("-h");
        if (command instanceof CommandGroup group) {
            if (words.isEmpty() || words.getFirst().equals("--help") || words.getFirst().equals("-h")) {
                printListing(group, path, console.out());
                return words.isEmpty() ? 2 : 0;
            }
            Command next = group.find(words.getFirst());
            if (next == null) {
                throw new Command.UsageException("unknown command '" + words.getFirst() + "' for " + path + " (known: "
                        + String.join(", ", group.subcommands().stream().map(Command::name).toList()) + "); try "
                        + path + " --help");
            }
            return dispatch(next, path + " " + next.name(), words.subList(1, words.size()), console);
        }
        if (help) {
            console.out().println("usage: " + path + " " + command.usage());
            console.out().println(command.summary());
            return 0;
        }
        try {
            return command.run(words, console);
        } catch (Command.UsageException e) {
            throw new Command.UsageException(e.getMessage() + " (usage: " + path + " " + command.usage() + ")");
        }
    }

    private static void printListing(CommandGroup group, String path, PrintStream out) {
        out.println("usage: " + path + " " + group.usage());
        for (Command command : group.subcommands()) {
            out.printf("  %-10s %s%n", command.name(), command.summary());
        }
        out.println("Run '" + path + " <command> --help' for a command's arguments.");
    }

    private static String oneLine(String message) {
        return message.replace('\n', ' ').replace('\r', ' ').strip();
    }
}

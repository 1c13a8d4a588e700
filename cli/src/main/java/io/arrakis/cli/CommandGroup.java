package io.arrakis.cli;

import java.util.List;

/**
 * A command made of subcommands ({@code arrakis control start|stop|status|rate}): picks one by
 * the next word, and lists them for {@code --help} or a missing word. Immutable.
 */
final class CommandGroup implements Command {
    private final String name;
    private final String summary;
    private final List<Command> subcommands;

    CommandGroup(String name, String summary, List<Command> subcommands) {
        this.name = name;
        this.summary = summary;
        this.subcommands = List.copyOf(subcommands);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String summary() {
        return summary;
    }

    @Override
    public String usage() {
        return "<" + String.join("|", subcommands.stream().map(Command::name).toList()) + "> ...";
    }

    List<Command> subcommands() {
        return subcommands;
    }

    @Override
    public int run(List<String> words, Console console) throws Exception {
        throw new IllegalStateException("groups are dispatched by Arrakis.dispatch");
    }

    /** The subcommand called {@code word}, or null. */
    Command find(String word) {
        return subcommands.stream().filter(c -> c.name().equals(word)).findFirst().orElse(null);
    }
}

package io.arrakis.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A leaf command's words split into positional arguments, options with a value
 * ({@code --socket PATH} or {@code --socket=PATH}) and flags ({@code --json}); anything else
 * that starts with {@code --} is a usage error. Immutable once parsed.
 */
final class Arguments {
    private final List<String> positional;
    private final Map<String, String> values;
    private final Set<String> flags;

    private Arguments(List<String> positional, Map<String, String> values, Set<String> flags) {
        this.positional = positional;
        this.values = values;
        this.flags = flags;
    }

    static Arguments parse(List<String> words, Set<String> valueOptions, Set<String> flagOptions)
            throws Command.UsageException {
        List<String> positional = new ArrayList<>();
        Map<String, String> values = new HashMap<>();
        Set<String> flags = new HashSet<>();
        for (int i = 0; i < words.size(); i++) {
            String word = words.get(i);
            if (!word.startsWith("--")) {
                positional.add(word);
                continue;
            }
            int equals = word.indexOf('=');
            String option = equals < 0 ? word : word.substring(0, equals);
            if (valueOptions.contains(option)) {
                String value;
                if (equals >= 0) {
                    value = word.substring(equals + 1);
                } else if (i + 1 < words.size()) {
                    value = words.get(++i);
                } else {
                    throw new Command.UsageException(option + " needs a value");
                }
                values.put(option, value);
            } else if (flagOptions.contains(option) && equals < 0) {
                flags.add(option);
            } else {
                List<String> known = new ArrayList<>(valueOptions);
                known.addAll(flagOptions);
                throw new Command.UsageException("unknown option " + word + (known.isEmpty() ? "" : " (known: "
                        + String.join(", ", known.stream().sorted().toList()) + ")"));
            }
        }
        return new Arguments(List.copyOf(positional), Map.copyOf(values), Set.copyOf(flags));
    }

    List<String> positional() {
        return positional;
    }

    /** Fails unless there are {@code min..max} positional arguments. */
    Arguments expectPositional(int min, int max) throws Command.UsageException {
        if (positional.size() < min) {
            throw new Command.UsageException("missing arguments");
        }
        if (positional.size() > max) {
            throw new Command.UsageException("unexpected arguments: "
                    + String.join(" ", positional.subList(max, positional.size())));
        }
        return this;
    }

    String value(String option, String orElse) {
        return values.getOrDefault(option, orElse);
    }

    boolean flag(String option) {
        return flags.contains(option);
    }
}

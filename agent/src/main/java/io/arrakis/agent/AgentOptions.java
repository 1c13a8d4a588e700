package io.arrakis.agent;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.VnicBackend;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The agent's options, from three places, the first that names an option winning:
 * <ol>
 * <li>the agent arguments: {@code -javaagent:arrakis-agent.jar=backend=shm,route=198.18.0.0/15,spin=50us}
 *     (comma-separated; a list option may be repeated: {@code route=a,route=b});
 * <li>system properties {@code -Darrakis.<name>=<value>} (lists comma-separated);
 * <li>an options file in {@code java.util.Properties} format, plain names
 *     ({@code route=198.18.0.0/15,192.0.2.0/24}), named by {@code config=<path>} in the
 *     agent arguments or {@code -Darrakis.config=<path>}.
 * </ol>
 * Every option is checked here, so a mistake stops the agent at start-up with one line that says
 * what is wrong and what is valid, not later inside the provider. The result is published as
 * system properties {@code arrakis.<name>} (what the provider reads), defaults included.
 * Backend options pass through as {@code <backend>.<option>}, e.g. {@code shm.socket=/run/x.sock}.
 * Immutable.
 */
final class AgentOptions {
    static final String PREFIX = "arrakis.";
    static final String CONFIG = "config";
    /** In the agent's own jar, so known without asking the service loader (which costs milliseconds of start-up). */
    private static final String DEFAULT_BACKEND = "shm";

    /** What an option accepts. (A switch, not lambdas: the first lambda costs milliseconds of every JVM's start.) */
    private enum Kind { NAME, PREFIXES, BOOLEAN, DURATION, LEVEL, PATH, PATHS, STORAGE_BACKEND, SIZE, QUEUES }

    /** One option: its name, default (null: none), what it accepts, and how to say so. */
    private record Option(String name, String defaultValue, Kind kind, String expected) {
        boolean list() {
            return kind == Kind.PREFIXES || kind == Kind.PATHS;
        }

        boolean valid(String text) {
            return switch (kind) {
                case NAME, PATH, PATHS -> !text.isEmpty();
                case STORAGE_BACKEND -> text.equals("file") || text.equals("io_uring");
                case QUEUES -> text.matches("\\d{1,2}") && Integer.parseInt(text) >= 1 && Integer.parseInt(text) <= 16;
                case SIZE -> SIZE.matcher(text).matches() && parseSize(text) >= MIN_STORAGE_SIZE
                        && parseSize(text) % 4096 == 0;
                case PREFIXES -> isIpv4Prefix(text);
                case BOOLEAN -> text.equals("true") || text.equals("false");
                case DURATION -> DURATION.matcher(text).matches();
                case LEVEL -> LOG_LEVELS.contains(text);
            };
        }
    }

    private static final Pattern SIZE = Pattern.compile("(\\d{1,12})([kmgt]?)", Pattern.CASE_INSENSITIVE);
    private static final long MIN_STORAGE_SIZE = 64 << 10;
    private static final Pattern DURATION = Pattern.compile("\\d+\\s*(ns|us|ms|s)?");
    private static final Pattern IPV4_PREFIX = Pattern.compile("(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})(/(\\d{1,2}))?");
    private static final Set<String> LOG_LEVELS = Set.of("off", "error", "warning", "info", "debug", "trace");
    private static final Set<String> CASELESS = Set.of("loopback", "spin", "log", "banner");

    private static final Map<String, Option> OPTIONS = table(
            new Option("backend", DEFAULT_BACKEND, Kind.NAME, "a VNIC backend name"),
            new Option("route", "198.18.0.0/15", Kind.PREFIXES, "IPv4 prefixes like 198.18.0.0/15"),
            new Option("loopback", "true", Kind.BOOLEAN, "true or false"),
            new Option("spin", "50us", Kind.DURATION, "a duration like 50us, 2ms, 1000ns or 0"),
            new Option("queues", "1", Kind.QUEUES, "a number of VNIC queues from 1 to 16 (one stack each; selectors share them out)"),
            new Option("log", "warning", Kind.LEVEL, "off, error, warning, info, debug or trace"),
            new Option("banner", "true", Kind.BOOLEAN, "true or false"),
            new Option("capture", null, Kind.PATH, "the path of a pcap file to write"),
            new Option("storage.mount", null, Kind.PATHS, "directories whose files go to a VSA's log store"),
            new Option("storage.vsa", null, Kind.PATHS, "the VSA image for each mount (default <mount>.vsa), or control:[<socket>#]<name> for one the control plane allocates"),
            new Option("storage.backend", "file", Kind.STORAGE_BACKEND, "file or io_uring"),
            new Option("storage.size", "256m", Kind.SIZE, "a new VSA's size: bytes, or with k, m, g; 4k multiple >= 64k"),
            new Option(CONFIG, null, Kind.PATH, "the path of an options file"));

    private final Map<String, String> values; // every option with a value, defaults included; list values comma-joined

    private AgentOptions(Map<String, String> values) {
        this.values = values;
    }

    /** A mistake in the options: the message names it, where it was, and what is valid. */
    static final class BadOptionException extends Exception {
        private static final long serialVersionUID = 1L;

        BadOptionException(String message) {
            super(message);
        }
    }

    private static Map<String, Option> table(Option... options) {
        Map<String, Option> table = new LinkedHashMap<>();
        for (Option option : options) {
            table.put(option.name(), option);
        }
        return table;
    }

    /** The option names, in the order the usage lists them. */
    static String validNames() {
        return String.join(", ", OPTIONS.keySet()) + ", <backend>.<backend option>";
    }

    /** The usage text: every option, its default and what it accepts. */
    static String usage() {
        StringBuilder text = new StringBuilder();
        for (Option option : OPTIONS.values()) {
            text.append(String.format("  %-15s %-16s %s%n", option.name(),
                    option.defaultValue() == null ? "(none)" : option.defaultValue(), option.expected()));
        }
        text.append(String.format("  %-32s %s%n", "<backend>.<option>", "passed to the backend, e.g. shm.socket=/run/arrakis/control.sock"));
        return text.toString();
    }

    /**
     * Reads and checks the options from {@code agentArguments} (may be null), {@code properties}
     * ({@code arrakis.*}) and the options file either names.
     */
    static AgentOptions resolve(String agentArguments, Properties properties) throws BadOptionException {
        Map<String, String> fromArguments = parseArguments(agentArguments);
        Map<String, String> fromProperties = new LinkedHashMap<>();
        for (String key : new TreeSet<>(properties.stringPropertyNames())) {
            if (key.startsWith(PREFIX)) {
                String name = key.substring(PREFIX.length());
                fromProperties.put(name, properties.getProperty(key).strip());
            }
        }
        Map<String, String> fromFile = Map.of();
        String configSource = fromArguments.containsKey(CONFIG) ? "the agent arguments" : "system property " + PREFIX + CONFIG;
        String config = fromArguments.getOrDefault(CONFIG, fromProperties.get(CONFIG));
        if (config != null) {
            fromFile = readFile(config, configSource);
        }

        BackendNames backends = new BackendNames();
        Map<String, String> values = new LinkedHashMap<>();
        List<Map.Entry<String, Map<String, String>>> sources = List.of(
                Map.entry("the agent arguments", fromArguments),
                Map.entry("system properties (" + PREFIX + "*)", fromProperties),
                Map.entry("options file " + config, fromFile));
        for (var source : sources) {
            for (var entry : source.getValue().entrySet()) {
                String value = normalised(entry.getKey(), entry.getValue());
                check(entry.getKey(), value, source.getKey(), backends);
                values.putIfAbsent(entry.getKey(), value);
            }
        }
        for (Option option : OPTIONS.values()) {
            if (option.defaultValue() != null) {
                values.putIfAbsent(option.name(), option.defaultValue());
            }
        }
        String backend = values.get("backend");
        if (!backends.contains(backend)) {
            throw new BadOptionException("backend=" + backend + " is not a registered VNIC backend (registered: "
                    + backends + ")");
        }
        for (String name : values.keySet()) {
            int dot = name.indexOf('.');
            if (dot > 0 && !OPTIONS.containsKey(name) && !name.substring(0, dot).equals(backend)) {
                throw new BadOptionException("option " + name + " is for backend " + name.substring(0, dot)
                        + ", but the backend is " + backend + " (set backend=" + name.substring(0, dot)
                        + ", or drop the option)");
            }
        }
        AgentOptions resolved = new AgentOptions(values);
        int mounts = resolved.list("storage.mount").size();
        int images = resolved.list("storage.vsa").size();
        if (images > 0 && images != mounts) {
            throw new BadOptionException("storage.vsa names " + images + " VSA image(s) for " + mounts
                    + " storage.mount director" + (mounts == 1 ? "y" : "ies") + "; give one per mount, in the same"
                    + " order, or none (then each mount's is <mount>.vsa)");
        }
        return resolved;
    }

    private static Map<String, String> parseArguments(String arguments) throws BadOptionException {
        Map<String, String> parsed = new LinkedHashMap<>();
        if (arguments == null || arguments.isBlank()) {
            return parsed;
        }
        for (String item : arguments.split(",")) {
            String trimmed = item.strip();
            if (trimmed.isEmpty()) {
                continue;
            }
            int equals = trimmed.indexOf('=');
            if (equals <= 0) {
                throw new BadOptionException("'" + trimmed + "' in the agent arguments is not name=value (valid names: "
                        + validNames() + ")");
            }
            String name = trimmed.substring(0, equals).strip();
            String value = trimmed.substring(equals + 1).strip();
            Option option = OPTIONS.get(name);
            if (parsed.containsKey(name)) {
                if (option == null || !option.list()) {
                    throw new BadOptionException("option " + name + " is given twice in the agent arguments");
                }
                value = parsed.get(name) + "," + value; // repeated list option: route=a,route=b
            }
            parsed.put(name, value);
        }
        return parsed;
    }

    /**
     * Reads the options file through {@code java.io}: a {@code Path} would create the JVM's default
     * file system now, before the agent can name its provider ({@code storage.mount}).
     */
    private static Map<String, String> readFile(String file, String namedBy) throws BadOptionException {
        Properties properties = new Properties();
        try (Reader reader = new InputStreamReader(new FileInputStream(file), StandardCharsets.UTF_8)) {
            properties.load(reader);
        } catch (IOException | IllegalArgumentException e) {
            throw new BadOptionException("cannot read the options file " + file + " (named by " + namedBy + "): " + e);
        }
        Map<String, String> values = new LinkedHashMap<>();
        for (String name : new TreeSet<>(properties.stringPropertyNames())) {
            if (name.equals(CONFIG)) {
                throw new BadOptionException("options file " + file + " names another options file (config=);"
                        + " put every option in one file");
            }
            values.put(name, properties.getProperty(name).strip());
        }
        return values;
    }

    private static void check(String name, String value, String source, BackendNames backends)
            throws BadOptionException {
        Option option = OPTIONS.get(name);
        if (option == null) {
            int dot = name.indexOf('.');
            if (dot > 0 && dot < name.length() - 1 && backends.contains(name.substring(0, dot))) {
                return; // a backend option: the backend checks it when it opens
            }
            throw new BadOptionException("unknown option '" + name + "' in " + source + " (valid: " + validNames()
                    + "; backends: " + backends + ")");
        }
        if (option.list() && value.isEmpty()) {
            return; // an empty list: route= routes nothing
        }
        for (String item : option.list() ? value.split(",", -1) : new String[] {value}) {
            if (!option.valid(item.strip())) {
                throw new BadOptionException("option " + name + "=" + value + " in " + source + ": '" + item.strip()
                        + "' is not " + option.expected());
            }
        }
    }

    /** Trimmed; lower-cased for the options whose case means nothing (levels, booleans, durations). */
    private static String normalised(String name, String value) {
        String trimmed = value.strip();
        return CASELESS.contains(name) ? trimmed.toLowerCase(Locale.ROOT) : trimmed;
    }

    private static boolean isIpv4Prefix(String text) {
        var match = IPV4_PREFIX.matcher(text);
        if (!match.matches()) {
            return false;
        }
        for (int i = 1; i <= 4; i++) {
            if (Integer.parseInt(match.group(i)) > 255) {
                return false;
            }
        }
        return match.group(6) == null || Integer.parseInt(match.group(6)) <= 32;
    }

    /**
     * The registered VNIC backends' names, without asking whether they can run here (that can
     * touch devices); the service loader is asked only for a name other than the default.
     */
    private static final class BackendNames {
        private Set<String> names;

        boolean contains(String name) {
            return name.equals(DEFAULT_BACKEND) || all().contains(name);
        }

        private Set<String> all() {
            if (names == null) {
                names = new TreeSet<>();
                for (VnicBackend backend : DeviceBackends.vnicBackends()) {
                    names.add(backend.name());
                }
            }
            return names;
        }

        @Override
        public String toString() {
            return String.join(", ", all());
        }
    }

    /** The value of {@code name}; null when it has none. */
    String get(String name) {
        return values.get(name);
    }

    boolean flag(String name) {
        return Boolean.parseBoolean(get(name));
    }

    /** {@code 256m} → 268435456; the pattern has been checked. */
    static long parseSize(String text) {
        var match = SIZE.matcher(text.strip());
        if (!match.matches()) {
            throw new IllegalArgumentException("not a size: " + text);
        }
        long number = Long.parseLong(match.group(1));
        int shift = switch (match.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        if (number > (Long.MAX_VALUE >> shift)) {
            return -1;
        }
        return number << shift;
    }

    /** The items of a list option; empty when it has no value. */
    List<String> list(String name) {
        List<String> items = new ArrayList<>();
        String value = get(name);
        if (value != null) {
            for (String item : value.split(",")) {
                if (!item.isBlank()) {
                    items.add(item.strip());
                }
            }
        }
        return items;
    }

    /** The routed prefixes, as given. */
    List<String> routes() {
        List<String> routes = new ArrayList<>();
        for (String route : get("route").split(",")) {
            if (!route.isBlank()) {
                routes.add(route.strip());
            }
        }
        return routes;
    }

    /** Sets {@code arrakis.<name>} for every option (defaults included), replacing what was there. */
    void publish(Properties properties) {
        for (String name : values.keySet()) {
            String value = name.equals("route") ? String.join(",", routes()) : get(name);
            properties.setProperty(PREFIX + name, value);
        }
    }

    @Override
    public String toString() {
        return values.toString();
    }
}

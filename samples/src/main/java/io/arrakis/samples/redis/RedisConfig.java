package io.arrakis.samples.redis;

import java.nio.file.Path;

/**
 * The server's settings, from the command line ({@code --port 6379 --appendonly yes ...}) or
 * built in code. Mutable only before {@link RedisServer#start}; afterwards the event loop owns
 * the live copies.
 */
public final class RedisConfig {
    int port = 6379;
    String bind = "127.0.0.1";
    boolean appendOnly;
    FsyncPolicy appendFsync = FsyncPolicy.EVERYSEC;
    Path dir = Path.of(".");
    int databases = 16;

    public RedisConfig port(int port) {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be 0..65535 (0: any free port), not " + port);
        }
        this.port = port;
        return this;
    }

    public RedisConfig bind(String address) {
        this.bind = address;
        return this;
    }

    public RedisConfig appendOnly(boolean enabled) {
        this.appendOnly = enabled;
        return this;
    }

    /** {@code always}, {@code everysec} or {@code no}. */
    public RedisConfig appendFsync(String policy) {
        this.appendFsync = FsyncPolicy.parse(policy);
        return this;
    }

    public RedisConfig dir(Path dir) {
        this.dir = dir;
        return this;
    }

    public RedisConfig databases(int count) {
        if (count < 1) {
            throw new IllegalArgumentException("--databases must be at least 1, not " + count);
        }
        this.databases = count;
        return this;
    }

    static final String USAGE = """
            usage: java io.arrakis.samples.redis.RedisServer [options]
              --port N               TCP port (default 6379; 0 picks a free one)
              --bind ADDRESS         address to listen on (default 127.0.0.1)
              --appendonly yes|no    log every write to DIR/appendonly.aof and replay it at start (default no)
              --appendfsync always|everysec|no   when the log is forced to disk (default everysec)
              --dir DIR              directory of the append-only file (default .)
              --databases N          number of databases for SELECT (default 16)""";

    /** Parses Redis-style options; throws {@link IllegalArgumentException} saying what is wrong. */
    public static RedisConfig parse(String... args) {
        RedisConfig config = new RedisConfig();
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            if (option.equals("--help") || option.equals("-h")) {
                throw new IllegalArgumentException(USAGE);
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option " + option + " needs a value\n" + USAGE);
            }
            String value = args[++i];
            switch (option) {
                case "--port" -> config.port(parseInt(option, value));
                case "--bind" -> config.bind(value);
                case "--appendonly" -> config.appendOnly(parseYesNo(option, value));
                case "--appendfsync" -> config.appendFsync(value);
                case "--dir" -> config.dir(Path.of(value));
                case "--databases" -> config.databases(parseInt(option, value));
                default -> throw new IllegalArgumentException("unknown option " + option + "\n" + USAGE);
            }
        }
        return config;
    }

    private static int parseInt(String option, String value) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " needs a number, not '" + value + "'");
        }
    }

    private static boolean parseYesNo(String option, String value) {
        return switch (value) {
            case "yes" -> true;
            case "no" -> false;
            default -> throw new IllegalArgumentException(option + " must be yes or no, not '" + value + "'");
        };
    }
}

package io.arrakis.samples.memcached;

/**
 * The server's settings, from memcached-style options ({@code -p 11211 -t 4 -m 64 -I 1m}, or
 * {@code --port=11211}). Mutable only before {@link MemcachedServer#start}.
 */
public final class MemcachedConfig {
    int port = 11211;
    String listen = "127.0.0.1";
    int threads = 4;
    long memoryLimitBytes = 64L * 1024 * 1024;
    int itemSizeMax = 1024 * 1024;

    public MemcachedConfig port(int port) {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be 0..65535 (0: any free port), not " + port);
        }
        this.port = port;
        return this;
    }

    public MemcachedConfig listen(String address) {
        this.listen = address;
        return this;
    }

    public MemcachedConfig threads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, not " + threads);
        }
        this.threads = threads;
        return this;
    }

    public MemcachedConfig memoryLimitMegabytes(long megabytes) {
        if (megabytes < 1) {
            throw new IllegalArgumentException("memory limit must be at least 1 MB, not " + megabytes);
        }
        this.memoryLimitBytes = megabytes * 1024 * 1024;
        return this;
    }

    /** For tests: a limit below a megabyte. */
    MemcachedConfig memoryLimitBytes(long bytes) {
        this.memoryLimitBytes = bytes;
        return this;
    }

    public MemcachedConfig itemSizeMax(int bytes) {
        if (bytes < 1024 || bytes > 1024 * 1024 * 1024) {
            throw new IllegalArgumentException("item size max must be between 1k and 1g, not " + bytes);
        }
        this.itemSizeMax = bytes;
        return this;
    }

    static final String USAGE = """
            usage: java io.arrakis.samples.memcached.MemcachedServer [options]
              -p, --port=N             TCP port (default 11211; 0 picks a free one)
              -l, --listen=ADDRESS     address to listen on (default 127.0.0.1)
              -t, --threads=N          worker threads, each with its own selector (default 4)
              -m, --memory-limit=MB    memory for items, LRU-evicted beyond it (default 64)
              -I, --max-item-size=SIZE largest item, e.g. 1m, 512k (default 1m)""";

    /** Parses memcached-style options; throws {@link IllegalArgumentException} saying what is wrong. */
    public static MemcachedConfig parse(String... args) {
        MemcachedConfig config = new MemcachedConfig();
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            String value;
            int equals = option.indexOf('=');
            if (option.startsWith("--") && equals > 0) {
                value = option.substring(equals + 1);
                option = option.substring(0, equals);
            } else if (option.equals("-h") || option.equals("--help")) {
                throw new IllegalArgumentException(USAGE);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("option " + option + " needs a value\n" + USAGE);
            }
            switch (option) {
                case "-p", "--port" -> config.port(parseInt(option, value));
                case "-l", "--listen" -> config.listen(value);
                case "-t", "--threads" -> config.threads(parseInt(option, value));
                case "-m", "--memory-limit" -> config.memoryLimitMegabytes(parseInt(option, value));
                case "-I", "--max-item-size" -> config.itemSizeMax(parseSize(option, value));
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

    private static int parseSize(String option, String value) {
        String lower = value.toLowerCase(java.util.Locale.ROOT);
        long unit = 1;
        if (lower.endsWith("k")) {
            unit = 1024;
        } else if (lower.endsWith("m")) {
            unit = 1024 * 1024;
        }
        String digits = unit == 1 ? lower : lower.substring(0, lower.length() - 1);
        long size = parseInt(option, digits) * unit;
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(option + " is too large: " + value);
        }
        return (int) size;
    }
}

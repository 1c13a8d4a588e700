package io.arrakis.samples.loadgen;

import java.util.Locale;

/**
 * What to run: protocol, target, connections, pipeline depth, closed or open loop, key space,
 * sizes, GET:SET mix, warm-up and measured time. Built from options or in code; not modified once
 * a run starts.
 */
public final class LoadConfig {
    /** Wire protocol of the server under test. */
    public enum Protocol { RESP, MEMCACHE }

    Protocol protocol = Protocol.RESP;
    String host = "127.0.0.1";
    int port = 6379;
    int connections = 50;
    int threads = 1;
    int pipeline = 1;
    /** Target requests per second over all connections; 0 for a closed loop. */
    long rate;
    double warmupSeconds = 1;
    double durationSeconds = 5;
    int keys = 10_000;
    String keyPrefix = "key:";
    int keySize;
    int valueSize = 32;
    int getWeight = 9;
    int setWeight = 1;
    boolean prefill = true;
    long seed = 1;
    String jsonPath;

    public LoadConfig protocol(Protocol p) {
        protocol = p;
        if (port == 6379 && p == Protocol.MEMCACHE) {
            port = 11211;
        }
        return this;
    }

    public LoadConfig host(String h) {
        host = h;
        return this;
    }

    public LoadConfig port(int p) {
        port = p;
        return this;
    }

    public LoadConfig connections(int n) {
        require(n >= 1, "--connections must be at least 1");
        connections = n;
        return this;
    }

    public LoadConfig threads(int n) {
        require(n >= 1, "--threads must be at least 1");
        threads = n;
        return this;
    }

    public LoadConfig pipeline(int n) {
        require(n >= 1, "--pipeline must be at least 1");
        pipeline = n;
        return this;
    }

    /** Open loop at this many requests per second in all; 0 for a closed loop. */
    public LoadConfig rate(long perSecond) {
        require(perSecond >= 0, "--rate must be 0 (closed loop) or positive");
        rate = perSecond;
        return this;
    }

    public LoadConfig warmupSeconds(double s) {
        require(s >= 0, "--warmup must not be negative");
        warmupSeconds = s;
        return this;
    }

    public LoadConfig durationSeconds(double s) {
        require(s > 0, "--duration must be positive");
        durationSeconds = s;
        return this;
    }

    public LoadConfig keys(int n) {
        require(n >= 1, "--keys must be at least 1");
        keys = n;
        return this;
    }

    public LoadConfig keyPrefix(String prefix) {
        require(!prefix.contains(" ") && !prefix.contains("\r") && !prefix.contains("\n"),
                "--key-prefix must not contain spaces or line breaks (memcached keys cannot)");
        keyPrefix = prefix;
        return this;
    }

    /** Minimum key length: the index is zero-padded up to it. */
    public LoadConfig keySize(int n) {
        require(n >= 0 && n <= 250, "--key-size must be 0..250 (memcached's limit)");
        keySize = n;
        return this;
    }

    public LoadConfig valueSize(int n) {
        require(n >= 0, "--value-size must not be negative");
        valueSize = n;
        return this;
    }

    /** The GET:SET mix, e.g. 9 and 1. */
    public LoadConfig ratio(int gets, int sets) {
        require(gets >= 0 && sets >= 0 && gets + sets > 0, "--ratio needs GET:SET weights, not both zero");
        getWeight = gets;
        setWeight = sets;
        return this;
    }

    public LoadConfig prefill(boolean enabled) {
        prefill = enabled;
        return this;
    }

    public LoadConfig seed(long s) {
        seed = s;
        return this;
    }

    public LoadConfig json(String path) {
        jsonPath = path;
        return this;
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException(message);
        }
    }

    static final String USAGE = """
            usage: java io.arrakis.samples.loadgen.LoadGenerator [options]
              --protocol resp|memcache   wire protocol (default resp)
              --host HOST --port N       the server (default 127.0.0.1, 6379 or 11211)
              --connections N            connections in all (default 50)
              --threads N                event-loop threads sharing them (default 1)
              --pipeline N               requests in flight per connection (default 1)
              --rate N                   open loop at N requests/s in all, latency measured from each
                                         request's intended send time; 0 = closed loop (default 0)
              --warmup S --duration S    seconds of warm-up, then of measurement (default 1 and 5)
              --keys N                   key space (default 10000), keys chosen uniformly
              --key-prefix P --key-size N   keys are P + index, zero-padded to N bytes (default key:, 0)
              --value-size N             bytes per value (default 32)
              --ratio G:S                GET:SET mix (default 9:1)
              --no-prefill               skip setting every key before the run (GETs may then miss)
              --seed N                   key choice seed (default 1)
              --json FILE                also write the results as JSON to FILE ("-" for stdout)""";

    /** Parses options; throws {@link IllegalArgumentException} saying what is wrong. */
    public static LoadConfig parse(String... args) {
        LoadConfig config = new LoadConfig();
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            if (option.equals("--help") || option.equals("-h")) {
                throw new IllegalArgumentException(USAGE);
            }
            if (option.equals("--no-prefill")) {
                config.prefill(false);
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option " + option + " needs a value\n" + USAGE);
            }
            String value = args[++i];
            try {
                switch (option) {
                    case "--protocol" -> config.protocol(switch (value.toLowerCase(Locale.ROOT)) {
                        case "resp", "redis" -> Protocol.RESP;
                        case "memcache", "memcached", "memcache_text" -> Protocol.MEMCACHE;
                        default -> throw new IllegalArgumentException("--protocol must be resp or memcache, not " + value);
                    });
                    case "--host" -> config.host(value);
                    case "--port" -> config.port(Integer.parseInt(value));
                    case "--connections" -> config.connections(Integer.parseInt(value));
                    case "--threads" -> config.threads(Integer.parseInt(value));
                    case "--pipeline" -> config.pipeline(Integer.parseInt(value));
                    case "--rate" -> config.rate(Long.parseLong(value));
                    case "--warmup" -> config.warmupSeconds(Double.parseDouble(value));
                    case "--duration" -> config.durationSeconds(Double.parseDouble(value));
                    case "--keys" -> config.keys(Integer.parseInt(value));
                    case "--key-prefix" -> config.keyPrefix(value);
                    case "--key-size" -> config.keySize(Integer.parseInt(value));
                    case "--value-size" -> config.valueSize(Integer.parseInt(value));
                    case "--ratio" -> {
                        String[] parts = value.split(":");
                        if (parts.length != 2) {
                            throw new IllegalArgumentException("--ratio must be GET:SET, like 9:1, not " + value);
                        }
                        config.ratio(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]));
                    }
                    case "--seed" -> config.seed(Long.parseLong(value));
                    case "--json" -> config.json(value);
                    default -> throw new IllegalArgumentException("unknown option " + option + "\n" + USAGE);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(option + " needs a number, not '" + value + "'");
            }
        }
        if (config.threads > config.connections) {
            throw new IllegalArgumentException("--threads (" + config.threads + ") cannot exceed --connections ("
                    + config.connections + ")");
        }
        return config;
    }

    String describe() {
        return String.format(Locale.ROOT, "%s %s:%d, %d connection%s x pipeline %d, %d thread%s, %s, %d keys, "
                        + "%d-byte values, GET:SET %d:%d, %.1f s after %.1f s warm-up",
                protocol == Protocol.RESP ? "RESP" : "memcache text", host, port, connections,
                connections == 1 ? "" : "s", pipeline, threads, threads == 1 ? "" : "s",
                rate == 0 ? "closed loop" : "open loop at " + rate + "/s", keys, valueSize, getWeight, setWeight,
                durationSeconds, warmupSeconds);
    }
}

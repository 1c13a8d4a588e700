package io.arrakis.bench.servers;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One scenario of the server benchmark (issue 6): named cases, each a server and a load, run on
 * each of the scenario's paths in every repetition. Immutable.
 *
 * @param name short name, used on the command line ({@code --scenario}) and in file names
 * @param title what it measures, for the table
 * @param paths the paths compared (ours with the agent and the kernel's, or only the kernel's for
 *     the C reference servers)
 * @param cases the rows
 * @param realClients whether the load comes from the Linux tools ({@code redis-benchmark},
 *     {@code memcaslap}) rather than our load generator
 */
record Scenario(String name, String title, List<DataPath> paths, List<Case> cases, boolean realClients) {

    /** Where a server and its clients run. */
    enum DataPath {
        /** Both JVMs with {@code -javaagent}: the shared-memory switch and our TCP stack. */
        AGENT("ours", "agent, shm switch"),
        /** Both processes without the agent, over the kernel's loopback. */
        KERNEL("kernel", "kernel loopback"),
        /** The server with the agent on the TAP backend, the Linux client in a network namespace. */
        AGENT_TAP("ours-tap", "agent, TAP backend");

        final String key;
        final String description;

        DataPath(String key, String description) {
            this.key = key;
            this.description = description;
        }

        boolean agent() {
            return this != KERNEL;
        }
    }

    /** Which server program. */
    enum ServerKind {
        REDIS_JAVA("Redis-like (Java)"),
        MEMCACHED_JAVA("memcached-like (Java)"),
        REDIS_C("redis-server (C)"),
        MEMCACHED_C("memcached (C)");

        final String description;

        ServerKind(String description) {
            this.description = description;
        }

        boolean resp() {
            return this == REDIS_JAVA || this == REDIS_C;
        }

        boolean java() {
            return this == REDIS_JAVA || this == MEMCACHED_JAVA;
        }
    }

    /**
     * Where a durable server keeps its append-only file. The kernel's path always keeps it on
     * /tmp (ext4 here); on our path {@link #TMP} keeps it there too (only the network differs),
     * and the store placements mount the server's AOF directory on our storage stack with the
     * agent's {@code storage.mount}, on a fresh VSA image next to it that the benchmark checks and
     * deletes when the server stops ({@code ServerRunner}).
     */
    enum AofPlacement {
        TMP("tmp", "AOF on /tmp (kernel file system on both paths)", null),
        STORE_FILE("store-file", "AOF on our storage stack (file backend) on our path, /tmp on the kernel's", "file"),
        STORE_URING("store-uring", "AOF on our storage stack (io_uring backend) on our path, /tmp on the kernel's",
                "io_uring");

        /**
         * The VSA's size by default: the log grows by at least a block per commit (≈5k commits/s),
         * so a server's ≈15 s of cases fill ≈300 MB; at this size no checkpoint stalls a measurement.
         */
        static final String VSA_BYTES = "1g";

        /** In case names and JSON. */
        final String key;
        final String description;
        /** The VSIC backend of the server's VSA on our path, or null when the AOF stays on /tmp. */
        final String storageBackend;

        AofPlacement(String key, String description, String storageBackend) {
            this.key = key;
            this.description = description;
            this.storageBackend = storageBackend;
        }

        boolean onStore() {
            return storageBackend != null;
        }

        /** The VSA image of a server whose AOF directory is {@code aofDirectory}. */
        static java.nio.file.Path image(java.nio.file.Path aofDirectory) {
            return aofDirectory.resolveSibling(aofDirectory.getFileName() + ".vsa");
        }

        /** Extra agent arguments ({@code key=value,...}) for the server on our path, or empty. */
        String agentArguments(java.nio.file.Path aofDirectory, String vsaBytes) {
            if (!onStore()) {
                return "";
            }
            return "storage.mount=" + aofDirectory + ",storage.vsa=" + image(aofDirectory) + ",storage.backend="
                    + storageBackend + ",storage.size=" + vsaBytes;
        }
    }

    /**
     * A server as started for a group of cases: its kind, worker threads (memcached) and whether
     * it logs every write with {@code appendfsync always} (Redis), and where that log lives.
     */
    record ServerSpec(ServerKind kind, int threads, AofPlacement durable) {
        static ServerSpec of(ServerKind kind) {
            return new ServerSpec(kind, 1, null);
        }

        String describe() {
            StringBuilder out = new StringBuilder(kind.description);
            if (kind == ServerKind.MEMCACHED_JAVA || kind == ServerKind.MEMCACHED_C) {
                out.append(", ").append(threads).append(threads == 1 ? " worker thread" : " worker threads");
            }
            if (durable != null) {
                out.append(", appendfsync always, ").append(durable.description);
            }
            return out.toString();
        }
    }

    /**
     * The load of one case: GET:SET weights, connections, requests in flight per connection;
     * keys, value size and times come from the run's {@link Sizes}.
     */
    record Load(int gets, int sets, int connections, int pipeline) {
        String operation() {
            return sets == 0 ? "GET" : gets == 0 ? "SET" : "GET:SET " + gets + ":" + sets;
        }
    }

    /** One row: a name for files and JSON, a title for the table, the server and the load. */
    record Case(String name, String title, ServerSpec server, Load load) {
        static Case of(ServerSpec server, Load load) {
            String op = load.operation();
            String title = String.format(Locale.ROOT, "%s, %d conn%s x pipeline %d", op, load.connections(),
                    load.connections() == 1 ? "" : "s", load.pipeline());
            if (server.kind() == ServerKind.MEMCACHED_JAVA || server.kind() == ServerKind.MEMCACHED_C) {
                title += ", " + server.threads() + (server.threads() == 1 ? " worker" : " workers");
            }
            String name = (op.startsWith("GET:SET") ? "mix" + load.gets() + "-" + load.sets() : op.toLowerCase(Locale.ROOT))
                    + "-c" + load.connections() + "-p" + load.pipeline()
                    + (server.kind().resp() ? "" : "-t" + server.threads())
                    + (server.durable() == null ? "" : "-aof-" + server.durable().key);
            return new Case(name, title, server, load);
        }
    }

    /** How long and how big: the full suite or {@code --quick}. */
    record Sizes(String name, int repetitions, double warmupSeconds, double durationSeconds, int keys, int valueSize,
            int redisBenchmarkRequests, double memcaslapSeconds) {
        // A load generator JVM with the agent runs slowly for its first second or so (JIT): 2 s of
        // warm-up keep that out of the measurement; --quick accepts some of it.
        static final Sizes FULL = new Sizes("full", 3, 2.0, 3.0, 10_000, 32, 100_000, 3);
        static final Sizes QUICK = new Sizes("quick", 1, 1.0, 1.0, 10_000, 32, 20_000, 1);
        /** For the test of the machinery: seconds in all. */
        static final Sizes TINY = new Sizes("tiny", 1, 0.0, 0.3, 200, 32, 2_000, 1);

        Sizes withRepetitions(int n) {
            return new Sizes(name, n, warmupSeconds, durationSeconds, keys, valueSize, redisBenchmarkRequests,
                    memcaslapSeconds);
        }
    }

    /** The suite of issue 6, in the order it runs. */
    static List<Scenario> suite() {
        List<DataPath> both = List.of(DataPath.AGENT, DataPath.KERNEL);
        List<DataPath> kernelOnly = List.of(DataPath.KERNEL);
        ServerSpec redis = ServerSpec.of(ServerKind.REDIS_JAVA);
        ServerSpec redisC = ServerSpec.of(ServerKind.REDIS_C);
        List<Scenario> suite = new ArrayList<>();

        suite.add(new Scenario("redis", "Redis-like GET and SET: 1 connection (latency), 10 and 50 connections"
                + " (throughput)", both, redisCases(redis), false));

        List<Case> durable = new ArrayList<>();
        for (AofPlacement placement : AofPlacement.values()) {
            ServerSpec spec = new ServerSpec(ServerKind.REDIS_JAVA, 1, placement);
            durable.add(Case.of(spec, new Load(0, 1, 1, 1)));
            durable.add(Case.of(spec, new Load(0, 1, 50, 1)));
        }
        suite.add(new Scenario("durable", "Redis-like SET with appendfsync always: 1 and 50 connections", both,
                durable, false));

        suite.add(new Scenario("memcached", "memcached-like GET:SET 9:1 at 50 connections, 1 and 2 worker threads",
                both, memcachedCases(ServerKind.MEMCACHED_JAVA), false));

        List<Case> reference = new ArrayList<>(redisCases(redisC));
        ServerSpec durableC = new ServerSpec(ServerKind.REDIS_C, 1, AofPlacement.TMP);
        reference.add(Case.of(durableC, new Load(0, 1, 1, 1)));
        reference.add(Case.of(durableC, new Load(0, 1, 50, 1)));
        reference.addAll(memcachedCases(ServerKind.MEMCACHED_C));
        suite.add(new Scenario("reference", "The C redis-server and memcached (Debian) on the kernel's loopback,"
                + " same load generator", kernelOnly, reference, false));

        ServerSpec memcached = ServerSpec.of(ServerKind.MEMCACHED_JAVA);
        List<Case> clients = List.of(
                new Case("redis-benchmark-set-c1", "redis-benchmark SET, 1 conn", redis, new Load(0, 1, 1, 1)),
                new Case("redis-benchmark-get-c1", "redis-benchmark GET, 1 conn", redis, new Load(1, 0, 1, 1)),
                new Case("redis-benchmark-set-c50", "redis-benchmark SET, 50 conns", redis, new Load(0, 1, 50, 1)),
                new Case("redis-benchmark-get-c50", "redis-benchmark GET, 50 conns", redis, new Load(1, 0, 50, 1)),
                new Case("memcaslap-c50", "memcaslap GET:SET 9:1, 50 conns, 10% verified", memcached,
                        new Load(9, 1, 50, 1)));
        suite.add(new Scenario("clients", "Real Linux clients against our servers: TAP backend (in a network"
                + " namespace) and kernel loopback", List.of(DataPath.AGENT_TAP, DataPath.KERNEL), clients, true));
        return List.copyOf(suite);
    }

    private static List<Case> redisCases(ServerSpec server) {
        return List.of(
                Case.of(server, new Load(1, 0, 1, 1)),
                Case.of(server, new Load(1, 0, 10, 1)),
                Case.of(server, new Load(1, 0, 50, 1)),
                Case.of(server, new Load(1, 0, 50, 16)),
                Case.of(server, new Load(0, 1, 1, 1)),
                Case.of(server, new Load(0, 1, 50, 1)),
                Case.of(server, new Load(0, 1, 50, 16)));
    }

    private static List<Case> memcachedCases(ServerKind kind) {
        return List.of(
                Case.of(new ServerSpec(kind, 1, null), new Load(9, 1, 50, 1)),
                Case.of(new ServerSpec(kind, 2, null), new Load(9, 1, 50, 1)));
    }

    /** This scenario with only its cases whose names {@code keep} accepts (for the test's tiny runs). */
    Scenario onlyCases(java.util.function.Predicate<String> keep) {
        return new Scenario(name, title, paths, cases.stream().filter(c -> keep.test(c.name())).toList(), realClients);
    }
}

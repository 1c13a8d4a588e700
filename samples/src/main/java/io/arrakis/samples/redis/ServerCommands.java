package io.arrakis.samples.redis;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * SELECT, INFO, CONFIG GET/SET/RESETSTAT and COMMAND (COUNT, INFO, DOCS, LIST): what clients
 * such as redis-cli and redis-benchmark ask a server at start. Confined to the event-loop thread.
 */
final class ServerCommands {
    /** The version we answer with: the Redis release whose behaviour and error strings we follow. */
    static final String REDIS_VERSION = "7.0.15";

    void select(Call c) {
        long index = c.longArg(1);
        if (index < Integer.MIN_VALUE || index > Integer.MAX_VALUE) {
            throw new CommandError("ERR value is out of range, value must between -2147483648 and 2147483647");
        }
        if (index < 0 || index >= c.server.keyspace.databases.length) {
            throw new CommandError("ERR DB index is out of range");
        }
        c.client.db = (int) index;
        c.reply.ok();
    }

    // ---- INFO -----------------------------------------------------------------------------------

    void info(Call c) {
        RedisServer s = c.server;
        Map<String, List<String>> sections = new LinkedHashMap<>();
        long uptime = (System.currentTimeMillis() - s.startMillis) / 1000;
        sections.put("server", List.of(
                "redis_version:" + REDIS_VERSION,
                "redis_mode:standalone",
                "server_name:arrakis-samples-redis",
                "os:" + System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                        + System.getProperty("os.arch"),
                "arch_bits:64",
                "multiplexing_api:java.nio (" + java.nio.channels.spi.SelectorProvider.provider().getClass().getName()
                        + ")",
                "java_version:" + Runtime.version(),
                "process_id:" + ProcessHandle.current().pid(),
                "tcp_port:" + s.port(),
                "uptime_in_seconds:" + uptime,
                "uptime_in_days:" + uptime / 86400,
                "hz:10",
                "configured_hz:10",
                "io_threads_active:0"));
        sections.put("clients", List.of("connected_clients:" + s.connectedClients(), "blocked_clients:0"));
        Runtime runtime = Runtime.getRuntime();
        long used = runtime.totalMemory() - runtime.freeMemory();
        sections.put("memory", List.of("used_memory:" + used, "used_memory_human:" + used / (1024 * 1024) + "M",
                "maxmemory:0", "maxmemory_policy:noeviction"));
        sections.put("persistence", List.of(
                "loading:0",
                "rdb_changes_since_last_save:0",
                "aof_enabled:" + (s.aof != null ? 1 : 0),
                "aof_rewrite_in_progress:0",
                "aof_last_write_status:ok",
                "aof_current_size:" + (s.aof != null ? s.aof.size() : 0)));
        sections.put("stats", List.of(
                "total_connections_received:" + s.totalConnections,
                "total_commands_processed:" + s.totalCommands,
                "rejected_connections:0",
                "expired_keys:" + s.keyspace.expiredKeys,
                "evicted_keys:0",
                "keyspace_hits:" + s.keyspace.hits,
                "keyspace_misses:" + s.keyspace.misses));
        List<String> keyspace = new ArrayList<>();
        for (Database db : s.keyspace.databases) {
            if (db.size() > 0) {
                keyspace.add("db" + db.index + ":keys=" + db.size() + ",expires=" + db.volatileCount() + ",avg_ttl=0");
            }
        }
        sections.put("keyspace", keyspace);

        List<String> wanted = new ArrayList<>();
        for (int i = 1; i < c.argc(); i++) {
            wanted.add(Commands.ascii(c.arg(i)).toLowerCase(Locale.ROOT));
        }
        boolean everything = wanted.isEmpty() || wanted.contains("default") || wanted.contains("all")
                || wanted.contains("everything");
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, List<String>> section : sections.entrySet()) {
            if (!everything && !wanted.contains(section.getKey())) {
                continue;
            }
            if (!out.isEmpty()) {
                out.append("\r\n");
            }
            String title = section.getKey();
            out.append("# ").append(Character.toUpperCase(title.charAt(0))).append(title.substring(1)).append("\r\n");
            for (String line : section.getValue()) {
                out.append(line).append("\r\n");
            }
        }
        c.reply.bulk(out.toString());
    }

    // ---- CONFIG ---------------------------------------------------------------------------------

    private static final List<String> PARAMETERS = List.of("appendonly", "appendfsync", "appendfilename", "save",
            "dir", "port", "bind", "databases", "hz", "maxmemory", "proto-max-bulk-len");

    private static String parameterValue(RedisServer s, String name) {
        return switch (name) {
            case "appendonly" -> s.aof != null ? "yes" : "no";
            case "appendfsync" -> s.appendFsync.configName();
            case "appendfilename" -> AppendOnlyFile.FILE_NAME;
            case "save" -> "";
            case "dir" -> s.config.dir.toAbsolutePath().toString();
            case "port" -> Integer.toString(s.port());
            case "bind" -> s.config.bind;
            case "databases" -> Integer.toString(s.keyspace.databases.length);
            case "hz" -> "10";
            case "maxmemory" -> "0";
            case "proto-max-bulk-len" -> Long.toString(RequestParser.BULK_MAX);
            default -> throw new IllegalArgumentException(name);
        };
    }

    void config(Call c) {
        String sub = Commands.ascii(c.arg(1)).toLowerCase(Locale.ROOT);
        switch (sub) {
            case "get" -> {
                if (c.argc() < 3) {
                    throw CommandError.arity("config|get");
                }
                List<String> matched = new ArrayList<>();
                for (int i = 2; i < c.argc(); i++) {
                    String pattern = Commands.ascii(c.arg(i));
                    for (String name : PARAMETERS) {
                        if (!matched.contains(name) && Glob.matchesIgnoringCase(pattern, name)) {
                            matched.add(name);
                        }
                    }
                }
                c.reply.arrayHeader(matched.size() * 2L);
                for (String name : matched) {
                    c.reply.bulk(name);
                    c.reply.bulk(parameterValue(c.server, name));
                }
            }
            case "set" -> configSet(c);
            case "resetstat" -> {
                if (c.argc() != 2) {
                    throw CommandError.arity("config|resetstat");
                }
                c.server.totalCommands = 0;
                c.server.totalConnections = 0;
                c.server.keyspace.expiredKeys = 0;
                c.server.keyspace.hits = 0;
                c.server.keyspace.misses = 0;
                c.reply.ok();
            }
            case "rewrite" -> throw new CommandError("ERR The server is running without a config file");
            default -> throw new CommandError("ERR unknown subcommand '" + truncate(Commands.ascii(c.arg(1)))
                    + "'. Try CONFIG HELP.");
        }
    }

    private static String truncate(String text) {
        return text.length() > 128 ? text.substring(0, 128) : text;
    }

    private static CommandError setFailed(String name, String why) {
        return new CommandError("ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + why);
    }

    private void configSet(Call c) {
        if (c.argc() < 4 || c.argc() % 2 != 0) {
            throw CommandError.arity("config|set");
        }
        Map<String, String> changes = new LinkedHashMap<>();
        for (int i = 2; i < c.argc(); i += 2) {
            String name = Commands.ascii(c.arg(i)).toLowerCase(Locale.ROOT);
            String value = Commands.ascii(c.arg(i + 1));
            if (!PARAMETERS.contains(name)) {
                throw new CommandError("ERR Unknown option or number of arguments for CONFIG SET - '"
                        + truncate(Commands.ascii(c.arg(i))) + "'");
            }
            if (changes.containsKey(name)) {
                throw setFailed(name, "duplicate parameter");
            }
            switch (name) {
                case "appendonly" -> {
                    if (!value.equalsIgnoreCase("yes") && !value.equalsIgnoreCase("no")) {
                        throw setFailed(name, "argument must be 'yes' or 'no'");
                    }
                }
                case "appendfsync" -> {
                    try {
                        FsyncPolicy.parse(value);
                    } catch (IllegalArgumentException e) {
                        throw setFailed(name, "argument(s) must be one of the following: everysec, always, no");
                    }
                }
                case "save" -> {
                    if (!value.isEmpty()) {
                        throw setFailed(name, "this server keeps no RDB snapshots; only \"\" is accepted");
                    }
                }
                default -> throw setFailed(name, "can't set immutable config");
            }
            changes.put(name, value);
        }
        for (Map.Entry<String, String> change : changes.entrySet()) {
            switch (change.getKey()) {
                case "appendfsync" -> c.server.setAppendFsync(FsyncPolicy.parse(change.getValue()));
                case "appendonly" -> {
                    try {
                        c.server.setAppendOnly(change.getValue().equalsIgnoreCase("yes"));
                    } catch (IOException e) {
                        throw setFailed("appendonly", "cannot write the append-only file in " + c.server.config.dir
                                + ": " + e.getMessage());
                    }
                }
                default -> { } // save "": nothing to do
            }
        }
        c.reply.ok();
    }

    // ---- COMMAND --------------------------------------------------------------------------------

    void command(Call c) {
        if (c.argc() == 1) {
            c.reply.arrayHeader(c.server.commands.all().size());
            for (Command command : c.server.commands.all()) {
                commandInfo(c, command);
            }
            return;
        }
        String sub = Commands.ascii(c.arg(1)).toLowerCase(Locale.ROOT);
        switch (sub) {
            case "count" -> {
                if (c.argc() != 2) {
                    throw CommandError.arity("command|count");
                }
                c.reply.integer(c.server.commands.all().size());
            }
            case "list" -> {
                c.reply.arrayHeader(c.server.commands.all().size());
                for (Command command : c.server.commands.all()) {
                    c.reply.bulk(command.name());
                }
            }
            case "info" -> {
                if (c.argc() == 2) {
                    c.reply.arrayHeader(c.server.commands.all().size());
                    for (Command command : c.server.commands.all()) {
                        commandInfo(c, command);
                    }
                    return;
                }
                c.reply.arrayHeader(c.argc() - 2);
                for (int i = 2; i < c.argc(); i++) {
                    Command command = c.server.commands.lookup(c.arg(i));
                    if (command == null) {
                        c.reply.nullArray();
                    } else {
                        commandInfo(c, command);
                    }
                }
            }
            case "docs" -> {
                List<Command> selected = new ArrayList<>();
                if (c.argc() == 2) {
                    selected.addAll(c.server.commands.all());
                } else {
                    for (int i = 2; i < c.argc(); i++) {
                        Command command = c.server.commands.lookup(c.arg(i));
                        if (command != null) {
                            selected.add(command);
                        }
                    }
                }
                // A map (flattened in RESP2): name -> {summary, since, group}.
                c.reply.arrayHeader(selected.size() * 2L);
                for (Command command : selected) {
                    c.reply.bulk(command.name());
                    c.reply.arrayHeader(6);
                    c.reply.bulk("summary");
                    c.reply.bulk(command.name().toUpperCase(Locale.ROOT) + " as in Redis " + REDIS_VERSION);
                    c.reply.bulk("since");
                    c.reply.bulk("1.0.0");
                    c.reply.bulk("group");
                    c.reply.bulk(command.group());
                }
            }
            default -> throw new CommandError("ERR unknown subcommand '" + truncate(Commands.ascii(c.arg(1)))
                    + "'. Try COMMAND HELP.");
        }
    }

    /** Redis 7's ten-element command description. */
    private static void commandInfo(Call c, Command command) {
        c.reply.arrayHeader(10);
        c.reply.bulk(command.name());
        c.reply.integer(command.arity());
        c.reply.arrayHeader(1);
        c.reply.simple(command.write() ? "write" : "readonly");
        c.reply.integer(command.firstKey());
        c.reply.integer(command.lastKey());
        c.reply.integer(command.keyStep());
        c.reply.arrayHeader(0); // ACL categories
        c.reply.arrayHeader(0); // tips
        c.reply.arrayHeader(0); // key specifications
        c.reply.arrayHeader(0); // subcommands
    }
}

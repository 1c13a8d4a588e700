package io.arrakis.samples.redis;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The command table and the handlers of the data commands (strings, keys, lists, sets, hashes,
 * sorted sets). Server commands (INFO, CONFIG, COMMAND, SELECT...) are in {@link ServerCommands}.
 * Replies and error strings follow Redis 7.0. Confined to the event-loop thread.
 */
final class Commands {
    private static final byte[] PXAT = bytes("PXAT");
    private static final byte[] PEXPIREAT = bytes("PEXPIREAT");
    private static final byte[] SET = bytes("SET");
    private static final byte[] DEL = bytes("DEL");
    private static final byte[] SREM = bytes("SREM");
    private static final byte[] KEEPTTL = bytes("KEEPTTL");
    private static final long MAX_STRING = RequestParser.BULK_MAX;

    private final Map<String, Command> table = new LinkedHashMap<>();

    Commands() {
        ServerCommands server = new ServerCommands();
        // connection and server
        add("ping", -1, false, 0, 0, 0, "connection", Commands::ping);
        add("echo", 2, false, 0, 0, 0, "connection", c -> c.reply.bulk(c.arg(1)));
        add("select", 2, false, 0, 0, 0, "connection", server::select);
        add("quit", -1, false, 0, 0, 0, "connection", c -> {
            c.reply.ok();
            c.client.closeAfterReply = true;
        });
        add("dbsize", 1, false, 0, 0, 0, "server", c -> c.reply.integer(c.db.size()));
        add("flushall", -1, true, 0, 0, 0, "server", Commands::flushAll);
        add("flushdb", -1, true, 0, 0, 0, "server", Commands::flushDb);
        add("info", -1, false, 0, 0, 0, "server", server::info);
        add("config", -2, false, 0, 0, 0, "server", server::config);
        add("command", -1, false, 0, 0, 0, "server", server::command);
        // keys
        add("del", -2, true, 1, -1, 1, "generic", Commands::del);
        add("exists", -2, false, 1, -1, 1, "generic", Commands::exists);
        add("type", 2, false, 1, 1, 1, "generic", Commands::type);
        add("keys", 2, false, 0, 0, 0, "generic", Commands::keys);
        add("expire", -3, true, 1, 1, 1, "generic", c -> expire(c, 1000, false));
        add("pexpire", -3, true, 1, 1, 1, "generic", c -> expire(c, 1, false));
        add("expireat", -3, true, 1, 1, 1, "generic", c -> expire(c, 1000, true));
        add("pexpireat", -3, true, 1, 1, 1, "generic", c -> expire(c, 1, true));
        add("persist", 2, true, 1, 1, 1, "generic", Commands::persist);
        add("ttl", 2, false, 1, 1, 1, "generic", c -> ttl(c, 1000));
        add("pttl", 2, false, 1, 1, 1, "generic", c -> ttl(c, 1));
        // strings
        add("get", 2, false, 1, 1, 1, "string", Commands::get);
        add("set", -3, true, 1, 1, 1, "string", Commands::set);
        add("mget", -2, false, 1, -1, 1, "string", Commands::mget);
        add("mset", -3, true, 1, -1, 2, "string", Commands::mset);
        add("incr", 2, true, 1, 1, 1, "string", c -> incrBy(c, 1));
        add("decr", 2, true, 1, 1, 1, "string", c -> incrBy(c, -1));
        add("incrby", 3, true, 1, 1, 1, "string", c -> incrBy(c, c.longArg(2)));
        add("decrby", 3, true, 1, 1, 1, "string", Commands::decrBy);
        add("append", 3, true, 1, 1, 1, "string", Commands::append);
        add("strlen", 2, false, 1, 1, 1, "string", Commands::strlen);
        // lists
        add("lpush", -3, true, 1, 1, 1, "list", c -> push(c, true));
        add("rpush", -3, true, 1, 1, 1, "list", c -> push(c, false));
        add("lpop", -2, true, 1, 1, 1, "list", c -> pop(c, true));
        add("rpop", -2, true, 1, 1, 1, "list", c -> pop(c, false));
        add("lrange", 4, false, 1, 1, 1, "list", Commands::lrange);
        add("llen", 2, false, 1, 1, 1, "list", Commands::llen);
        // sets
        add("sadd", -3, true, 1, 1, 1, "set", Commands::sadd);
        add("srem", -3, true, 1, 1, 1, "set", Commands::srem);
        add("spop", -2, true, 1, 1, 1, "set", Commands::spop);
        add("smembers", 2, false, 1, 1, 1, "set", Commands::smembers);
        add("scard", 2, false, 1, 1, 1, "set", Commands::scard);
        add("sismember", 3, false, 1, 1, 1, "set", Commands::sismember);
        // hashes
        add("hset", -4, true, 1, 1, 1, "hash", c -> hset(c, false));
        add("hmset", -4, true, 1, 1, 1, "hash", c -> hset(c, true));
        add("hget", 3, false, 1, 1, 1, "hash", Commands::hget);
        add("hdel", -3, true, 1, 1, 1, "hash", Commands::hdel);
        add("hgetall", 2, false, 1, 1, 1, "hash", Commands::hgetall);
        add("hlen", 2, false, 1, 1, 1, "hash", Commands::hlen);
        add("hexists", 3, false, 1, 1, 1, "hash", Commands::hexists);
        // sorted sets
        add("zadd", -4, true, 1, 1, 1, "sorted-set", SortedSetCommands::zadd);
        add("zrange", -4, false, 1, 1, 1, "sorted-set", SortedSetCommands::zrange);
        add("zpopmin", -2, true, 1, 1, 1, "sorted-set", SortedSetCommands::zpopmin);
        add("zcard", 2, false, 1, 1, 1, "sorted-set", SortedSetCommands::zcard);
        add("zscore", 3, false, 1, 1, 1, "sorted-set", SortedSetCommands::zscore);
    }

    private void add(String name, int arity, boolean write, int first, int last, int step, String group,
            Command.Handler handler) {
        table.put(name, new Command(name, arity, write, first, last, step, group, handler));
    }

    Command lookup(byte[] name) {
        if (name.length > 32) {
            return null;
        }
        return table.get(new String(name, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT));
    }

    Collection<Command> all() {
        return table.values();
    }

    static byte[] bytes(String ascii) {
        return ascii.getBytes(StandardCharsets.ISO_8859_1);
    }

    // ---- connection and server ----------------------------------------------------------------

    private static void ping(Call c) {
        if (c.argc() > 2) {
            throw CommandError.arity("ping");
        }
        if (c.argc() == 2) {
            c.reply.bulk(c.arg(1));
        } else {
            c.reply.simple("PONG");
        }
    }

    private static void checkFlushMode(Call c) {
        if (c.argc() > 2) {
            throw CommandError.SYNTAX;
        }
        if (c.argc() == 2 && !c.argIs(1, "SYNC") && !c.argIs(1, "ASYNC")) {
            throw CommandError.SYNTAX;
        }
    }

    private static void flushAll(Call c) {
        checkFlushMode(c);
        c.server.keyspace.flushAll();
        c.dirty++;
        c.reply.ok();
    }

    private static void flushDb(Call c) {
        checkFlushMode(c);
        c.db.clear();
        c.dirty++;
        c.reply.ok();
    }

    // ---- keys -----------------------------------------------------------------------------------

    private static void del(Call c) {
        int deleted = 0;
        ArrayList<byte[]> propagated = new ArrayList<>();
        propagated.add(DEL);
        for (int i = 1; i < c.argc(); i++) {
            Bytes key = c.key(i);
            if (c.lookup(key) != null) {
                c.delete(key);
                deleted++;
                propagated.add(key.data);
            }
        }
        if (deleted > 0) {
            c.propagate(propagated.toArray(new byte[0][]));
        }
        c.reply.integer(deleted);
    }

    private static void exists(Call c) {
        int count = 0;
        for (int i = 1; i < c.argc(); i++) {
            if (c.lookup(c.key(i)) != null) {
                count++;
            }
        }
        c.reply.integer(count);
    }

    private static void type(Call c) {
        Entry entry = c.lookup(c.key(1));
        c.reply.simple(entry == null ? "none" : switch (entry.value) {
            case byte[] ignored -> "string";
            case ArrayDeque<?> ignored -> "list";
            case HashSet<?> ignored -> "set";
            case HashMap<?, ?> ignored -> "hash";
            case SortedSet ignored -> "zset";
            default -> "none";
        });
    }

    private static void keys(Call c) {
        byte[] pattern = c.arg(1);
        ArrayList<byte[]> matched = new ArrayList<>();
        for (Entry entry : new ArrayList<>(c.db.entries.values())) {
            if (Glob.matches(pattern, entry.key.data) && c.lookup(entry.key) != null) {
                matched.add(entry.key.data);
            }
        }
        c.reply.arrayHeader(matched.size());
        for (byte[] key : matched) {
            c.reply.bulk(key);
        }
    }

    /**
     * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX/XX/GT/LT. Written to the file as PEXPIREAT
     * (absolute), or as DEL when the time is already past.
     */
    private static void expire(Call c, long unitMillis, boolean absolute) {
        String name = ascii(c.arg(0)).toLowerCase(Locale.ROOT);
        boolean nx = false;
        boolean xx = false;
        boolean gt = false;
        boolean lt = false;
        for (int i = 3; i < c.argc(); i++) {
            if (c.argIs(i, "NX")) {
                nx = true;
            } else if (c.argIs(i, "XX")) {
                xx = true;
            } else if (c.argIs(i, "GT")) {
                gt = true;
            } else if (c.argIs(i, "LT")) {
                lt = true;
            } else {
                throw new CommandError("ERR Unsupported option " + ascii(c.arg(i)));
            }
        }
        if (nx && (xx || gt || lt)) {
            throw new CommandError("ERR NX and XX, GT or LT options at the same time are not compatible");
        }
        if (gt && lt) {
            throw new CommandError("ERR GT and LT options at the same time are not compatible");
        }
        long when = c.longArg(2);
        CommandError invalid = new CommandError("ERR invalid expire time in '" + name + "' command");
        if (unitMillis == 1000) {
            if (when > Long.MAX_VALUE / 1000 || when < Long.MIN_VALUE / 1000) {
                throw invalid;
            }
            when *= 1000;
        }
        if (!absolute) {
            if (when > 0 && when > Long.MAX_VALUE - c.now) {
                throw invalid;
            }
            when += c.now;
        }
        Bytes key = c.key(1);
        Entry entry = c.lookup(key);
        if (entry == null) {
            c.reply.integer(0);
            return;
        }
        long current = entry.expireAtMillis;
        boolean hasExpiry = current != Entry.NO_EXPIRY;
        if ((nx && hasExpiry) || (xx && !hasExpiry) || (gt && (!hasExpiry || when <= current))
                || (lt && hasExpiry && when >= current)) {
            c.reply.integer(0);
            return;
        }
        if (when <= c.now) {
            c.delete(key);
            c.propagate(DEL, key.data);
        } else {
            c.db.setExpiry(entry, when);
            c.dirty++;
            c.propagate(PEXPIREAT, key.data, bytes(Long.toString(when)));
        }
        c.reply.integer(1);
    }

    private static void persist(Call c) {
        Entry entry = c.lookup(c.key(1));
        if (entry == null || entry.expireAtMillis == Entry.NO_EXPIRY) {
            c.reply.integer(0);
            return;
        }
        c.db.clearExpiry(entry);
        c.dirty++;
        c.reply.integer(1);
    }

    private static void ttl(Call c, long unitMillis) {
        Entry entry = c.lookup(c.key(1));
        if (entry == null) {
            c.reply.integer(-2);
        } else if (entry.expireAtMillis == Entry.NO_EXPIRY) {
            c.reply.integer(-1);
        } else {
            long remaining = Math.max(0, entry.expireAtMillis - c.now);
            c.reply.integer(unitMillis == 1000 ? (remaining + 500) / 1000 : remaining);
        }
    }

    // ---- strings --------------------------------------------------------------------------------

    private static void get(Call c) {
        byte[] value = c.stringOrNull(c.key(1));
        if (value == null) {
            c.server.keyspace.misses++;
            c.reply.nullBulk();
        } else {
            c.server.keyspace.hits++;
            c.reply.bulk(value);
        }
    }

    /** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL], as Redis 7 parses it. */
    private static void set(Call c) {
        boolean nx = false;
        boolean xx = false;
        boolean get = false;
        boolean keepTtl = false;
        int expireArg = -1;
        long unit = 0;
        boolean absolute = false;
        for (int i = 3; i < c.argc(); i++) {
            boolean hasNext = i + 1 < c.argc();
            if (c.argIs(i, "NX") && !xx) {
                nx = true;
            } else if (c.argIs(i, "XX") && !nx) {
                xx = true;
            } else if (c.argIs(i, "GET")) {
                get = true;
            } else if (c.argIs(i, "KEEPTTL") && expireArg < 0) {
                keepTtl = true;
            } else if (expireArg < 0 && !keepTtl && hasNext
                    && (c.argIs(i, "EX") || c.argIs(i, "PX") || c.argIs(i, "EXAT") || c.argIs(i, "PXAT"))) {
                unit = c.argIs(i, "EX") || c.argIs(i, "EXAT") ? 1000 : 1;
                absolute = c.argIs(i, "EXAT") || c.argIs(i, "PXAT");
                expireArg = ++i;
            } else {
                throw CommandError.SYNTAX;
            }
        }
        long expireAt = Entry.NO_EXPIRY;
        if (expireArg >= 0) {
            long amount = c.longArg(expireArg);
            CommandError invalid = new CommandError("ERR invalid expire time in 'set' command");
            if (amount <= 0 || (unit == 1000 && amount > Long.MAX_VALUE / 1000)) {
                throw invalid;
            }
            expireAt = amount * unit;
            if (!absolute) {
                if (expireAt > Long.MAX_VALUE - c.now) {
                    throw invalid;
                }
                expireAt += c.now;
            }
        }
        Bytes key = c.key(1);
        Entry existing = c.lookup(key);
        byte[] old = null;
        if (get && existing != null) {
            if (!(existing.value instanceof byte[] value)) {
                throw CommandError.WRONG_TYPE;
            }
            old = value;
        }
        if ((nx && existing != null) || (xx && existing == null)) {
            if (get) {
                replyBulkOrNull(c, old);
            } else {
                c.reply.nullBulk();
            }
            return;
        }
        long keptExpiry = existing != null && keepTtl ? existing.expireAtMillis : Entry.NO_EXPIRY;
        Entry entry = c.db.put(key, c.arg(2));
        c.dirty++;
        if (expireAt != Entry.NO_EXPIRY) {
            c.db.setExpiry(entry, expireAt);
            c.propagate(SET, key.data, c.arg(2), PXAT, bytes(Long.toString(expireAt)));
        } else if (keptExpiry != Entry.NO_EXPIRY) {
            c.propagate(SET, key.data, c.arg(2), KEEPTTL);
        } else {
            c.db.clearExpiry(entry);
            c.propagate(SET, key.data, c.arg(2));
        }
        if (get) {
            replyBulkOrNull(c, old);
        } else {
            c.reply.ok();
        }
    }

    private static void replyBulkOrNull(Call c, byte[] value) {
        if (value == null) {
            c.reply.nullBulk();
        } else {
            c.reply.bulk(value);
        }
    }

    private static void mget(Call c) {
        c.reply.arrayHeader(c.argc() - 1);
        for (int i = 1; i < c.argc(); i++) {
            Entry entry = c.lookup(c.key(i));
            if (entry != null && entry.value instanceof byte[] value) {
                c.reply.bulk(value);
            } else {
                c.reply.nullBulk();
            }
        }
    }

    private static void mset(Call c) {
        if (c.argc() % 2 == 0) {
            throw CommandError.arity("mset");
        }
        for (int i = 1; i < c.argc(); i += 2) {
            Bytes key = c.key(i);
            c.lookup(key); // lazily expire first, so the deletion is logged before the new value
            Entry entry = c.db.put(key, c.arg(i + 1));
            c.db.clearExpiry(entry);
            c.dirty++;
        }
        c.reply.ok();
    }

    private static void decrBy(Call c) {
        long decrement = c.longArg(2);
        if (decrement == Long.MIN_VALUE) {
            throw new CommandError("ERR decrement would overflow");
        }
        incrBy(c, -decrement);
    }

    private static void incrBy(Call c, long increment) {
        Bytes key = c.key(1);
        byte[] current = c.stringOrNull(key);
        long value = 0;
        if (current != null) {
            try {
                value = RedisNumbers.parseLong(current);
            } catch (RedisNumbers.NotANumber e) {
                throw CommandError.NOT_INTEGER;
            }
        }
        if ((increment < 0 && value < 0 && increment < Long.MIN_VALUE - value)
                || (increment > 0 && value > 0 && increment > Long.MAX_VALUE - value)) {
            throw CommandError.OVERFLOW;
        }
        value += increment;
        byte[] updated = RedisNumbers.longToBytes(value);
        Entry entry = c.db.raw(key);
        if (entry == null) {
            c.db.put(key, updated);
        } else {
            entry.value = updated; // INCR keeps the key's expiry
        }
        c.dirty++;
        c.reply.integer(value);
    }

    private static void append(Call c) {
        Bytes key = c.key(1);
        byte[] current = c.stringOrNull(key);
        byte[] suffix = c.arg(2);
        if (current == null) {
            c.db.put(key, suffix);
            c.dirty++;
            c.reply.integer(suffix.length);
            return;
        }
        if ((long) current.length + suffix.length > MAX_STRING) {
            throw CommandError.STRING_TOO_LONG;
        }
        byte[] joined = new byte[current.length + suffix.length];
        System.arraycopy(current, 0, joined, 0, current.length);
        System.arraycopy(suffix, 0, joined, current.length, suffix.length);
        c.db.raw(key).value = joined;
        c.dirty++;
        c.reply.integer(joined.length);
    }

    private static void strlen(Call c) {
        byte[] value = c.stringOrNull(c.key(1));
        c.reply.integer(value == null ? 0 : value.length);
    }

    // ---- lists ----------------------------------------------------------------------------------

    private static void push(Call c, boolean left) {
        Bytes key = c.key(1);
        ArrayDeque<byte[]> list = c.listOrNull(key);
        if (list == null) {
            list = new ArrayDeque<>();
            c.db.put(key, list);
        }
        for (int i = 2; i < c.argc(); i++) {
            if (left) {
                list.addFirst(c.arg(i));
            } else {
                list.addLast(c.arg(i));
            }
            c.dirty++;
        }
        c.reply.integer(list.size());
    }

    /** Reads an optional count argument at index 2: at most 3 arguments, not negative. */
    private static long optionalCount(Call c, String name) {
        if (c.argc() > 3) {
            throw CommandError.arity(name);
        }
        if (c.argc() < 3) {
            return -1;
        }
        long count = c.longArg(2);
        if (count < 0) {
            throw CommandError.MUST_BE_POSITIVE;
        }
        return count;
    }

    private static void pop(Call c, boolean left) {
        long count = optionalCount(c, left ? "lpop" : "rpop");
        Bytes key = c.key(1);
        ArrayDeque<byte[]> list = c.listOrNull(key);
        if (list == null) {
            if (count >= 0) {
                c.reply.nullArray();
            } else {
                c.reply.nullBulk();
            }
            return;
        }
        if (count < 0) {
            c.reply.bulk(left ? list.pollFirst() : list.pollLast());
            c.dirty++;
        } else {
            int n = (int) Math.min(count, list.size());
            c.reply.arrayHeader(n);
            for (int i = 0; i < n; i++) {
                c.reply.bulk(left ? list.pollFirst() : list.pollLast());
                c.dirty++;
            }
        }
        if (list.isEmpty()) {
            c.db.remove(key);
        }
    }

    private static void lrange(Call c) {
        long start = c.longArg(2);
        long stop = c.longArg(3);
        ArrayDeque<byte[]> list = c.listOrNull(c.key(1));
        if (list == null) {
            c.reply.arrayHeader(0);
            return;
        }
        long size = list.size();
        if (start < 0) {
            start = Math.max(0, size + start);
        }
        if (stop < 0) {
            stop = size + stop;
        }
        if (stop >= size) {
            stop = size - 1;
        }
        if (start > stop || start >= size) {
            c.reply.arrayHeader(0);
            return;
        }
        c.reply.arrayHeader(stop - start + 1);
        Iterator<byte[]> it = list.iterator();
        for (long i = 0; i <= stop; i++) {
            byte[] element = it.next();
            if (i >= start) {
                c.reply.bulk(element);
            }
        }
    }

    private static void llen(Call c) {
        ArrayDeque<byte[]> list = c.listOrNull(c.key(1));
        c.reply.integer(list == null ? 0 : list.size());
    }

    // ---- sets -----------------------------------------------------------------------------------

    private static void sadd(Call c) {
        Bytes key = c.key(1);
        HashSet<Bytes> set = c.setOrNull(key);
        if (set == null) {
            set = new HashSet<>();
            c.db.put(key, set);
        }
        int added = 0;
        for (int i = 2; i < c.argc(); i++) {
            if (set.add(c.key(i))) {
                added++;
            }
        }
        c.dirty += added;
        c.reply.integer(added);
    }

    private static void srem(Call c) {
        Bytes key = c.key(1);
        HashSet<Bytes> set = c.setOrNull(key);
        int removed = 0;
        if (set != null) {
            for (int i = 2; i < c.argc(); i++) {
                if (set.remove(c.key(i))) {
                    removed++;
                }
            }
            if (set.isEmpty()) {
                c.db.remove(key);
            }
        }
        c.dirty += removed;
        c.reply.integer(removed);
    }

    /** SPOP picks at random, so it is written to the file as the SREM of what it popped. */
    private static void spop(Call c) {
        long count = optionalCount(c, "spop");
        Bytes key = c.key(1);
        HashSet<Bytes> set = c.setOrNull(key);
        if (set == null) {
            if (count >= 0) {
                c.reply.arrayHeader(0);
            } else {
                c.reply.nullBulk();
            }
            return;
        }
        int n = count < 0 ? 1 : (int) Math.min(count, set.size());
        List<Bytes> popped = new ArrayList<>(n);
        Iterator<Bytes> it = set.iterator();
        // HashSet iteration order is effectively random for our purpose; start at a random skip
        // would cost O(n), and Redis only promises "random", not "uniform".
        while (popped.size() < n) {
            popped.add(it.next());
            it.remove();
        }
        if (count < 0) {
            c.reply.bulk(popped.get(0).data);
        } else {
            c.reply.arrayHeader(n);
            for (Bytes member : popped) {
                c.reply.bulk(member.data);
            }
        }
        if (n > 0) {
            byte[][] rewritten = new byte[n + 2][];
            rewritten[0] = SREM;
            rewritten[1] = key.data;
            for (int i = 0; i < n; i++) {
                rewritten[i + 2] = popped.get(i).data;
            }
            c.dirty += n;
            c.propagate(rewritten);
        }
        if (set.isEmpty()) {
            c.db.remove(key);
        }
    }

    private static void smembers(Call c) {
        HashSet<Bytes> set = c.setOrNull(c.key(1));
        if (set == null) {
            c.reply.arrayHeader(0);
            return;
        }
        c.reply.arrayHeader(set.size());
        for (Bytes member : set) {
            c.reply.bulk(member.data);
        }
    }

    private static void scard(Call c) {
        HashSet<Bytes> set = c.setOrNull(c.key(1));
        c.reply.integer(set == null ? 0 : set.size());
    }

    private static void sismember(Call c) {
        HashSet<Bytes> set = c.setOrNull(c.key(1));
        c.reply.integer(set != null && set.contains(c.key(2)) ? 1 : 0);
    }

    // ---- hashes ---------------------------------------------------------------------------------

    private static void hset(Call c, boolean legacyReply) {
        if (c.argc() % 2 != 0) {
            throw CommandError.arity(legacyReply ? "hmset" : "hset");
        }
        Bytes key = c.key(1);
        HashMap<Bytes, byte[]> hash = c.hashOrNull(key);
        if (hash == null) {
            hash = new HashMap<>();
            c.db.put(key, hash);
        }
        int created = 0;
        for (int i = 2; i < c.argc(); i += 2) {
            if (hash.put(c.key(i), c.arg(i + 1)) == null) {
                created++;
            }
            c.dirty++;
        }
        if (legacyReply) {
            c.reply.ok();
        } else {
            c.reply.integer(created);
        }
    }

    private static void hget(Call c) {
        HashMap<Bytes, byte[]> hash = c.hashOrNull(c.key(1));
        replyBulkOrNull(c, hash == null ? null : hash.get(c.key(2)));
    }

    private static void hdel(Call c) {
        Bytes key = c.key(1);
        HashMap<Bytes, byte[]> hash = c.hashOrNull(key);
        int removed = 0;
        if (hash != null) {
            for (int i = 2; i < c.argc(); i++) {
                if (hash.remove(c.key(i)) != null) {
                    removed++;
                }
            }
            if (hash.isEmpty()) {
                c.db.remove(key);
            }
        }
        c.dirty += removed;
        c.reply.integer(removed);
    }

    private static void hgetall(Call c) {
        HashMap<Bytes, byte[]> hash = c.hashOrNull(c.key(1));
        if (hash == null) {
            c.reply.arrayHeader(0);
            return;
        }
        c.reply.arrayHeader(hash.size() * 2L);
        for (Map.Entry<Bytes, byte[]> field : hash.entrySet()) {
            c.reply.bulk(field.getKey().data);
            c.reply.bulk(field.getValue());
        }
    }

    private static void hlen(Call c) {
        HashMap<Bytes, byte[]> hash = c.hashOrNull(c.key(1));
        c.reply.integer(hash == null ? 0 : hash.size());
    }

    private static void hexists(Call c) {
        HashMap<Bytes, byte[]> hash = c.hashOrNull(c.key(1));
        c.reply.integer(hash != null && hash.containsKey(c.key(2)) ? 1 : 0);
    }

    static String ascii(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }
}

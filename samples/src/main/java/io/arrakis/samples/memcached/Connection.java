package io.arrakis.samples.memcached;

import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One client connection speaking memcached's text protocol: it reads command lines, then the
 * data block of a storage command, or swallows the data of a refused one, and queues replies
 * whose wording and whose effect on the connection follow memcached 1.6. Confined to the worker
 * thread that owns the connection.
 */
final class Connection {
    static final int KEY_MAX_LENGTH = 250;
    /** memcached closes a connection whose line passes 2 KiB without a newline, unless it is a get. */
    static final int LINE_MAX_WITHOUT_NEWLINE = 2048;
    /** Our bound on a multi-get line (memcached grows its buffer without limit). */
    static final int MULTIGET_LINE_MAX = 2 * 1024 * 1024;
    static final String VERSION = "1.6.18";
    private static final byte[] CRLF = {'\r', '\n'};
    private static final byte[] END = "END\r\n".getBytes(StandardCharsets.ISO_8859_1);
    private static final byte[] VALUE = "VALUE ".getBytes(StandardCharsets.ISO_8859_1);

    private enum State { READ_LINE, READ_DATA, SWALLOW }

    final SocketChannel channel;
    SelectionKey key;
    private final MemcachedServer server;
    private final Cache cache;
    private final Stats stats;
    final OutputBuffer out = new OutputBuffer(16 * 1024);
    private byte[] in = new byte[16 * 1024];
    private ByteBuffer inView = ByteBuffer.wrap(in);
    private int readIndex;
    private int writeIndex;
    private State state = State.READ_LINE;
    /** Close once the queued replies are written. */
    boolean closing;

    // the current line's tokens, as offsets into {@link #in}
    private int[] tokenStart = new int[24];
    private int[] tokenEnd = new int[24];
    private int tokens;
    private boolean noreply;

    // the storage command waiting for its data block
    private Cache.Mode pendingMode;
    private CacheKey pendingKey;
    private int pendingFlags;
    private long pendingExpiry;
    private int pendingLength;
    private long pendingCas;
    private boolean pendingNoreply;
    private long swallowRemaining;

    Connection(SocketChannel channel, MemcachedServer server) {
        this.channel = channel;
        this.server = server;
        this.cache = server.cache;
        this.stats = server.stats;
    }

    /** Where the next socket read goes: room for a whole data block, or at least 4 KiB. */
    ByteBuffer readTarget() {
        int wanted = 4096;
        if (state == State.READ_DATA) {
            wanted = Math.max(wanted, pendingLength + 2 - (writeIndex - readIndex));
        }
        int live = writeIndex - readIndex;
        if (live == 0) {
            readIndex = 0;
            writeIndex = 0;
            if (in.length > 4 << 20 && wanted <= 16 * 1024) {
                in = new byte[16 * 1024];
                inView = ByteBuffer.wrap(in);
            }
        }
        if (in.length - writeIndex < wanted) {
            byte[] target = live + wanted <= in.length ? in : new byte[Math.max(in.length * 2, live + wanted)];
            System.arraycopy(in, readIndex, target, 0, live);
            if (target != in) {
                in = target;
                inView = ByteBuffer.wrap(in);
            }
            readIndex = 0;
            writeIndex = live;
        }
        inView.limit(in.length).position(writeIndex);
        return inView;
    }

    void received(int count) {
        writeIndex += count;
        stats.bytesRead.add(count);
    }

    /** Test hook: append bytes as if read from the socket. */
    void feed(byte[] bytes) {
        ByteBuffer target = readTarget();
        int offset = 0;
        while (offset < bytes.length) {
            if (!target.hasRemaining()) {
                target = readTarget();
            }
            int n = Math.min(target.remaining(), bytes.length - offset);
            target.put(bytes, offset, n);
            offset += n;
            received(n);
        }
    }

    /** Handles everything complete in the input; stops early when the connection must close. */
    void process(long now) {
        while (!closing) {
            int available = writeIndex - readIndex;
            switch (state) {
                case SWALLOW -> {
                    int skipped = (int) Math.min(available, swallowRemaining);
                    readIndex += skipped;
                    swallowRemaining -= skipped;
                    if (swallowRemaining > 0) {
                        return;
                    }
                    state = State.READ_LINE;
                }
                case READ_DATA -> {
                    if (available < pendingLength + 2) {
                        return;
                    }
                    completeStorage(now);
                }
                case READ_LINE -> {
                    int newline = -1;
                    for (int i = readIndex; i < writeIndex; i++) {
                        if (in[i] == '\n') {
                            newline = i;
                            break;
                        }
                    }
                    if (newline < 0) {
                        if (available > LINE_MAX_WITHOUT_NEWLINE && !mayBeLongGet(available)) {
                            closing = true;
                        }
                        return;
                    }
                    int lineEnd = newline;
                    if (lineEnd - readIndex > 1 && in[lineEnd - 1] == '\r') {
                        lineEnd--;
                    }
                    int lineStart = readIndex;
                    readIndex = newline + 1;
                    command(lineStart, lineEnd, now);
                }
            }
        }
    }

    private boolean mayBeLongGet(int available) {
        if (available > MULTIGET_LINE_MAX) {
            return false;
        }
        int p = readIndex;
        while (p < writeIndex && in[p] == ' ') {
            p++;
        }
        return p - readIndex <= 100 && (startsWith(p, "get ") || startsWith(p, "gets "));
    }

    private boolean startsWith(int at, String prefix) {
        if (writeIndex - at < prefix.length()) {
            return false;
        }
        for (int i = 0; i < prefix.length(); i++) {
            if (in[at + i] != prefix.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private void tokenize(int from, int to) {
        tokens = 0;
        int p = from;
        while (p < to) {
            while (p < to && in[p] == ' ') {
                p++;
            }
            if (p >= to) {
                break;
            }
            int start = p;
            while (p < to && in[p] != ' ') {
                p++;
            }
            if (tokens == tokenStart.length) {
                tokenStart = Arrays.copyOf(tokenStart, tokens * 2);
                tokenEnd = Arrays.copyOf(tokenEnd, tokens * 2);
            }
            tokenStart[tokens] = start;
            tokenEnd[tokens] = p;
            tokens++;
        }
    }

    private boolean tokenIs(int index, String word) {
        int start = tokenStart[index];
        int length = tokenEnd[index] - start;
        if (length != word.length()) {
            return false;
        }
        for (int i = 0; i < length; i++) {
            if (in[start + i] != word.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private int tokenLength(int index) {
        return tokenEnd[index] - tokenStart[index];
    }

    private CacheKey keyToken(int index) {
        return new CacheKey(Arrays.copyOfRange(in, tokenStart[index], tokenEnd[index]));
    }

    private long unsignedToken(int index) throws Cache.NotANumber {
        return Cache.parseUnsigned(in, tokenStart[index], tokenEnd[index], false);
    }

    /** A signed 32-bit number as memcached's safe_strtol takes it (sign, leading zeros). */
    private long signed32Token(int index) throws Cache.NotANumber {
        int start = tokenStart[index];
        int end = tokenEnd[index];
        boolean negative = start < end && in[start] == '-';
        long magnitude = Cache.parseUnsigned(in, negative ? start + 1 : start, end, false);
        if (negative && start + 1 < end && in[start + 1] == '+') {
            throw Cache.NotANumber.INSTANCE;
        }
        long value = negative ? -magnitude : magnitude;
        if (magnitude < 0 || value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
            throw Cache.NotANumber.INSTANCE;
        }
        return value;
    }

    /** Queues a one-line reply unless the command said noreply. */
    private void reply(String line) {
        if (!noreply) {
            out.line(line);
        }
    }

    private void command(int from, int to, long now) {
        tokenize(from, to);
        noreply = false;
        int n = tokens;
        if (n == 0) {
            out.line("ERROR");
            return;
        }
        if (tokenIs(0, "get") && n >= 2) {
            retrieve(1, false, false, 0, now);
        } else if (tokenIs(0, "gets") && n >= 2) {
            retrieve(1, true, false, 0, now);
        } else if ((tokenIs(0, "gat") || tokenIs(0, "gats")) && n >= 2) {
            getAndTouch(tokenIs(0, "gats"), now);
        } else if ((n == 5 || n == 6) && (tokenIs(0, "set") || tokenIs(0, "add") || tokenIs(0, "replace")
                || tokenIs(0, "append") || tokenIs(0, "prepend"))) {
            Cache.Mode mode = tokenIs(0, "set") ? Cache.Mode.SET
                    : tokenIs(0, "add") ? Cache.Mode.ADD
                    : tokenIs(0, "replace") ? Cache.Mode.REPLACE
                    : tokenIs(0, "append") ? Cache.Mode.APPEND : Cache.Mode.PREPEND;
            update(mode);
        } else if ((n == 6 || n == 7) && tokenIs(0, "cas")) {
            update(Cache.Mode.CAS);
        } else if ((n == 3 || n == 4) && (tokenIs(0, "incr") || tokenIs(0, "decr"))) {
            delta(tokenIs(0, "incr"), now);
        } else if (n >= 2 && n <= 4 && tokenIs(0, "delete")) {
            delete(now);
        } else if ((n == 3 || n == 4) && tokenIs(0, "touch")) {
            touch(now);
        } else if (tokenIs(0, "stats")) {
            stats();
        } else if (n <= 3 && tokenIs(0, "flush_all")) {
            flushAll(now);
        } else if (tokenIs(0, "version")) {
            out.line("VERSION " + VERSION);
        } else if (tokenIs(0, "quit")) {
            closing = true;
        } else if ((n == 2 || n == 3) && tokenIs(0, "verbosity")) {
            verbosity();
        } else {
            out.line("ERROR");
        }
    }

    private void setNoreplyMaybe() {
        noreply = tokens > 1 && tokenIs(tokens - 1, "noreply");
    }

    // ---- retrieval ------------------------------------------------------------------------------

    private void retrieve(int firstKey, boolean withCas, boolean touch, long deadline, long now) {
        int mark = out.mark();
        for (int i = firstKey; i < tokens; i++) {
            if (tokenLength(i) > KEY_MAX_LENGTH) {
                out.truncate(mark); // memcached discards the partial answer
                out.line("CLIENT_ERROR bad command line format");
                return;
            }
            CacheKey key = keyToken(i);
            Item item = touch ? cache.getAndTouch(key, deadline, now) : cache.get(key, now);
            stats.cmdGet.increment();
            if (touch) {
                stats.cmdTouch.increment();
                (item != null ? stats.touchHits : stats.touchMisses).increment();
            }
            if (item == null) {
                stats.getMisses.increment();
                continue;
            }
            stats.getHits.increment();
            out.bytes(VALUE);
            out.bytes(key.bytes);
            out.ascii(" ");
            out.unsignedDecimal(item.flags & 0xffffffffL);
            out.ascii(" ");
            out.unsignedDecimal(item.value.length);
            if (withCas) {
                out.ascii(" ");
                out.unsignedDecimal(item.cas);
            }
            out.bytes(CRLF);
            out.bytes(item.value);
            out.bytes(CRLF);
        }
        out.bytes(END);
    }

    private void getAndTouch(boolean withCas, long now) {
        long exptime;
        try {
            exptime = signed32Token(1);
        } catch (Cache.NotANumber e) {
            out.line("CLIENT_ERROR invalid exptime argument");
            return;
        }
        retrieve(2, withCas, true, cache.deadline(exptime, now), now);
    }

    // ---- storage --------------------------------------------------------------------------------

    private void update(Cache.Mode mode) {
        setNoreplyMaybe();
        if (tokenLength(1) > KEY_MAX_LENGTH) {
            reply("CLIENT_ERROR bad command line format");
            return;
        }
        long flags;
        long exptime;
        long length;
        long casUnique = 0;
        try {
            // memcached 1.6 reads the flags as 64 bits and keeps the low 32; so do we.
            flags = unsignedToken(2);
            exptime = signed32Token(3);
            length = signed32Token(4);
            if (mode == Cache.Mode.CAS) {
                casUnique = unsignedToken(5);
            }
        } catch (Cache.NotANumber e) {
            reply("CLIENT_ERROR bad command line format");
            return;
        }
        if (length < 0 || length > Integer.MAX_VALUE - 2) {
            reply("CLIENT_ERROR bad command line format");
            return;
        }
        stats.cmdSet.increment();
        CacheKey key = keyToken(1);
        if (!cache.fits(tokenLength(1), length)) {
            reply("SERVER_ERROR object too large for cache");
            stats.storeTooLarge.increment();
            state = State.SWALLOW;
            swallowRemaining = length + 2;
            if (mode == Cache.Mode.SET) {
                cache.invalidate(key);
            }
            return;
        }
        pendingMode = mode;
        pendingKey = key;
        pendingFlags = (int) flags;
        pendingExpiry = exptime;
        pendingLength = (int) length;
        pendingCas = casUnique;
        pendingNoreply = noreply;
        state = State.READ_DATA;
    }

    private void completeStorage(long now) {
        int length = pendingLength;
        noreply = pendingNoreply;
        state = State.READ_LINE;
        int dataStart = readIndex;
        readIndex += length + 2;
        CacheKey key = pendingKey;
        pendingKey = null;
        if (in[dataStart + length] != '\r' || in[dataStart + length + 1] != '\n') {
            reply("CLIENT_ERROR bad data chunk");
            return;
        }
        byte[] value = Arrays.copyOfRange(in, dataStart, dataStart + length);
        Cache.StoreResult result = cache.store(pendingMode, key, pendingFlags, cache.deadline(pendingExpiry, now),
                value, pendingCas, now);
        if (pendingMode == Cache.Mode.CAS) {
            switch (result) {
                case STORED -> stats.casHits.increment();
                case EXISTS -> stats.casBadval.increment();
                case NOT_FOUND -> stats.casMisses.increment();
                default -> { }
            }
        }
        switch (result) {
            case STORED -> reply("STORED");
            case NOT_STORED -> reply("NOT_STORED");
            case EXISTS -> reply("EXISTS");
            case NOT_FOUND -> reply("NOT_FOUND");
            case TOO_LARGE -> {
                stats.storeTooLarge.increment();
                reply("SERVER_ERROR object too large for cache");
            }
            case NO_MEMORY -> {
                stats.storeNoMemory.increment();
                reply("SERVER_ERROR out of memory storing object");
            }
        }
    }

    // ---- other commands -------------------------------------------------------------------------

    private void delta(boolean increment, long now) {
        setNoreplyMaybe();
        if (tokenLength(1) > KEY_MAX_LENGTH) {
            reply("CLIENT_ERROR bad command line format");
            return;
        }
        long delta;
        try {
            delta = unsignedToken(2);
        } catch (Cache.NotANumber e) {
            reply("CLIENT_ERROR invalid numeric delta argument");
            return;
        }
        Cache.DeltaResult result = cache.delta(keyToken(1), increment, delta, now);
        if (!result.found()) {
            (increment ? stats.incrMisses : stats.decrMisses).increment();
            reply("NOT_FOUND");
        } else if (!result.numeric()) {
            reply("CLIENT_ERROR cannot increment or decrement non-numeric value");
        } else {
            (increment ? stats.incrHits : stats.decrHits).increment();
            reply(Long.toUnsignedString(result.value()));
        }
    }

    private void delete(long now) {
        if (tokens > 2) {
            boolean holdIsZero = tokenIs(2, "0");
            setNoreplyMaybe();
            boolean valid = (tokens == 3 && (holdIsZero || noreply)) || (tokens == 4 && holdIsZero && noreply);
            if (!valid) {
                reply("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
                return;
            }
        }
        if (tokenLength(1) > KEY_MAX_LENGTH) {
            reply("CLIENT_ERROR bad command line format");
            return;
        }
        if (cache.delete(keyToken(1), now)) {
            stats.deleteHits.increment();
            reply("DELETED");
        } else {
            stats.deleteMisses.increment();
            reply("NOT_FOUND");
        }
    }

    private void touch(long now) {
        setNoreplyMaybe();
        if (tokenLength(1) > KEY_MAX_LENGTH) {
            reply("CLIENT_ERROR bad command line format");
            return;
        }
        long exptime;
        try {
            exptime = signed32Token(2);
        } catch (Cache.NotANumber e) {
            reply("CLIENT_ERROR invalid exptime argument");
            return;
        }
        stats.cmdTouch.increment();
        if (cache.touch(keyToken(1), cache.deadline(exptime, now), now)) {
            stats.touchHits.increment();
            reply("TOUCHED");
        } else {
            stats.touchMisses.increment();
            reply("NOT_FOUND");
        }
    }

    private void flushAll(long now) {
        setNoreplyMaybe();
        long delay = 0;
        if (tokens != (noreply ? 2 : 1)) {
            try {
                delay = signed32Token(1);
            } catch (Cache.NotANumber e) {
                reply("CLIENT_ERROR invalid exptime argument");
                return;
            }
        }
        stats.cmdFlush.increment();
        cache.flush(delay, now);
        reply("OK");
    }

    private void verbosity() {
        setNoreplyMaybe();
        try {
            long level = unsignedToken(1);
            if (level > 0xffffffffL) {
                throw Cache.NotANumber.INSTANCE;
            }
            server.verbosity = (int) level;
        } catch (Cache.NotANumber e) {
            reply("CLIENT_ERROR bad command line format");
            return;
        }
        reply("OK");
    }

    private void stats() {
        if (tokens == 1) {
            server.generalStats(out);
        } else if (tokens == 2 && tokenIs(1, "reset")) {
            server.resetStats();
            out.line("RESET");
        } else if (tokens == 2 && tokenIs(1, "settings")) {
            server.settingsStats(out);
        } else {
            out.line("ERROR");
        }
    }
}

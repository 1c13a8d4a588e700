package io.arrakis.samples.redis;

import java.util.Iterator;

/** ZADD, ZRANGE, ZPOPMIN, ZCARD and ZSCORE with Redis 7.0's options and error strings. Stateless. */
final class SortedSetCommands {
    private SortedSetCommands() {}

    static void zadd(Call c) {
        boolean nx = false;
        boolean xx = false;
        boolean gt = false;
        boolean lt = false;
        boolean ch = false;
        boolean incr = false;
        int scoreIndex = 2;
        for (; scoreIndex < c.argc(); scoreIndex++) {
            if (c.argIs(scoreIndex, "NX")) {
                nx = true;
            } else if (c.argIs(scoreIndex, "XX")) {
                xx = true;
            } else if (c.argIs(scoreIndex, "GT")) {
                gt = true;
            } else if (c.argIs(scoreIndex, "LT")) {
                lt = true;
            } else if (c.argIs(scoreIndex, "CH")) {
                ch = true;
            } else if (c.argIs(scoreIndex, "INCR")) {
                incr = true;
            } else {
                break;
            }
        }
        int elements = c.argc() - scoreIndex;
        if (elements == 0 || elements % 2 != 0) {
            throw CommandError.SYNTAX;
        }
        elements /= 2;
        if (nx && xx) {
            throw new CommandError("ERR XX and NX options at the same time are not compatible");
        }
        if ((gt && nx) || (lt && nx) || (gt && lt)) {
            throw new CommandError("ERR GT, LT, and/or NX options at the same time are not compatible");
        }
        if (incr && elements > 1) {
            throw new CommandError("ERR INCR option supports a single increment-element pair");
        }
        double[] scores = new double[elements];
        for (int i = 0; i < elements; i++) {
            scores[i] = c.doubleArg(scoreIndex + 2 * i);
        }
        Bytes key = c.key(1);
        SortedSet zset = c.sortedSetOrNull(key);
        int added = 0;
        int updated = 0;
        boolean performed = false;
        double lastScore = 0;
        for (int i = 0; i < elements; i++) {
            Bytes member = c.key(scoreIndex + 2 * i + 1);
            double score = scores[i];
            Double current = zset == null ? null : zset.score(member);
            if (current != null) {
                if (nx) {
                    continue;
                }
                if (incr) {
                    score = current + score;
                    if (Double.isNaN(score)) {
                        throw new CommandError("ERR resulting score is not a number (NaN)");
                    }
                }
                if ((gt && score <= current) || (lt && score >= current)) {
                    continue;
                }
                performed = true;
                lastScore = score;
                if (score != current) {
                    zset.put(member, score);
                    updated++;
                }
            } else {
                if (xx) {
                    continue;
                }
                if (zset == null) {
                    zset = new SortedSet();
                    c.db.put(key, zset);
                }
                zset.put(member, score);
                added++;
                performed = true;
                lastScore = score;
            }
        }
        c.dirty += added + updated;
        if (incr) {
            if (performed) {
                c.reply.doubleBulk(lastScore);
            } else {
                c.reply.nullBulk();
            }
        } else {
            c.reply.integer(ch ? added + updated : added);
        }
    }

    private record ScoreBound(double value, boolean exclusive) {}

    private static ScoreBound scoreBound(byte[] text) {
        boolean exclusive = text.length > 0 && text[0] == '(';
        byte[] number = exclusive ? java.util.Arrays.copyOfRange(text, 1, text.length) : text;
        try {
            double value = RedisNumbers.parseDouble(number);
            return new ScoreBound(value, exclusive);
        } catch (RedisNumbers.NotANumber e) {
            throw new CommandError("ERR min or max is not a float");
        }
    }

    /** A lexical bound: null member for "-" (below all) or "+" (above all). */
    private record LexBound(Bytes member, boolean exclusive, boolean minusInfinity) {}

    private static LexBound lexBound(byte[] text) {
        if (text.length == 1 && text[0] == '-') {
            return new LexBound(null, false, true);
        }
        if (text.length == 1 && text[0] == '+') {
            return new LexBound(null, false, false);
        }
        if (text.length > 0 && (text[0] == '[' || text[0] == '(')) {
            return new LexBound(new Bytes(java.util.Arrays.copyOfRange(text, 1, text.length)), text[0] == '(', false);
        }
        throw new CommandError("ERR min or max not valid string range item");
    }

    private static boolean aboveMin(SortedSet.Element e, ScoreBound min) {
        return min.exclusive() ? e.score() > min.value() : e.score() >= min.value();
    }

    private static boolean belowMax(SortedSet.Element e, ScoreBound max) {
        return max.exclusive() ? e.score() < max.value() : e.score() <= max.value();
    }

    private static boolean aboveMin(SortedSet.Element e, LexBound min) {
        if (min.member() == null) {
            return min.minusInfinity();
        }
        int cmp = e.member().compareTo(min.member());
        return min.exclusive() ? cmp > 0 : cmp >= 0;
    }

    private static boolean belowMax(SortedSet.Element e, LexBound max) {
        if (max.member() == null) {
            return !max.minusInfinity();
        }
        int cmp = e.member().compareTo(max.member());
        return max.exclusive() ? cmp < 0 : cmp <= 0;
    }

    /** ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]. */
    static void zrange(Call c) {
        boolean withScores = false;
        boolean reverse = false;
        boolean byScore = false;
        boolean byLex = false;
        boolean limited = false;
        long offset = 0;
        long limit = -1;
        for (int i = 4; i < c.argc(); i++) {
            int left = c.argc() - i - 1;
            if (c.argIs(i, "WITHSCORES")) {
                withScores = true;
            } else if (c.argIs(i, "LIMIT") && left >= 2) {
                offset = c.longArg(i + 1);
                limit = c.longArg(i + 2);
                limited = true;
                i += 2;
            } else if (!reverse && c.argIs(i, "REV")) {
                reverse = true;
            } else if (!byScore && !byLex && c.argIs(i, "BYLEX")) {
                byLex = true;
            } else if (!byScore && !byLex && c.argIs(i, "BYSCORE")) {
                byScore = true;
            } else {
                throw CommandError.SYNTAX;
            }
        }
        if (limited && (offset != 0 || limit != -1) && !byScore && !byLex) {
            throw new CommandError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
        }
        if (withScores && byLex) {
            throw new CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        }
        int minIndex = 2;
        int maxIndex = 3;
        if (reverse && (byScore || byLex)) {
            minIndex = 3;
            maxIndex = 2;
        }
        if (byScore) {
            ScoreBound min = scoreBound(c.arg(minIndex));
            ScoreBound max = scoreBound(c.arg(maxIndex));
            SortedSet zset = c.sortedSetOrNull(c.key(1));
            replyFiltered(c, zset, reverse, offset, limit, withScores,
                    e -> aboveMin(e, min), e -> belowMax(e, max));
        } else if (byLex) {
            LexBound min = lexBound(c.arg(minIndex));
            LexBound max = lexBound(c.arg(maxIndex));
            SortedSet zset = c.sortedSetOrNull(c.key(1));
            replyFiltered(c, zset, reverse, offset, limit, false, e -> aboveMin(e, min), e -> belowMax(e, max));
        } else {
            long start = c.longArg(2);
            long stop = c.longArg(3);
            SortedSet zset = c.sortedSetOrNull(c.key(1));
            replyRankRange(c, zset, start, stop, reverse, withScores);
        }
    }

    private static void replyRankRange(Call c, SortedSet zset, long start, long stop, boolean reverse,
            boolean withScores) {
        if (zset == null) {
            c.reply.arrayHeader(0);
            return;
        }
        long size = zset.size();
        if (start < 0) {
            start += size;
        }
        if (stop < 0) {
            stop += size;
        }
        if (start < 0) {
            start = 0;
        }
        if (start > stop || start >= size) {
            c.reply.arrayHeader(0);
            return;
        }
        if (stop >= size) {
            stop = size - 1;
        }
        long count = stop - start + 1;
        c.reply.arrayHeader(withScores ? count * 2 : count);
        Iterator<SortedSet.Element> it = reverse ? zset.descending() : zset.ascending();
        for (long i = 0; i <= stop; i++) {
            SortedSet.Element e = it.next();
            if (i >= start) {
                c.reply.bulk(e.member().data);
                if (withScores) {
                    c.reply.doubleBulk(e.score());
                }
            }
        }
    }

    private static void replyFiltered(Call c, SortedSet zset, boolean reverse, long offset, long limit,
            boolean withScores, java.util.function.Predicate<SortedSet.Element> aboveMin,
            java.util.function.Predicate<SortedSet.Element> belowMax) {
        if (zset == null || offset < 0) {
            c.reply.arrayHeader(0);
            return;
        }
        java.util.ArrayList<SortedSet.Element> out = new java.util.ArrayList<>();
        Iterator<SortedSet.Element> it = reverse ? zset.descending() : zset.ascending();
        long skipped = 0;
        while (it.hasNext() && (limit < 0 || out.size() < limit)) {
            SortedSet.Element e = it.next();
            boolean inRange = aboveMin.test(e) && belowMax.test(e);
            if (!inRange) {
                // Past the far end of the range in the walking direction: stop.
                if (reverse ? !aboveMin.test(e) : !belowMax.test(e)) {
                    break;
                }
                continue;
            }
            if (skipped < offset) {
                skipped++;
                continue;
            }
            out.add(e);
        }
        c.reply.arrayHeader(withScores ? out.size() * 2L : out.size());
        for (SortedSet.Element e : out) {
            c.reply.bulk(e.member().data);
            if (withScores) {
                c.reply.doubleBulk(e.score());
            }
        }
    }

    static void zpopmin(Call c) {
        if (c.argc() > 3) {
            throw CommandError.arity("zpopmin");
        }
        long count = 1;
        if (c.argc() == 3) {
            count = c.longArg(2);
            if (count < 0) {
                throw CommandError.MUST_BE_POSITIVE;
            }
        }
        Bytes key = c.key(1);
        SortedSet zset = c.sortedSetOrNull(key);
        if (zset == null) {
            c.reply.arrayHeader(0);
            return;
        }
        int n = (int) Math.min(count, zset.size());
        c.reply.arrayHeader(n * 2L);
        for (int i = 0; i < n; i++) {
            SortedSet.Element e = zset.pollFirst();
            c.reply.bulk(e.member().data);
            c.reply.doubleBulk(e.score());
            c.dirty++;
        }
        if (zset.size() == 0) {
            c.db.remove(key);
        }
    }

    static void zcard(Call c) {
        SortedSet zset = c.sortedSetOrNull(c.key(1));
        c.reply.integer(zset == null ? 0 : zset.size());
    }

    static void zscore(Call c) {
        SortedSet zset = c.sortedSetOrNull(c.key(1));
        Double score = zset == null ? null : zset.score(c.key(2));
        if (score == null) {
            c.reply.nullBulk();
        } else {
            c.reply.doubleBulk(score);
        }
    }
}

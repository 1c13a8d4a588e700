package io.arrakis.storage.log;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where a file's bytes live in the log: non-overlapping ranges of the file, each mapped to a
 * log position. A later write replaces the part of older ranges it covers. Not thread-safe
 * (guarded by the store's lock).
 */
final class Extents {
    /** One range: {@code length} bytes of the file from {@code fileOffset} are at {@code logPosition}. */
    record Extent(long fileOffset, long length, long logPosition) {
        long end() {
            return fileOffset + length;
        }
    }

    private final TreeMap<Long, Extent> byOffset = new TreeMap<>();

    /** Records that {@code length} bytes at {@code fileOffset} now live at {@code logPosition}. */
    void put(long fileOffset, long length, long logPosition) {
        if (length == 0) {
            return;
        }
        cut(fileOffset, fileOffset + length);
        byOffset.put(fileOffset, new Extent(fileOffset, length, logPosition));
    }

    /** Forgets everything at or beyond {@code size}. */
    void truncate(long size) {
        cut(size, Long.MAX_VALUE);
    }

    /** Removes [from, to) from the map, trimming ranges that straddle either end. */
    private void cut(long from, long to) {
        Map.Entry<Long, Extent> before = byOffset.lowerEntry(from);
        if (before != null && before.getValue().end() > from) {
            Extent e = before.getValue();
            byOffset.put(e.fileOffset(), new Extent(e.fileOffset(), from - e.fileOffset(), e.logPosition()));
            if (e.end() > to) {
                long skip = to - e.fileOffset();
                byOffset.put(to, new Extent(to, e.end() - to, e.logPosition() + skip));
                return;
            }
        }
        while (true) {
            Map.Entry<Long, Extent> entry = byOffset.ceilingEntry(from);
            if (entry == null || entry.getKey() >= to) {
                return;
            }
            Extent e = entry.getValue();
            byOffset.remove(entry.getKey());
            if (e.end() > to) {
                long skip = to - e.fileOffset();
                byOffset.put(to, new Extent(to, e.end() - to, e.logPosition() + skip));
                return;
            }
        }
    }

    /** The ranges overlapping [from, to), clipped to it, in file order. */
    List<Extent> overlapping(long from, long to) {
        List<Extent> result = new ArrayList<>();
        Map.Entry<Long, Extent> first = byOffset.floorEntry(from);
        Long start = first != null && first.getValue().end() > from ? first.getKey() : byOffset.ceilingKey(from);
        if (start == null) {
            return result;
        }
        for (Extent e : byOffset.tailMap(start, true).values()) {
            if (e.fileOffset() >= to) {
                break;
            }
            long clippedFrom = Math.max(from, e.fileOffset());
            long clippedTo = Math.min(to, e.end());
            result.add(new Extent(clippedFrom, clippedTo - clippedFrom, e.logPosition() + clippedFrom - e.fileOffset()));
        }
        return result;
    }

    List<Extent> all() {
        return new ArrayList<>(byOffset.values());
    }

    long liveBytes() {
        long sum = 0;
        for (Extent e : byOffset.values()) {
            sum += e.length();
        }
        return sum;
    }

    int count() {
        return byOffset.size();
    }
}

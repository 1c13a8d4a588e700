package io.arrakis.samples.redis;

import java.util.HashMap;
import java.util.Iterator;
import java.util.TreeSet;

/**
 * A Redis sorted set: members with scores, ordered by (score, member). A hash for score lookup
 * plus a tree for order; ranks are found by walking the tree, which is O(rank) where Redis's skip
 * list is O(log n), acceptable for a sample. Confined to the event-loop thread.
 */
final class SortedSet {
    record Element(double score, Bytes member) implements Comparable<Element> {
        @Override
        public int compareTo(Element other) {
            int byScore = Double.compare(score, other.score);
            return byScore != 0 ? byScore : member.compareTo(other.member);
        }
    }

    private final HashMap<Bytes, Double> scores = new HashMap<>();
    private final TreeSet<Element> order = new TreeSet<>();

    int size() {
        return scores.size();
    }

    Double score(Bytes member) {
        return scores.get(member);
    }

    /** Adds or moves a member; true when it was new. */
    boolean put(Bytes member, double score) {
        Double old = scores.put(member, score);
        if (old != null) {
            order.remove(new Element(old, member));
        }
        order.add(new Element(score, member));
        return old == null;
    }

    boolean remove(Bytes member) {
        Double old = scores.remove(member);
        if (old == null) {
            return false;
        }
        order.remove(new Element(old, member));
        return true;
    }

    Element pollFirst() {
        Element first = order.pollFirst();
        if (first != null) {
            scores.remove(first.member());
        }
        return first;
    }

    Iterator<Element> ascending() {
        return order.iterator();
    }

    Iterator<Element> descending() {
        return order.descendingIterator();
    }
}

package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

class TimerQueueTest {

    static final class Recorder extends TimerQueue.Timer {
        final int id;
        final List<Integer> log;
        long firedAt = -1;

        Recorder(int id, List<Integer> log) {
            this.id = id;
            this.log = log;
        }

        @Override
        protected void fire(long now) {
            firedAt = now;
            log.add(id);
        }
    }

    @Property(tries = 300)
    void firesExactlyTheDueTimersInDeadlineOrderUnderRandomReschedulingAndCancelling(@ForAll long seed) {
        Random random = new Random(seed);
        TimerQueue queue = new TimerQueue();
        List<Integer> log = new ArrayList<>();
        Recorder[] timers = new Recorder[50];
        long[] model = new long[timers.length];
        for (int i = 0; i < timers.length; i++) {
            timers[i] = new Recorder(i, log);
            model[i] = Long.MAX_VALUE;
        }
        long now = 0;
        for (int step = 0; step < 400; step++) {
            int i = random.nextInt(timers.length);
            switch (random.nextInt(4)) {
                case 0, 1 -> {
                    long deadline = now + random.nextInt(1000);
                    queue.schedule(timers[i], deadline);
                    model[i] = deadline;
                }
                case 2 -> {
                    queue.cancel(timers[i]);
                    model[i] = Long.MAX_VALUE;
                }
                default -> {
                    now += random.nextInt(300);
                    TreeMap<Long, List<Integer>> due = new TreeMap<>();
                    for (int t = 0; t < timers.length; t++) {
                        if (model[t] <= now) {
                            due.computeIfAbsent(model[t], k -> new ArrayList<>()).add(t);
                            model[t] = Long.MAX_VALUE;
                        }
                    }
                    log.clear();
                    queue.expire(now);
                    List<Integer> expected = new ArrayList<>();
                    due.values().forEach(expected::addAll);
                    assertEquals(expected.size(), log.size());
                    assertEquals(new java.util.HashSet<>(expected), new java.util.HashSet<>(log));
                    for (int id : log) {
                        assertEquals(now, timers[id].firedAt);
                    }
                }
            }
            long expectedNext = Long.MAX_VALUE;
            for (long deadline : model) {
                expectedNext = Math.min(expectedNext, deadline);
            }
            assertEquals(expectedNext, queue.nextDeadline());
        }
    }

    @Property(tries = 50)
    void expiryOrderFollowsDeadlines(@ForAll long seed) {
        Random random = new Random(seed);
        TimerQueue queue = new TimerQueue();
        List<Integer> log = new ArrayList<>();
        long[] deadlines = new long[200];
        for (int i = 0; i < deadlines.length; i++) {
            deadlines[i] = random.nextInt(10_000) * 1000L + i;
            queue.schedule(new Recorder(i, log), deadlines[i]);
        }
        queue.expire(Long.MAX_VALUE - 1);
        for (int k = 1; k < log.size(); k++) {
            assertTrue(deadlines[log.get(k - 1)] <= deadlines[log.get(k)]);
        }
        assertEquals(200, log.size());
        assertFalse(queue.size() > 0);
    }
}

package io.arrakis.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

class FlowTableTest {
    @Property(tries = 200)
    void behavesLikeAMapUnderRandomPutsAndRemovesWithCollidingKeys(@ForAll long seed) {
        Random random = new Random(seed);
        FlowTable<Integer> table = new FlowTable<>(4);
        Map<Long, Integer> model = new HashMap<>();
        for (int step = 0; step < 2000; step++) {
            // A small key space makes probing chains and back-shifting deletes common.
            long key = FlowTable.key(0xC612_0000 | random.nextInt(4), 1 + random.nextInt(8), 1 + random.nextInt(8));
            switch (random.nextInt(3)) {
                case 0 -> assertEquals(model.put(key, step), table.put(key, step));
                case 1 -> assertEquals(model.remove(key), table.remove(key));
                default -> assertEquals(model.get(key), table.get(key));
            }
            assertEquals(model.size(), table.size());
        }
        for (Map.Entry<Long, Integer> e : model.entrySet()) {
            assertEquals(e.getValue(), table.get(e.getKey()));
        }
    }
}

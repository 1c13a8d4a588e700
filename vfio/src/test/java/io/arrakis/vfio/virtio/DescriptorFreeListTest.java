package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

class DescriptorFreeListTest {
    /** Against a set model: allocate gives an id not in use, free takes back only ids in use. */
    @Property
    void behavesLikeASetOfFreeIds(@ForAll @IntRange(min = 1, max = 64) int size,
            @ForAll @Size(max = 300) List<@IntRange(min = -2, max = 70) Integer> script) {
        DescriptorFreeList list = new DescriptorFreeList(size);
        Set<Integer> inUse = new HashSet<>();
        for (int op : script) {
            if (op < 0) {
                int id = list.allocate();
                if (inUse.size() == size) {
                    assertEquals(-1, id);
                } else {
                    assertTrue(id >= 0 && id < size && inUse.add(id), "id " + id);
                }
            } else if (inUse.contains(op)) {
                list.free(op);
                inUse.remove(op);
            } else {
                assertThrows(IllegalStateException.class, () -> list.free(op));
            }
            assertEquals(size - inUse.size(), list.available());
            for (int id = -1; id <= size; id++) {
                assertEquals(inUse.contains(id), list.isInUse(id));
            }
        }
    }
}

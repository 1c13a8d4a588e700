package io.arrakis.storage.log;

import io.arrakis.storage.SimulatedDisk;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/**
 * Power cuts on a disk with a volatile cache: writes not yet flushed are lost, kept, reordered
 * or torn at random. After each cut, the store holds exactly what it held after some operation
 * no earlier than the last force that returned.
 */
class PowerCutTest {
    private static final int BLOCK = 4096;
    private static final long BLOCKS = 192;
    private static final String[] NAMES = {"a", "b", "c"};

    @Property(tries = 60)
    void afterAPowerCutTheStoreHoldsAStateNoOlderThanTheLastForce(@ForAll long seed) throws IOException {
        Random random = new Random(seed);
        SimulatedDisk disk = new SimulatedDisk(BLOCK, BLOCKS);
        try (var vsic = disk.attach("sim", 3, LogStore.DEFAULT_QUEUE_MEMORY)) {
            LogStore.format(vsic);
        }
        LogStore store = LogStore.open(disk.attach("sim", 3, LogStore.DEFAULT_QUEUE_MEMORY));
        TreeMap<String, byte[]> model = new TreeMap<>();
        List<TreeMap<String, byte[]>> sinceForce = new ArrayList<>();
        sinceForce.add(copy(model));
        List<String> trace = new ArrayList<>();
        for (int step = 0; step < 120; step++) {
            String name = NAMES[random.nextInt(NAMES.length)];
            int choice = random.nextInt(100);
            if (choice < 10) {
                trace.add("create " + name);
                store.open(name, true);
                model.putIfAbsent(name, new byte[0]);
            } else if (choice < 55 && model.containsKey(name)) {
                byte[] data = new byte[1 + random.nextInt(6000)];
                random.nextBytes(data);
                if (random.nextBoolean()) {
                    trace.add("append " + name + " " + data.length);
                    store.open(name, false).append(ByteBuffer.wrap(data));
                    byte[] old = model.get(name);
                    byte[] grown = Arrays.copyOf(old, old.length + data.length);
                    System.arraycopy(data, 0, grown, old.length, data.length);
                    model.put(name, grown);
                } else {
                    int position = random.nextInt(12_000);
                    trace.add("write " + name + " " + data.length + "@" + position);
                    store.open(name, false).write(ByteBuffer.wrap(data), position);
                    byte[] old = model.get(name);
                    byte[] grown = Arrays.copyOf(old, Math.max(old.length, position + data.length));
                    System.arraycopy(data, 0, grown, position, data.length);
                    model.put(name, grown);
                }
                if (model.get(name).length > 60_000) {
                    trace.add("truncate " + name);
                    store.open(name, false).truncate(1000);
                    model.put(name, Arrays.copyOf(model.get(name), 1000));
                }
            } else if (choice < 60 && model.containsKey(name)) {
                trace.add("delete " + name);
                store.delete(name);
                model.remove(name);
            } else if (choice < 80) {
                trace.add("force");
                store.force();
                sinceForce.clear();
            } else if (choice < 83) {
                trace.add("checkpoint");
                store.checkpoint();
            } else if (choice < 93) {
                long cached = disk.cachedBytes();
                trace.add("power cut (" + cached + " bytes cached)");
                disk = disk.powerCut(random, 0.5);
                // The old store's process is gone: nothing of it runs again.
                store = LogStore.open(disk.attach("sim", 3, LogStore.DEFAULT_QUEUE_MEMORY));
                TreeMap<String, byte[]> recovered = new TreeMap<>();
                for (String file : store.list()) {
                    recovered.put(file, Stores.readAll(store.open(file, false)));
                }
                boolean matches = same(model, recovered);
                for (TreeMap<String, byte[]> candidate : sinceForce) {
                    matches |= same(candidate, recovered);
                }
                if (!matches) {
                    throw new AssertionError("after a power cut the store holds " + describe(recovered)
                            + ", no state since the last force (now " + describe(model) + "); " + trace + "; recovery "
                            + store.recovery());
                }
                model = recovered;
                sinceForce.clear();
            }
            sinceForce.add(copy(model));
        }
        store.close();
    }

    private static boolean same(Map<String, byte[]> a, Map<String, byte[]> b) {
        if (!a.keySet().equals(b.keySet())) {
            return false;
        }
        for (String name : a.keySet()) {
            if (!Arrays.equals(a.get(name), b.get(name))) {
                return false;
            }
        }
        return true;
    }

    private static TreeMap<String, byte[]> copy(Map<String, byte[]> model) {
        TreeMap<String, byte[]> copy = new TreeMap<>();
        model.forEach((name, bytes) -> copy.put(name, bytes.clone()));
        return copy;
    }

    private static String describe(Map<String, byte[]> files) {
        StringBuilder text = new StringBuilder("{");
        files.forEach((name, bytes) -> text.append(name).append('=').append(bytes.length).append("B#")
                .append(Arrays.hashCode(bytes)).append(' '));
        return text.append('}').toString();
    }
}

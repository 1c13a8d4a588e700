package io.arrakis.storage.log;

import io.arrakis.storage.TestAreas;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Random operations on the store and on a map of byte arrays that says what every file must
 * hold, with clean reopens (the state must equal the model) and simulated crashes (a copy of the
 * VSA image taken while the store is open: the state must equal the model as it was after some
 * operation no earlier than the last force).
 */
class LogStoreModelTest {
    private static final long BLOCKS = 256; // regions of 127 blocks: overwrites force compactions
    private static final String[] NAMES = {"a", "b", "c", "d"};

    @Provide
    Arbitrary<String> backends() {
        return Arbitraries.of(TestAreas.BACKENDS);
    }

    @Property(tries = 30)
    void theStoreAgreesWithTheModelAcrossReopensAndCrashes(@ForAll("backends") String backend, @ForAll long seed)
            throws IOException {
        Random random = new Random(seed);
        Path directory = Files.createTempDirectory("logstore-model");
        Path image = directory.resolve("vsa.img");
        Path crashImage = directory.resolve("crash.img");
        TreeMap<String, byte[]> model = new TreeMap<>();
        List<TreeMap<String, byte[]>> sinceForce = new ArrayList<>();
        sinceForce.add(copy(model));
        LogStore store = Stores.format(backend, image, BLOCKS);
        List<String> trace = new ArrayList<>();
        try {
            for (int step = 0; step < 80; step++) {
                String name = NAMES[random.nextInt(NAMES.length)];
                int choice = random.nextInt(100);
                if (choice < 12) {
                    trace.add("create " + name);
                    store.open(name, true);
                    model.putIfAbsent(name, new byte[0]);
                } else if (choice < 40 && model.containsKey(name)) {
                    int position = random.nextInt(20_000);
                    byte[] data = new byte[1 + random.nextInt(5000)];
                    random.nextBytes(data);
                    trace.add("write " + name + " " + data.length + "@" + position);
                    store.open(name, false).write(ByteBuffer.wrap(data), position);
                    byte[] old = model.get(name);
                    byte[] grown = Arrays.copyOf(old, Math.max(old.length, position + data.length));
                    System.arraycopy(data, 0, grown, position, data.length);
                    model.put(name, grown);
                } else if (choice < 55 && model.containsKey(name)) {
                    byte[] data = new byte[1 + random.nextInt(3000)];
                    random.nextBytes(data);
                    trace.add("append " + name + " " + data.length);
                    long at = store.open(name, false).append(ByteBuffer.wrap(data));
                    byte[] old = model.get(name);
                    if (at != old.length) {
                        throw new AssertionError("append went to " + at + ", the end is " + old.length + "; " + trace);
                    }
                    byte[] grown = Arrays.copyOf(old, old.length + data.length);
                    System.arraycopy(data, 0, grown, old.length, data.length);
                    model.put(name, grown);
                } else if (choice < 62 && model.containsKey(name)) {
                    int size = random.nextInt(model.get(name).length + 1);
                    trace.add("truncate " + name + " " + size);
                    store.open(name, false).truncate(size);
                    model.put(name, Arrays.copyOf(model.get(name), size));
                } else if (choice < 67 && model.containsKey(name)) {
                    trace.add("delete " + name);
                    store.delete(name);
                    model.remove(name);
                } else if (choice < 72 && model.containsKey(name)) {
                    String to = NAMES[random.nextInt(NAMES.length)];
                    if (!model.containsKey(to)) {
                        trace.add("rename " + name + " " + to);
                        store.rename(name, to);
                        model.put(to, model.remove(name));
                    }
                } else if (choice < 84) {
                    trace.add("force");
                    store.force();
                    sinceForce.clear();
                } else if (choice < 87) {
                    trace.add("checkpoint");
                    store.checkpoint();
                } else if (choice < 93) {
                    trace.add("reopen");
                    store.close();
                    store = Stores.open(backend, image, BLOCKS);
                    check(store, model, trace);
                    sinceForce.clear();
                } else {
                    trace.add("crash");
                    Files.copy(image, crashImage, StandardCopyOption.REPLACE_EXISTING);
                    store.close();
                    Files.move(crashImage, image, StandardCopyOption.REPLACE_EXISTING);
                    store = Stores.open(backend, image, BLOCKS);
                    TreeMap<String, byte[]> recovered = read(store);
                    boolean matches = false;
                    for (TreeMap<String, byte[]> candidate : sinceForce) {
                        matches |= same(candidate, recovered);
                    }
                    matches |= same(model, recovered);
                    if (!matches) {
                        throw new AssertionError("after a crash the store holds " + describe(recovered)
                                + ", no state since the last force; model " + describe(model) + "; " + trace
                                + "; recovery " + store.recovery());
                    }
                    model = recovered;
                    sinceForce.clear();
                }
                sinceForce.add(copy(model));
            }
            store.close();
            store = Stores.open(backend, image, BLOCKS);
            check(store, model, trace);
        } finally {
            store.close();
            Files.deleteIfExists(image);
            Files.deleteIfExists(crashImage);
            Files.deleteIfExists(directory);
        }
    }

    private static void check(LogStore store, Map<String, byte[]> model, List<String> trace) throws IOException {
        TreeMap<String, byte[]> actual = read(store);
        if (!same(model, actual)) {
            throw new AssertionError("store " + describe(actual) + " differs from model " + describe(model) + " after "
                    + trace + "; recovery " + store.recovery());
        }
    }

    private static TreeMap<String, byte[]> read(LogStore store) throws IOException {
        TreeMap<String, byte[]> files = new TreeMap<>();
        for (String name : store.list()) {
            files.put(name, Stores.readAll(store.open(name, false)));
        }
        return files;
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

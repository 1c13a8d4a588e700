package io.arrakis.storage;

import io.arrakis.device.Vsic;
import io.arrakis.device.VsicQueue;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** Random writes and reads against an array of bytes that says what every block must hold. */
class VsicModelTest {
    private static final int BLOCK = 4096;
    private static final int BLOCKS = 32;

    @Provide
    Arbitrary<String> backends() {
        return Arbitraries.of(TestAreas.BACKENDS);
    }

    @Property(tries = 40)
    void readsReturnWhatTheLastWritesPutThere(@ForAll("backends") String backend, @ForAll long seed)
            throws IOException {
        Random random = new Random(seed);
        Path directory = Files.createTempDirectory("vsic-model");
        Path file = directory.resolve("vsa");
        byte[] model = new byte[BLOCKS * BLOCK];
        try (Vsic vsic = TestAreas.open(backend, file, BLOCKS, 1, 8, 8 * BLOCK)) {
            VsicQueue queue = vsic.queue(0);
            for (int step = 0; step < 30; step++) {
                int blocks = 1 + random.nextInt(4);
                long block = random.nextInt(BLOCKS - blocks + 1);
                long memoryOffset = (long) random.nextInt(8 - blocks + 1) * BLOCK;
                if (random.nextBoolean()) {
                    byte[] data = new byte[blocks * BLOCK];
                    random.nextBytes(data);
                    queue.memory().asSlice(memoryOffset, data.length).copyFrom(java.lang.foreign.MemorySegment.ofArray(data));
                    boolean flush = random.nextBoolean();
                    if (flush) {
                        queue.submitWriteThenFlush(block, blocks, memoryOffset, step);
                    } else {
                        queue.submitWrite(block, blocks, memoryOffset, step);
                    }
                    TestAreas.expectSuccess(queue);
                    System.arraycopy(data, 0, model, (int) block * BLOCK, data.length);
                } else {
                    queue.submitRead(block, blocks, memoryOffset, step);
                    TestAreas.expectSuccess(queue);
                    byte[] read = queue.memory().asSlice(memoryOffset, (long) blocks * BLOCK).toArray(ValueLayout.JAVA_BYTE);
                    byte[] expected = java.util.Arrays.copyOfRange(model, (int) block * BLOCK, (int) (block + blocks) * BLOCK);
                    if (!java.util.Arrays.equals(expected, read)) {
                        throw new AssertionError(backend + ": step " + step + " read of blocks " + block + "+" + blocks
                                + " differs from the model");
                    }
                }
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(directory);
        }
    }

}

package io.arrakis.storage;

import io.arrakis.device.CompletionBatch;
import io.arrakis.device.DeviceBackends;
import io.arrakis.device.Vsic;
import io.arrakis.device.VsicConfig;
import io.arrakis.device.VsicQueue;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Opens VSAs in tests and runs commands to completion with bounded waits. */
public final class TestAreas {
    /** Every backend the conformance tests run against. */
    public static final List<String> BACKENDS = List.of("file", "io_uring");

    private TestAreas() {}

    public static Vsic open(String backend, Path file, long blocks, int queues, int depth, long memory,
            String... options) throws IOException {
        Map<String, String> all = new HashMap<>();
        all.put(VsaFile.OPTION_PATH, file.toString());
        for (int i = 0; i < options.length; i += 2) {
            all.put(options[i], options[i + 1]);
        }
        return DeviceBackends.vsicBackend(backend).open(new VsicConfig("test-" + backend, blocks, queues, depth,
                memory, all));
    }

    /** Rings the queue and collects {@code expected} completions within 10 s; returns their statuses by tag order. */
    public static CompletionBatch complete(VsicQueue queue, int expected) throws IOException {
        queue.ring();
        CompletionBatch batch = new CompletionBatch(Math.max(expected, 1));
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (batch.size() < expected) {
            if (queue.poll(batch) == 0) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("only " + batch.size() + " of " + expected + " completions within 10 s");
                }
                queue.awaitCompletion(100_000_000L);
            }
        }
        return batch;
    }

    /** Runs one command's worth of completions and fails unless its status is 0. */
    public static void expectSuccess(VsicQueue queue) throws IOException {
        CompletionBatch batch = complete(queue, 1);
        if (batch.status(0) != 0) {
            throw new AssertionError("command " + batch.tag(0) + " failed with status " + batch.status(0));
        }
    }
}

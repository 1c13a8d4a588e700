package io.arrakis.device;

import java.util.Map;

/**
 * What to open: a VNIC named {@code name} with {@code queues} queue pairs, each with
 * {@code buffersPerQueue} packet buffers of {@code bufferSize} bytes (a power of two), plus
 * backend-specific {@code options} (e.g. {@code interface=veth0} for AF_XDP).
 */
public record VnicConfig(String name, int queues, int buffersPerQueue, int bufferSize, Map<String, String> options) {
    public static final int DEFAULT_BUFFER_SIZE = 2048;
    public static final int DEFAULT_BUFFERS_PER_QUEUE = 4096;

    public VnicConfig {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a VNIC needs a name");
        }
        if (queues <= 0) {
            throw new IllegalArgumentException("VNIC " + name + ": queue count must be positive: " + queues);
        }
        if (buffersPerQueue <= 0) {
            throw new IllegalArgumentException("VNIC " + name + ": buffers per queue must be positive: "
                    + buffersPerQueue);
        }
        if (bufferSize < 256 || Integer.bitCount(bufferSize) != 1) {
            throw new IllegalArgumentException("VNIC " + name + ": buffer size must be a power of two of at least"
                    + " 256 bytes: " + bufferSize);
        }
        options = Map.copyOf(options);
    }

    public static VnicConfig of(String name) {
        return new VnicConfig(name, 1, DEFAULT_BUFFERS_PER_QUEUE, DEFAULT_BUFFER_SIZE, Map.of());
    }

    public String option(String key, String defaultValue) {
        return options.getOrDefault(key, defaultValue);
    }
}

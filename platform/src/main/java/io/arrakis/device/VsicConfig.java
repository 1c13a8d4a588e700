package io.arrakis.device;

import java.util.Map;

/**
 * What to open: a VSIC named {@code name} over a storage area of {@code capacityBlocks} blocks,
 * with {@code queues} queue pairs of {@code queueDepth} commands and {@code ioMemoryBytes} of I/O
 * memory each, plus backend-specific {@code options} (e.g. {@code path=/var/lib/app/vsa0}).
 */
public record VsicConfig(String name, long capacityBlocks, int queues, int queueDepth, long ioMemoryBytes,
        Map<String, String> options) {
    public VsicConfig {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a VSIC needs a name");
        }
        if (capacityBlocks <= 0 || queues <= 0 || queueDepth <= 0 || ioMemoryBytes <= 0) {
            throw new IllegalArgumentException("VSIC " + name + ": capacity, queues, depth and I/O memory must be"
                    + " positive: " + capacityBlocks + " blocks, " + queues + " queues, depth " + queueDepth + ", "
                    + ioMemoryBytes + " bytes");
        }
        options = Map.copyOf(options);
    }

    public String option(String key, String defaultValue) {
        return options.getOrDefault(key, defaultValue);
    }
}

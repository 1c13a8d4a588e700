package io.arrakis.samples.redis;

import java.util.Locale;

/** When the append-only file is forced to the disk (Redis's {@code appendfsync}). */
enum FsyncPolicy {
    /** Before any reply to the commands written: every acknowledged write is durable. */
    ALWAYS,
    /** Once a second by a background thread: a crash loses at most about a second. */
    EVERYSEC,
    /** Never by us; the kernel writes back when it chooses. */
    NO;

    String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    static FsyncPolicy parse(String text) {
        for (FsyncPolicy policy : values()) {
            if (policy.configName().equalsIgnoreCase(text)) {
                return policy;
            }
        }
        throw new IllegalArgumentException("appendfsync must be always, everysec or no, not '" + text + "'");
    }
}

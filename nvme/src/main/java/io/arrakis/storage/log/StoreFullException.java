package io.arrakis.storage.log;

import java.io.IOException;

/** The VSA has no room for a record even after compaction; nothing of the refused operation was applied. */
public final class StoreFullException extends IOException {
    private static final long serialVersionUID = 1L;

    public StoreFullException(String message) {
        super(message);
    }
}

package io.arrakis.memory;

import java.io.IOException;

/**
 * Hugepage-backed shared memory could not be created, almost always because no huge pages are
 * reserved. The message says how many are and how to reserve more; callers that can live with
 * normal pages catch this and fall back to {@link SharedMemory#create}. Immutable.
 */
public final class HugePagesUnavailableException extends IOException {
    private static final long serialVersionUID = 1L;

    HugePagesUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}

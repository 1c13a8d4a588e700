package io.arrakis.vfio;

import java.io.IOException;

/**
 * VFIO could not give us a PCI function, or refused an operation on one; the message says what
 * happened, to which function, and the command or setting that fixes it.
 */
public class VfioException extends IOException {
    private static final long serialVersionUID = 1L;

    public VfioException(String message) {
        super(message);
    }

    public VfioException(String message, Throwable cause) {
        super(message, cause);
    }
}

package io.arrakis.linux;

import java.io.IOException;

/**
 * A Linux call failed. The message names the call, the arguments that matter and the errno, as
 * in {@code memfd_create(name="vnic0", flags=0x3): EINVAL (Invalid argument)}.
 */
public class LinuxException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    public LinuxException(String call, int errno) {
        super(call + ": " + Errno.name(errno) + " (" + Errno.description(errno) + ")");
        this.call = call;
        this.errno = errno;
    }

    /** The call with its arguments, as it appears in the message. */
    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }

    public String errnoName() {
        return Errno.name(errno);
    }
}

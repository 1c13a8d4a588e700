package io.arrakis.bench.ipc;

import java.io.IOException;

/**
 * One way of moving fixed-size messages to a peer process and back, as measured side by side:
 * our shared-memory ring, or the kernel's pipes. The caller's thread owns the transport.
 */
public interface Transport extends AutoCloseable {
    /** Every message is this many bytes; the first eight carry a sequence number. */
    int MESSAGE_BYTES = 64;

    /** Sends message {@code sequence} and waits for the peer to echo it; returns the echoed sequence. */
    long roundTrip(long sequence) throws IOException;

    /** Sends message {@code sequence} to a peer that only consumes; waits only if the channel is full. */
    void send(long sequence) throws IOException;

    /** Tells the peer to stop and reaps it. */
    @Override
    void close() throws IOException;

    /** The transports the benchmark and the demo compare. */
    enum Kind {
        /** Our SPSC rings in a shared memfd, spin-then-block on futex doorbells. */
        RING,
        /** A pair of named pipes with blocking reads: what an ordinary program does. */
        PIPE,
        /** The same pipes, non-blocking, both sides busy-polling read(): the kernel path at its fastest. */
        PIPE_SPIN
    }

    /** Whether the peer echoes every message back or only consumes them. */
    enum PeerMode {
        ECHO, SINK
    }

    static Transport open(Kind kind, PeerMode mode) throws IOException {
        return switch (kind) {
            case RING -> RingTransport.open(mode);
            case PIPE -> PipeTransport.open(mode, false);
            case PIPE_SPIN -> PipeTransport.open(mode, true);
        };
    }
}

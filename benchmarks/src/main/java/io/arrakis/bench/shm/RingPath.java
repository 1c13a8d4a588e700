package io.arrakis.bench.shm;

import io.arrakis.bench.ipc.Transport;
import java.io.IOException;

/**
 * The foundation's raw cross-process SPSC ring round trip (two {@code SpscRing}s in one memfd,
 * spin-then-block on their futex doorbells, the peer a second JVM: what {@code SharedRingVsPipe}
 * measures), as a {@link RoundTripPath}, so the switch's paths are judged against the ring of the
 * same run: cross-vCPU rings on this VM land in a "near" (≈0.2 µs) or a "far" (≈0.75 µs) mode run
 * by run. Messages are {@link Transport#MESSAGE_BYTES} (64) bytes, as the other paths'.
 */
final class RingPath implements RoundTripPath {
    private final Transport ring;

    private RingPath(Transport ring) {
        this.ring = ring;
    }

    static RingPath open() throws IOException {
        return new RingPath(Transport.open(Transport.Kind.RING, Transport.PeerMode.ECHO));
    }

    @Override
    public void roundTrip(int sequence) throws IOException {
        long echoed = ring.roundTrip(sequence);
        if (echoed != sequence) {
            throw new IOException("sent message " + sequence + " through the raw ring, the echo carried " + echoed);
        }
    }

    @Override
    public void close() throws IOException {
        ring.close();
    }
}

package io.arrakis.memory;

/**
 * A ring's shared memory holds values no well-behaved peer could have written: a position that
 * went backwards or ran more than a capacity ahead, a slot sequence word from the wrong lap, or a
 * header that is not a ring's. We throw instead of trusting the value, so garbage written by a
 * buggy or hostile peer process can never make us read or write outside the ring, or wait on
 * something that will never happen.
 *
 * <p>Once thrown, the ring instance must not be used again: tear the ring down (the control plane
 * owns that) and re-create it. Immutable, hence thread-safe.
 */
public final class RingCorruptedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String ring;

    RingCorruptedException(String ring, String message) {
        super(message);
        this.ring = ring;
    }

    /** The name of the ring, as given to {@code format} or {@code attach}. */
    public String ring() {
        return ring;
    }

    /** A peer wrote garbage into a ring that was valid until now. */
    static RingCorruptedException garbage(String ring, String what) {
        return new RingCorruptedException(ring, "ring '" + ring + "' is corrupted: " + what
                + "; the peer process wrote garbage into the shared memory. Stop using this ring and have the"
                + " control plane tear it down and re-create it");
    }

    /** The memory handed to {@code attach} is not (or not yet, or no longer) a valid ring. */
    static RingCorruptedException notARing(String ring, String what) {
        return new RingCorruptedException(ring, "cannot attach to ring '" + ring + "': " + what);
    }
}

package io.arrakis.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class TokenBucketTest {

    /** Offers {@code bytes}-byte frames every microsecond of virtual time for one second; returns bytes passed. */
    private static long bytesPassedInOneSecond(TokenBucket bucket, int bytes) {
        long passed = 0;
        for (long t = 0; t <= 1_000_000_000L; t += 1_000) {
            if (bucket.tryTake(bytes, t)) {
                passed += bytes;
            }
        }
        return passed;
    }

    @Property(tries = 50)
    void holdsASustainedByteRateWithinOnePercentPlusTheBurst(
            @ForAll @LongRange(min = 100_000, max = 100_000_000) long bytesPerSecond) {
        TokenBucket bucket = new TokenBucket();
        RateLimit limit = new RateLimit(bytesPerSecond, 0, 0, 0);
        bucket.setLimit(limit, 0);
        long passed = bytesPassedInOneSecond(bucket, 100);
        long burst = Math.max(bytesPerSecond / 1000, 9018);
        assertTrue(passed <= bytesPerSecond + burst + 100, passed + " > " + bytesPerSecond + " + burst");
        // Offered load is 100 MB/s; below that the limiter must pass nearly all the rate allows.
        assertTrue(passed >= Math.min(bytesPerSecond, 100_000_000L) * 0.99 - 100, passed + " too low");
    }

    @Test
    void limitsPacketsIndependentlyOfBytes() {
        TokenBucket bucket = new TokenBucket();
        bucket.setLimit(new RateLimit(0, 10_000, 0, 10), 0);
        long packets = bytesPassedInOneSecond(bucket, 1);
        assertTrue(packets >= 10_000 && packets <= 10_011, "packets passed: " + packets);
    }

    @Test
    void anUnlimitedBucketPassesEverything() {
        TokenBucket bucket = new TokenBucket();
        bucket.setLimit(RateLimit.UNLIMITED, 0);
        assertEquals(1_000_001L * 1500, bytesPassedInOneSecond(bucket, 1500));
    }
}

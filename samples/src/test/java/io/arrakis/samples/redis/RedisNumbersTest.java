package io.arrakis.samples.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class RedisNumbersTest {
    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Test
    void parsesIntegersExactlyAsString2ll() throws Exception {
        assertEquals(0, RedisNumbers.parseLong(b("0")));
        assertEquals(-12, RedisNumbers.parseLong(b("-12")));
        assertEquals(Long.MAX_VALUE, RedisNumbers.parseLong(b("9223372036854775807")));
        assertEquals(Long.MIN_VALUE, RedisNumbers.parseLong(b("-9223372036854775808")));
        for (String bad : new String[] {"", "-", "+1", "01", "-0", " 1", "1 ", "1.0", "9223372036854775808",
                "-9223372036854775809", "123456789012345678901", "abc"}) {
            assertThrows(RedisNumbers.NotANumber.class, () -> RedisNumbers.parseLong(b(bad)), bad);
        }
    }

    @Test
    void parsesDoublesAsStrtodDoesForRedis() throws Exception {
        assertEquals(1.5, RedisNumbers.parseDouble(b("1.5")));
        assertEquals(1000, RedisNumbers.parseDouble(b("1e3")));
        assertEquals(16, RedisNumbers.parseDouble(b("0x10")));
        assertEquals(Double.POSITIVE_INFINITY, RedisNumbers.parseDouble(b("+inf")));
        assertEquals(Double.NEGATIVE_INFINITY, RedisNumbers.parseDouble(b("-Infinity")));
        assertEquals(-0.5, RedisNumbers.parseDouble(b("-.5")));
        for (String bad : new String[] {"", "nan", " 1", "1 ", "1d", "2f", "1e400", "1e-400", "abc", "NaN", "1..2"}) {
            assertThrows(RedisNumbers.NotANumber.class, () -> RedisNumbers.parseDouble(b(bad)), bad);
        }
    }

    @Test
    void formatsDoublesAsPercent17g() {
        assertEquals("1.5", RedisNumbers.formatDouble(1.5));
        assertEquals("0.10000000000000001", RedisNumbers.formatDouble(0.1));
        assertEquals("2", RedisNumbers.formatDouble(2));
        assertEquals("-9.9999999999999995e-08", RedisNumbers.formatDouble(-1e-7));
        assertEquals("1e+21", RedisNumbers.formatDouble(1e21));
        assertEquals("1.2345678901234568e+17", RedisNumbers.formatDouble(123456789012345678d));
        assertEquals("12345678901234568", RedisNumbers.formatDouble(12345678901234567d));
        assertEquals("0.0001", RedisNumbers.formatDouble(0.0001));
        assertEquals("1.0000000000000001e-05", RedisNumbers.formatDouble(0.00001));
        assertEquals("inf", RedisNumbers.formatDouble(Double.POSITIVE_INFINITY));
        assertEquals("-inf", RedisNumbers.formatDouble(Double.NEGATIVE_INFINITY));
    }
}

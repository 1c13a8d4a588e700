package io.arrakis.bench.servers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The benchmark's small JSON reader and writer, and the medians the table is made of. */
class JsonTest {

    @Test
    void whatIsWrittenReadsBackTheSame() {
        Map<String, Object> value = new LinkedHashMap<>();
        value.put("name", "GET, 1 conn \"quoted\"\n\\ back");
        value.put("count", 3);
        value.put("rate", 12.5);
        value.put("missing", null);
        value.put("flag", true);
        value.put("curve", Arrays.asList(new double[] {50, 6.5}, new double[] {99.9, 40}));
        value.put("empty", Map.of());
        String text = Json.write(value);
        Map<String, Object> back = Json.object(Json.parse(text), "the text");
        assertEquals("GET, 1 conn \"quoted\"\n\\ back", back.get("name"));
        assertEquals(3.0, back.get("count"));
        assertEquals(12.5, back.get("rate"));
        assertTrue(back.containsKey("missing") && back.get("missing") == null);
        assertEquals(true, back.get("flag"));
        assertEquals(List.of(List.of(50.0, 6.5), List.of(99.9, 40.0)), back.get("curve"));
        assertEquals(Map.of(), back.get("empty"));
    }

    @Test
    void readsTheLoadGeneratorsNumbersAndEscapes() {
        Object value = Json.parse(" {\"a\": [1, -2.5e3, 0.001], \"b\": \"\\u00b5s\\t\", \"c\": {}} ");
        Map<String, Object> map = Json.object(value, "value");
        assertEquals(List.of(1.0, -2500.0, 0.001), map.get("a"));
        assertEquals("µs\t", map.get("b"));
    }

    @Test
    void badTextSaysWhere() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": [1, 2}"));
        assertTrue(e.getMessage().contains("at character 11"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": 1} x"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("\"open"));
    }

    @Test
    void theSpreadIsTheMedianBetweenTheExtremes() {
        Measurement.Spread odd = Measurement.Spread.of(List.of(5.0, 1.0, 3.0));
        assertEquals(new Measurement.Spread(3, 1, 5), odd);
        Measurement.Spread even = Measurement.Spread.of(List.of(4.0, 1.0, 2.0, 10.0));
        assertEquals(new Measurement.Spread(3, 1, 10), even);
    }
}

package io.arrakis.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.storage.log.LogStore;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code io.arrakis.Force}: each force() of a persistent log while JFR records is an event with its latency. */
class ForceEventTest {
    @TempDir
    Path directory;

    @Test
    void eachForceOfAPersistentLogIsRecordedWithItsDurationAndBytes() throws Exception {
        Path file = directory.resolve("force.jfr");
        try (Recording recording = new Recording()) {
            recording.enable("io.arrakis.Force").withThreshold(java.time.Duration.ZERO);
            recording.start();
            try (LogStore store = PersistentLogs.format("file", directory.resolve("vsa.img"), 512);
                    PersistentLog log = PersistentLog.open(store, "aof")) {
                for (int i = 0; i < 3; i++) {
                    log.append(MemorySegment.ofArray(new byte[100]));
                    log.force();
                }
            }
            recording.stop();
            recording.dump(file);
        }
        List<RecordedEvent> forces = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().equals("io.arrakis.Force")).toList();
        assertEquals(3, forces.size(), forces.toString());
        for (RecordedEvent e : forces) {
            assertEquals("persistent log aof", e.getString("target"));
            assertEquals(100 + PersistentLog.RECORD_HEADER, e.getLong("bytes"), e.toString());
            assertTrue(!e.getDuration().isNegative(), e.toString());
        }
    }
}

package io.arrakis.lab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The guest side of the mailbox against a stand-in host that answers like lab.sh does. */
class HostMailboxTest {
    @TempDir
    Path shared;

    @Test
    void aCommandIsPublishedWholeAndTheAnswerIsReadAfterTheRcFile() throws Exception {
        HostMailbox mailbox = new HostMailbox(shared);
        CompletableFuture<HostMailbox.Result> answer = CompletableFuture.supplyAsync(() -> {
            try {
                return mailbox.run("echo-1", "echo hello", Duration.ofSeconds(10));
            } catch (IOException | InterruptedException e) {
                throw new RuntimeException(e);
            }
        });
        Path command = shared.resolve("host/echo-1.cmd");
        for (int i = 0; i < 500 && !Files.exists(command); i++) {
            Thread.sleep(10);
        }
        assertEquals("echo hello\n", Files.readString(command));
        Files.writeString(shared.resolve("host/echo-1.out"), "hello\n");
        Files.writeString(shared.resolve("host/echo-1.rc"), "0\n");
        assertEquals(new HostMailbox.Result(0, "hello\n"), answer.get());
    }

    @Test
    void noAnswerInTimeNamesTheCommand() {
        IOException e = assertThrows(IOException.class,
                () -> new HostMailbox(shared).run("lost", "true", Duration.ofMillis(100)));
        assertTrue(e.getMessage().contains("mailbox command lost (\"true\")"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new HostMailbox(shared).run("Bad_Id", "true", Duration.ofMillis(100)));
    }
}

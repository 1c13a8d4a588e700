package io.arrakis.lab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The mailbox round trip through the real lab host: runs only in the lab ({@code ./dev lab}). */
@Tag("lab")
class HostMailboxLabTest {
    @Test
    void theHostRunsACommandInTheLabNamespaceAndReturnsItsOutputAndExitCode() throws Exception {
        HostMailbox mailbox = HostMailbox.fromSystemProperties();
        assumeTrue(mailbox != null, "outside the lab: no " + HostMailbox.SHARED_PROPERTY);
        String hostAddress = System.getProperty("arrakis.lab.host-address");
        String token = "echo-" + System.nanoTime();
        HostMailbox.Result echo = mailbox.run("echo " + token + "; ip -4 -o addr show", Duration.ofSeconds(60));
        assertEquals(0, echo.exitCode(), echo.output());
        assertTrue(echo.output().startsWith(token + "\n"), echo.output());
        assertTrue(echo.output().contains("inet " + hostAddress + "/24"), "runs where the TAP lives: " + echo.output());
        HostMailbox.Result failing = mailbox.run("echo to-stderr >&2; exit 7", Duration.ofSeconds(60));
        assertEquals(new HostMailbox.Result(7, "to-stderr\n"), failing);
    }
}

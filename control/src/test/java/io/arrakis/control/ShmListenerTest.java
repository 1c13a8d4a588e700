package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.FlowFilter.Protocol;
import io.arrakis.device.Ipv4Text;
import java.io.IOException;
import java.net.BindException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control plane's directory of user-level listeners, which loopback acceleration consults at
 * every connect to 127.0.0.1: announced by one process, found from another, withdrawn by its
 * owner or by its death, first announcer wins.
 */
class ShmListenerTest {
    private static final Duration PATIENCE = Duration.ofSeconds(30);

    @TempDir
    Path directory;

    @Test
    void aListenerAnnouncedInOneProcessIsFoundFromAnotherUntilItIsWithdrawn() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                Child server = Child.start("announce", plane.socketPath().toString(), "server", "tcp", "8080");
                ShmVnic client = ShmTesting.open(plane.socketPath(), "client");
                ControlClient tool = ControlClient.connect(plane.socketPath())) {
            int serverAddress = Ipv4Text.parse(Child.field(server.awaitLine("READY", PATIENCE), "ip"));

            assertEquals(OptionalInt.of(serverAddress), client.lookupListener(Protocol.TCP, 8080));
            assertEquals(OptionalInt.of(serverAddress), tool.lookupListener(Protocol.TCP, 8080), "tools may look too");
            assertEquals(OptionalInt.empty(), client.lookupListener(Protocol.UDP, 8080), "UDP ports are separate");
            assertEquals(OptionalInt.empty(), client.lookupListener(Protocol.TCP, 8081));
            ControlStatus status = tool.status();
            assertEquals(List.of(new ControlStatus.Listener(Protocol.TCP, 8080)), status.vnic("server").listeners());
            assertEquals("server", status.listener(Protocol.TCP, 8080).name());
            assertTrue(status.format().contains("listening: tcp/8080"), status.format());

            client.withdrawListener(Protocol.TCP, 8080);
            assertEquals(OptionalInt.of(serverAddress), client.lookupListener(Protocol.TCP, 8080),
                    "withdrawing another VNIC's listener changes nothing");

            server.send("WITHDRAW");
            server.awaitLine("WITHDRAWN", PATIENCE);
            assertEquals(OptionalInt.empty(), client.lookupListener(Protocol.TCP, 8080));
            assertEquals(List.of(), tool.status().vnic("server").listeners());
        }
    }

    @Test
    void theDeathOfTheAnnouncerWithdrawsItsListeners() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                Child server = Child.start("announce", plane.socketPath().toString(), "doomed", "udp", "5353");
                ShmVnic client = ShmTesting.open(plane.socketPath(), "client")) {
            int serverAddress = Ipv4Text.parse(Child.field(server.awaitLine("READY", PATIENCE), "ip"));
            assertEquals(OptionalInt.of(serverAddress), client.lookupListener(Protocol.UDP, 5353));

            server.kill();
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (client.lookupListener(Protocol.UDP, 5353).isPresent()) {
                assertTrue(System.nanoTime() < deadline, "the dead announcer's listener is still there");
                Thread.sleep(5);
            }
            assertNull(plane.status().listener(Protocol.UDP, 5353));
            // The port is free for the next one.
            client.announceListener(Protocol.UDP, 5353);
            assertEquals(OptionalInt.of(client.address()), client.lookupListener(Protocol.UDP, 5353));
        }
    }

    @Test
    void theFirstAnnouncerHoldsAPortAndASecondGetsABindExceptionNamingIt() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic first = ShmTesting.open(plane.socketPath(), "first");
                ShmVnic second = ShmTesting.open(plane.socketPath(), "second")) {
            first.announceListener(Protocol.TCP, 9000);
            first.announceListener(Protocol.TCP, 9000); // again: a no-op
            BindException taken = assertThrows(BindException.class, () -> second.announceListener(Protocol.TCP, 9000));
            assertTrue(taken.getMessage().contains("TCP port 9000") && taken.getMessage().contains("first")
                    && taken.getMessage().contains("pid " + ProcessHandle.current().pid()), taken.getMessage());
            assertEquals(OptionalInt.of(first.address()), second.lookupListener(Protocol.TCP, 9000));

            second.announceListener(Protocol.UDP, 9000);
            assertEquals(OptionalInt.of(second.address()), first.lookupListener(Protocol.UDP, 9000));

            first.withdrawListener(Protocol.TCP, 9000);
            first.withdrawListener(Protocol.TCP, 9000); // again: a no-op
            second.announceListener(Protocol.TCP, 9000);
            assertEquals(OptionalInt.of(second.address()), first.lookupListener(Protocol.TCP, 9000));
            assertEquals(List.of(new ControlStatus.Listener(Protocol.TCP, 9000), new ControlStatus.Listener(Protocol.UDP,
                    9000)), plane.status().vnic("second").listeners());
        }
    }

    @Test
    void badListenersAreRefusedBeforeTheyAreSentAndToolsCannotAnnounce() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic vnic = ShmTesting.open(plane.socketPath(), "v")) {
            assertThrows(IllegalArgumentException.class, () -> vnic.announceListener(Protocol.TCP, 0));
            assertThrows(IllegalArgumentException.class, () -> vnic.announceListener(Protocol.UDP, 65_536));
            assertThrows(IllegalArgumentException.class, () -> vnic.announceListener(Protocol.ICMP, 7));
            assertThrows(IllegalArgumentException.class, () -> vnic.lookupListener(Protocol.ANY, 7));

            // A connection without a VNIC (a tool) is told so, and keeps its connection.
            try (ControlConnection tool = ControlConnection.connect(plane.socketPath())) {
                tool.start(null, "tool");
                IOException refused = assertThrows(IOException.class,
                        () -> tool.call(new io.arrakis.control.Protocol.AnnounceListener(Protocol.TCP, 7000)));
                assertTrue(refused.getMessage().contains("only a process with a VNIC"), refused.getMessage());
                assertTrue(tool.call(new io.arrakis.control.Protocol.StatusRequest())
                        instanceof io.arrakis.control.Protocol.StatusReply);
            }
            assertNull(plane.status().listener(Protocol.TCP, 7000));
        }
    }

    @Test
    void portsBelowTheUnprivilegedStartNeedRootAsBindingThemDoes() throws Exception {
        assertFalse(ControlPlane.mayListenOn(1000, 80, 1024));
        assertFalse(ControlPlane.mayListenOn(1000, 1023, 1024));
        assertTrue(ControlPlane.mayListenOn(1000, 1024, 1024));
        assertTrue(ControlPlane.mayListenOn(1000, 80, 0), "an administrator may lower the limit");
        assertTrue(ControlPlane.mayListenOn(0, 80, 1024));
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic vnic = ShmTesting.open(plane.socketPath(), "v")) {
            if (ControlPlane.currentUid() == 0) {
                vnic.announceListener(Protocol.TCP, 80);
                assertEquals(OptionalInt.of(vnic.address()), vnic.lookupListener(Protocol.TCP, 80));
            } else {
                IOException refused = assertThrows(IOException.class, () -> vnic.announceListener(Protocol.TCP, 80));
                assertTrue(refused.getMessage().contains("need root"), refused.getMessage());
            }
        }
    }
}

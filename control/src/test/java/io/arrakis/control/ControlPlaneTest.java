package io.arrakis.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.MacAddress;
import io.arrakis.device.RateLimit;
import io.arrakis.device.VnicConfig;
import io.arrakis.linux.Sockets;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The control plane's bookkeeping: identities, membership, reclaim, status, and what it refuses. */
class ControlPlaneTest {
    private static final Duration PATIENCE = Duration.ofSeconds(5);

    @TempDir
    Path directory;

    @Test
    void eachVnicGetsItsOwnMacAndAnAddressFromTheSubnetAndStatusNamesItsOwner() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(
                ControlPlaneConfig.withSubnet(directory.resolve("control.sock"), "198.18.7.0/24"));
                ShmVnic a = ShmTesting.open(plane.socketPath(), "a");
                ShmVnic b = ShmTesting.open(plane.socketPath(), "b");
                ShmVnic c = ShmTesting.open(plane.socketPath(), "a")) {
            Set<Integer> addresses = new HashSet<>(List.of(a.address(), b.address(), c.address()));
            assertEquals(Set.of(Ipv4Text.parse("198.18.7.2"), Ipv4Text.parse("198.18.7.3"), Ipv4Text.parse("198.18.7.4")),
                    addresses, ".1 is the gateway's");
            assertEquals(24, a.prefixLength());
            assertEquals(Ipv4Text.parse("198.18.7.1"), a.gateway());
            for (ShmVnic v : List.of(a, b, c)) {
                assertFalse(v.mac().isMulticast(), v.toString());
                assertEquals(0x02, v.mac().octet(0) & 0x03, "locally administered unicast: " + v.mac());
            }
            assertEquals(3, Set.of(a.mac(), b.mac(), c.mac()).size());
            assertNotEquals("a", c.name(), "names are unique on the host");
            assertEquals("a", a.name());
            assertTrue(a.awaitPeers(2, PATIENCE) && b.awaitPeers(2, PATIENCE) && c.awaitPeers(2, PATIENCE));

            ControlStatus status = plane.status();
            assertEquals(3, status.vnics().size());
            assertEquals(6, status.channels().size(), "one channel per ordered pair");
            assertEquals(ProcessHandle.current().pid(), status.vnic("b").pid());
            assertEquals(b.mac(), status.vnic("b").mac());
            assertEquals(b.address(), status.vnic("b").address());
            assertEquals("198.18.7.0/24", status.subnet());
            try (ControlClient client = ControlClient.connect(plane.socketPath())) {
                ControlStatus remote = client.status();
                assertEquals(status.vnics().stream().map(ControlStatus.VnicStatus::name).toList(),
                        remote.vnics().stream().map(ControlStatus.VnicStatus::name).toList());
                assertTrue(remote.format().contains(Ipv4Text.format(b.address())), remote.format());
            }

            b.close();
            assertTrue(a.awaitPeers(1, PATIENCE), "a was told that b left: " + a.peers());
            assertTrue(c.awaitPeers(1, PATIENCE), "c was told that b left: " + c.peers());
            status = plane.status();
            assertEquals(2, status.vnics().size());
            assertEquals(2, status.channels().size());
            assertEquals(3, status.attaches());
            assertEquals(1, status.detaches());
            try (ShmVnic d = ShmTesting.open(plane.socketPath(), "d")) {
                assertEquals(Ipv4Text.parse("198.18.7.3"), d.address(), "b's address is reused: " + d);
                assertTrue(d.awaitPeers(2, PATIENCE));
            }
        }
    }

    @Test
    void rateLimitsAreSetThroughTheControlPlaneAndPushedToTheOwner() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic a = ShmTesting.open(plane.socketPath(), "a");
                ControlClient client = ControlClient.connect(plane.socketPath())) {
            RateLimit limit = new RateLimit(1_000_000, 0, 0, 0);
            client.setRateLimit("a", limit);
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (!a.rateLimit().equals(limit) && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            assertEquals(limit, a.rateLimit());
            assertEquals(limit, plane.status().vnic("a").rateLimit());
            a.setRateLimit(RateLimit.UNLIMITED);
            assertEquals(RateLimit.UNLIMITED, a.rateLimit(), "in force when setRateLimit returns");
            IOException e = assertThrows(IOException.class, () -> client.setRateLimit("nobody", limit));
            assertTrue(e.getMessage().contains("no VNIC named nobody"), e.getMessage());
        }
    }

    @Test
    void aSecondControlPlaneOnTheSameSocketIsRefusedAndAStaleSocketFileIsReplaced() throws Exception {
        Path socket = directory.resolve("control.sock");
        Files.createFile(socket); // left over by a control plane that died
        try (ControlPlane plane = ControlPlane.startEmbedded(socket)) {
            assertThrows(ControlPlane.AlreadyRunningException.class, () -> ControlPlane.startEmbedded(socket));
            try (ShmVnic a = ShmTesting.open(plane.socketPath(), "a")) {
                assertEquals(a.name(), plane.status().vnics().getFirst().name());
            }
        }
        assertFalse(Files.exists(socket), "a stopped control plane removes its socket");
    }

    @Test
    void theFirstProcessThatNeedsAControlPlaneStartsOneEmbedded() throws Exception {
        Path socket = directory.resolve("auto").resolve("control.sock");
        VnicConfig config = new VnicConfig("first", 1, 256, 2048, Map.of(ShmVnicBackend.OPTION_SOCKET,
                socket.toString(), ShmVnicBackend.OPTION_SUBNET, "198.19.3.0/24"));
        try (ShmVnic first = (ShmVnic) DeviceBackends.vnicBackend("shm").open(config);
                ShmVnic second = ShmTesting.open(socket, "second")) {
            assertEquals(Ipv4Text.parse("198.19.3.2"), first.address());
            assertTrue(second.awaitPeers(1, PATIENCE));
            try (ControlClient client = ControlClient.connect(socket)) {
                assertEquals(ProcessHandle.current().pid(), client.status().pid());
            }
        } finally {
            ControlPlane embedded = ControlPlane.runningHere(socket);
            if (embedded != null) {
                embedded.close();
            }
        }
        IOException e = assertThrows(IOException.class,
                () -> ShmTesting.open(directory.resolve("nobody.sock"), "lonely"));
        assertTrue(e.getMessage().contains("no control plane answers"), e.getMessage());
    }

    @Test
    void runsAsAProcessOfItsOwnAndCleansUpOnSigterm() throws Exception {
        Path socket = directory.resolve("daemon.sock");
        try (Child daemon = Child.startMain(ControlPlane.class.getName(), "--socket", socket.toString(), "--subnet",
                "198.19.200.0/24")) {
            String banner = daemon.awaitLine("arrakis control plane", Duration.ofSeconds(30));
            assertTrue(banner.contains("pid " + daemon.pid()) && banner.contains("198.19.200.0/24"), banner);
            try (ShmVnic a = ShmTesting.open(socket, "a");
                    ShmVnic b = ShmTesting.open(socket, "b");
                    ControlClient client = ControlClient.connect(socket)) {
                assertEquals(Ipv4Text.parse("198.19.200.2"), a.address());
                assertTrue(a.awaitPeers(1, PATIENCE) && b.awaitPeers(1, PATIENCE));
                ControlStatus status = client.status();
                assertEquals(daemon.pid(), status.pid());
                assertEquals(2, status.vnics().size());
                assertEquals(ProcessHandle.current().pid(), status.vnic("a").pid());
                assertEquals(143, daemon.terminate(), "exit status of a JVM ended by SIGTERM");
                long deadline = System.nanoTime() + PATIENCE.toNanos();
                while (!a.controlPlaneLost() && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertTrue(a.controlPlaneLost(), "the VNIC noticed that its control plane went away");
                assertTrue(a.lastProblem().contains("control plane went away"), a.lastProblem());
            }
            assertFalse(Files.exists(socket), "the daemon removed its socket on the way out");
        }
    }

    @Test
    void garbageOnTheControlSocketEndsThatConnectionOnly() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                ShmVnic a = ShmTesting.open(plane.socketPath(), "a")) {
            int fd = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_SEQPACKET | Sockets.SOCK_CLOEXEC, 0);
            try (Arena arena = Arena.ofConfined()) {
                Sockets.connect(fd, Sockets.UnixAddress.path(plane.socketPath().toString()));
                MemorySegment junk = arena.allocate(100);
                junk.fill((byte) 0x5A);
                Sockets.send(fd, junk, 0);
                MemorySegment reply = arena.allocate(Protocol.MAX_MESSAGE);
                long n = Sockets.recv(fd, reply, 0);
                Protocol.Envelope envelope = Protocol.decode(reply.asSlice(0, n).asByteBuffer());
                assertInstanceOf(Protocol.Failure.class, envelope.message());
                assertEquals(0, Sockets.recv(fd, reply, 0), "then the control plane hangs up");
            } finally {
                Unistd.close(fd);
            }
            // A second ATTACH on one connection is refused, the first VNIC stays.
            try (RawAttachment raw = RawAttachment.attach(plane.socketPath(), "raw")) {
                var reply = raw.connection.request(new Protocol.Attach("again")).get();
                assertInstanceOf(Protocol.Failure.class, reply.message());
                assertEquals(2, plane.status().vnics().size());
            }
            ShmTesting.awaitVnics(plane, 1);
            assertTrue(a.awaitPeers(0, PATIENCE));
        }
    }

    @Test
    void aSlowReaderGetsEveryReplyLaterAndOneThatNeverReadsIsDropped() throws Exception {
        try (ControlPlane plane = ControlPlane.startEmbedded(directory.resolve("control.sock"));
                Arena arena = Arena.ofConfined()) {
            MemorySegment reply = arena.allocate(Protocol.MAX_MESSAGE);
            int slow = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_SEQPACKET | Sockets.SOCK_CLOEXEC, 0);
            try {
                Sockets.connect(slow, Sockets.UnixAddress.path(plane.socketPath().toString()));
                int requests = 1_000;
                for (int i = 1; i <= requests; i++) {
                    Sockets.send(slow, arena.allocateFrom(ValueLayout.JAVA_BYTE,
                            Protocol.encode(i, new Protocol.StatusRequest())), Sockets.MSG_NOSIGNAL);
                }
                Thread.sleep(200); // far more replies than a socket buffer holds are waiting now
                for (int i = 1; i <= requests; i++) {
                    long n = Sockets.recv(slow, reply, 0);
                    Protocol.Envelope envelope = Protocol.decode(reply.asSlice(0, n).asByteBuffer());
                    assertEquals(i, envelope.requestId());
                    assertInstanceOf(Protocol.StatusReply.class, envelope.message());
                }
            } finally {
                Unistd.close(slow);
            }
            int deaf = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_SEQPACKET | Sockets.SOCK_CLOEXEC, 0);
            try {
                Sockets.connect(deaf, Sockets.UnixAddress.path(plane.socketPath().toString()));
                int sent = 0;
                try {
                    for (; sent < 20_000; sent++) {
                        Sockets.send(deaf, arena.allocateFrom(ValueLayout.JAVA_BYTE,
                                Protocol.encode(sent + 1, new Protocol.StatusRequest())), Sockets.MSG_NOSIGNAL);
                    }
                } catch (io.arrakis.linux.LinuxException e) {
                    // EPIPE: the control plane dropped us, as it should.
                }
                long replies = 0;
                while (Sockets.recv(deaf, reply, 0) > 0) {
                    replies++;
                }
                assertTrue(replies < sent, "the connection was dropped after " + replies + " replies to " + sent
                        + " requests");
            } finally {
                Unistd.close(deaf);
            }
            assertEquals(0, plane.status().vnics().size(), "and the control plane carries on");
        }
    }

    @Test
    void anXdpFlowOfAPrivilegedPortAWholeAddressOrArpNeedsRootAsBindingDoes() {
        int address = Ipv4Text.parse("198.18.0.1");
        FlowFilter ssh = new FlowFilter(FlowFilter.Protocol.TCP, address, 22, 0, 0);
        FlowFilter web = new FlowFilter(FlowFilter.Protocol.TCP, address, 8080, 0, 0);
        FlowFilter whole = new FlowFilter(FlowFilter.Protocol.UDP, address, 0, 0, 0);
        FlowFilter arp = new FlowFilter(FlowFilter.Protocol.ARP, address, 0, 0, 0);
        for (FlowFilter flow : List.of(ssh, web, whole, arp)) {
            assertEquals(null, XdpAdmissions.flowRefusedTo(0, flow, 1024), "root may claim " + flow);
        }
        assertEquals(null, XdpAdmissions.flowRefusedTo(1000, web, 1024));
        assertTrue(XdpAdmissions.flowRefusedTo(1000, ssh, 1024).contains("ports below 1024 need root"));
        assertTrue(XdpAdmissions.flowRefusedTo(1000, whole, 1024).contains("every port of an address"));
        assertTrue(XdpAdmissions.flowRefusedTo(1000, arp, 1024).contains("ARP"));
        assertEquals(null, XdpAdmissions.flowRefusedTo(1000, ssh, 0), "ip_unprivileged_port_start=0 frees them all");
    }

    @Test
    void messagesSurviveEncodingAndGarbageIsRejected() throws Exception {
        FlowFilter fiveTuple = new FlowFilter(FlowFilter.Protocol.TCP, Ipv4Text.parse("198.18.0.2"), 80,
                Ipv4Text.parse("198.18.0.3"), 40_000);
        FlowFilter arp = new FlowFilter(FlowFilter.Protocol.ARP, 0, 0, 0, 0);
        Protocol.Message[] messages = {new Protocol.Attach("vnic0"), new Protocol.Attach("vnic1", 16),
            new Protocol.Attached(3, "vnic0", 0x02_00_00_00_00_03L, Ipv4Text.parse("198.18.0.3"), 24,
                    Ipv4Text.parse("198.18.0.1"), 1500, 256, 2048, new RateLimit(1, 2, 3, 4), 4),
            new Protocol.PeerAdded(4, "p", 5L, 6, RateLimit.UNLIMITED, 2), new Protocol.PeerRemoved(9),
            new Protocol.AddFilter(fiveTuple, 3), new Protocol.RemoveFilter(arp),
            new Protocol.Filters(4, List.of(new ControlStatus.Filter(fiveTuple, 1), new ControlStatus.Filter(arp, 0))),
            new Protocol.Filters(5, List.of()), new Protocol.Sync(),
            new Protocol.SetRateLimit("x", new RateLimit(10, 0, 0, 0)), new Protocol.RateLimitChanged(2, RateLimit.UNLIMITED),
            new Protocol.StatusRequest(), new Protocol.Ok(), new Protocol.Failure("no"),
            new Protocol.Shutdown(), new Protocol.AnnounceListener(FlowFilter.Protocol.TCP, 8080),
            new Protocol.WithdrawListener(FlowFilter.Protocol.UDP, 53),
            new Protocol.LookupListener(FlowFilter.Protocol.TCP, 65_535),
            new Protocol.ListenerInfo(FlowFilter.Protocol.UDP, 1, 4, Ipv4Text.parse("198.18.0.4")),
            new Protocol.PortInUse(FlowFilter.Protocol.TCP, 80, 2, "web", 1234),
            new Protocol.StatusReply(new ControlStatus(1, "/s", "198.18.0.0/24", 2, 1,
                    List.of(new ControlStatus.VnicStatus(2, "web", 1234, 0, new MacAddress(0x02_00_00_00_00_02L),
                            Ipv4Text.parse("198.18.0.2"), new RateLimit(5, 6, 0, 0), Map.of("RX_PACKETS", 3L),
                            List.of(new ControlStatus.Listener(FlowFilter.Protocol.UDP, 53),
                                    new ControlStatus.Listener(FlowFilter.Protocol.TCP, 80))),
                            new ControlStatus.VnicStatus(3, "db", 99, 0, new MacAddress(0x02_00_00_00_00_03L),
                                    Ipv4Text.parse("198.18.0.3"), RateLimit.UNLIMITED, Map.of("RX_PACKETS", 7L),
                                    List.of(), List.of(new ControlStatus.QueueStatus(0, Map.of("RX_PACKETS", 3L)),
                                            new ControlStatus.QueueStatus(1, Map.of("RX_PACKETS", 4L))),
                                    List.of(new ControlStatus.Filter(fiveTuple, 1)))),
                    List.of(new ControlStatus.ChannelStatus(2, 3, 10, 9), new ControlStatus.ChannelStatus(3, 2, 5, 5, 1,
                            0)),
                    List.of(new ControlStatus.XdpAttachment("", "eth0", "SKB", List.of()),
                            new ControlStatus.XdpAttachment("ns", "veth0", "NATIVE", List.of(
                                    new ControlStatus.XdpTenant(77, 3, Ipv4Text.parse("198.18.0.9"),
                                            List.of(fiveTuple, arp))))))),
            new Protocol.StatusReply(new ControlStatus(1, "/s", "198.18.0.0/24", 0, 0, List.of(), List.of(), List.of(),
                    List.of(new ControlStatus.VsaStatus("db", VsaRegistry.KIND_FILE, 1000, 1 << 20, 0, 0, 4321),
                            new ControlStatus.VsaStatus("fast", VsaRegistry.KIND_NVME, 0, 1 << 20, 2048, 2048, 0)))),
            new Protocol.XdpAdmit("", "eth0", true, 3, 17, Ipv4Text.parse("198.18.0.9")),
            new Protocol.XdpAdmit("ns", "veth0", false, 0, 4, 1),
            new Protocol.XdpAddFlow("ns", "veth0", fiveTuple, 5), new Protocol.XdpRemoveFlow("", "eth0", arp)};
        for (Protocol.Message message : messages) {
            byte[] bytes = Protocol.encode(7, message);
            Protocol.Envelope envelope = Protocol.decode(java.nio.ByteBuffer.wrap(bytes));
            assertEquals(7, envelope.requestId());
            assertEquals(message, envelope.message());
            for (int cut = 0; cut < bytes.length; cut++) {
                int length = cut;
                assertThrows(java.net.ProtocolException.class,
                        () -> Protocol.decode(java.nio.ByteBuffer.wrap(bytes, 0, length)));
            }
        }
        java.util.Random random = new java.util.Random(1);
        for (int i = 0; i < 10_000; i++) {
            byte[] junk = new byte[random.nextInt(200)];
            random.nextBytes(junk);
            if (junk.length >= 8 && random.nextBoolean()) {
                java.nio.ByteBuffer.wrap(junk).putInt(Protocol.MAGIC).putShort((short) Protocol.VERSION);
            }
            try {
                Protocol.decode(java.nio.ByteBuffer.wrap(junk));
            } catch (java.net.ProtocolException expected) {
                // the only acceptable failure
            }
        }
        assertEquals("/run/arrakis/control.sock", ControlPlane.currentUid() == 0
                ? ControlPlane.defaultSocketPath().toString() : "/run/arrakis/control.sock");
    }
}

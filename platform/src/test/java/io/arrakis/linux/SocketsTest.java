package io.arrakis.linux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.linux.Sockets.Ipv4Address;
import io.arrakis.linux.Sockets.ReceivedMessage;
import io.arrakis.linux.Sockets.UnixAddress;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SocketsTest {
    private static final int STREAM = Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC;

    @Test
    void passesAMemfdOverAUnixSocketAndBothSidesSeeTheSameBytes() throws Exception {
        int memfd = Mman.memfdCreate("sockets-test", Mman.MFD_CLOEXEC);
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, STREAM, 0);
        int received = -1;
        try (Arena arena = Arena.ofConfined()) {
            Unistd.ftruncate(memfd, 4096);
            assertEquals(1, Sockets.sendWithFds(pair[0], arena.allocateFrom("!").asSlice(0, 1), memfd));

            MemorySegment buffer = arena.allocate(16);
            ReceivedMessage message = Sockets.recvWithFds(pair[1], buffer, 4, 0);
            assertEquals(1, message.bytes());
            assertEquals('!', buffer.get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(1, message.fds().length);
            received = message.fds()[0];
            assertNotEquals(memfd, received);
            assertNull(message.credentials());
            assertFalse(message.dataTruncated());

            MemorySegment sender = Mman.mmap(4096, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, memfd, 0);
            MemorySegment receiver = Mman.mmap(4096, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, received, 0);
            sender.set(ValueLayout.JAVA_LONG, 512, 0x5EED_F00DL);
            assertEquals(0x5EED_F00DL, receiver.get(ValueLayout.JAVA_LONG, 512));
            receiver.set(ValueLayout.JAVA_INT, 0, 42);
            assertEquals(42, sender.get(ValueLayout.JAVA_INT, 0));
            Mman.munmap(sender);
            Mman.munmap(receiver);
        } finally {
            closeAll(memfd, pair[0], pair[1], received);
        }
    }

    @Test
    void moreDescriptorsThanAskedForAreRefusedAndNoneStaysOpen() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, STREAM, 0);
        int a = EventFd.create(0, EventFd.EFD_CLOEXEC);
        int b = EventFd.create(0, EventFd.EFD_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            Sockets.sendWithFds(pair[0], arena.allocateFrom("xy"), a, b);
            long before = openDescriptors();
            Sockets.ControlTruncatedException e = assertThrows(Sockets.ControlTruncatedException.class,
                    () -> Sockets.recvWithFds(pair[1], arena.allocate(8), 1, 0));
            assertTrue(e.getMessage().startsWith("recvmsg(fd=" + pair[1] + ", maxFds=1): the sender attached more "
                    + "descriptors than maxFds=1; the 2 that arrived"), e.getMessage());
            assertEquals(3, e.bytes());
            assertEquals(before, openDescriptors(), "the descriptors that arrived must have been closed");
        } finally {
            closeAll(pair[0], pair[1], a, b);
        }
    }

    @Test
    void descriptorsTheKernelHadNoRoomForAreReportedAsMsgCtrunc() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, STREAM, 0);
        int a = EventFd.create(0, EventFd.EFD_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            int[] many = new int[40];
            java.util.Arrays.fill(many, a);
            Sockets.sendWithFds(pair[0], arena.allocateFrom("xy"), many);
            long before = openDescriptors();
            Sockets.ControlTruncatedException e = assertThrows(Sockets.ControlTruncatedException.class,
                    () -> Sockets.recvWithFds(pair[1], arena.allocate(8), 1, 0));
            assertTrue(e.getMessage().startsWith("recvmsg(fd=" + pair[1] + ", maxFds=1): MSG_CTRUNC: "), e.getMessage());
            assertTrue(e.getMessage().contains("the kernel dropped the ones that did not fit"), e.getMessage());
            assertEquals(before, openDescriptors(), "the descriptors that arrived must have been closed");
        } finally {
            closeAll(pair[0], pair[1], a);
        }
    }

    @Test
    void aSocketpairPeerIsThisProcessAccordingToSoPeercred() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, STREAM, 0);
        try {
            Sockets.Credentials credentials = Sockets.peerCredentials(pair[0]);
            assertEquals(Unistd.getpid(), credentials.pid());
            assertEquals(0, credentials.uid());
        } finally {
            closeAll(pair[0], pair[1]);
        }
    }

    @Test
    void withSoPasscredEachMessageCarriesTheSendersCredentials() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            Sockets.setsockopt(pair[1], Sockets.SOL_SOCKET, Sockets.SO_PASSCRED, 1);
            assertEquals(1, Sockets.getsockopt(pair[1], Sockets.SOL_SOCKET, Sockets.SO_PASSCRED));
            Sockets.sendWithFds(pair[0], arena.allocateFrom("hello"));
            ReceivedMessage message = Sockets.recvWithFds(pair[1], arena.allocate(16), 0, 0);
            assertEquals(6, message.bytes());
            assertEquals(0, message.fds().length);
            assertEquals(Unistd.getpid(), message.credentials().pid());
        } finally {
            closeAll(pair[0], pair[1]);
        }
    }

    @Test
    void aDatagramLongerThanTheBufferIsFlaggedAsTruncated() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(10, Sockets.send(pair[0], arena.allocateFrom("0123456789", StandardCharsets.US_ASCII)
                    .asSlice(0, 10), 0));
            ReceivedMessage message = Sockets.recvWithFds(pair[1], arena.allocate(4), 1, 0);
            assertEquals(4, message.bytes());
            assertTrue(message.dataTruncated());
        } finally {
            closeAll(pair[0], pair[1]);
        }
    }

    @Test
    void aServerOnAnAbstractNameAcceptsAClientAndLearnsItsPid() throws Exception {
        UnixAddress name = UnixAddress.abstractName("arrakis-test-" + Unistd.getpid() + "-" + System.nanoTime());
        int server = Sockets.socket(Sockets.AF_UNIX, STREAM, 0);
        int client = Sockets.socket(Sockets.AF_UNIX, STREAM, 0);
        int accepted = -1;
        try (Arena arena = Arena.ofConfined()) {
            Sockets.bind(server, name);
            Sockets.listen(server, 4);
            assertEquals(name, Sockets.localName(server));
            assertEquals(1, Sockets.getsockopt(server, Sockets.SOL_SOCKET, Sockets.SO_ACCEPTCONN));
            assertTrue(Sockets.connect(client, name));
            accepted = Sockets.accept4(server, Sockets.SOCK_CLOEXEC);
            assertEquals(Unistd.getpid(), Sockets.peerCredentials(accepted).pid());
            assertEquals(name, Sockets.peerName(client));
            assertEquals(UnixAddress.UNNAMED, Sockets.localName(client));

            MemorySegment hello = arena.allocateFrom("hello", StandardCharsets.US_ASCII).asSlice(0, 5);
            assertEquals(5, Sockets.send(client, hello, Sockets.MSG_NOSIGNAL));
            MemorySegment buffer = arena.allocate(16);
            assertEquals(5, Sockets.recv(accepted, buffer, 0));
            assertEquals("hello", new String(buffer.asSlice(0, 5).toArray(ValueLayout.JAVA_BYTE),
                    StandardCharsets.US_ASCII));
        } finally {
            closeAll(server, client, accepted);
        }
    }

    @Test
    void aServerOnAFilesystemPathReportsThatPath(@TempDir Path directory) throws Exception {
        UnixAddress path = UnixAddress.path(directory.resolve("control.sock").toString());
        int server = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_SEQPACKET | Sockets.SOCK_CLOEXEC, 0);
        int client = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_SEQPACKET | Sockets.SOCK_CLOEXEC, 0);
        int accepted = -1;
        try {
            Sockets.bind(server, path);
            Sockets.listen(server, 1);
            assertTrue(Files.exists(directory.resolve("control.sock")));
            assertEquals(path, Sockets.localName(server));
            Sockets.connect(client, path);
            accepted = Sockets.accept4(server, Sockets.SOCK_CLOEXEC);
            assertEquals(Sockets.SOCK_SEQPACKET, Sockets.getsockopt(accepted, Sockets.SOL_SOCKET, Sockets.SO_TYPE));
            assertEquals(Sockets.AF_UNIX, Sockets.getsockopt(accepted, Sockets.SOL_SOCKET, Sockets.SO_DOMAIN));
        } finally {
            closeAll(server, client, accepted);
        }
    }

    @Test
    void tcpOverLoopbackCarriesBytesAndShutdownEndsTheStream() throws Exception {
        int server = Sockets.socket(Sockets.AF_INET, STREAM, 0);
        int client = Sockets.socket(Sockets.AF_INET, STREAM, 0);
        int accepted = -1;
        try (Arena arena = Arena.ofConfined()) {
            Sockets.setsockopt(server, Sockets.SOL_SOCKET, Sockets.SO_REUSEADDR, 1);
            assertNotEquals(0, Sockets.getsockopt(server, Sockets.SOL_SOCKET, Sockets.SO_REUSEADDR));
            Sockets.bind(server, Ipv4Address.loopback(0));
            Sockets.listen(server, 8);
            Ipv4Address bound = (Ipv4Address) Sockets.localName(server);
            assertEquals(Ipv4Address.LOOPBACK, bound.address());
            assertNotEquals(0, bound.port());

            assertTrue(Sockets.connect(client, bound));
            accepted = Sockets.accept4(server, Sockets.SOCK_CLOEXEC);
            assertEquals(Sockets.localName(client), Sockets.peerName(accepted));
            Sockets.setsockopt(client, Sockets.IPPROTO_TCP, Sockets.TCP_NODELAY, 1);

            MemorySegment ping = arena.allocateFrom(ValueLayout.JAVA_LONG, 0x1234_5678_9ABC_DEF0L);
            assertEquals(8, Sockets.send(client, ping, Sockets.MSG_NOSIGNAL));
            MemorySegment buffer = arena.allocate(8);
            assertEquals(8, Sockets.recv(accepted, buffer, Sockets.MSG_WAITALL));
            assertEquals(0x1234_5678_9ABC_DEF0L, buffer.get(ValueLayout.JAVA_LONG, 0));

            Sockets.shutdown(client, Sockets.SHUT_WR);
            assertEquals(0, Sockets.recv(accepted, buffer, 0));
        } finally {
            closeAll(server, client, accepted);
        }
    }

    @Test
    void nonBlockingCallsAnswerMinusOneInsteadOfWaiting() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, STREAM | Sockets.SOCK_NONBLOCK, 0);
        int server = Sockets.socket(Sockets.AF_INET, STREAM | Sockets.SOCK_NONBLOCK, 0);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(-1, Sockets.recv(pair[0], arena.allocate(8), 0));
            assertEquals(-1, Sockets.recvWithFds(pair[0], arena.allocate(8), 1, 0).bytes());
            Sockets.bind(server, Ipv4Address.loopback(0));
            Sockets.listen(server, 1);
            assertEquals(-1, Sockets.accept4(server, 0));
        } finally {
            closeAll(pair[0], pair[1], server);
        }
    }

    @Test
    void rawSendmsgAndRecvmsgMoveAMessageDescribedByAHandBuiltMsghdr() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment first = arena.allocateFrom("abc", StandardCharsets.US_ASCII).asSlice(0, 3);
            MemorySegment second = arena.allocateFrom("def", StandardCharsets.US_ASCII).asSlice(0, 3);
            assertEquals(6, Sockets.sendmsg(pair[0], msghdr(arena, first, second), 0));

            MemorySegment into = arena.allocate(6);
            MemorySegment msghdr = msghdr(arena, into.asSlice(0, 2), into.asSlice(2, 4));
            assertEquals(6, Sockets.recvmsg(pair[1], msghdr, 0));
            assertEquals("abcdef", new String(into.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII));
        } finally {
            closeAll(pair[0], pair[1]);
        }
    }

    private static MemorySegment msghdr(Arena arena, MemorySegment... buffers) {
        MemorySegment iovecs = arena.allocate(Sockets.IOVEC, buffers.length);
        for (int i = 0; i < buffers.length; i++) {
            iovecs.set(ValueLayout.ADDRESS, i * 16L, buffers[i]);
            iovecs.set(ValueLayout.JAVA_LONG, i * 16L + 8, buffers[i].byteSize());
        }
        MemorySegment msghdr = arena.allocate(Sockets.MSGHDR);
        msghdr.set(ValueLayout.ADDRESS, 16, iovecs);
        msghdr.set(ValueLayout.JAVA_LONG, 24, buffers.length);
        return msghdr;
    }

    @Test
    void receiveBufferSizeCanBeSetAndTheKernelDoublesIt() throws Exception {
        int fd = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, 0);
        try {
            Sockets.setsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_RCVBUF, 64 * 1024);
            assertEquals(128 * 1024, Sockets.getsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_RCVBUF));
            Sockets.setsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_SNDBUF, 32 * 1024);
            assertEquals(64 * 1024, Sockets.getsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_SNDBUF));
        } finally {
            closeAll(fd);
        }
    }

    @Test
    void ipv4AddressesAreEncodedInNetworkByteOrderAndDecodeBack() {
        Ipv4Address address = Ipv4Address.of("198.18.0.1", 80);
        assertEquals("198.18.0.1:80", address.toString());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment storage = arena.allocate(128);
            assertEquals(16, address.encode(storage));
            byte[] bytes = storage.asSlice(0, 8).toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(new byte[] {2, 0, 0, 80, (byte) 198, 18, 0, 1}, bytes);
            assertEquals(address, Sockets.decode(storage, 16));
        }
        assertThrows(IllegalArgumentException.class, () -> Ipv4Address.of("198.18.0.256", 80));
        assertThrows(IllegalArgumentException.class, () -> Ipv4Address.of("localhost", 80));
        assertThrows(IllegalArgumentException.class, () -> new Ipv4Address(0, 65536));
    }

    @Test
    void unixNamesLongerThanSunPathAreRefusedBeforeAnyCall() {
        String tooLong = "x".repeat(108);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UnixAddress.path(tooLong));
        assertTrue(e.getMessage().contains("sun_path"), e.getMessage());
        assertEquals(107, UnixAddress.abstractName("y".repeat(107)).name().length());
        assertEquals("@ctl", UnixAddress.abstractName("ctl").toString());
    }

    @Test
    void bindingAPortInUseNamesTheCallTheAddressAndEaddrinuse() throws Exception {
        int first = Sockets.socket(Sockets.AF_INET, STREAM, 0);
        int second = Sockets.socket(Sockets.AF_INET, STREAM, 0);
        try {
            Sockets.bind(first, Ipv4Address.loopback(0));
            Sockets.listen(first, 1);
            Ipv4Address taken = (Ipv4Address) Sockets.localName(first);
            LinuxException e = assertThrows(LinuxException.class, () -> Sockets.bind(second, taken));
            assertEquals(Errno.EADDRINUSE, e.errno());
            assertEquals("bind(fd=" + second + ", address=127.0.0.1:" + taken.port()
                    + "): EADDRINUSE (Address already in use)", e.getMessage());
        } finally {
            closeAll(first, second);
        }
    }

    @Test
    void connectingToAPortNobodyListensOnIsRefused() throws Exception {
        int placeholder = Sockets.socket(Sockets.AF_INET, STREAM, 0);
        int client = Sockets.socket(Sockets.AF_INET, STREAM, 0);
        try {
            // Bound but not listening: the port is ours, so nobody else can start listening on it.
            Sockets.bind(placeholder, Ipv4Address.loopback(0));
            Sockets.SocketAddress target = Sockets.localName(placeholder);
            LinuxException e = assertThrows(LinuxException.class, () -> Sockets.connect(client, target));
            assertEquals(Errno.ECONNREFUSED, e.errno());
            assertTrue(e.getMessage().startsWith("connect(fd=" + client + ", address=" + target + ")"), e.getMessage());
            assertTrue(e.getMessage().contains("ECONNREFUSED"), e.getMessage());
        } finally {
            closeAll(placeholder, client);
        }
    }

    @Test
    void socketOptionsOnAPipeFailWithEnotsockNamingTheOption() throws Exception {
        int[] pipe = Unistd.pipe2(Unistd.O_CLOEXEC);
        try {
            LinuxException e = assertThrows(LinuxException.class,
                    () -> Sockets.getsockopt(pipe[0], Sockets.SOL_SOCKET, Sockets.SO_RCVBUF));
            assertEquals("getsockopt(fd=" + pipe[0] + ", SOL_SOCKET, SO_RCVBUF): ENOTSOCK (Socket operation on "
                    + "non-socket)", e.getMessage());
            LinuxException unknownFamily = assertThrows(LinuxException.class, () -> Sockets.socket(4242, STREAM, 0));
            assertTrue(unknownFamily.getMessage().startsWith("socket(domain=4242, type=SOCK_STREAM|SOCK_CLOEXEC"),
                    unknownFamily.getMessage());
            assertEquals("EAFNOSUPPORT", unknownFamily.errnoName());
        } finally {
            closeAll(pipe[0], pipe[1]);
        }
    }

    @Test
    void sendingDescriptorsToAClosedPeerIsAnEpipeExceptionNotASignal() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, STREAM, 0);
        Unistd.close(pair[1]);
        try (Arena arena = Arena.ofConfined()) {
            LinuxException e = assertThrows(LinuxException.class,
                    () -> Sockets.sendWithFds(pair[0], arena.allocateFrom("z"), pair[0]));
            assertEquals(Errno.EPIPE, e.errno());
            assertTrue(e.getMessage().contains("SCM_RIGHTS fds=[" + pair[0] + "]"), e.getMessage());
        } finally {
            closeAll(pair[0]);
        }
    }

    static long openDescriptors() throws IOException {
        try (Stream<Path> entries = Files.list(Path.of("/proc/self/fd"))) {
            return entries.count();
        }
    }

    static void closeAll(int... fds) throws LinuxException {
        for (int fd : fds) {
            if (fd >= 0) {
                Unistd.close(fd);
            }
        }
    }
}

package io.arrakis.provider.net;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Differential tests: each scenario runs once on the JDK's own {@code java.net.Socket}/
 * {@code ServerSocket} (the oracle) and once on ours over channels, against the same kind of
 * peer (a JDK socket on loopback), and the two transcripts must be equal. Where the behaviour is
 * the point of the test, the transcript is also checked for it, so a scenario cannot pass by
 * both sides doing nothing.
 */
@SuppressWarnings("try") // scenarios close sockets inside try-with-resources on purpose: closing is what they test
class SocketConformanceTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final long WAIT_SECONDS = 10;
    /** Long enough for a thread started just before to be blocked in its call. */
    private static final long SETTLE_MILLIS = 150;

    @FunctionalInterface
    interface Scenario {
        void run(SocketImpls impl, Transcript transcript) throws Exception;
    }

    /** Runs {@code scenario} on both implementations, asserts equal transcripts, returns the JDK's. */
    private static String bothAgree(Scenario scenario) throws Exception {
        String jdk = transcriptOf(SocketImpls.JDK, scenario);
        String ours = transcriptOf(SocketImpls.CHANNELS, scenario);
        assertEquals(jdk, ours, "channel sockets differ from the JDK's");
        return jdk;
    }

    private static String transcriptOf(SocketImpls impl, Scenario scenario) throws Exception {
        Transcript transcript = new Transcript();
        scenario.run(impl, transcript);
        return transcript.toString();
    }

    private static void assertContains(String transcript, String expected) {
        assertTrue(transcript.contains(expected), () -> "expected «" + expected + "» in:\n" + transcript);
    }

    /** A loopback listener on the JDK's own implementation, the peer of client scenarios. */
    private static ServerSocket peerListener() throws IOException {
        return new ServerSocket(0, 50, LOOPBACK);
    }

    private static InetSocketAddress addressOf(ServerSocket server) {
        return new InetSocketAddress(LOOPBACK, server.getLocalPort());
    }

    private static String readExactly(InputStream in, int length) throws IOException {
        return new String(in.readNBytes(length), US_ASCII);
    }

    // ---- connect ----------------------------------------------------------------------------

    @Test
    void connectToAClosedPortIsRefusedAndClosesTheSocket() throws Exception {
        InetSocketAddress closed;
        try (ServerSocket gone = peerListener()) {
            closed = addressOf(gone);
        }
        String transcript = bothAgree((impl, t) -> {
            try (Socket socket = impl.socket()) {
                t.step("connect", () -> {
                    socket.connect(closed, 2000);
                    return "connected";
                });
                t.note("closed", socket.isClosed());
                t.note("connected", socket.isConnected());
            }
        });
        assertContains(transcript, "java.net.ConnectException: Connection refused");
    }

    @Test
    void connectWithATimeoutToAListenerWhoseQueueIsFullTimesOut() throws Exception {
        // Linux drops the SYNs for a listener whose accept queue is full, so a connect waits.
        try (ServerSocket full = new ServerSocket(0, 1, LOOPBACK)) {
            List<Socket> fillers = new ArrayList<>();
            try {
                for (int i = 0; i < 16; i++) {
                    Socket filler = new Socket();
                    fillers.add(filler);
                    try {
                        filler.connect(addressOf(full), 200);
                    } catch (java.net.SocketTimeoutException e) {
                        break;
                    }
                }
                String transcript = bothAgree((impl, t) -> {
                    try (Socket socket = impl.socket()) {
                        t.step("connect", () -> {
                            socket.connect(addressOf(full), 200);
                            return "connected";
                        });
                        t.note("closed", socket.isClosed());
                    }
                });
                assertContains(transcript, "java.net.SocketTimeoutException: Connect timed out");
            } finally {
                for (Socket filler : fillers) {
                    filler.close();
                }
            }
        }
    }

    @Test
    void connectToAnUnresolvedAddressIsAnUnknownHost() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (Socket socket = impl.socket()) {
                t.step("connect", () -> {
                    socket.connect(InetSocketAddress.createUnresolved("no-such-host.invalid", 80));
                    return "connected";
                });
                t.note("closed", socket.isClosed());
            }
        });
        assertContains(transcript, "java.net.UnknownHostException");
    }

    @Test
    void bindConnectAndAddressesReadAsTheJdksDo() throws Exception {
        bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                t.note("unconnected local port", socket.getLocalPort());
                t.note("unconnected port", socket.getPort());
                t.note("unconnected inet address", socket.getInetAddress());
                t.note("unconnected local address", socket.getLocalAddress());
                t.note("bound", socket.isBound());
                t.step("bind", () -> {
                    socket.bind(new InetSocketAddress(LOOPBACK, 0));
                    return socket.getLocalAddress();
                });
                t.note("bound", socket.isBound());
                t.step("bind again", () -> {
                    socket.bind(new InetSocketAddress(LOOPBACK, 0));
                    return "bound";
                });
                int boundPort = socket.getLocalPort();
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    t.note("connected", socket.isConnected());
                    t.note("inet address", socket.getInetAddress());
                    t.note("port is the peer's", socket.getPort() == peer.getLocalPort());
                    t.note("local port kept from bind", socket.getLocalPort() == boundPort);
                    t.note("peer sees our port", accepted.getPort() == boundPort);
                    t.note("remote socket address is the peer's",
                            socket.getRemoteSocketAddress().equals(addressOf(peer)));
                    t.note("local socket address",
                            socket.getLocalSocketAddress().equals(new InetSocketAddress(LOOPBACK, boundPort)));
                    t.step("connect again", () -> {
                        socket.connect(addressOf(peer));
                        return "connected";
                    });
                    t.note("toString shape", socket.toString().replaceAll("\\d{2,5}", "N"));
                    socket.close();
                    t.note("closed", socket.isClosed());
                    t.note("port after close is the peer's", socket.getPort() == peer.getLocalPort());
                    t.note("connected after close", socket.isConnected());
                }
            }
        });
    }

    @Test
    void closingFromAnotherThreadEndsABlockedConnect() throws Exception {
        try (ServerSocket full = new ServerSocket(0, 1, LOOPBACK)) {
            List<Socket> fillers = new ArrayList<>();
            try {
                for (int i = 0; i < 16; i++) {
                    Socket filler = new Socket();
                    fillers.add(filler);
                    try {
                        filler.connect(addressOf(full), 200);
                    } catch (java.net.SocketTimeoutException e) {
                        break;
                    }
                }
                String transcript = bothAgree((impl, t) -> {
                    Socket socket = impl.socket();
                    CompletableFuture<String> connector = CompletableFuture.supplyAsync(() -> Transcript.outcomeOf(() -> {
                        socket.connect(addressOf(full), 20_000);
                        return "connected";
                    }), command -> Thread.ofPlatform().start(command));
                    Thread.sleep(SETTLE_MILLIS);
                    socket.close();
                    t.note("blocked connect", connector.get(WAIT_SECONDS, TimeUnit.SECONDS));
                    t.note("closed", socket.isClosed());
                    t.note("connected", socket.isConnected());
                });
                assertContains(transcript, "blocked connect -> java.net.SocketException: Socket closed");
            } finally {
                for (Socket filler : fillers) {
                    filler.close();
                }
            }
        }
    }

    @Test
    void bindingAClientToAPortInUseIsABindException() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket taken = peerListener(); Socket socket = impl.socket()) {
                t.step("bind", () -> {
                    socket.bind(addressOf(taken));
                    return "bound";
                });
            }
        });
        assertContains(transcript, "java.net.BindException: Address already in use");
    }

    // ---- reading ----------------------------------------------------------------------------

    @Test
    void aReadTimesOutAndTheSocketStaysUsable() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    socket.setSoTimeout(100);
                    InputStream in = socket.getInputStream();
                    t.step("read", in::read);
                    t.note("closed", socket.isClosed());
                    t.step("read again", in::read);
                    accepted.getOutputStream().write("abc".getBytes(US_ASCII));
                    t.step("read after data", () -> readExactly(in, 3));
                    t.step("timeout", socket::getSoTimeout);
                    socket.setSoTimeout(0);
                    accepted.getOutputStream().write('d');
                    t.step("untimed read", in::read);
                }
            }
        });
        assertContains(transcript, "read -> java.net.SocketTimeoutException: Read timed out");
        assertContains(transcript, "read after data -> abc");
    }

    @Test
    void endOfStreamIsForeverEvenAfterClose() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    accepted.getOutputStream().write("ab".getBytes(US_ASCII));
                    accepted.close();
                    InputStream in = socket.getInputStream();
                    t.step("data", () -> readExactly(in, 2));
                    t.step("eof", in::read);
                    t.step("eof again", () -> in.read(new byte[8]));
                    t.step("available at eof", in::available);
                    socket.close();
                    t.step("read after eof and close", in::read);
                }
            }
        });
        assertContains(transcript, "eof again -> -1");
        assertContains(transcript, "read after eof and close -> -1");
    }

    @Test
    void closingFromAnotherThreadEndsABlockedRead() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    InputStream in = socket.getInputStream();
                    CompletableFuture<String> reader = CompletableFuture.supplyAsync(() -> Transcript.outcomeOf(in::read),
                            command -> Thread.ofPlatform().start(command));
                    Thread.sleep(SETTLE_MILLIS);
                    socket.close();
                    t.note("blocked read", reader.get(WAIT_SECONDS, TimeUnit.SECONDS));
                    t.step("read after close", in::read);
                    t.note("peer sees eof", accepted.getInputStream().read());
                }
            }
        });
        assertContains(transcript, "blocked read -> java.net.SocketException: Socket closed");
    }

    @Test
    void readingAClosedSocket() throws Exception {
        bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    InputStream in = socket.getInputStream();
                    OutputStream out = socket.getOutputStream();
                    in.close(); // closes the socket, as java.net's streams do
                    t.note("closed", socket.isClosed());
                    t.step("read", in::read);
                    t.step("write", () -> {
                        out.write(1);
                        return "written";
                    });
                    t.step("available", in::available);
                    t.step("getInputStream", socket::getInputStream);
                    t.step("getTcpNoDelay", socket::getTcpNoDelay);
                    t.step("shutdownInput", () -> {
                        socket.shutdownInput();
                        return "done";
                    });
                }
            }
        });
    }

    @Test
    void zeroLengthAndOutOfBoundsReadsAndWrites() throws Exception {
        bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    byte[] buffer = new byte[8];
                    InputStream in = socket.getInputStream();
                    OutputStream out = socket.getOutputStream();
                    t.step("read 0 bytes", () -> in.read(buffer, 0, 0));
                    t.step("read out of bounds", () -> in.read(buffer, 4, 5));
                    t.step("read negative offset", () -> in.read(buffer, -1, 1));
                    t.step("write out of bounds", () -> {
                        out.write(buffer, 7, 2);
                        return "written";
                    });
                    t.step("write 0 bytes", () -> {
                        out.write(buffer, 0, 0);
                        return "written";
                    });
                    socket.close();
                    t.step("read 0 bytes after close", () -> in.read(buffer, 0, 0));
                }
            }
        });
    }

    @Test
    void shutdownInputEndsReads() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    InputStream in = socket.getInputStream();
                    socket.shutdownInput();
                    t.note("input shutdown", socket.isInputShutdown());
                    t.step("read", in::read);
                    t.step("available", in::available);
                    t.step("getInputStream", socket::getInputStream);
                    t.step("shutdownInput again", () -> {
                        socket.shutdownInput();
                        return "done";
                    });
                    t.step("write still works", () -> {
                        socket.getOutputStream().write('x');
                        return (char) accepted.getInputStream().read();
                    });
                }
            }
        });
        assertContains(transcript, "read -> -1");
    }

    @Test
    void shutdownOutputSendsEndOfStream() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    OutputStream out = socket.getOutputStream();
                    out.write('z');
                    socket.shutdownOutput();
                    t.note("output shutdown", socket.isOutputShutdown());
                    t.step("peer reads", () -> readExactly(accepted.getInputStream(), 1));
                    t.step("peer reads eof", () -> accepted.getInputStream().read());
                    t.step("write on the old stream", () -> {
                        out.write(1);
                        return "written";
                    });
                    t.step("getOutputStream", socket::getOutputStream);
                    accepted.getOutputStream().write('r');
                    t.step("read still works", () -> socket.getInputStream().read());
                }
            }
        });
        assertContains(transcript, "write on the old stream -> java.net.SocketException: Broken pipe");
    }

    @Test
    void availableCountsWhatArrived() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    InputStream in = socket.getInputStream();
                    t.step("available before", in::available);
                    accepted.getOutputStream().write(new byte[1000]);
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
                    while (in.available() < 1000 && System.nanoTime() < deadline) {
                        Thread.sleep(5);
                    }
                    t.step("available", in::available);
                    in.readNBytes(10);
                    t.step("available after reading 10", in::available);
                }
            }
        });
        assertContains(transcript, "available -> 1000");
    }

    @Test
    void aResetConnectionSaysSoOnEveryRead() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                Socket accepted = peer.accept();
                accepted.setSoLinger(true, 0);
                accepted.close(); // linger 0: a reset
                InputStream in = socket.getInputStream();
                t.step("read", in::read);
                t.step("read again", in::read);
                t.note("closed", socket.isClosed());
            }
        });
        assertContains(transcript, "read -> java.net.SocketException: Connection reset");
    }

    // ---- interrupts -------------------------------------------------------------------------

    @Test
    void anInterruptLeavesAPlatformThreadBlockedInRead() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    InputStream in = socket.getInputStream();
                    AtomicReference<String> result = new AtomicReference<>();
                    Thread reader = Thread.ofPlatform().start(() -> result.set(Transcript.outcomeOf(in::read)
                            + ", interrupted " + Thread.currentThread().isInterrupted()));
                    Thread.sleep(SETTLE_MILLIS);
                    reader.interrupt();
                    Thread.sleep(SETTLE_MILLIS);
                    t.note("still blocked after interrupt", reader.isAlive());
                    accepted.getOutputStream().write(42);
                    reader.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
                    t.note("read", result.get());
                    t.note("closed", socket.isClosed());
                }
            }
        });
        assertContains(transcript, "still blocked after interrupt -> true");
        assertContains(transcript, "read -> 42, interrupted true");
    }

    @Test
    void anInterruptClosesTheSocketUnderAVirtualThread() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    InputStream in = socket.getInputStream();
                    AtomicReference<String> result = new AtomicReference<>();
                    Thread reader = Thread.ofVirtual().start(() -> result.set(Transcript.outcomeOf(in::read)
                            + ", interrupted " + Thread.currentThread().isInterrupted()));
                    Thread.sleep(SETTLE_MILLIS);
                    reader.interrupt();
                    reader.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
                    t.note("read", result.get());
                    t.note("closed", socket.isClosed());
                    t.step("peer reads", () -> accepted.getInputStream().read());
                }
            }
        });
        assertContains(transcript, "read -> java.net.SocketException: Closed by interrupt, interrupted true");
    }

    @Test
    void anInterruptedPlatformThreadStillReadsAndWrites() throws Exception {
        bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    socket.setSoTimeout(100);
                    Thread.currentThread().interrupt();
                    try {
                        t.step("read with interrupt pending", () -> socket.getInputStream().read());
                        t.step("write with interrupt pending", () -> {
                            socket.getOutputStream().write(7);
                            return "written";
                        });
                        t.note("still interrupted", Thread.currentThread().isInterrupted());
                    } finally {
                        Thread.interrupted();
                    }
                    t.step("peer reads", () -> accepted.getInputStream().read());
                    t.note("closed", socket.isClosed());
                }
            }
        });
    }

    // ---- options ----------------------------------------------------------------------------

    @Test
    void socketOptionsReadBackAsTheJdksDo() throws Exception {
        bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                t.note("supported", names(socket.supportedOptions()));
                options(socket, t, "unconnected");
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    options(socket, t, "connected");
                    t.step("unsupported option", () -> socket.setOption(StandardSocketOptions.IP_MULTICAST_TTL, 1));
                    t.step("get unsupported option", () -> socket.getOption(StandardSocketOptions.SO_BROADCAST));
                    t.step("negative timeout", () -> {
                        socket.setSoTimeout(-1);
                        return "set";
                    });
                    t.step("linger too long", () -> {
                        socket.setSoLinger(true, 100_000);
                        return socket.getSoLinger();
                    });
                    t.step("negative linger", () -> {
                        socket.setSoLinger(true, -1);
                        return "set";
                    });
                    t.step("zero receive buffer", () -> {
                        socket.setReceiveBufferSize(0);
                        return "set";
                    });
                    t.step("bad traffic class", () -> {
                        socket.setTrafficClass(300);
                        return "set";
                    });
                    socket.close();
                    t.step("option after close", () -> socket.getOption(StandardSocketOptions.TCP_NODELAY));
                    t.step("set option after close", () -> socket.setOption(StandardSocketOptions.TCP_NODELAY, true));
                    t.step("timeout after close", socket::getSoTimeout);
                }
            }
        });
    }

    private static void options(Socket socket, Transcript t, String when) {
        t.step(when + " nodelay", () -> {
            socket.setTcpNoDelay(true);
            return socket.getTcpNoDelay() + " " + socket.getOption(StandardSocketOptions.TCP_NODELAY);
        });
        t.step(when + " keepalive", () -> {
            socket.setKeepAlive(true);
            return socket.getKeepAlive();
        });
        t.step(when + " linger", () -> {
            socket.setSoLinger(true, 7);
            int on = socket.getSoLinger();
            socket.setSoLinger(false, 0);
            return on + " then " + socket.getSoLinger() + " " + socket.getOption(StandardSocketOptions.SO_LINGER);
        });
        t.step(when + " receive buffer", () -> {
            socket.setReceiveBufferSize(65536);
            return socket.getReceiveBufferSize();
        });
        t.step(when + " send buffer", () -> {
            socket.setOption(StandardSocketOptions.SO_SNDBUF, 32768);
            return socket.getSendBufferSize();
        });
        t.step(when + " traffic class", () -> {
            socket.setTrafficClass(0x10);
            return socket.getTrafficClass();
        });
        t.step(when + " reuse address", () -> {
            socket.setReuseAddress(true);
            return socket.getReuseAddress();
        });
        t.step(when + " reuse port", () -> {
            socket.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            return socket.getOption(StandardSocketOptions.SO_REUSEPORT);
        });
        t.step(when + " oob inline", () -> {
            socket.setOOBInline(true);
            return socket.getOOBInline();
        });
        t.step(when + " timeout", () -> {
            socket.setSoTimeout(1234);
            int set = socket.getSoTimeout();
            socket.setSoTimeout(0);
            return set;
        });
        t.step(when + " keep-alive idle", () -> {
            SocketOption<Integer> idle = jdk.net.ExtendedSocketOptions.TCP_KEEPIDLE;
            socket.setOption(idle, 77);
            return socket.getOption(idle);
        });
    }

    private static String names(java.util.Set<SocketOption<?>> options) {
        return options.stream().map(SocketOption::name).sorted().collect(Collectors.joining(","));
    }

    @Test
    void urgentDataReachesAPeerThatReadsItInline() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    accepted.setOOBInline(true);
                    socket.getOutputStream().write('a');
                    t.step("send urgent", () -> {
                        socket.sendUrgentData('!');
                        return "sent";
                    });
                    socket.getOutputStream().write('b');
                    t.step("peer reads", () -> readExactly(accepted.getInputStream(), 3));
                }
            }
        });
        assertContains(transcript, "peer reads -> a!b");
    }

    // ---- server sockets ---------------------------------------------------------------------

    @Test
    void anAcceptTimesOutAndTheServerStaysUsable() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket server = impl.serverSocket()) {
                server.bind(new InetSocketAddress(LOOPBACK, 0));
                server.setSoTimeout(100);
                t.step("accept", server::accept);
                t.note("closed", server.isClosed());
                try (Socket client = new Socket(LOOPBACK, server.getLocalPort()); Socket accepted = server.accept()) {
                    t.note("accepted port is the client's", accepted.getPort() == client.getLocalPort());
                    t.note("accepted local port is the server's", accepted.getLocalPort() == server.getLocalPort());
                    t.note("accepted address", accepted.getInetAddress());
                    t.note("accepted local address", accepted.getLocalAddress());
                    t.note("accepted connected", accepted.isConnected() + " bound " + accepted.isBound());
                    t.note("accepted timeout", accepted.getSoTimeout());
                    client.getOutputStream().write('q');
                    t.step("accepted reads", () -> accepted.getInputStream().read());
                    accepted.getOutputStream().write('r');
                    t.step("client reads", () -> client.getInputStream().read());
                }
            }
        });
        assertContains(transcript, "accept -> java.net.SocketTimeoutException: Accept timed out");
    }

    @Test
    void closingFromAnotherThreadEndsABlockedAccept() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket server = impl.serverSocket()) {
                server.bind(new InetSocketAddress(LOOPBACK, 0));
                CompletableFuture<String> acceptor = CompletableFuture.supplyAsync(
                        () -> Transcript.outcomeOf(() -> server.accept().getClass().getSimpleName()),
                        command -> Thread.ofPlatform().start(command));
                Thread.sleep(SETTLE_MILLIS);
                server.close();
                t.note("blocked accept", acceptor.get(WAIT_SECONDS, TimeUnit.SECONDS));
                t.step("accept after close", server::accept);
                t.step("bind after close", () -> {
                    server.bind(null);
                    return "bound";
                });
            }
        });
        assertContains(transcript, "blocked accept -> java.net.SocketException: Socket closed");
    }

    @Test
    void anInterruptLeavesAPlatformThreadBlockedInAcceptAndClosesTheServerUnderAVirtualThread() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            for (boolean virtual : new boolean[] {false, true}) {
                try (ServerSocket server = impl.serverSocket()) {
                    server.bind(new InetSocketAddress(LOOPBACK, 0));
                    AtomicReference<String> result = new AtomicReference<>();
                    Runnable accept = () -> result.set(Transcript.outcomeOf(() -> {
                        try (Socket accepted = server.accept()) {
                            return "accepted";
                        }
                    }) + ", interrupted " + Thread.currentThread().isInterrupted());
                    Thread acceptor = virtual ? Thread.ofVirtual().start(accept) : Thread.ofPlatform().start(accept);
                    Thread.sleep(SETTLE_MILLIS);
                    acceptor.interrupt();
                    Thread.sleep(SETTLE_MILLIS);
                    t.note((virtual ? "virtual" : "platform") + " still blocked after interrupt", acceptor.isAlive());
                    if (acceptor.isAlive()) {
                        new Socket(LOOPBACK, server.getLocalPort()).close();
                    }
                    acceptor.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
                    t.note("accept", result.get());
                    t.note("server closed", server.isClosed());
                }
            }
        });
        assertContains(transcript, "platform still blocked after interrupt -> true");
        assertContains(transcript, "accept -> java.net.SocketException: Closed by interrupt, interrupted true");
    }

    @Test
    void bindingAServerToAPortInUseIsABindException() throws Exception {
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket taken = peerListener(); ServerSocket server = impl.serverSocket()) {
                t.step("bind", () -> {
                    server.bind(addressOf(taken));
                    return "bound";
                });
                t.note("bound", server.isBound());
                t.step("bind elsewhere", () -> {
                    server.bind(new InetSocketAddress(LOOPBACK, 0));
                    return server.getInetAddress();
                });
                t.step("bind again", () -> {
                    server.bind(new InetSocketAddress(LOOPBACK, 0));
                    return "bound";
                });
            }
        });
        assertContains(transcript, "bind -> java.net.BindException: Address already in use");
    }

    @Test
    void serverAddressesAndOptionsReadAsTheJdksDo() throws Exception {
        bothAgree((impl, t) -> {
            try (ServerSocket server = impl.serverSocket()) {
                t.note("supported", names(server.supportedOptions()));
                t.note("unbound port", server.getLocalPort());
                t.note("unbound address", server.getInetAddress());
                t.note("unbound socket address", server.getLocalSocketAddress());
                t.note("toString unbound", server);
                t.step("receive buffer", () -> {
                    server.setReceiveBufferSize(65536);
                    return server.getReceiveBufferSize();
                });
                t.step("reuse address", () -> {
                    server.setReuseAddress(false);
                    boolean off = server.getReuseAddress();
                    server.setReuseAddress(true);
                    return off + " then " + server.getReuseAddress();
                });
                t.step("traffic class", () -> {
                    server.setOption(StandardSocketOptions.IP_TOS, 0x28);
                    return server.getOption(StandardSocketOptions.IP_TOS);
                });
                t.step("bad traffic class", () -> server.setOption(StandardSocketOptions.IP_TOS, 256));
                t.step("unsupported option", () -> server.setOption(StandardSocketOptions.TCP_NODELAY, true));
                t.step("timeout", () -> {
                    server.setSoTimeout(321);
                    return server.getSoTimeout();
                });
                server.setSoTimeout(0);
                server.bind(new InetSocketAddress(0), 5);
                t.note("wildcard address", server.getInetAddress());
                t.note("bound", server.isBound());
                t.note("toString bound", server.toString().replaceAll("\\d{2,5}", "N"));
                try (Socket client = new Socket(LOOPBACK, server.getLocalPort()); Socket accepted = server.accept()) {
                    t.note("accepted traffic class", accepted.getTrafficClass());
                    t.note("accepted receive buffer at least", accepted.getReceiveBufferSize() >= 65536);
                }
                server.close();
                t.step("option after close", () -> server.getOption(StandardSocketOptions.SO_RCVBUF));
                t.note("closed address", server.getInetAddress());
            }
        });
    }

    @Test
    void aSocketClosedBeforeItConnectsCannotConnect() throws Exception {
        bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener()) {
                Socket socket = impl.socket();
                socket.close();
                t.step("connect", () -> {
                    socket.connect(addressOf(peer));
                    return "connected";
                });
                t.step("bind", () -> {
                    socket.bind(null);
                    return "bound";
                });
                t.step("timeout", socket::getSoTimeout);
            }
        });
    }

    @Test
    void eachDirectionBlocksOnItsOwn() throws Exception {
        // A writer blocked on a full send buffer must not stop a reader, nor the other way round.
        String transcript = bothAgree((impl, t) -> {
            try (ServerSocket peer = peerListener(); Socket socket = impl.socket()) {
                socket.setSendBufferSize(8192);
                socket.connect(addressOf(peer));
                try (Socket accepted = peer.accept()) {
                    byte[] big = new byte[4 << 20];
                    new java.util.SplittableRandom(4).nextBytes(big);
                    CompletableFuture<String> writer = CompletableFuture.supplyAsync(() -> Transcript.outcomeOf(() -> {
                        socket.getOutputStream().write(big);
                        return "wrote all";
                    }), command -> Thread.ofPlatform().start(command));
                    Thread.sleep(SETTLE_MILLIS);
                    t.note("writer still blocked", !writer.isDone());
                    accepted.getOutputStream().write('x');
                    t.step("read while a write is blocked", () -> socket.getInputStream().read());
                    t.step("peer drains the same bytes",
                            () -> java.util.Arrays.equals(big, accepted.getInputStream().readNBytes(big.length)));
                    t.note("writer", writer.get(WAIT_SECONDS, TimeUnit.SECONDS));
                }
            }
        });
        assertContains(transcript, "writer still blocked -> true");
        assertContains(transcript, "peer drains the same bytes -> true");
    }

    @Test
    void theChannelSocketsRunOnChannelsOfTheGivenProvider() throws Exception {
        // Guards the harness: a socket from JavaNetHooks.newSocket really is on channels, so the comparisons mean something.
        CountingProvider provider = new CountingProvider();
        try (ServerSocket peer = peerListener(); ServerSocket server = JavaNetHooks.newServerSocket(provider);
                Socket socket = JavaNetHooks.newSocket(provider)) {
            socket.connect(addressOf(peer));
            server.bind(new InetSocketAddress(LOOPBACK, 0));
            assertEquals(1, provider.socketChannels.get());
            assertEquals(1, provider.serverSocketChannels.get());
            try (Socket accepted = peer.accept()) {
                socket.getOutputStream().write(5);
                assertEquals(5, accepted.getInputStream().read());
            }
        }
    }
}

package io.arrakis.provider.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * An unmodified thread-per-connection {@code ServerSocket} echo server on one implementation,
 * clients on the other or the same, seeded random payloads of many sizes written in random
 * chunks, each client writing and reading at once; every byte must come back, in order.
 */
@SuppressWarnings("try") // the server is closed inside its try-with-resources to end the accept loop
class SocketEchoTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final int CLIENTS = 8;
    private static final long SEED = 0x5eed_ec40L;
    private static final int SMALL_BUFFER = 4096;

    @ParameterizedTest(name = "server {0} on {2} threads, clients {1}")
    @CsvSource({
        "CHANNELS, CHANNELS, platform",
        "CHANNELS, JDK, platform",
        "JDK, CHANNELS, platform",
        "CHANNELS, CHANNELS, virtual",
    })
    void everyByteComesBackInOrder(SocketImpls serverImpl, SocketImpls clientImpl, String threads) throws Exception {
        ThreadFactory factory = threads.equals("virtual") ? Thread.ofVirtual().factory() : Thread.ofPlatform().factory();
        // The server is closed before the pool waits for its tasks, so a failure cannot hang the test.
        try (ExecutorService pool = Executors.newThreadPerTaskExecutor(factory); ServerSocket server = serverImpl.serverSocket()) {
            server.bind(new InetSocketAddress(LOOPBACK, 0));
            AtomicInteger served = new AtomicInteger();
            Future<?> acceptLoop = pool.submit(() -> acceptAndEcho(server, pool, served));

            SplittableRandom random = new SplittableRandom(SEED);
            List<Future<byte[]>> echoes = new ArrayList<>();
            List<byte[]> payloads = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                byte[] payload = new byte[i == 0 ? 1 : random.nextInt(1, 1 << 20)];
                random.nextBytes(payload);
                payloads.add(payload);
                long chunkSeed = random.nextLong();
                echoes.add(pool.submit(() -> roundTrip(clientImpl, server.getLocalPort(), payload, chunkSeed)));
            }
            for (int i = 0; i < CLIENTS; i++) {
                assertArrayEquals(payloads.get(i), echoes.get(i).get(30, TimeUnit.SECONDS), "client " + i);
            }
            server.close();
            acceptLoop.get(10, TimeUnit.SECONDS);
            assertEquals(CLIENTS, served.get());
        }
    }

    private static Void acceptAndEcho(ServerSocket server, ExecutorService pool, AtomicInteger served) throws IOException {
        while (true) {
            Socket connection;
            try {
                connection = server.accept();
            } catch (SocketException e) {
                assertTrue(server.isClosed(), () -> "accept failed on an open server: " + e);
                return null;
            }
            pool.submit(() -> {
                try (Socket c = connection) {
                    c.setSendBufferSize(SMALL_BUFFER);
                    c.getInputStream().transferTo(c.getOutputStream());
                    c.shutdownOutput();
                    served.incrementAndGet();
                }
                return null;
            });
        }
    }

    /** Writes {@code payload} in random chunks while another thread reads the echo; returns what came back. */
    private static byte[] roundTrip(SocketImpls impl, int port, byte[] payload, long chunkSeed) throws Exception {
        try (Socket socket = impl.socket()) {
            // Small buffers, so writes are often partial and both directions wait on each other.
            socket.setSendBufferSize(SMALL_BUFFER);
            socket.setReceiveBufferSize(SMALL_BUFFER);
            socket.connect(new InetSocketAddress(LOOPBACK, port), 5000);
            socket.setSoTimeout(20_000);
            Thread writer = Thread.ofPlatform().start(() -> {
                try {
                    OutputStream out = socket.getOutputStream();
                    SplittableRandom chunks = new SplittableRandom(chunkSeed);
                    int position = 0;
                    while (position < payload.length) {
                        int length = Math.min(payload.length - position, chunks.nextInt(1, 70_000));
                        out.write(payload, position, length);
                        position += length;
                    }
                    socket.shutdownOutput();
                } catch (IOException e) {
                    throw new RuntimeException("writer of a " + payload.length + "-byte payload failed", e);
                }
            });
            InputStream in = socket.getInputStream();
            byte[] echoed = in.readAllBytes();
            writer.join(TimeUnit.SECONDS.toMillis(20));
            assertTrue(!writer.isAlive(), "writer still running");
            return echoed;
        }
    }
}

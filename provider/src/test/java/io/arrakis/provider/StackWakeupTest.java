package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.stack.StackCounter;
import java.net.InetAddress;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * How the application's threads drive the user-level stack (see {@link UserStack}): nobody
 * sleeps through a frame, a timer or an interrupt.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StackWakeupTest {
    private static final int CONNECTIONS = 4;
    private static final int ROUND_TRIPS = 2_500;
    private static final int MESSAGE = 64;

    /**
     * Many blocking round trips on several connections at once, with no spinning, so every wait
     * goes through the leader's epoll sleep, the poller's, or a park, while other threads poll
     * the same queue: a frame that arrives must end the sleep of whoever sleeps on the queue, so
     * no sleep may end by its safety-net timeout while a frame waits unread.
     */
    @Test
    void noSleeperMissesAFrameAcrossManyConcurrentRoundTrips() throws Exception {
        Properties noSpin = new Properties();
        noSpin.setProperty("arrakis.spin", "0");
        ExecutorService threads = Executors.newCachedThreadPool();
        try (TwoProviders providers = new TwoProviders(noSpin);
                ServerSocketChannel listener = providers.server.openServerSocketChannel()) {
            listener.bind(new InetSocketAddress(providers.server.userLevelAddress(), 0));
            InetSocketAddress address = (InetSocketAddress) listener.getLocalAddress();
            List<Future<?>> work = new ArrayList<>();
            for (int i = 0; i < CONNECTIONS; i++) {
                work.add(threads.submit(() -> {
                    try (SocketChannel accepted = listener.accept()) {
                        ByteBuffer buffer = ByteBuffer.allocate(MESSAGE);
                        while (true) {
                            buffer.clear();
                            while (buffer.hasRemaining()) {
                                if (accepted.read(buffer) < 0) {
                                    return null;
                                }
                            }
                            buffer.flip();
                            while (buffer.hasRemaining()) {
                                accepted.write(buffer);
                            }
                        }
                    }
                }));
            }
            for (int i = 0; i < CONNECTIONS; i++) {
                int id = i;
                work.add(threads.submit(() -> {
                    try (SocketChannel client = providers.client.openSocketChannel()) {
                        client.connect(address);
                        ByteBuffer out = ByteBuffer.allocate(MESSAGE);
                        ByteBuffer in = ByteBuffer.allocate(MESSAGE);
                        for (int round = 0; round < ROUND_TRIPS; round++) {
                            out.clear();
                            while (out.hasRemaining()) {
                                out.put((byte) (id * 31 + round + out.position()));
                            }
                            out.flip();
                            while (out.hasRemaining()) {
                                client.write(out);
                            }
                            in.clear();
                            while (in.hasRemaining()) {
                                if (client.read(in) < 0) {
                                    throw new java.io.EOFException("the echo server closed after " + round + " round trips");
                                }
                            }
                            assertArrayEquals(out.array(), in.array(), "round trip " + round + " of connection " + id);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : work) {
                f.get(100, TimeUnit.SECONDS);
            }
            assertEquals(0, providers.server.userStackIfOpen().missedWakeups(),
                    "sleeps of the server's stack that ended by timeout while a frame waited");
            assertEquals(0, providers.client.userStackIfOpen().missedWakeups(),
                    "sleeps of the client's stack that ended by timeout while a frame waited");
        } finally {
            threads.shutdownNow();
        }
    }

    /**
     * While no thread waits, only the poller runs the stack's timers, asleep until the deadline
     * it saw. An application call that arms an earlier one must cut that sleep short: here a
     * non-blocking connect to an address nobody answers ARP for, whose ARP retry is due a second
     * later. With the poller's safety net raised to a minute, the retry must still go out within
     * seconds.
     */
    @Test
    void aTimerArmedByAnApplicationCallCutsThePollersSleepShort() throws Exception {
        try (TwoProviders providers = new TwoProviders()) {
            InetAddress own = providers.server.userLevelAddress();
            UserStack stack = providers.server.userStackIfOpen();
            stack.safetyNets(60_000, 60_000);
            Thread.sleep(100); // the poller settles into its minute-long sleep
            byte[] nobody = own.getAddress();
            nobody[3] = (byte) 250;
            long before = arpRequests(stack);
            try (SocketChannel channel = providers.server.openSocketChannel()) {
                channel.configureBlocking(false);
                assertFalse(channel.connect(new InetSocketAddress(InetAddress.getByAddress(nobody), 80)),
                        "nobody answers ARP for " + InetAddress.getByAddress(nobody).getHostAddress());
                assertEquals(before + 1, arpRequests(stack), "the connect asked once");
                // From here no thread of ours touches the stack: only the poller can send the retry.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
                while (arpRequests(stack) < before + 2 && System.nanoTime() - deadline < 0) {
                    Thread.sleep(20);
                }
                assertTrue(arpRequests(stack) >= before + 2,
                        "the ARP retry due a second after the connect did not go out within 15 s");
            }
        }
    }

    private static long arpRequests(UserStack stack) {
        return stack.stack().counters().get(StackCounter.ARP_REQUESTS_OUT);
    }
}

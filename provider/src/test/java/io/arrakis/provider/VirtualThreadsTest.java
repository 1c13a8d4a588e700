package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Blocking user-level channels on virtual threads: a blocked read parks the virtual thread (its
 * carrier is free for others), so a thousand of them can wait at once on a two-core machine.
 */
@Timeout(value = 200, unit = TimeUnit.SECONDS)
class VirtualThreadsTest {
    private static final int CONNECTIONS = 1_000;

    @Test
    void aThousandVirtualThreadsBlockedInReadsLeaveTheCarriersFreeAndAllWake() throws Exception {
        try (TwoProviders providers = new TwoProviders();
                ServerSocketChannel server = providers.server.openServerSocketChannel();
                ExecutorService virtualThreads = Executors.newVirtualThreadPerTaskExecutor()) {
            server.bind(new InetSocketAddress(providers.server.userLevelAddress(), 0), CONNECTIONS);
            List<SocketChannel> clients = new ArrayList<>();
            CountDownLatch allBlocked = new CountDownLatch(CONNECTIONS);
            AtomicInteger received = new AtomicInteger();
            List<SocketChannel> acceptedChannels = java.util.Collections.synchronizedList(new ArrayList<>());
            Thread acceptor = Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; i < CONNECTIONS; i++) {
                        SocketChannel accepted = server.accept();
                        acceptedChannels.add(accepted);
                        virtualThreads.submit(() -> {
                            try (accepted) {
                                ByteBuffer one = ByteBuffer.allocate(1);
                                allBlocked.countDown();
                                if (accepted.read(one) == 1) {
                                    received.incrementAndGet();
                                }
                            }
                            return null;
                        });
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long t0 = System.nanoTime();
            for (int i = 0; i < CONNECTIONS; i++) {
                clients.add(providers.client.openSocketChannel());
                clients.getLast().connect(server.getLocalAddress());
            }
            System.out.printf("connected in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
            acceptor.join(60_000);
            System.out.printf("accepted in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
            assertTrue(allBlocked.await(60, TimeUnit.SECONDS), "every server-side virtual thread started its read");
            // With 1,000 reads blocked, another virtual thread still gets a carrier at once.
            long start = System.nanoTime();
            virtualThreads.submit(() -> 42).get(10, TimeUnit.SECONDS);
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
            assertEquals(0, received.get(), "nothing sent yet");
            for (SocketChannel client : clients) {
                client.write(ByteBuffer.wrap(new byte[] {1}));
            }
            System.out.printf("written in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (received.get() < CONNECTIONS && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            System.out.printf("received in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
            if (received.get() < CONNECTIONS) {
                UserStack ss = providers.server.userStackIfOpen();
                ss.lock().lock();
                try {
                    int shown = 0;
                    for (SocketChannel a : acceptedChannels) {
                        String info = ((ArrakisSocketChannel) a).connectionInfo();
                        if (a.isOpen() && shown++ < 5) {
                            System.out.println("stuck? " + info + " seq " + ((ArrakisSocketChannel) a).readiness().sequence());
                        }
                    }
                    System.out.println("server counters " + ss.stack().counters().snapshot() + " tcp " + ss.tcp().counters()
                            + " vnic " + ss.vnic().queue(0).counters().snapshot());
                } finally {
                    ss.lock().unlock();
                }
                UserStack cs = providers.client.userStackIfOpen();
                cs.lock().lock();
                try {
                    System.out.println("client " + ((ArrakisSocketChannel) clients.get(CONNECTIONS - 1)).connectionInfo()
                            + " pending " + cs.stack().outputPending() + " next " + (cs.stack().nextDeadline() - System.nanoTime()));
                    System.out.println("client counters " + cs.stack().counters().snapshot() + " tcp " + cs.tcp().counters()
                            + " vnic " + cs.vnic().queue(0).counters().snapshot());
                } finally {
                    cs.lock().unlock();
                }
            }
            assertEquals(CONNECTIONS, received.get(), "every blocked virtual thread woke with its byte");
            for (SocketChannel client : clients) {
                client.close();
            }
        }
    }
}

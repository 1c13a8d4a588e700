package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Our Pipe: the JDK's kernel pipe behind ends that our Selector takes, next to user-level channels. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ArrakisPipeTest {
    private TwoProviders providers;

    @BeforeEach
    void attach() throws Exception {
        providers = new TwoProviders();
    }

    @AfterEach
    void detach() throws Exception {
        providers.close();
    }

    private static String text(ByteBuffer b) {
        b.flip();
        return StandardCharsets.UTF_8.decode(b).toString();
    }

    @Test
    void bytesWrittenToTheSinkAreReadFromTheSourceUntilTheSinkCloses() throws Exception {
        Pipe pipe = providers.server.openPipe();
        assertInstanceOf(ArrakisPipe.Source.class, pipe.source());
        assertSame(providers.server, pipe.source().provider());
        assertSame(providers.server, pipe.sink().provider());
        assertEquals(SelectionKey.OP_READ, pipe.source().validOps());
        assertEquals(SelectionKey.OP_WRITE, pipe.sink().validOps());
        assertEquals(5, pipe.sink().write(ByteBuffer.wrap("hello".getBytes(StandardCharsets.UTF_8))));
        assertEquals(6, pipe.sink().write(new ByteBuffer[] {
            ByteBuffer.wrap(" wor".getBytes(StandardCharsets.UTF_8)), ByteBuffer.wrap("ld".getBytes(StandardCharsets.UTF_8))}));
        ByteBuffer[] parts = {ByteBuffer.allocate(5), ByteBuffer.allocate(16)};
        assertEquals(11, pipe.source().read(parts));
        assertEquals("hello", text(parts[0]));
        assertEquals(" world", text(parts[1]));
        pipe.sink().close();
        assertEquals(-1, pipe.source().read(ByteBuffer.allocate(4)));
        pipe.source().close();
        assertThrows(ClosedChannelException.class, () -> pipe.source().read(ByteBuffer.allocate(4)));
    }

    @Test
    void ourSelectorServesAPipeAndAUserLevelDatagramChannelTogether() throws Exception {
        InetAddress serverAddress = providers.server.userLevelAddress();
        InetAddress clientAddress = providers.client.userLevelAddress();
        Pipe pipe = providers.server.openPipe();
        try (Selector selector = providers.server.openSelector();
                DatagramChannel datagrams = providers.server.openDatagramChannel()
                        .bind(new InetSocketAddress(serverAddress, 0));
                DatagramChannel peer = providers.client.openDatagramChannel()
                        .bind(new InetSocketAddress(clientAddress, 0))) {
            pipe.source().configureBlocking(false);
            pipe.sink().configureBlocking(false);
            datagrams.configureBlocking(false);
            SelectionKey sourceKey = pipe.source().register(selector, SelectionKey.OP_READ);
            SelectionKey sinkKey = pipe.sink().register(selector, SelectionKey.OP_WRITE);
            SelectionKey datagramKey = datagrams.register(selector, SelectionKey.OP_READ);
            assertEquals(1, selector.select(5_000), "an empty pipe's sink is writable, nothing else is ready");
            assertEquals(Set.of(sinkKey), selector.selectedKeys());
            sinkKey.interestOps(0);
            selector.selectedKeys().clear();
            assertEquals(0, selector.selectNow());

            pipe.sink().write(ByteBuffer.wrap(new byte[] {42}));
            peer.send(ByteBuffer.wrap(new byte[] {7}), datagrams.getLocalAddress());
            Set<SelectionKey> ready = new HashSet<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (ready.size() < 2 && System.nanoTime() < deadline) {
                selector.select(1_000);
                ready.addAll(selector.selectedKeys());
            }
            assertEquals(Set.of(sourceKey, datagramKey), ready, "the kernel pipe and the user-level port in one select");
            ByteBuffer in = ByteBuffer.allocate(4);
            assertEquals(1, pipe.source().read(in));
            assertEquals(42, in.get(0));
            assertEquals(peer.getLocalAddress(), datagrams.receive(in.clear()));
        } finally {
            pipe.source().close();
            pipe.sink().close();
        }
    }

    @Test
    void aSelectorWakesFromItsSleepWhenThePipeBecomesReadable() throws Exception {
        Pipe pipe = providers.server.openPipe();
        try (Selector selector = providers.server.openSelector()) {
            pipe.source().configureBlocking(false);
            SelectionKey key = pipe.source().register(selector, SelectionKey.OP_READ);
            Thread writer = Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(200);
                    pipe.sink().write(ByteBuffer.wrap(new byte[] {1}));
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            assertEquals(1, selector.select(10_000));
            assertTrue(key.isReadable());
            writer.join();
        } finally {
            pipe.source().close();
            pipe.sink().close();
        }
    }

    @Test
    void interruptAndCloseEndABlockedPipeReadAsTheJdkSays() throws Exception {
        Pipe interrupted = providers.server.openPipe();
        CompletableFuture<Integer> read = new CompletableFuture<>();
        Thread reader = Thread.ofPlatform().start(() -> {
            try {
                read.complete(interrupted.source().read(ByteBuffer.allocate(4)));
            } catch (Throwable t) {
                read.completeExceptionally(t);
            }
        });
        awaitBlocked(reader);
        reader.interrupt();
        ExecutionException failure = assertThrows(ExecutionException.class, () -> read.get(10, TimeUnit.SECONDS));
        assertSame(ClosedByInterruptException.class, failure.getCause().getClass());
        assertFalse(interrupted.source().isOpen(), "our end closed with the JDK's");

        Pipe closed = providers.server.openPipe();
        CompletableFuture<Integer> readToo = new CompletableFuture<>();
        Thread readerToo = Thread.ofPlatform().start(() -> {
            try {
                readToo.complete(closed.source().read(ByteBuffer.allocate(4)));
            } catch (Throwable t) {
                readToo.completeExceptionally(t);
            }
        });
        awaitBlocked(readerToo);
        closed.source().close();
        failure = assertThrows(ExecutionException.class, () -> readToo.get(10, TimeUnit.SECONDS));
        assertSame(AsynchronousCloseException.class, failure.getCause().getClass());
        interrupted.sink().close();
        closed.sink().close();
    }

    /** A pipe reader blocks in the kernel (poll), where a thread shows as RUNNABLE in a native frame. */
    private static void awaitBlocked(Thread thread) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            StackTraceElement[] stack = thread.getStackTrace();
            if (stack.length > 0 && stack[0].isNativeMethod() || thread.getState() == Thread.State.WAITING) {
                break;
            }
            assertTrue(System.nanoTime() < deadline, "the reader never blocked");
            Thread.sleep(5);
        }
        Thread.sleep(50);
    }
}

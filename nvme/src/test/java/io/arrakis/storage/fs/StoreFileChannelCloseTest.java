package io.arrakis.storage.fs;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Close and interrupt while other threads use the channel, as the JDK's FileChannel: a thread in
 * an operation when another closes the channel ends with {@link AsynchronousCloseException} (or,
 * arriving after the close, {@link ClosedChannelException}); a thread interrupted in an
 * operation closes the channel for everyone and gets {@link ClosedByInterruptException}.
 */
class StoreFileChannelCloseTest {
    @TempDir
    Path directory;

    private StorageMount mount;
    private FileChannel channel;

    @BeforeEach
    void open() throws IOException {
        Path data = Files.createDirectories(directory.resolve("data"));
        mount = StorageMount.open(data, directory.resolve("data.vsa"), "file", 16L << 20,
                Path.of("/").getFileSystem().provider());
        channel = mount.newFileChannel(data.resolve("f"), Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.READ));
    }

    @AfterEach
    void close() throws IOException {
        channel.close();
        mount.close();
    }

    @Test
    void aCloseByAnotherThreadEndsOperationsInFlight() throws Exception {
        AtomicReference<Throwable> ended = new AtomicReference<>();
        CountDownLatch running = new CountDownLatch(1);
        Thread writer = Thread.ofPlatform().start(() -> {
            ByteBuffer data = ByteBuffer.allocate(4096);
            try {
                for (int i = 0; i < 1_000_000; i++) {
                    data.clear();
                    channel.write(data, (long) (i % 64) * 4096);
                    channel.force(false);
                    running.countDown();
                }
            } catch (Throwable e) {
                ended.set(e);
            }
        });
        running.await();
        channel.close();
        writer.join(10_000);
        assertFalse(writer.isAlive());
        assertTrue(ended.get() instanceof AsynchronousCloseException || ended.get() instanceof ClosedChannelException,
                "the writer ended with " + ended.get());
        assertThrows(ClosedChannelException.class, () -> channel.size());
    }

    @Test
    void anInterruptDuringAnOperationClosesTheChannelForEveryone() throws Exception {
        AtomicReference<Throwable> ended = new AtomicReference<>();
        CountDownLatch running = new CountDownLatch(1);
        Thread writer = Thread.ofPlatform().start(() -> {
            ByteBuffer data = ByteBuffer.allocate(4096);
            try {
                for (int i = 0; i < 1_000_000; i++) {
                    data.clear();
                    channel.write(data, 0);
                    channel.force(true);
                    running.countDown();
                }
            } catch (Throwable e) {
                ended.set(e);
            }
        });
        running.await();
        writer.interrupt();
        writer.join(10_000);
        assertInstanceOf(ClosedByInterruptException.class, ended.get());
        assertFalse(channel.isOpen());
        assertThrows(ClosedChannelException.class, () -> channel.read(ByteBuffer.allocate(1), 0));
        try (FileChannel again = mount.newFileChannel(mount.directory().resolve("f"), Set.of(StandardOpenOption.READ))) {
            assertTrue(again.size() >= 4096, "the file and the store are still there");
        }
    }
}

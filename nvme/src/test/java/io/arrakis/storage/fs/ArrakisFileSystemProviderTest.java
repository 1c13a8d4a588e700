package io.arrakis.storage.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.storage.log.StoreFullException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystem;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.spi.FileSystemProvider;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The provider in-process (the agent installs the same class as the JVM's default): files inside
 * the mount go to the store and nowhere else, everything else to the JDK's provider.
 */
class ArrakisFileSystemProviderTest {
    @TempDir
    Path directory;

    private final FileSystemProvider kernel = Path.of("/").getFileSystem().provider();
    private FileSystem fs;
    private Path kernelMount;
    private StorageMount mount;

    @BeforeEach
    void install() throws IOException {
        kernelMount = Files.createDirectories(directory.resolve("data"));
        mount = StorageMount.open(kernelMount.toAbsolutePath().normalize(), directory.resolve("data.vsa"), "file",
                4L << 20, kernel);
        ArrakisFileSystemProvider provider = new ArrakisFileSystemProvider(kernel);
        ArrakisFileSystemProvider.mount(mount);
        fs = provider.getFileSystem(java.net.URI.create("file:///"));
    }

    @AfterEach
    void uninstall() throws IOException {
        ArrakisFileSystemProvider.unmountAll();
        mount.close();
    }

    private Path ours(Path kernelPath) {
        return fs.getPath(kernelPath.toString());
    }

    @Test
    void filesInsideTheMountLiveInTheStoreOnly() throws IOException {
        Path file = ours(kernelMount.resolve("appendonly.aof"));
        Files.writeString(file, "SET a 1\n");
        assertEquals("SET a 1\n", Files.readString(file));
        assertEquals(8, Files.size(file));
        assertTrue(Files.exists(file));
        assertTrue(Files.isRegularFile(file));
        assertTrue(mount.store().exists("appendonly.aof"));
        assertFalse(Files.exists(kernelMount.resolve("appendonly.aof")), "nothing on the kernel's file system");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            assertInstanceOf(StoreFileChannel.class, channel);
            channel.write(ByteBuffer.wrap("SET b 2\n".getBytes(StandardCharsets.US_ASCII)));
            channel.force(false);
        }
        try (InputStream in = Files.newInputStream(file)) {
            assertEquals("SET a 1\nSET b 2\n", new String(in.readAllBytes(), StandardCharsets.US_ASCII));
        }
    }

    @Test
    void everythingElseGoesToTheJdk() throws IOException {
        Path outside = ours(directory.resolve("plain.txt"));
        Files.writeString(outside, "kernel");
        assertEquals("kernel", Files.readString(directory.resolve("plain.txt")));
        try (FileChannel channel = FileChannel.open(outside)) {
            assertFalse(channel instanceof StoreFileChannel);
        }
        Path nested = ours(kernelMount.resolve("sub")).resolve("deeper.txt"); // not directly inside: not ours
        assertThrows(NoSuchFileException.class, () -> Files.writeString(nested, "x"));
        assertTrue(Files.isDirectory(ours(kernelMount)), "the mount's directory itself is the kernel's");
        Files.createDirectories(ours(kernelMount)); // as the Redis-like sample does
        assertEquals(ours(directory).getFileSystem().provider(), fs.provider());
    }

    @Test
    void listingTheMountListsTheStore() throws IOException {
        Files.writeString(ours(kernelMount.resolve("b")), "2");
        Files.writeString(ours(kernelMount.resolve("a")), "1");
        try (Stream<Path> listed = Files.list(ours(kernelMount))) {
            assertEquals(List.of(ours(kernelMount.resolve("a")), ours(kernelMount.resolve("b"))),
                    listed.sorted().toList());
        }
    }

    @Test
    void deleteAndMoveWithinTheMount() throws IOException {
        Path temporary = ours(kernelMount.resolve("temp-rewrite.aof"));
        Path target = ours(kernelMount.resolve("appendonly.aof"));
        Files.writeString(target, "old");
        Files.writeString(temporary, "new");
        assertThrows(FileAlreadyExistsException.class, () -> Files.move(temporary, target));
        Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        assertEquals("new", Files.readString(target));
        assertFalse(Files.exists(temporary));
        Files.delete(target);
        assertFalse(Files.exists(target));
        assertThrows(NoSuchFileException.class, () -> Files.delete(target));
        assertFalse(Files.deleteIfExists(target));
    }

    @Test
    void moveAcrossTheMountBoundaryCopies() throws IOException {
        Path outside = ours(directory.resolve("import.txt"));
        Files.writeString(outside, "imported");
        Path inside = ours(kernelMount.resolve("import.txt"));
        Files.move(outside, inside);
        assertFalse(Files.exists(directory.resolve("import.txt")));
        assertEquals("imported", Files.readString(inside));
        Files.copy(inside, outside);
        assertEquals("imported", Files.readString(directory.resolve("import.txt")));
    }

    @Test
    void subdirectoriesInsideTheMountAreRefusedClearly() {
        IOException refused = assertThrows(IOException.class,
                () -> Files.createDirectory(ours(kernelMount.resolve("sub"))));
        assertTrue(refused.getMessage().contains("no subdirectories"), refused.getMessage());
    }

    @Test
    void aSecondMountOfTheSameVsaIsRefusedNamingIt() {
        IOException refused = assertThrows(IOException.class, () -> StorageMount.open(kernelMount,
                directory.resolve("data.vsa"), "file", 4L << 20, kernel));
        assertTrue(refused.getMessage().contains("data.vsa"), refused.getMessage());
    }

    @Test
    void aFullVsaSaysSoAndLosesNothingAcknowledged() throws IOException {
        Path file = ours(kernelMount.resolve("big"));
        byte[] chunk = new byte[64 << 10];
        long acknowledged = 0;
        try (OutputStream out = Files.newOutputStream(file)) {
            StoreFullException full = assertThrows(StoreFullException.class, () -> {
                for (int i = 0; i < 1000; i++) {
                    out.write(chunk);
                }
            });
            assertTrue(full.getMessage().contains("data.vsa"), full.getMessage());
            assertTrue(full.getMessage().contains("left"), full.getMessage());
        }
        acknowledged = Files.size(file);
        assertTrue(acknowledged > 0);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        mount.close();
        mount = StorageMount.open(kernelMount.toAbsolutePath().normalize(), directory.resolve("data.vsa"), "file",
                4L << 20, kernel);
        ArrakisFileSystemProvider.unmountAll();
        ArrakisFileSystemProvider.mount(mount);
        assertEquals(acknowledged, Files.size(file));
    }
}

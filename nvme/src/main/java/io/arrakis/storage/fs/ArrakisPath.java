package io.arrakis.storage.fs;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.ProviderMismatchException;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;

/**
 * A path of the default file system while {@link ArrakisFileSystemProvider} is its provider: the
 * JDK's own path inside, so that every answer is the JDK's, and {@link #getFileSystem()} ours, so
 * that {@code Files} and {@code FileChannel.open} come to our provider. Immutable.
 */
final class ArrakisPath implements Path {
    private final ArrakisFileSystem fileSystem;
    private final Path kernel;

    ArrakisPath(ArrakisFileSystem fileSystem, Path kernel) {
        this.fileSystem = fileSystem;
        this.kernel = kernel;
    }

    /** The JDK's path inside. */
    Path kernel() {
        return kernel;
    }

    private Path wrap(Path path) {
        return fileSystem.wrap(path);
    }

    /** The JDK's path for {@code path}: ours unwrapped, or one the JDK made before we were installed. */
    static Path unwrap(Path path, ArrakisFileSystem fileSystem) {
        if (path instanceof ArrakisPath ours) {
            return ours.kernel;
        }
        if (path != null && path.getFileSystem() == fileSystem.kernel()) {
            return path; // made at start-up, before the default file system was ours
        }
        if (path == null) {
            throw new NullPointerException();
        }
        throw new ProviderMismatchException(path + " is of " + path.getFileSystem());
    }

    private Path unwrap(Path path) {
        return unwrap(path, fileSystem);
    }

    @Override
    public ArrakisFileSystem getFileSystem() {
        return fileSystem;
    }

    @Override
    public boolean isAbsolute() {
        return kernel.isAbsolute();
    }

    @Override
    public Path getRoot() {
        return wrap(kernel.getRoot());
    }

    @Override
    public Path getFileName() {
        return wrap(kernel.getFileName());
    }

    @Override
    public Path getParent() {
        return wrap(kernel.getParent());
    }

    @Override
    public int getNameCount() {
        return kernel.getNameCount();
    }

    @Override
    public Path getName(int index) {
        return wrap(kernel.getName(index));
    }

    @Override
    public Path subpath(int beginIndex, int endIndex) {
        return wrap(kernel.subpath(beginIndex, endIndex));
    }

    @Override
    public boolean startsWith(Path other) {
        return (other instanceof ArrakisPath || other.getFileSystem() == fileSystem.kernel())
                && kernel.startsWith(unwrap(other));
    }

    @Override
    public boolean endsWith(Path other) {
        return (other instanceof ArrakisPath || other.getFileSystem() == fileSystem.kernel())
                && kernel.endsWith(unwrap(other));
    }

    @Override
    public Path normalize() {
        return wrap(kernel.normalize());
    }

    @Override
    public Path resolve(Path other) {
        return wrap(kernel.resolve(unwrap(other)));
    }

    @Override
    public Path resolve(String other) {
        return wrap(kernel.resolve(other));
    }

    @Override
    public Path resolveSibling(Path other) {
        return wrap(kernel.resolveSibling(unwrap(other)));
    }

    @Override
    public Path resolveSibling(String other) {
        return wrap(kernel.resolveSibling(other));
    }

    @Override
    public Path relativize(Path other) {
        return wrap(kernel.relativize(unwrap(other)));
    }

    @Override
    public URI toUri() {
        return kernel.toUri();
    }

    @Override
    public Path toAbsolutePath() {
        return wrap(kernel.toAbsolutePath());
    }

    @Override
    public Path toRealPath(LinkOption... options) throws IOException {
        ArrakisFileSystemProvider provider = fileSystem.provider();
        StorageMount mount = provider.mountOf(kernel);
        if (mount != null) { // the directory is real, the file is in the store
            Path real = kernel.getParent().toRealPath(options).resolve(kernel.getFileName());
            provider.checkAccess(this);
            return wrap(real);
        }
        return wrap(kernel.toRealPath(options));
    }

    @Override
    public File toFile() {
        return kernel.toFile();
    }

    @Override
    public WatchKey register(WatchService watcher, WatchEvent.Kind<?>[] events, WatchEvent.Modifier... modifiers)
            throws IOException {
        return kernel.register(watcher, events, modifiers);
    }

    @Override
    public int compareTo(Path other) {
        return kernel.compareTo(unwrap(other));
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof ArrakisPath path && kernel.equals(path.kernel);
    }

    @Override
    public int hashCode() {
        return kernel.hashCode();
    }

    @Override
    public String toString() {
        return kernel.toString();
    }
}

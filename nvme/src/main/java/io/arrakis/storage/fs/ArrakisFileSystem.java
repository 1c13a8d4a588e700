package io.arrakis.storage.fs;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.FileSystem;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.WatchService;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The default file system while {@link ArrakisFileSystemProvider} is its provider: the JDK's,
 * with paths wrapped so that they lead back to our provider. Thread-safe and immutable.
 */
final class ArrakisFileSystem extends FileSystem {
    private final ArrakisFileSystemProvider provider;
    private final FileSystem kernel;

    ArrakisFileSystem(ArrakisFileSystemProvider provider, FileSystem kernel) {
        this.provider = provider;
        this.kernel = kernel;
    }

    FileSystem kernel() {
        return kernel;
    }

    /** Ours for a JDK path; null stays null. */
    Path wrap(Path path) {
        return path == null ? null : new ArrakisPath(this, path);
    }

    @Override
    public ArrakisFileSystemProvider provider() {
        return provider;
    }

    @Override
    public void close() throws IOException {
        kernel.close(); // the JDK's default file system refuses: UnsupportedOperationException
    }

    @Override
    public boolean isOpen() {
        return kernel.isOpen();
    }

    @Override
    public boolean isReadOnly() {
        return kernel.isReadOnly();
    }

    @Override
    public String getSeparator() {
        return kernel.getSeparator();
    }

    @Override
    public Iterable<Path> getRootDirectories() {
        List<Path> roots = new ArrayList<>();
        for (Path root : kernel.getRootDirectories()) {
            roots.add(wrap(root));
        }
        return roots;
    }

    @Override
    public Iterable<FileStore> getFileStores() {
        return kernel.getFileStores();
    }

    @Override
    public Set<String> supportedFileAttributeViews() {
        return kernel.supportedFileAttributeViews();
    }

    @Override
    public Path getPath(String first, String... more) {
        return wrap(kernel.getPath(first, more));
    }

    @Override
    public PathMatcher getPathMatcher(String syntaxAndPattern) {
        PathMatcher matcher = kernel.getPathMatcher(syntaxAndPattern);
        return path -> matcher.matches(ArrakisPath.unwrap(path, this));
    }

    @Override
    public UserPrincipalLookupService getUserPrincipalLookupService() {
        return kernel.getUserPrincipalLookupService();
    }

    @Override
    public WatchService newWatchService() throws IOException {
        return kernel.newWatchService();
    }

    @Override
    public String toString() {
        return kernel.toString();
    }
}

package io.arrakis.storage.fs;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousFileChannel;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AccessMode;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.CopyOption;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileStore;
import java.nio.file.FileSystem;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.FileAttributeView;
import java.nio.file.attribute.FileTime;
import java.nio.file.spi.FileSystemProvider;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;

/**
 * The default file system's provider when the agent mounts storage
 * ({@code -Djava.nio.file.spi.DefaultFileSystemProvider}, set in {@code premain}): files directly
 * inside a mounted directory ({@link #mount}) are files of that mount's log store; every other
 * path, and every operation on it, goes to the JDK's provider unchanged. The constructor only
 * remembers the JDK's provider: the JDK creates this provider while it starts, and anything more
 * (networking, the file system itself) could recurse into a file system not yet there.
 *
 * <p>Thread-safe: the mount table is an immutable list replaced whole.
 */
public final class ArrakisFileSystemProvider extends FileSystemProvider {
    private static volatile List<StorageMount> mounts = List.of();

    private final FileSystemProvider kernel;
    private volatile ArrakisFileSystem fileSystem;

    /** Called by the JDK with its own provider (the {@code DefaultFileSystemProvider} contract). */
    public ArrakisFileSystemProvider(FileSystemProvider kernel) {
        this.kernel = kernel;
    }

    /** Routes files directly inside {@code mount}'s directory to its store, from now on. */
    public static synchronized void mount(StorageMount mount) {
        List<StorageMount> next = new ArrayList<>(mounts);
        next.add(mount);
        mounts = List.copyOf(next);
    }

    /** Routes nothing to any store from now on (the stores stay open: close them yourself). */
    public static synchronized void unmountAll() {
        mounts = List.of();
    }

    /** The mounts in force. */
    public static List<StorageMount> mounts() {
        return mounts;
    }

    /** The JDK's own provider, which everything not mounted goes to. */
    public FileSystemProvider kernel() {
        return kernel;
    }

    private ArrakisFileSystem fileSystem() {
        ArrakisFileSystem system = fileSystem;
        if (system == null) {
            synchronized (this) {
                system = fileSystem;
                if (system == null) {
                    system = new ArrakisFileSystem(this, kernel.getFileSystem(URI.create("file:///")));
                    fileSystem = system;
                }
            }
        }
        return system;
    }

    private Path unwrap(Path path) {
        return ArrakisPath.unwrap(path, fileSystem());
    }

    /** The mount {@code kernelPath} is a file of, or null. */
    StorageMount mountOf(Path kernelPath) {
        List<StorageMount> current = mounts;
        if (current.isEmpty()) {
            return null;
        }
        Path absolute = kernelPath.toAbsolutePath().normalize();
        for (StorageMount mount : current) {
            if (mount.holds(absolute)) {
                return mount;
            }
        }
        return null;
    }

    private StorageMount mountDirectory(Path kernelPath) {
        List<StorageMount> current = mounts;
        if (current.isEmpty()) {
            return null;
        }
        Path absolute = kernelPath.toAbsolutePath().normalize();
        for (StorageMount mount : current) {
            if (mount.directory().equals(absolute)) {
                return mount;
            }
        }
        return null;
    }

    private static String nameIn(Path kernelPath) {
        return kernelPath.toAbsolutePath().normalize().getFileName().toString();
    }

    // -------------------------------------------------------------------------------------------
    // The file system

    @Override
    public String getScheme() {
        return kernel.getScheme();
    }

    @Override
    public FileSystem newFileSystem(URI uri, Map<String, ?> env) throws IOException {
        return kernel.newFileSystem(uri, env);
    }

    @Override
    public FileSystem newFileSystem(Path path, Map<String, ?> env) throws IOException {
        return kernel.newFileSystem(unwrap(path), env);
    }

    @Override
    public FileSystem getFileSystem(URI uri) {
        kernel.getFileSystem(uri); // the JDK's checks of the URI
        return fileSystem();
    }

    @Override
    public Path getPath(URI uri) {
        return fileSystem().wrap(kernel.getPath(uri));
    }

    // -------------------------------------------------------------------------------------------
    // Channels and streams

    @Override
    public FileChannel newFileChannel(Path path, Set<? extends OpenOption> options, FileAttribute<?>... attrs)
            throws IOException {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            return mount.newFileChannel(inside.toAbsolutePath().normalize(), options);
        }
        return kernel.newFileChannel(inside, options, attrs);
    }

    @Override
    public SeekableByteChannel newByteChannel(Path path, Set<? extends OpenOption> options, FileAttribute<?>... attrs)
            throws IOException {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            return mount.newFileChannel(inside.toAbsolutePath().normalize(), options);
        }
        return kernel.newByteChannel(inside, options, attrs);
    }

    @Override
    public InputStream newInputStream(Path path, OpenOption... options) throws IOException {
        Path inside = unwrap(path);
        if (mountOf(inside) != null) {
            return super.newInputStream(path, options); // through newByteChannel, as the JDK's own default
        }
        return kernel.newInputStream(inside, options);
    }

    @Override
    public OutputStream newOutputStream(Path path, OpenOption... options) throws IOException {
        Path inside = unwrap(path);
        if (mountOf(inside) != null) {
            return super.newOutputStream(path, options);
        }
        return kernel.newOutputStream(inside, options);
    }

    @Override
    public AsynchronousFileChannel newAsynchronousFileChannel(Path path, Set<? extends OpenOption> options,
            ExecutorService executor, FileAttribute<?>... attrs) throws IOException {
        Path inside = unwrap(path);
        if (mountOf(inside) != null) {
            throw new UnsupportedOperationException("AsynchronousFileChannel on " + path + ", a file of an Arrakis"
                    + " storage mount: not supported; use FileChannel");
        }
        return kernel.newAsynchronousFileChannel(inside, options, executor, attrs);
    }

    // -------------------------------------------------------------------------------------------
    // Directories

    @Override
    public DirectoryStream<Path> newDirectoryStream(Path dir, DirectoryStream.Filter<? super Path> filter)
            throws IOException {
        Path inside = unwrap(dir);
        ArrakisFileSystem system = fileSystem();
        StorageMount mount = mountDirectory(inside);
        if (mount != null) {
            List<Path> entries = new ArrayList<>();
            for (String name : mount.store().list()) {
                Path entry = system.wrap(inside.resolve(name));
                if (filter == null || filter.accept(entry)) {
                    entries.add(entry);
                }
            }
            return new DirectoryStream<>() {
                private boolean iterated;

                @Override
                public Iterator<Path> iterator() {
                    if (iterated) {
                        throw new IllegalStateException("Iterator already obtained");
                    }
                    iterated = true;
                    return entries.iterator();
                }

                @Override
                public void close() {}
            };
        }
        if (mountOf(inside) != null) {
            throw new java.nio.file.NotDirectoryException(dir.toString());
        }
        DirectoryStream.Filter<Path> unwrapped = filter == null ? null : entry -> filter.accept(system.wrap(entry));
        DirectoryStream<Path> stream = kernel.newDirectoryStream(inside, unwrapped == null ? any() : unwrapped);
        return new DirectoryStream<>() {
            @Override
            public Iterator<Path> iterator() {
                Iterator<Path> entries = stream.iterator();
                return new Iterator<>() {
                    @Override
                    public boolean hasNext() {
                        return entries.hasNext();
                    }

                    @Override
                    public Path next() {
                        return system.wrap(entries.next());
                    }
                };
            }

            @Override
            public void close() throws IOException {
                stream.close();
            }
        };
    }

    private static DirectoryStream.Filter<Path> any() {
        return entry -> true;
    }

    @Override
    public void createDirectory(Path dir, FileAttribute<?>... attrs) throws IOException {
        Path inside = unwrap(dir);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            if (mount.store().exists(nameIn(inside))) {
                throw new FileAlreadyExistsException(dir.toString());
            }
            throw new IOException("cannot create directory " + dir + ": " + mount.directory() + " is an Arrakis"
                    + " storage mount (VSA " + mount.image() + "), which holds files only, no subdirectories");
        }
        kernel.createDirectory(inside, attrs);
    }

    @Override
    public void delete(Path path) throws IOException {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            String name = nameIn(inside);
            if (!mount.store().exists(name)) {
                throw new NoSuchFileException(path.toString());
            }
            mount.store().delete(name);
            return;
        }
        kernel.delete(inside);
    }

    @Override
    public boolean deleteIfExists(Path path) throws IOException {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            try {
                mount.store().delete(nameIn(inside));
                return true;
            } catch (NoSuchFileException e) {
                return false;
            }
        }
        return kernel.deleteIfExists(inside);
    }

    // -------------------------------------------------------------------------------------------
    // Copy and move

    @Override
    public void copy(Path source, Path target, CopyOption... options) throws IOException {
        Path from = unwrap(source);
        Path to = unwrap(target);
        if (mountOf(from) == null && mountOf(to) == null) {
            kernel.copy(from, to, options);
            return;
        }
        copyBytes(source, target, options);
    }

    private void copyBytes(Path source, Path target, CopyOption... options) throws IOException {
        boolean replace = false;
        for (CopyOption option : options) {
            if (option == StandardCopyOption.REPLACE_EXISTING) {
                replace = true;
            } else if (option == StandardCopyOption.ATOMIC_MOVE) {
                throw new AtomicMoveNotSupportedException(source.toString(), target.toString(),
                        "an atomic move is possible only within one Arrakis storage mount");
            }
        }
        readAttributes(source, BasicFileAttributes.class); // NoSuchFileException when absent
        if (isSameFile(source, target)) {
            return;
        }
        if (exists(target)) {
            if (!replace) {
                throw new FileAlreadyExistsException(target.toString());
            }
            delete(target);
        }
        try (SeekableByteChannel in = newByteChannel(source, Set.of(StandardOpenOption.READ));
                SeekableByteChannel out = newByteChannel(target, Set.of(StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE))) {
            ByteBuffer buffer = ByteBuffer.allocate(64 << 10);
            while (in.read(buffer) >= 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
                buffer.clear();
            }
        }
    }

    @Override
    public void move(Path source, Path target, CopyOption... options) throws IOException {
        Path from = unwrap(source);
        Path to = unwrap(target);
        StorageMount fromMount = mountOf(from);
        StorageMount toMount = mountOf(to);
        if (fromMount == null && toMount == null) {
            kernel.move(from, to, options);
            return;
        }
        if (fromMount != null && fromMount == toMount) {
            // One RENAME record: atomic, so ATOMIC_MOVE is honoured as it is.
            boolean replace = false;
            for (CopyOption option : options) {
                replace |= option == StandardCopyOption.REPLACE_EXISTING || option == StandardCopyOption.ATOMIC_MOVE;
            }
            String fromName = nameIn(from);
            String toName = nameIn(to);
            if (!fromMount.store().exists(fromName)) {
                throw new NoSuchFileException(source.toString());
            }
            if (fromName.equals(toName)) {
                return;
            }
            if (fromMount.store().exists(toName)) {
                if (!replace) {
                    throw new FileAlreadyExistsException(target.toString());
                }
                fromMount.store().delete(toName);
            }
            fromMount.store().rename(fromName, toName);
            return;
        }
        copyBytes(source, target, options);
        delete(source);
    }

    @Override
    public boolean isSameFile(Path path, Path path2) throws IOException {
        Path one = unwrap(path);
        Path two = unwrap(path2);
        StorageMount first = mountOf(one);
        StorageMount second = mountOf(two);
        if (first == null && second == null) {
            return kernel.isSameFile(one, two);
        }
        if (first != second) {
            return false;
        }
        if (!nameIn(one).equals(nameIn(two))) {
            return false;
        }
        checkAccess(path);
        return true;
    }

    @Override
    public boolean isHidden(Path path) throws IOException {
        Path inside = unwrap(path);
        if (mountOf(inside) != null) {
            return nameIn(inside).startsWith(".");
        }
        return kernel.isHidden(inside);
    }

    /** For a store file: the file store of the mount's directory (the VSA's own capacity is in the log store's stats). */
    @Override
    public FileStore getFileStore(Path path) throws IOException {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            checkAccess(path);
            return kernel.getFileStore(mount.directory());
        }
        return kernel.getFileStore(inside);
    }

    // -------------------------------------------------------------------------------------------
    // Access and attributes

    @Override
    public void checkAccess(Path path, AccessMode... modes) throws IOException {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            if (!mount.store().exists(nameIn(inside))) {
                throw new NoSuchFileException(path.toString());
            }
            for (AccessMode mode : modes) {
                if (mode == AccessMode.EXECUTE) {
                    throw new AccessDeniedException(path.toString(), null, "files of an Arrakis storage mount are"
                            + " not executable");
                }
            }
            return;
        }
        kernel.checkAccess(inside, modes);
    }

    @Override
    public boolean exists(Path path, LinkOption... options) {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            return mount.store().exists(nameIn(inside));
        }
        return kernel.exists(inside, options);
    }

    @Override
    public <A extends BasicFileAttributes> A readAttributesIfExists(Path path, Class<A> type, LinkOption... options)
            throws IOException {
        Path inside = unwrap(path);
        if (mountOf(inside) != null) {
            try {
                return readAttributes(path, type, options);
            } catch (NoSuchFileException e) {
                return null;
            }
        }
        return kernel.readAttributesIfExists(inside, type, options);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <V extends FileAttributeView> V getFileAttributeView(Path path, Class<V> type, LinkOption... options) {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            if (type != BasicFileAttributeView.class) {
                return null;
            }
            return (V) new StoreAttributeView(path, mount, nameIn(inside));
        }
        return kernel.getFileAttributeView(inside, type, options);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <A extends BasicFileAttributes> A readAttributes(Path path, Class<A> type, LinkOption... options)
            throws IOException {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            if (type != BasicFileAttributes.class) {
                throw new UnsupportedOperationException(type.getSimpleName() + " of " + path + ": files of an"
                        + " Arrakis storage mount have basic attributes only");
            }
            return (A) new StoreAttributeView(path, mount, nameIn(inside)).readAttributes();
        }
        return kernel.readAttributes(inside, type, options);
    }

    @Override
    public Map<String, Object> readAttributes(Path path, String attributes, LinkOption... options) throws IOException {
        Path inside = unwrap(path);
        StorageMount mount = mountOf(inside);
        if (mount != null) {
            String names = attributes;
            int colon = attributes.indexOf(':');
            if (colon >= 0) {
                if (!attributes.substring(0, colon).equals("basic")) {
                    throw new UnsupportedOperationException("view '" + attributes.substring(0, colon) + "' of "
                            + path + ": files of an Arrakis storage mount have the basic view only");
                }
                names = attributes.substring(colon + 1);
            }
            BasicFileAttributes read = readAttributes(path, BasicFileAttributes.class);
            Map<String, Object> all = new HashMap<>();
            all.put("size", read.size());
            all.put("lastModifiedTime", read.lastModifiedTime());
            all.put("lastAccessTime", read.lastAccessTime());
            all.put("creationTime", read.creationTime());
            all.put("isRegularFile", true);
            all.put("isDirectory", false);
            all.put("isSymbolicLink", false);
            all.put("isOther", false);
            all.put("fileKey", read.fileKey());
            if (names.equals("*")) {
                return all;
            }
            Map<String, Object> chosen = new HashMap<>();
            for (String name : names.split(",")) {
                if (!all.containsKey(name)) {
                    throw new IllegalArgumentException("'" + name + "' not recognized");
                }
                chosen.put(name, all.get(name));
            }
            return chosen;
        }
        return kernel.readAttributes(inside, attributes, options);
    }

    @Override
    public void setAttribute(Path path, String attribute, Object value, LinkOption... options) throws IOException {
        Path inside = unwrap(path);
        if (mountOf(inside) != null) {
            throw new UnsupportedOperationException("setting " + attribute + " of " + path + ": files of an Arrakis"
                    + " storage mount keep no times or permissions");
        }
        kernel.setAttribute(inside, attribute, value, options);
    }

    // -------------------------------------------------------------------------------------------
    // Links

    @Override
    public void createSymbolicLink(Path link, Path target, FileAttribute<?>... attrs) throws IOException {
        Path inside = unwrap(link);
        if (mountOf(inside) != null) {
            throw new UnsupportedOperationException("symbolic link " + link + ": an Arrakis storage mount holds"
                    + " regular files only");
        }
        kernel.createSymbolicLink(inside, unwrap(target), attrs);
    }

    @Override
    public void createLink(Path link, Path existing) throws IOException {
        Path inside = unwrap(link);
        Path to = unwrap(existing);
        if (mountOf(inside) != null || mountOf(to) != null) {
            throw new UnsupportedOperationException("hard link " + link + ": an Arrakis storage mount holds"
                    + " regular files only, one name each");
        }
        kernel.createLink(inside, to);
    }

    @Override
    public Path readSymbolicLink(Path link) throws IOException {
        Path inside = unwrap(link);
        if (mountOf(inside) != null) {
            checkAccess(link);
            throw new java.nio.file.NotLinkException(link.toString());
        }
        return fileSystem().wrap(kernel.readSymbolicLink(inside));
    }

    @Override
    public String toString() {
        return "ArrakisFileSystemProvider over " + kernel;
    }

    /** A store file's basic attributes: its size; no times (the log keeps none), so the epoch. */
    private static final class StoreAttributeView implements BasicFileAttributeView {
        private final Path path;
        private final StorageMount mount;
        private final String name;

        StoreAttributeView(Path path, StorageMount mount, String name) {
            this.path = path;
            this.mount = mount;
            this.name = name;
        }

        @Override
        public String name() {
            return "basic";
        }

        @Override
        public BasicFileAttributes readAttributes() throws IOException {
            if (!mount.store().exists(name)) {
                throw new NoSuchFileException(path.toString());
            }
            long size = mount.store().open(name, false).size();
            String key = mount.image() + ":" + mount.store().open(name, false).id();
            FileTime never = FileTime.fromMillis(0);
            return new BasicFileAttributes() {
                @Override
                public FileTime lastModifiedTime() {
                    return never;
                }

                @Override
                public FileTime lastAccessTime() {
                    return never;
                }

                @Override
                public FileTime creationTime() {
                    return never;
                }

                @Override
                public boolean isRegularFile() {
                    return true;
                }

                @Override
                public boolean isDirectory() {
                    return false;
                }

                @Override
                public boolean isSymbolicLink() {
                    return false;
                }

                @Override
                public boolean isOther() {
                    return false;
                }

                @Override
                public long size() {
                    return size;
                }

                @Override
                public Object fileKey() {
                    return key;
                }
            };
        }

        @Override
        public void setTimes(FileTime lastModifiedTime, FileTime lastAccessTime, FileTime createTime)
                throws IOException {
            throw new UnsupportedOperationException("setting the times of " + path + ": files of an Arrakis storage"
                    + " mount keep no times");
        }
    }
}

package io.arrakis.agent;

import io.arrakis.control.stats.VsaStats;
import io.arrakis.storage.fs.ArrakisFileSystemProvider;
import io.arrakis.storage.fs.StorageMount;
import java.io.IOException;
import java.lang.instrument.Instrumentation;
import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Puts the directories named by {@code storage.mount} on Arrakis storage: names
 * {@link ArrakisFileSystemProvider} in {@code java.nio.file.spi.DefaultFileSystemProvider}, makes
 * the JVM create its default file system (through it), opens each mount's VSA and routes the
 * mount to it.
 *
 * <p>Why the property works from {@code premain} (JDK 25, {@code java.nio.file.FileSystems}): the
 * default file system is made once, lazily, by the first {@code FileSystems.getDefault()} after
 * the module system is up ({@code DefaultFileSystemHolder}); before that, the JDK's start-up uses
 * its built-in file system directly and never reads the property. Nothing between the module
 * system's start and {@code premain} asks for it (the launcher and the agent loader use
 * {@code java.io}), so the property set here is read when the holder is first used. If something
 * did ask first (another agent before ours, an option file read through {@code Files}), the holder
 * class is already loaded, the default file system is the JDK's for good, and this says so and
 * mounts nothing: a {@code FileSystem} cannot be replaced once made.
 *
 * <p>Only channels opened through {@code java.nio.file} reach the mounts ({@code FileChannel.open},
 * {@code Files.*}). {@code FileOutputStream}, {@code FileInputStream} and {@code RandomAccessFile}
 * open a kernel descriptor in {@code java.io} natives and write through it themselves; their
 * {@code getChannel()} shares that descriptor and position. Routing only the channel would split one
 * open file between the kernel and the store, so they are left on the kernel, and a mounted path
 * opened that way is a file in the mount directory of the kernel's file system, invisible to the
 * store (docs/storage-layout.md says so).
 *
 * <p>Runs once, on the agent's thread.
 */
final class StorageInstaller {
    static final String PROPERTY = "java.nio.file.spi.DefaultFileSystemProvider";
    /**
     * Set to {@code "true"} by the exit hook once it switched every mount to write-through, or said
     * why it could not ({@link AtExit}): from then on a write returns only once it is on the device.
     * Another shutdown hook may wait for it (the tests' does).
     */
    static final String WRITE_THROUGH_PROPERTY = "arrakis.storage.writeThrough";
    private static final String HOLDER = "java.nio.file.FileSystems$DefaultFileSystemHolder";

    private StorageInstaller() {}

    /** Mounts what the options name; returns the banner text, or null when nothing was mounted (having said why). */
    static String install(AgentOptions options, Instrumentation instrumentation, AgentConsole console) {
        List<String> directories = options.list("storage.mount");
        if (directories.isEmpty()) {
            return null;
        }
        for (Class<?> loaded : instrumentation.getAllLoadedClasses()) {
            if (loaded.getName().equals(HOLDER)) {
                console.error("the JVM made its default file system before the agent started (something called"
                        + " FileSystems.getDefault() or Path.of first: another -javaagent, or an option), so"
                        + " storage.mount=" + String.join(",", directories) + " is not in force and those files stay"
                        + " on the kernel's file system; put -javaagent:arrakis-agent.jar first on the command line");
                return null;
            }
        }
        String ours = ArrakisFileSystemProvider.class.getName();
        String named = System.getProperty(PROPERTY);
        // The property is a list; each provider wraps the one before: ours goes last, outermost.
        System.setProperty(PROPERTY, named == null || named.isBlank() ? ours : named + "," + ours);
        FileSystem defaultSystem;
        try {
            defaultSystem = FileSystems.getDefault();
        } catch (Error e) {
            console.error("the JVM could not make its default file system with " + PROPERTY + "="
                    + System.getProperty(PROPERTY) + " (" + e + "); storage.mount is not in force");
            return null;
        }
        if (!(defaultSystem.provider() instanceof ArrakisFileSystemProvider provider)) {
            console.error("the default file system's provider is " + defaultSystem.provider().getClass().getName()
                    + ", not Arrakis's; storage.mount is not in force");
            return null;
        }
        FileSystem kernelSystem = provider.kernel().getFileSystem(URI.create("file:///"));
        List<String> images = options.list("storage.vsa");
        String backend = options.get("storage.backend");
        long size = AgentOptions.parseSize(options.get("storage.size"));
        List<String> mounted = new ArrayList<>();
        List<StorageMount> opened = new ArrayList<>();
        List<io.arrakis.observe.CounterMBean.Registration> mbeans = new ArrayList<>();
        List<VsaStats> publishers = new ArrayList<>();
        for (int i = 0; i < directories.size(); i++) {
            Path directory = kernelSystem.getPath(directories.get(i)).toAbsolutePath().normalize();
            String granted = images.isEmpty() ? null : ControlPlaneVsa.nameOf(images.get(i));
            Path image = granted != null ? kernelSystem.getPath(images.get(i))
                    : images.isEmpty() ? directory.resolveSibling(directory.getFileName() + ".vsa")
                    : kernelSystem.getPath(images.get(i)).toAbsolutePath().normalize();
            try {
                Files.createDirectories(directory);
                StorageMount mount = granted != null ? ControlPlaneVsa.mount(directory, images.get(i), backend, size)
                        : StorageMount.open(directory, image, backend, size, provider.kernel());
                opened.add(mount);
                ArrakisFileSystemProvider.mount(mount);
                mbeans.add(registerMBean(mount));
                if (granted != null) {
                    publishers.add(publishStats(ControlPlaneVsa.socketOf(images.get(i)), granted, backend, mount));
                }
                mounted.add(directory + " on VSA " + image + " (" + backend + ", "
                        + mount.store().list().size() + " files)");
            } catch (IOException | RuntimeException e) {
                console.error("cannot mount " + directory + " on VSA " + image + " with backend " + backend + ": " + e
                        + "; files there stay on the kernel's file system");
            }
        }
        if (opened.isEmpty()) {
            return null;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(new AtExit(opened, mbeans, publishers, console),
                "arrakis-storage-exit"));
        return "storage: " + String.join("; ", mounted);
    }

    /**
     * {@code io.arrakis:type=Vsa,name=<vsa>}: the mounted store's I/O counters for JConsole
     * (each read takes the store's lock for a moment, on the JMX thread).
     */
    private static io.arrakis.observe.CounterMBean.Registration registerMBean(StorageMount mount) {
        io.arrakis.storage.log.LogStore store = mount.store();
        java.util.Map<String, java.util.function.LongSupplier> counters = new java.util.LinkedHashMap<>();
        counters.put("READS", () -> store.ioCounters().reads());
        counters.put("WRITES", () -> store.ioCounters().writes());
        counters.put("FLUSHES", () -> store.ioCounters().flushes());
        counters.put("BYTES_READ", () -> store.ioCounters().bytesRead());
        counters.put("BYTES_WRITTEN", () -> store.ioCounters().bytesWritten());
        counters.put("ERRORS", () -> store.ioCounters().errors());
        counters.put("FORCES", () -> store.stats().forces());
        counters.put("DEVICE_FLUSHES", () -> store.stats().deviceFlushes());
        counters.put("RECORDS", () -> store.stats().records());
        counters.put("COMPACTIONS", () -> store.stats().compactions());
        counters.put("LONGEST_COMPACTION_NANOS", () -> store.stats().longestCompactionNanos());
        counters.put("LIVE_BYTES", () -> store.stats().liveBytes());
        counters.put("LOG_BYTES", () -> store.stats().logBytes());
        counters.put("REGION_BYTES", () -> store.stats().regionBytes());
        return io.arrakis.observe.CounterMBean.register(
                io.arrakis.observe.CounterMBean.objectName("Vsa", store.vsaName()),
                new io.arrakis.observe.CounterMBean("VSA " + store.vsaName() + " mounted on " + mount.directory(),
                        counters));
    }

    /** The counters a control-plane VSA's stats file carries, as {@code arrakis stat} reads them. */
    static final List<String> VSA_COUNTERS = List.of("vsa.READS", "vsa.WRITES", "vsa.FLUSHES", "vsa.BYTES_READ",
            "vsa.BYTES_WRITTEN", "vsa.ERRORS", "vsa.FORCES", "vsa.RECORDS", "vsa.COMPACTIONS", "vsa.LIVE_BYTES",
            "vsa.LOG_BYTES", "vsa.REGION_BYTES");

    /**
     * Publishes the mounted VSA's counters (those of its MBean) in its stats file next to the
     * control plane's socket, every 100 ms from a thread of its own; null (having said why) if
     * the file cannot be made: the mount works without it.
     */
    static VsaStats publishStats(Path socket, String vsa, String backend, StorageMount mount) {
        io.arrakis.storage.log.LogStore store = mount.store();
        try {
            return VsaStats.start(socket, vsa, backend, VSA_COUNTERS, values -> {
                io.arrakis.storage.log.LogStore.IoCounters io = store.ioCounters();
                values[0] = io.reads();
                values[1] = io.writes();
                values[2] = io.flushes();
                values[3] = io.bytesRead();
                values[4] = io.bytesWritten();
                values[5] = io.errors();
                // The store's lock for a moment, ten times a second: off the I/O path, not free of it.
                io.arrakis.storage.log.LogStore.Stats stats = store.stats();
                values[6] = stats.forces();
                values[7] = stats.records();
                values[8] = stats.compactions();
                values[9] = stats.liveBytes();
                values[10] = stats.logBytes();
                values[11] = stats.regionBytes();
            });
        } catch (IOException | RuntimeException e) {
            System.getLogger(StorageInstaller.class.getName()).log(System.Logger.Level.WARNING,
                    "arrakis: VSA " + vsa + " publishes no statistics (arrakis stat will not show it): " + e);
            return null;
        }
    }

    /**
     * At the JVM's exit: switches each store to write-through ({@code LogStore.writeThrough}) and
     * leaves it open and mounted, so that no byte written through a mounted {@code FileChannel} is
     * lost when the process ends, as none is on the kernel's file system, whatever the order in
     * which the JVM runs its shutdown hooks (concurrently, in no fixed order): what was buffered is
     * written now, and each write another hook or a daemon thread makes later is written before it
     * returns. Closing the store here instead made the application's own final writes and forces
     * (the Redis sample's AOF flush) fail with "closed". No flush unless the application forces,
     * as the kernel's page cache. The process's exit does the rest, as a kill would: the kernel
     * releases the image's lock and the control plane's lease, and tears down io_uring rings (no
     * command is left in them: every write returns complete). {@code Runtime.halt} and SIGKILL
     * skip this: what was written and not yet committed is lost, forced writes never are.
     */
    private static final class AtExit implements Runnable {
        private final List<StorageMount> mounts;
        private final List<io.arrakis.observe.CounterMBean.Registration> mbeans;
        private final List<VsaStats> publishers;
        private final AgentConsole console;

        AtExit(List<StorageMount> mounts, List<io.arrakis.observe.CounterMBean.Registration> mbeans,
                List<VsaStats> publishers, AgentConsole console) {
            this.mounts = mounts;
            this.mbeans = mbeans;
            this.publishers = publishers;
            this.console = console;
        }

        @Override
        public void run() {
            for (StorageMount mount : mounts) {
                try {
                    mount.store().writeThrough();
                } catch (IOException | RuntimeException e) {
                    console.error("at exit, storage mount " + mount + " could not write what was buffered (" + e
                            + "); writes to it that were not forced may be lost; the next mount recovers what the log"
                            + " holds");
                }
            }
            System.setProperty(WRITE_THROUGH_PROPERTY, "true");
            // The statistics thread and file, and the MBeans, serve only while the process runs.
            publishers.stream().filter(java.util.Objects::nonNull).forEach(VsaStats::close);
            mbeans.forEach(io.arrakis.observe.CounterMBean.Registration::close);
        }
    }
}

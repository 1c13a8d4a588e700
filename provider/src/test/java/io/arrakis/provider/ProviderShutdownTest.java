package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Shutting a provider down gives back everything it started: threads, descriptors, shared memory. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ProviderShutdownTest {
    /**
     * Two providers in one JVM: the first to attach starts the embedded control plane (its
     * thread, socket, epoll, eventfd, lock file, the VNICs' shared memory), the second uses it.
     * Once both shut down, the JVM holds what it held before.
     */
    @Test
    void twoProvidersThatShutDownLeaveNoThreadDescriptorOrMappingBehind() throws Exception {
        // The first use of the JDK's file and channel classes opens descriptors of its own for good
        // (a name-service socket among them): open providers once without attaching, to start
        // counting after that.
        try (TwoProviders warmUp = new TwoProviders();
                ServerSocketChannel unbound = warmUp.server.openServerSocketChannel()) {
            assertEquals(null, warmUp.server.userStackIfOpen(), "nothing attached yet");
        }
        Resources before = Resources.now();
        try (TwoProviders providers = new TwoProviders();
                ServerSocketChannel listener = providers.server.openServerSocketChannel()) {
            listener.bind(new InetSocketAddress(providers.server.userLevelAddress(), 0));
            try (SocketChannel client = providers.client.openSocketChannel()) {
                client.connect(listener.getLocalAddress());
                try (SocketChannel accepted = listener.accept()) {
                    client.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
                    ByteBuffer in = ByteBuffer.allocate(3);
                    while (in.hasRemaining()) {
                        accepted.read(in);
                    }
                    assertArrayEquals(new byte[] {1, 2, 3}, in.array());
                }
            }
            assertEquals(true, Resources.now().threads.containsKey("arrakis-control-plane"),
                    "the first provider started an embedded control plane");
        }
        // Threads end and descriptors close within bounded joins of shutdown; allow a moment.
        Resources leftBehind = Resources.now().beyond(before);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!leftBehind.isEmpty() && System.nanoTime() - deadline < 0) {
            Thread.sleep(20);
            leftBehind = Resources.now().beyond(before);
        }
        assertEquals(Resources.NONE, leftBehind, "what the two providers left behind (before them: " + before + ")");
    }

    /**
     * Our threads by name, descriptors and memfd mappings by kind. Compared as "more than
     * before": another test's leftovers that a cleaner closes meanwhile must not count.
     */
    private record Resources(Map<String, Integer> threads, Map<String, Integer> descriptors, long memfdMappings) {
        static final Resources NONE = new Resources(Map.of(), Map.of(), 0);

        /** What this holds beyond {@code earlier}. */
        Resources beyond(Resources earlier) {
            return new Resources(excess(threads, earlier.threads), excess(descriptors, earlier.descriptors),
                    Math.max(0, memfdMappings - earlier.memfdMappings));
        }

        boolean isEmpty() {
            return equals(NONE);
        }

        private static Map<String, Integer> excess(Map<String, Integer> now, Map<String, Integer> earlier) {
            Map<String, Integer> more = new TreeMap<>();
            now.forEach((kind, n) -> {
                int extra = n - earlier.getOrDefault(kind, 0);
                if (extra > 0) {
                    more.put(kind, extra);
                }
            });
            return more;
        }

        static Resources now() throws IOException {
            Map<String, Integer> threads = new TreeMap<>();
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                if (t.isAlive() && t.getName().startsWith("arrakis-")) {
                    threads.merge(t.getName().replaceAll("jvm\\d+.*", "jvm*"), 1, Integer::sum);
                }
            }
            Map<String, Integer> descriptors = new TreeMap<>();
            try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
                for (Path fd : (Iterable<Path>) fds::iterator) {
                    String target;
                    try {
                        target = Files.readSymbolicLink(fd).toString();
                    } catch (IOException gone) {
                        continue; // the listing's own descriptor, closed already
                    }
                    String kind = target.startsWith("socket:") ? "socket"
                            : target.startsWith("/memfd:") ? "memfd"
                            : target.startsWith("anon_inode:") ? target
                            : target.contains("arrakis") ? "arrakis file " + Path.of(target).getFileName()
                            : null;
                    if (kind != null) {
                        descriptors.merge(kind, 1, Integer::sum);
                    }
                }
            }
            long memfds;
            try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
                memfds = maps.filter(line -> line.contains("/memfd:")).count();
            }
            return new Resources(threads, descriptors, memfds);
        }
    }
}

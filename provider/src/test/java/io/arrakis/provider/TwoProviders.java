package io.arrakis.provider;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * Two independent providers in one JVM, each with its own VNIC on one embedded control plane at a
 * private socket: a server side and a client side, as two processes would be. For tests.
 */
final class TwoProviders implements AutoCloseable {
    final Path directory;
    final ArrakisSelectorProvider server;
    final ArrakisSelectorProvider client;

    TwoProviders() throws IOException {
        this(new Properties());
    }

    /** Both providers with {@code extra} settings ({@code arrakis.*}) on top of the private socket's. */
    TwoProviders(Properties extra) throws IOException {
        directory = Files.createTempDirectory("arrakis-provider-test");
        server = ArrakisSelectorProvider.create(with(properties(directory), extra));
        client = ArrakisSelectorProvider.create(with(properties(directory), extra));
    }

    private static Properties with(Properties base, Properties extra) {
        base.putAll(extra);
        return base;
    }

    static Properties properties(Path directory) {
        Properties p = new Properties();
        p.setProperty("arrakis.shm.socket", directory.resolve("control.sock").toString());
        p.setProperty("arrakis.shm.embedded", "true");
        return p;
    }

    @Override
    public void close() throws IOException {
        try {
            client.shutdown();
        } finally {
            server.shutdown();
        }
    }
}
